"""The carry-forward chain stays whole: every statement opens with the carried balance of the
agency's previous statement, also when an earlier open period is run again after a later one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from commissions.engine import RunRefused, run_period
from commissions.models import Statement, StatementStatus
from commissions.periods import PeriodError, close_period
from commissions.statements import approve_statement, previous_carried, publish_period
from portal.core.db import db


def figures(agency, period):
    s = db.session.scalar(sa.select(Statement).where(Statement.agency_id == agency.id, Statement.period == period))
    return None if s is None else (s.opening_fen, s.earned_fen, s.available_fen, s.payable_fen, s.carried_fen)


def assert_chain_whole(*periods):
    for period in periods:
        carried = previous_carried(period)
        for s in db.session.scalars(sa.select(Statement).where(Statement.period == period)):
            assert s.opening_fen == carried.get(s.agency_id, 0), (period, s.agency_id)
            assert s.available_fen == s.opening_fen + s.earned_fen
            assert s.payable_fen + s.carried_fen == s.available_fen


def test_rerunning_an_earlier_period_carries_its_new_balance_into_the_later_ones(cb):
    agency, product, _rule = cb.setup(min_payout_fen=10000)      # one-off ¥30.00 per unit
    cb.activation(product, agency, activated="2026-09-05T10:00:00")
    cb.activation(product, agency, activated="2026-10-05T10:00:00")
    cb.activation(product, agency, activated="2026-11-05T10:00:00")
    for period in ("2026-09", "2026-10", "2026-11"):
        run_period(period)
    assert figures(agency, "2026-09") == (0, 3000, 3000, 0, 3000)
    assert figures(agency, "2026-10") == (3000, 3000, 6000, 0, 6000)
    assert figures(agency, "2026-11") == (6000, 3000, 9000, 0, 9000)
    publish_period("2026-10")
    published_id = db.session.scalar(sa.select(Statement.id).where(Statement.period == "2026-10"))

    # a late-found September sale: September is run again and now pays out ¥120.00
    cb.activation(product, agency, activated="2026-09-20T10:00:00", quantity=3)
    result = run_period("2026-09")
    assert result["refreshed"] == ["2026-10", "2026-11"]
    assert figures(agency, "2026-09") == (0, 12000, 12000, 12000, 0)
    assert figures(agency, "2026-10") == (0, 3000, 3000, 0, 3000)
    assert figures(agency, "2026-11") == (3000, 3000, 6000, 0, 6000)
    assert_chain_whole("2026-09", "2026-10", "2026-11")
    # in place: the published statement keeps its id and its publication
    statement = db.session.get(Statement, published_id)
    assert (statement.status, statement.opening_fen) == (StatementStatus.PUBLISHED, 0)


def test_a_balance_appearing_or_vanishing_adds_or_removes_the_later_statement(cb, make):
    agency, product, _rule = cb.setup(min_payout_fen=10000)
    act = cb.activation(product, agency, activated="2026-09-05T10:00:00")
    run_period("2026-09")
    run_period("2026-10")                       # only the carried ¥30.00: a statement with no lines
    assert figures(agency, "2026-10") == (3000, 0, 3000, 0, 3000)
    act.terminated_at, act.termination_date = act.activated_at, act.activation_date  # clawed back in September
    db.session.flush()
    run_period("2026-09")
    assert figures(agency, "2026-09") == (0, 0, 0, 0, 0)
    assert figures(agency, "2026-10") is None
    assert_chain_whole("2026-10")


def test_an_approved_later_statement_refuses_the_rerun_with_the_reason(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    cb.activation(product, agency, activated="2026-09-05T10:00:00")
    cb.activation(product, agency, activated="2026-10-05T10:00:00")
    for period in ("2026-09", "2026-10"):
        run_period(period)
        publish_period(period)
    cb.settings(min_payout_fen=5000)            # September now carries its ¥30.00 …
    run_period("2026-09")
    assert figures(agency, "2026-10") == (3000, 3000, 6000, 6000, 0)  # … and October opens with it
    cb.settings(min_payout_fen=0)
    run_period("2026-09")
    publish_period("2026-09")
    approve_statement(db.session.scalar(sa.select(Statement).where(Statement.period == "2026-10")))
    cb.settings(min_payout_fen=5000)
    nested = db.session.begin_nested()
    with pytest.raises(RunRefused, match=r"approved or paid.*2026-10"):
        run_period("2026-09")
    nested.rollback()
    assert figures(agency, "2026-10") == (0, 3000, 3000, 3000, 0)
    assert_chain_whole("2026-09", "2026-10")
    cb.settings(min_payout_fen=0)
    run_period("2026-09")  # without a change to the approved statement the re-run is fine
    assert figures(agency, "2026-10") == (0, 3000, 3000, 3000, 0)


def test_a_period_with_a_broken_chain_cannot_close(cb):
    agency, product, _rule = cb.setup(min_payout_fen=10000)
    cb.activation(product, agency, activated="2026-09-05T10:00:00")
    cb.activation(product, agency, activated="2026-10-05T10:00:00")
    for period in ("2026-09", "2026-10"):
        run_period(period)
        publish_period(period)
    close_period("2026-09")
    october = db.session.scalar(sa.select(Statement).where(Statement.period == "2026-10"))
    october.opening_fen = 0  # as a ledger of the earlier engine could be left
    db.session.flush()
    with pytest.raises(PeriodError, match="do not open with the balance carried"):
        close_period("2026-10")
    run_period("2026-10")
    publish_period("2026-10")
    close_period("2026-10")
