"""Statements per agency and period (SPEC §5.5): opening, earned, available, payable, carried,
the reason when nothing is payable, and the states draft → published → approved → paid.

Hooks for other features:
- `PAYOUT_ACCOUNT_CHECKS`: functions (agency) -> bool; False means the agency has no payout
  account (the statement then pays nothing, reason `no_payout_account`). No hooks: every agency
  has an account. A check may also carry `check.many(agencies) -> {agency id: bool}`, used by
  the run to ask for all the agencies of a period in one query instead of one per agency.
- `mark_paid(statement, reference, actor=None)` / `mark_unpaid(statement, reason)`: used by
  payouts; approved → paid and back.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm as so

from commissions.calculation import u_to_mult, u_to_rate
from commissions.i18n import gettext as _
from commissions.models import (
    Component,
    Dispute,
    DisputeStatus,
    HoldReason,
    Line,
    PlanSettings,
    Statement,
    StatementStatus,
)
from portal.core.audit import record
from portal.core.db import db, utcnow
from portal.core.money import format_fen
from portal.partners.models import Agency, AgencyStatus

PAYOUT_ACCOUNT_CHECKS: list[Callable[[object], bool]] = []

HOLD_LABELS = {
    HoldReason.BELOW_MINIMUM: _l("Below the minimum payout; carried to the next period"),
    HoldReason.NEGATIVE_BALANCE: _l("Negative balance; carried to the next period"),
    HoldReason.AGENCY_SUSPENDED: _l("Agency not active: payouts are held"),
    HoldReason.NO_PAYOUT_ACCOUNT: _l("No payout account; carried to the next period"),
}
STATUS_LABELS = {
    StatementStatus.DRAFT: _l("Draft"),
    StatementStatus.PUBLISHED: _l("Published to the agency"),
    StatementStatus.APPROVED: _l("Approved for payment"),
    StatementStatus.PAID: _l("Paid out"),
}
COMPONENT_LABELS = {
    Component.ONE_OFF: _l("One-off"),
    Component.SHARE: _l("Revenue share"),
    Component.REFERRAL: _l("Referral bounty"),
    Component.CLAWBACK: _l("Clawback"),
    Component.ADJUSTMENT: _l("Adjustment"),
}


class StatementError(Exception):
    def __init__(self, message, code: str = "invalid"):
        super().__init__(str(message))
        self.message = str(message)
        self.code = code


def register_payout_account_check(fn: Callable) -> Callable:
    if fn not in PAYOUT_ACCOUNT_CHECKS:
        PAYOUT_ACCOUNT_CHECKS.append(fn)
    return fn


def min_payout_fen() -> int:
    settings = db.session.get(PlanSettings, 1)
    return settings.min_payout_fen if settings else 10000


def has_payout_account(agency) -> bool:
    return all(check(agency) is not False for check in PAYOUT_ACCOUNT_CHECKS)


def payout_accounts(agencies: list) -> dict[int, bool]:
    """agency id → whether it has a payout account, for many agencies at once. A check may carry
    `check.many(agencies) -> {agency id: bool}` (one query for all of them); a check without it
    is asked agency by agency."""
    result = {agency.id: True for agency in agencies}
    for check in PAYOUT_ACCOUNT_CHECKS:
        asking = [agency for agency in agencies if result[agency.id]]
        if not asking:
            break
        many = getattr(check, "many", None)
        if many is not None:
            found = many(asking) or {}
            for agency in asking:
                if found.get(agency.id) is False:
                    result[agency.id] = False
            continue
        for agency in asking:
            if check(agency) is False:
                result[agency.id] = False
    return result


def _balance_reason(agency, available_fen: int, minimum_fen: int) -> HoldReason | None:
    if agency is None or agency.status != AgencyStatus.ACTIVE:
        return HoldReason.AGENCY_SUSPENDED
    if available_fen < 0:
        return HoldReason.NEGATIVE_BALANCE
    if available_fen < minimum_fen:
        return HoldReason.BELOW_MINIMUM
    return None


def hold_reason(agency, available_fen: int, minimum_fen: int) -> HoldReason | None:
    """Why nothing is payable, or None when `available` is paid."""
    reason = _balance_reason(agency, available_fen, minimum_fen)
    if reason is None and not has_payout_account(agency):
        return HoldReason.NO_PAYOUT_ACCOUNT
    return reason


def _statement_rows(period: str) -> tuple[list[dict], int, int]:
    """The statements `period` should have, from its lines (one grouped query) and the carried
    balance of each agency's latest statement before it: (rows, lines, total fen). The payout
    account is asked only for the agencies that would be paid, all at once where the check can."""
    earned, counts = {}, {}
    for agency_id, total, n in db.session.execute(
            sa.select(Line.agency_id, sa.func.sum(Line.amount_fen), sa.func.count()).where(Line.period == period)
            .group_by(Line.agency_id)):
        earned[agency_id], counts[agency_id] = int(total or 0), int(n)
    opening = previous_carried(period)
    agency_ids = sorted(set(earned) | {a for a, carried in opening.items() if carried})
    lines, total = sum(counts.values()), sum(earned.values())
    if not agency_ids:
        return [], lines, total
    agencies = {a.id: a for a in db.session.scalars(
        sa.select(Agency).where(Agency.id.in_(agency_ids)).options(so.lazyload("*")))}
    minimum = min_payout_fen()
    figures = []
    for agency_id in agency_ids:
        open_fen = int(opening.get(agency_id) or 0)
        earned_fen = int(earned.get(agency_id) or 0)
        available = open_fen + earned_fen
        figures.append((agency_id, open_fen, earned_fen, available,
                        _balance_reason(agencies.get(agency_id), available, minimum)))
    accounts = payout_accounts([agencies[a] for a, _o, _e, _v, reason in figures if reason is None])
    rows = []
    for agency_id, open_fen, earned_fen, available, reason in figures:
        if reason is None and not accounts.get(agency_id, True):
            reason = HoldReason.NO_PAYOUT_ACCOUNT
        payable, carried = (available, 0) if reason is None else (0, available)
        rows.append({"period": period, "agency_id": agency_id, "opening_fen": open_fen, "earned_fen": earned_fen,
                     "available_fen": available, "payable_fen": payable, "carried_fen": carried,
                     "line_count": int(counts.get(agency_id) or 0),
                     "hold_reason": reason.value if reason else None, "status": StatementStatus.DRAFT.value})
    return rows, lines, total


def previous_carried(period: str) -> dict[int, int]:
    """agency id → carried balance of its latest statement before `period` (its opening in `period`)."""
    latest = (sa.select(Statement.agency_id, sa.func.max(Statement.period).label("prev"))
              .where(Statement.period < period).group_by(Statement.agency_id).subquery())
    return {a: int(c or 0) for a, c in db.session.execute(
        sa.select(Statement.agency_id, Statement.carried_fen)
        .join(latest, sa.and_(latest.c.agency_id == Statement.agency_id, latest.c.prev == Statement.period))).all()}


def build_statements(period: str) -> tuple[int, int, int]:
    """(Re)make the draft statements of `period` from its lines and the previous statements.
    The caller has deleted the period's statements. Returns (statements, lines, total fen)."""
    rows, lines, total = _statement_rows(period)
    if rows:
        db.session.execute(sa.insert(Statement.__table__), rows)
    return len(rows), lines, total


