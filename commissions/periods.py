"""Periods: calendar months, open until finance closes them, in order (SPEC §5.5).

Hook for other features:
    CLOSE_GUARDS: functions (period: Period) -> list of reasons (str) that refuse closing it
    (e.g. payouts registers reconciliation checks). An empty list means "no objection".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa

from commissions.calculation import parse_period, period_bounds, period_of
from commissions.i18n import gettext as _
from commissions.models import Period, PeriodStatus, Statement, StatementStatus
from portal.core.audit import record
from portal.core.db import db, lock_for_update, utcnow

CLOSE_GUARDS: list[Callable[[Period], list]] = []


class PeriodError(Exception):
    def __init__(self, message, code: str = "invalid"):
        super().__init__(str(message))
        self.message = str(message)
        self.code = code


def register_close_guard(fn: Callable) -> Callable:
    if fn not in CLOSE_GUARDS:
        CLOSE_GUARDS.append(fn)
    return fn


def get_period(period: str) -> Period | None:
    return db.session.scalar(sa.select(Period).where(Period.period == period))


def ensure_period(period: str) -> Period:
    """The period's row, created open when it does not exist yet."""
    period = parse_period(period)
    row = get_period(period)
    if row is None:
        nested = db.session.begin_nested()
        try:
            row = Period(period=period, status=PeriodStatus.OPEN, runs=0)
            db.session.add(row)
            db.session.flush()
            nested.commit()
        except sa.exc.IntegrityError:
            nested.rollback()
            row = get_period(period)
    return row


def lock_period(period: str) -> Period:
    """The period row locked FOR UPDATE (PostgreSQL); SQLite serialises writers by itself."""
    ensure_period(period)
    row = db.session.execute(lock_for_update(sa.select(Period).where(Period.period == period))).scalar_one()
    db.session.refresh(row)
    return row


def is_closed(period: str) -> bool:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Period)
        .where(Period.period == period, Period.status == PeriodStatus.CLOSED)) > 0


def last_closed_period() -> str | None:
    return db.session.scalar(sa.select(sa.func.max(Period.period)).where(Period.status == PeriodStatus.CLOSED))


def last_closed_day() -> date | None:
    last = last_closed_period()
    return period_bounds(last)[1] if last else None


def closed_period_containing(day: date) -> str | None:
    """The closed period of `day`, or None. Periods close in order, so a day at or before the
    end of the last closed period lies in a closed period (or before all periods)."""
    last = last_closed_period()
    return period_of(day) if last and period_of(day) <= last else None


def first_open_period(at_or_after: str) -> str:
    """The first period ≥ `at_or_after` that is not closed (it may not have a row yet)."""
    period = at_or_after
    closed = set(db.session.scalars(sa.select(Period.period).where(Period.status == PeriodStatus.CLOSED,
                                                                   Period.period >= at_or_after)))
    from commissions.calculation import next_period

    while period in closed:
        period = next_period(period)
    return period


def close_problems(row: Period) -> list[str]:
    problems: list[str] = []
    if row.status == PeriodStatus.CLOSED:
        return [_("Period %(period)s is already closed.", period=row.period)]
    earlier_open = db.session.scalar(
        sa.select(sa.func.min(Period.period)).where(Period.period < row.period, Period.status == PeriodStatus.OPEN))
    if earlier_open:
        problems.append(_("Close %(earlier)s first: periods close in order.", earlier=earlier_open))
    if not row.last_run_at:
        problems.append(_("The period has not been run yet."))
    drafts = db.session.scalar(sa.select(sa.func.count()).select_from(Statement).where(
        Statement.period == row.period, Statement.status == StatementStatus.DRAFT))
    if drafts:
        problems.append(_("%(count)s statements are still drafts: publish them first.", count=drafts))
    from commissions.models import Dispute, DisputeStatus

    disputes = db.session.scalar(sa.select(sa.func.count()).select_from(Dispute).where(
        Dispute.period == row.period, Dispute.status == DisputeStatus.OPEN))
    if disputes:
        problems.append(_("%(count)s disputes of this period are open.", count=disputes))
    for guard in CLOSE_GUARDS:
        problems.extend(str(p) for p in (guard(row) or []))
    return problems


def close_period(period: str, user=None) -> Period:
    row = lock_period(parse_period(period))
    problems = close_problems(row)
    if problems:
        raise PeriodError(" ".join(problems), code="refused")
    row.status = PeriodStatus.CLOSED
    row.closed_at = utcnow()
    row.closed_by_id = getattr(user, "id", None)
    db.session.flush()
    record("commissions.period_closed", row, before={"status": "open"}, after={"status": "closed"})
    return row
