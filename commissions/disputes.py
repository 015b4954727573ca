"""Disputes (SPEC §5.5): an agency disputes a published line within 10 days with a comment;
finance accepts (an `adjustment` line in the next open period) or rejects with a reason. Both
sides are notified; a statement with an open dispute cannot be approved."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from commissions.calculation import next_period, period_of
from commissions.i18n import gettext as _
from commissions.models import Component, Dispute, DisputeStatus, Line, Statement, StatementStatus
from commissions.periods import ensure_period, first_open_period
from portal.core.audit import record
from portal.core.db import db, utcnow
from portal.core.models import Role, User
from portal.core.notify import notify
from portal.core.time import today_shanghai

DISPUTE_DAYS = 10


class DisputeError(Exception):
    def __init__(self, message, code: str = "invalid", field: str | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.code = code
        self.field = field


def statement_of(line: Line) -> Statement | None:
    return db.session.scalar(sa.select(Statement).where(Statement.period == line.period,
                                                        Statement.agency_id == line.agency_id))


def dispute_deadline(statement: Statement):
    return statement.published_at + timedelta(days=DISPUTE_DAYS) if statement.published_at else None


def may_dispute(line: Line, statement: Statement | None, now=None) -> bool:
    now = now or utcnow()
    return (statement is not None and statement.status == StatementStatus.PUBLISHED
            and statement.published_at is not None and now <= dispute_deadline(statement)
            and line.component != Component.ADJUSTMENT)


def open_dispute(line: Line, comment: str, user) -> Dispute:
    comment = (comment or "").strip()
    if not comment:
        raise DisputeError(_("Say what is wrong with this line."), field="comment")
    statement = statement_of(line)
    if statement is None or statement.status != StatementStatus.PUBLISHED:
        raise DisputeError(_("Only lines of a published statement can be disputed."), code="state")
    if not may_dispute(line, statement):
        raise DisputeError(_("The %(days)s days to dispute this statement have passed.", days=DISPUTE_DAYS),
                           code="too_late")
    if line.component == Component.ADJUSTMENT:
        raise DisputeError(_("An adjustment cannot be disputed."), code="state")
    existing = db.session.scalar(sa.select(Dispute).where(Dispute.line_id == line.id,
                                                          Dispute.status == DisputeStatus.OPEN))
    if existing is not None:
        raise DisputeError(_("This line is already disputed."), code="duplicate")
    dispute = Dispute(agency_id=line.agency_id, period=line.period, line_id=line.id, statement_id=statement.id,
                      order_id=line.order_id, component=line.component,
                      source_period=line.source_period, line_amount_fen=line.amount_fen,
                      comment=comment, status=DisputeStatus.OPEN, opened_by_id=user.id if user else None)
    db.session.add(dispute)
    db.session.flush()
    record("commissions.dispute_opened", dispute, after={"line_id": line.id, "comment": comment})
    for finance in db.session.scalars(sa.select(User).where(User.role == Role.FINANCE, User.is_enabled.is_(True))):
        notify(finance, "commissions.dispute_opened", {"period": dispute.period, "order": dispute.order_id or "-"},
               link=f"/commissions/disputes/{dispute.id}")
    return dispute


def _require_open(dispute: Dispute) -> None:
    if dispute.status != DisputeStatus.OPEN:
        raise DisputeError(_("This dispute is already resolved."), code="state")


def accept_dispute(dispute: Dispute, adjustment_fen: int, reason: str, user) -> Line:
    """Accept: an adjustment line of `adjustment_fen` in the next open period after the line's."""
    _require_open(dispute)
    reason = (reason or "").strip()
    if not reason:
        raise DisputeError(_("Give the reason of the adjustment."), field="reason")
    if adjustment_fen == 0:
        raise DisputeError(_("The adjustment must not be zero."), field="amount")
    today = today_shanghai()
    target = first_open_period(max(period_of(today), next_period(dispute.period)))
    ensure_period(target)
    line = Line(period=target, source_period=target, agency_id=dispute.agency_id, order_id=dispute.order_id,
                component=Component.ADJUSTMENT, accrual_date=today, amount_fen=adjustment_fen, computed=False,
                note=reason, dispute_id=dispute.id, created_by_id=user.id if user else None)
    db.session.add(line)
    db.session.flush()
    dispute.status = DisputeStatus.ACCEPTED
    dispute.resolution = reason
    dispute.adjustment_fen = adjustment_fen
    dispute.adjustment_line_id = line.id
    dispute.resolved_by_id = user.id if user else None
    dispute.resolved_at = utcnow()
    db.session.flush()
    record("commissions.dispute_accepted", dispute, before={"status": "open"},
           after={"status": "accepted", "adjustment_fen": adjustment_fen, "period": target, "reason": reason})
    _notify_agency(dispute, "commissions.dispute_accepted")
    return line


def reject_dispute(dispute: Dispute, reason: str, user) -> Dispute:
    _require_open(dispute)
    reason = (reason or "").strip()
    if not reason:
        raise DisputeError(_("Give the reason for rejecting."), field="reason")
    dispute.status = DisputeStatus.REJECTED
    dispute.resolution = reason
    dispute.resolved_by_id = user.id if user else None
    dispute.resolved_at = utcnow()
    db.session.flush()
    record("commissions.dispute_rejected", dispute, before={"status": "open"},
           after={"status": "rejected", "reason": reason})
    _notify_agency(dispute, "commissions.dispute_rejected")
    return dispute


def _notify_agency(dispute: Dispute, kind: str) -> None:
    recipients = db.session.scalars(sa.select(User).where(User.agency_id == dispute.agency_id,
                                                          User.role == Role.AGENCY_OWNER)).all()
    opener = db.session.get(User, dispute.opened_by_id) if dispute.opened_by_id else None
    if opener is not None and opener not in recipients:
        recipients.append(opener)
    for user in recipients:
        notify(user, kind, {"period": dispute.period, "order": dispute.order_id or "-",
                            "reason": dispute.resolution or ""}, link=f"/commissions/disputes/{dispute.id}")