_FIGURES = ("opening_fen", "earned_fen", "available_fen", "payable_fen", "carried_fen", "line_count", "hold_reason")
_FROZEN = (StatementStatus.APPROVED, StatementStatus.PAID)


def refresh_statements(period: str) -> tuple[bool, list[str]]:
    """Bring the statements of an already computed `period` in line with its lines and the
    carried balances before it, in place (ids, states and publication are kept): used after an
    earlier period was run again, so that every opening is the previous carried balance.

    Returns (changed, problems). A change to an approved or paid statement is a problem and is
    not made (the caller refuses the whole run)."""
    rows, _lines, _total = _statement_rows(period)
    wanted = {r["agency_id"]: r for r in rows}
    stored = {s.agency_id: s for s in db.session.scalars(sa.select(Statement).where(Statement.period == period))}
    problems, changed = [], False
    for agency_id in sorted(set(wanted) | set(stored)):
        row, statement = wanted.get(agency_id), stored.get(agency_id)
        if statement is not None and row is not None:
            current = {f: getattr(statement, f) for f in _FIGURES}
            current["hold_reason"] = current["hold_reason"].value if current["hold_reason"] else None
            if all(current[f] == row[f] for f in _FIGURES):
                continue
        if statement is not None and statement.status in _FROZEN:
            problems.append(_("%(agency)s, %(period)s (%(status)s)", status=STATUS_LABELS[statement.status],
                              agency=statement.agency.code or agency_id, period=period))
            continue
        changed = True
        if statement is None:
            db.session.execute(sa.insert(Statement.__table__), [row])
        elif row is None:
            db.session.delete(statement)
        else:
            for f in _FIGURES:
                setattr(statement, f, HoldReason(row[f]) if f == "hold_reason" and row[f] else row[f])
    db.session.flush()
    return changed, problems


