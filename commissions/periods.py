"""Periods: calendar months, open until finance closes them, in order (SPEC §5.5).

Closing in order: a period P closes only when the calendar month before it is closed, unless
nothing at all lies before P (no activation, billing record, ledger line or run period earlier
than P) — then P is the first period of the ledger. Every month at or before the last closed
period counts as closed, whether it has a row or not: it cannot be run, and its lines (late
billing, late terminations, an activation imported after the close …) go into the first open
period as late lines keeping their source period. So a month can never be computed twice.

Hook for other features:
    CLOSE_GUARDS: functions (period: Period) -> list of reasons (str) that refuse closing it
    (e.g. payouts registers reconciliation checks). An empty list means "no objection".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa

from commissions.calculation import next_period, parse_period, period_bounds, period_of, previous_period
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


def last_closed_period() -> str | None:
    return db.session.scalar(sa.select(sa.func.max(Period.period)).where(Period.status == PeriodStatus.CLOSED))


def counts_as_closed(period: str, last_closed: str | None = None) -> bool:
    """A period at or before the last closed period is closed for every purpose (running it,
    writing lines into it), also when it has no row or its row says open."""
    last = last_closed if last_closed is not None else last_closed_period()
    return last is not None and period <= last


def is_closed(period: str) -> bool:
    return counts_as_closed(period)


def earliest_data_period(before: str) -> str | None:
    """The first month before `before` holding anything the ledger is made of: an activation, a
    billing record, a line, or a period that was run. None when nothing lies before `before`."""
    from commissions.ingest.models import Activation, BillingRecord
    from commissions.models import Line

    start = period_bounds(before)[0]
    found = []
    first_activation = db.session.scalar(sa.select(sa.func.min(Activation.activation_date))
                                         .where(Activation.activation_date < start))
    if first_activation is not None:
        found.append(period_of(first_activation))
    for value in (
        db.session.scalar(sa.select(sa.func.min(BillingRecord.period)).where(BillingRecord.period < before)),
        db.session.scalar(sa.select(sa.func.min(Line.period)).where(Line.period < before)),
        db.session.scalar(sa.select(sa.func.min(Period.period)).where(Period.period < before,
                                                                   Period.last_run_at.is_not(None))),
    ):
        if value is not None:
            found.append(value)
    return min(found) if found else None


def last_closed_day() -> date | None:
    last = last_closed_period()
    return period_bounds(last)[1] if last else None


def closed_period_containing(day: date) -> str | None:
    """The closed period of `day`, or None. Periods close in order, so a day at or before the
    end of the last closed period lies in a closed period (or before all periods)."""
    last = last_closed_period()
    return period_of(day) if last and period_of(day) <= last else None


def first_open_period(at_or_after: str) -> str:
    """The first period ≥ `at_or_after` that does not count as closed (it may not have a row yet)."""
    last = last_closed_period()
    if last is not None and at_or_after <= last:
        return next_period(last)
    return at_or_after


def close_problems(row: Period) -> list[str]:
    problems: list[str] = []
    if row.status == PeriodStatus.CLOSED:
        return [_("Period %(period)s is already closed.", period=row.period)]
    last = last_closed_period()
    if counts_as_closed(row.period, last):
        return [_("Period %(period)s comes before the last closed period %(last)s: it counts as closed already.",
                  period=row.period, last=last)]
    if last is not None:
        first_to_close = next_period(last) if last != previous_period(row.period) else None
    else:
        first_to_close = earliest_data_period(row.period)
    if first_to_close is not None and first_to_close < row.period:
        problems.append(_("Close %(earlier)s first: periods close in order.", earlier=first_to_close))
    if not row.last_run_at:
        problems.append(_("The period has not been run yet."))
    from commissions.statements import stale_openings

    stale = stale_openings(row.period) if row.last_run_at else []
    if stale:
        problems.append(_("%(count)s statements do not open with the balance carried from the period before: "
                          "run %(period)s again.", count=len(stale), period=row.period))
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
