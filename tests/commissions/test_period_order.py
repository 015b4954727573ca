"""Periods close in calendar order, and a month at or before the last closed period counts as
closed: it cannot be run, so no order's lines are written twice (SPEC §5.5)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from commissions.engine import RunRefused, run_period
from commissions.models import Component, Line, Period, PeriodStatus
from commissions.periods import PeriodError, close_period, first_open_period, get_period
from commissions.statements import publish_period
from portal.core.db import db, utcnow


def lines_of(order_id):
    return sorted((ln.component.value, ln.period, ln.source_period, ln.amount_fen) for ln in db.session.scalars(
        sa.select(Line).where(Line.order_id == order_id)))


def _close_without_checks(period):
    """A ledger as an earlier version could leave it: `period` closed while the month before it
    was never run."""
    row = get_period(period)
    row.status, row.closed_at = PeriodStatus.CLOSED, utcnow()
    db.session.flush()


def test_a_period_closes_only_after_the_calendar_month_before_it(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    sept = cb.activation(product, agency, activated="2026-09-10T10:00:00")
    cb.billing(sept, "2026-09", 100000)
    run_period("2026-10")  # September never ran: it has no period row at all
    publish_period("2026-10")
    assert get_period("2026-09") is None
    with pytest.raises(PeriodError, match="Close 2026-09 first"):
        close_period("2026-10")
    run_period("2026-09")
    publish_period("2026-09")
    close_period("2026-09")
    close_period("2026-10")


def test_an_empty_month_between_two_months_must_be_closed_too(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    cb.activation(product, agency, activated="2026-08-10T10:00:00")
    cb.activation(product, agency, activated="2026-10-10T10:00:00")
    for period in ("2026-08", "2026-10"):
        run_period(period)
        publish_period(period)
    close_period("2026-08")
    with pytest.raises(PeriodError, match="Close 2026-09 first"):
        close_period("2026-10")
    with pytest.raises(PeriodError, match="not been run"):
        close_period("2026-09")
    run_period("2026-09")  # nothing in it: no statement, but it ran
    close_period("2026-09")
    close_period("2026-10")


def test_the_first_period_closes_when_nothing_lies_before_it(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    cb.activation(product, agency, activated="2026-09-10T10:00:00")
    run_period("2026-09")
    publish_period("2026-09")
    close_period("2026-09")
    assert get_period("2026-09").status == PeriodStatus.CLOSED


def test_a_month_before_the_last_closed_one_cannot_be_run_and_its_lines_arrive_once(cb, app):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    sept = cb.activation(product, agency, activated="2026-09-10T10:00:00", order_id="ORD-SEPT")
    cb.billing(sept, "2026-09", 100000)
    oct_ = cb.activation(product, agency, activated="2026-10-10T10:00:00", order_id="ORD-OCT")
    run_period("2026-10")
    publish_period("2026-10")
    _close_without_checks("2026-10")

    run_period("2026-11")  # first open period: September's lines arrive late, with their source period
    assert lines_of("ORD-SEPT") == [("one_off", "2026-11", "2026-09", 3000), ("share", "2026-11", "2026-09", 8000)]

    with pytest.raises(RunRefused, match="counts as closed"):
        run_period("2026-09")
    assert get_period("2026-09") is None  # the refused run left no open row behind
    with pytest.raises(PeriodError, match="counts as closed"):
        close_period("2026-09")
    # the same order's lines exist once; re-running the first open period changes nothing
    run_period("2026-11")
    assert lines_of("ORD-SEPT") == [("one_off", "2026-11", "2026-09", 3000), ("share", "2026-11", "2026-09", 8000)]
    assert lines_of(oct_.order_id) == [("one_off", "2026-10", "2026-10", 3000)]
    assert first_open_period("2026-09") == "2026-11"
    # the command line refuses it too (last: the refused command rolls the session back)
    result = app.test_cli_runner().invoke(args=["commissions", "run", "2026-09"])
    assert result.exit_code != 0 and "counts as closed" in result.output


def test_a_stale_open_row_before_the_last_closed_period_counts_as_closed(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    cb.activation(product, agency, activated="2026-09-10T10:00:00", order_id="ORD-GAP")
    db.session.add(Period(period="2026-09", status=PeriodStatus.OPEN, runs=0))
    run_period("2026-10")
    publish_period("2026-10")
    _close_without_checks("2026-10")
    with pytest.raises(RunRefused, match="counts as closed"):
        run_period("2026-09")
    run_period("2026-11")
    assert [(c, p) for c, p, _s, _a in lines_of("ORD-GAP")] == [(Component.ONE_OFF.value, "2026-11")]