def stale_openings(period: str) -> list[int]:
    """Agencies whose statement of `period` does not open with the carried balance of their
    previous statement (or that have no statement although a balance is carried to `period`)."""
    carried = previous_carried(period)
    openings = dict(db.session.execute(sa.select(Statement.agency_id, Statement.opening_fen)
                                       .where(Statement.period == period)).all())
    return sorted(a for a in set(carried) | set(openings) if int(openings.get(a) or 0) != carried.get(a, 0))


def statements_of(period: str, status: StatementStatus | None = None):
    stmt = sa.select(Statement).where(Statement.period == period).order_by(Statement.agency_id)
    if status is not None:
        stmt = stmt.where(Statement.status == status)
    return db.session.scalars(stmt).all()


def publish_period(period: str) -> int:
    """Publish every draft statement of the period (the agencies see them)."""
    from commissions.periods import get_period

    row = get_period(period)
    if row is None or not row.last_run_at:
        raise StatementError(_("Period %(period)s has not been run yet.", period=period), code="not_run")
    now = utcnow()
    drafts = statements_of(period, StatementStatus.DRAFT)
    for statement in drafts:
        statement.status = StatementStatus.PUBLISHED
        statement.published_at = now
    db.session.flush()
    record("commissions.statements_published", object_type="commission_periods", object_id=period,
           after={"published": len(drafts)})
    _notify_owners(drafts, "commissions.statement_published")
    return len(drafts)


def open_dispute_count(statement: Statement) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Dispute).where(
        Dispute.statement_id == statement.id, Dispute.status == DisputeStatus.OPEN))


def approve_statement(statement: Statement, user=None) -> Statement:
    if statement.status != StatementStatus.PUBLISHED:
        raise StatementError(_("Only a published statement can be approved."), code="state")
    if open_dispute_count(statement):
        raise StatementError(_("This statement has an open dispute: resolve it before approving."),
                             code="open_dispute")
    return _approve(statement, user)


def _approve(statement: Statement, user=None) -> Statement:
    statement.status = StatementStatus.APPROVED
    statement.approved_at = utcnow()
    statement.approved_by_id = getattr(user, "id", None)
    db.session.flush()
    record("commissions.statement_approved", statement, before={"status": "published"},
           after={"status": "approved"})
    return statement


def approve_period(period: str, user=None) -> tuple[int, list[Statement]]:
    """Approve every published statement of the period; those with open disputes are skipped."""
    approved, skipped = 0, []
    disputed = set(db.session.scalars(
        sa.select(Dispute.statement_id).join(Statement, Statement.id == Dispute.statement_id)
        .where(Statement.period == period, Dispute.status == DisputeStatus.OPEN).distinct()))
    for statement in statements_of(period, StatementStatus.PUBLISHED):
        if statement.id in disputed:
            skipped.append(statement)
            continue
        _approve(statement, user)
        approved += 1
    return approved, skipped


def mark_paid(statement: Statement, reference: str, actor=None) -> Statement:
    """Payouts: an approved statement was paid (`reference` of the transfer)."""
    if statement.status == StatementStatus.PAID and statement.paid_reference == reference:
        return statement
    if statement.status != StatementStatus.APPROVED:
        raise StatementError(_("Only an approved statement can be paid."), code="state")
    statement.status = StatementStatus.PAID
    statement.paid_at = utcnow()
    statement.paid_reference = reference
    statement.unpaid_reason = None
    db.session.flush()
    record("commissions.statement_paid", statement, before={"status": "approved"},
           after={"status": "paid", "reference": reference}, actor=actor)
    return statement


def mark_unpaid(statement: Statement, reason: str) -> Statement:
    """Payouts: a payment failed or was reversed; the statement is approved (unpaid) again."""
    if statement.status != StatementStatus.PAID:
        raise StatementError(_("Only a paid statement can be marked unpaid."), code="state")
    before = {"status": "paid", "reference": statement.paid_reference}
    statement.status = StatementStatus.APPROVED
    statement.paid_at = None
    statement.unpaid_reason = reason
    db.session.flush()
    record("commissions.statement_unpaid", statement, before=before, after={"status": "approved", "reason": reason})
    return statement


