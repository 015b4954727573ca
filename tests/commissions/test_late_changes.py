"""Facts of a closed month that arrive or change later are written into the first open period,
keeping their source period: late one-offs and clawbacks, and corrections of a share whose paid
amount changed after the close (SPEC §5.1 "a row may later … change a billing record's
paid_amount", §5.4 late lines)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from commissions.engine import ledger_snapshot, run_period
from commissions.models import Component, Line
from commissions.periods import close_period
from commissions.statements import explain, publish_period
from portal.core.db import db
from portal.partners.models import AgencyGrade, Grade


def lines_of(order_id, component=None):
    stmt = sa.select(Line).where(Line.order_id == order_id).order_by(Line.period, Line.id)
    if component is not None:
        stmt = stmt.where(Line.component == component)
    return db.session.scalars(stmt).all()


def close(*periods):
    for period in periods:
        run_period(period)
        publish_period(period)
        close_period(period)


def gold(agency):
    agency.grades.clear()
    db.session.flush()
    agency.grades.append(AgencyGrade(grade=Grade.GOLD, effective_from=date(2020, 1, 1)))
    db.session.flush()


def test_a_changed_paid_amount_of_a_closed_month_is_corrected_in_the_first_open_period(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    gold(agency)
    act = cb.activation(product, agency, activated="2026-09-01T10:00:00")
    bill = cb.billing(act, "2026-09", 128000, billed_fen=200000)
    close("2026-09")
    (first,) = lines_of(act.order_id, Component.SHARE)
    assert (first.period, first.amount_fen) == ("2026-09", 12288)     # 8% × 1,280.00 × 1.20

    bill.paid_fen = 138000                                             # BOSS corrects September's payment
    db.session.flush()
    run_period("2026-10")
    correction = lines_of(act.order_id, Component.SHARE)[-1]
    assert (correction.period, correction.source_period, correction.amount_fen, correction.prior_fen,
            correction.basis_fen, correction.multiplier_u, correction.rule_version) == \
        ("2026-10", "2026-09", 960, 12288, 138000, 12000, "2026A")   # 132.48 − 122.88
    assert explain(correction) == ("Correction of 2026-09: 8.00% × ¥1,380.00 paid now × 1.20 (gold), plan 2026A = "
                                   "¥132.48, less ¥122.88 already counted")
    snapshot = ledger_snapshot("2026-10")
    run_period("2026-10")
    assert ledger_snapshot("2026-10") == snapshot                     # deterministic
    publish_period("2026-10")
    close_period("2026-10")

    run_period("2026-11")                                              # nothing changed: no zero line
    assert [ln.period for ln in lines_of(act.order_id, Component.SHARE)] == ["2026-09", "2026-10"]

    bill.paid_fen = 0                                                  # the payment was reversed
    db.session.flush()
    run_period("2026-11")
    last = lines_of(act.order_id, Component.SHARE)[-1]
    assert (last.period, last.source_period, last.amount_fen, last.prior_fen) == ("2026-11", "2026-09", -13248, 13248)
    assert sum(ln.amount_fen for ln in lines_of(act.order_id, Component.SHARE)) == 0


def test_billing_of_a_closed_month_arriving_late_is_written_whole(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    act = cb.activation(product, agency, activated="2026-09-01T10:00:00")
    close("2026-09")
    cb.billing(act, "2026-09", 100000)
    run_period("2026-10")
    (share,) = lines_of(act.order_id, Component.SHARE)
    assert (share.period, share.source_period, share.amount_fen, share.prior_fen) == ("2026-10", "2026-09", 8000, None)


def test_a_one_off_of_a_closed_month_imported_late_is_written_into_the_first_open_period(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    cb.activation(product, agency, activated="2026-09-01T10:00:00")
    close("2026-09")
    late = cb.activation(product, agency, activated="2026-09-15T10:00:00", quantity=2)  # imported in October
    run_period("2026-10")
    (line,) = lines_of(late.order_id)
    assert (line.component, line.period, line.source_period, line.accrual_date, line.amount_fen) == \
        (Component.ONE_OFF, "2026-10", "2026-09", date(2026, 9, 15), 6000)
    snapshot = ledger_snapshot("2026-10")
    run_period("2026-10")
    assert ledger_snapshot("2026-10") == snapshot
    publish_period("2026-10")
    close_period("2026-10")
    run_period("2026-11")
    assert len(lines_of(late.order_id)) == 1   # written once


def test_a_termination_of_a_closed_month_imported_late_claws_back_in_the_first_open_period(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0, clawback_days=180)
    act = cb.activation(product, agency, activated="2026-09-01T10:00:00", quantity=2)
    close("2026-09", "2026-10")
    act.terminated_at, act.termination_date = act.activated_at, date(2026, 10, 20)  # reported in November
    db.session.flush()
    run_period("2026-11")
    claw = lines_of(act.order_id, Component.CLAWBACK)
    assert [(ln.period, ln.source_period, ln.accrual_date, ln.amount_fen) for ln in claw] == \
        [("2026-11", "2026-10", date(2026, 10, 20), -6000)]
    run_period("2026-11")
    assert len(lines_of(act.order_id, Component.CLAWBACK)) == 1


def test_a_late_one_off_and_its_late_clawback_in_the_same_run(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0, clawback_days=180)
    cb.activation(product, agency, activated="2026-09-01T10:00:00")
    close("2026-09")
    act = cb.activation(product, agency, activated="2026-09-10T10:00:00", terminated="2026-09-25T10:00:00")
    run_period("2026-10")
    got = [(ln.component, ln.period, ln.source_period, ln.amount_fen) for ln in lines_of(act.order_id)]
    assert sorted(got) == sorted([(Component.ONE_OFF, "2026-10", "2026-09", 3000),
                                  (Component.CLAWBACK, "2026-10", "2026-09", -3000)])