def _notify_owners(statements, kind: str) -> None:
    from portal.core.models import Role, User
    from portal.core.notify import notify

    by_agency = {s.agency_id: s for s in statements}
    if not by_agency:
        return
    owners = db.session.scalars(sa.select(User).where(User.agency_id.in_(list(by_agency)),
                                                      User.role == Role.AGENCY_OWNER)).all()
    for owner in owners:
        statement = by_agency[owner.agency_id]
        notify(owner, kind, {"period": statement.period}, link=f"/commissions/statements/{statement.period}")


# --- explanations -----------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _pct(rate_u: int | None) -> str:
    value = u_to_rate(rate_u) * 100
    text = f"{value.normalize():f}"
    if "." not in text or len(text.split(".")[1]) < 2:
        text = f"{value.quantize(Decimal('0.01'))}"
    return text + "%"


@lru_cache(maxsize=4096)
def _mult(multiplier_u: int | None) -> str:
    value = u_to_mult(multiplier_u)
    text = f"{value.normalize():f}"
    if "." not in text or len(text.split(".")[1]) < 2:
        text = f"{value.quantize(Decimal('0.01'))}"
    return text


def grade_label(grade: str | None) -> str:
    """The grade's name in the user's language."""
    if grade == "gold":
        return _("gold")
    if grade == "silver":
        return _("silver")
    if grade == "bronze":
        return _("bronze")
    return grade or _("no grade")


class LineExplainer:
    """Tells the agency how each line's amount was made, in the user's language. A statement
    page explains 50 lines: the texts are translated once (on first use) for all of them, and
    the rates and multipliers (pure functions of their integers) are formatted once per value."""

    __slots__ = ("_grades", "_texts")

    def __init__(self):
        self._texts: dict[str, str] | None = None
        self._grades: dict[str | None, str] = {}

    def _translated(self) -> dict[str, str]:
        # gettext without variables gives the translated text; it is filled in below
        self._texts = {
            "correction": _("Correction of %(period)s: %(rate)s × %(paid)s paid now × %(mult)s (%(grade)s), plan "
                            "%(version)s = %(full)s, less %(prior)s already counted"),
            "share": _("%(rate)s × %(paid)s paid for %(period)s × %(mult)s (%(grade)s), plan %(version)s"),
            "one_off": _("(%(qty)s × %(unit)s + %(rate)s × %(fee)s one-time fee) × %(mult)s (%(grade)s), plan "
                         "%(version)s"),
            "referral": _("Referral bounty %(bounty)s × %(mult)s (%(grade)s), plan %(version)s"),
            "clawback": _("Clawback of %(amount)s: terminated on %(day)s, within the clawback period of plan "
                          "%(version)s"),
            "adjustment": _("Adjustment: %(reason)s"),
        }
        return self._texts

    def _grade(self, grade: str | None) -> str:
        label = self._grades.get(grade)
        if label is None:
            label = self._grades[grade] = grade_label(grade)
        return label

    def __call__(self, line: Line) -> str:
        texts = self._texts or self._translated()
        component = line.component
        if component == Component.SHARE and line.prior_fen is not None:
            return texts["correction"] % {
                "period": line.source_period, "rate": _pct(line.rate_u), "paid": format_fen(line.basis_fen),
                "mult": _mult(line.multiplier_u), "grade": self._grade(line.grade), "version": line.rule_version,
                "full": format_fen(line.amount_fen + line.prior_fen), "prior": format_fen(line.prior_fen)}
        if component == Component.SHARE:
            return texts["share"] % {
                "rate": _pct(line.rate_u), "paid": format_fen(line.basis_fen), "period": line.source_period,
                "mult": _mult(line.multiplier_u), "grade": self._grade(line.grade), "version": line.rule_version}
        if component == Component.ONE_OFF:
            return texts["one_off"] % {
                "qty": line.quantity, "unit": format_fen(line.unit_fen), "rate": _pct(line.rate_u),
                "fee": format_fen(line.basis_fen), "mult": _mult(line.multiplier_u), "grade": self._grade(line.grade),
                "version": line.rule_version}
        if component == Component.REFERRAL:
            return texts["referral"] % {
                "bounty": format_fen(line.basis_fen), "mult": _mult(line.multiplier_u),
                "grade": self._grade(line.grade), "version": line.rule_version}
        if component == Component.CLAWBACK:
            return texts["clawback"] % {
                "amount": format_fen(line.basis_fen), "day": line.accrual_date.isoformat(),
                "version": line.rule_version}
        return texts["adjustment"] % {"reason": line.note or ""}


def explain(line: Line) -> str:
    """One line of text telling the agency how the amount was made, in the user's language (for
    many lines, one `LineExplainer`)."""
    return LineExplainer()(line)
