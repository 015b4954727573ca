"""The fast paths of a run: a re-run changes only the lines that differ (and gives exactly what a
fresh run gives), the grade-interval table agrees with the day-by-day rule, and the payout-account
check can answer for all agencies at once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commissions.engine import LINE_COLUMNS, grade_intervals, ledger_snapshot, run_period
from commissions.models import GradeMultiplier, HoldReason, Line, Statement
from portal.core.db import db
from portal.core.time import parse_iso_timestamp, shanghai_date
from portal.partners.models import AgencyGrade, Grade


def _line_ids(period):
    return {(r.order_id, r.component, r.source_period): r.id for r in db.session.execute(
        sa.select(Line.order_id, Line.component, Line.source_period, Line.id).where(Line.period == period))}


def _fresh_snapshot(period):
    """What a first run of `period` gives: its computed lines and statements removed, run again."""
    db.session.execute(sa.delete(Line).where(Line.period == period, Line.computed.is_(True)))
    db.session.execute(sa.delete(Statement).where(Statement.period == period))
    db.session.flush()
    run_period(period)
    return ledger_snapshot(period)


def _world(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0, clawback_days=30, one_off_per_unit="30.00")
    other = cb.make.agency(approved_on=date(2020, 1, 1))
    acts = []
    for i in range(6):
        owner = agency if i % 2 else other
        act = cb.activation(product, owner, quantity=i + 1, activated=f"2026-09-0{i + 1}T10:00:00")
        cb.billing(act, "2026-09", 10000 + 1234 * i)
        acts.append(act)
    return agency, other, product, acts


def test_rerun_without_changes_writes_nothing_and_keeps_line_ids(cb):
    _world(cb)
    run_period("2026-09")
    ids, snapshot = _line_ids("2026-09"), ledger_snapshot("2026-09")
    second = run_period("2026-09")
    assert second["steps"]["changed"] == 0
    assert _line_ids("2026-09") == ids
    assert ledger_snapshot("2026-09") == snapshot


def test_rerun_after_changes_equals_a_fresh_run_and_touches_only_changed_lines(cb):
    agency, other, product, acts = _world(cb)
    run_period("2026-09")
    ids = _line_ids("2026-09")
    # a changed payment, a termination inside the clawback days, a new order, a grade change of
    # one agency inside the open period (its later lines get the new multiplier)
    changed_key = (acts[0].order_id, "share", "2026-09")
    db.session.execute(sa.text("UPDATE billing_records SET paid_fen = paid_fen + 500 WHERE order_id = :o"),
                       {"o": acts[0].order_id})
    end = parse_iso_timestamp("2026-09-20T09:00:00")
    acts[1].terminated_at, acts[1].termination_date = end, shanghai_date(end)
    new = cb.activation(product, agency, quantity=2, activated="2026-09-15T10:00:00")
    cb.billing(new, "2026-09", 7777)
    db.session.add(AgencyGrade(agency_id=other.id, grade=Grade.GOLD, effective_from=date(2026, 9, 25)))
    db.session.flush()
    result = run_period("2026-09")
    after = _line_ids("2026-09")
    snapshot = ledger_snapshot("2026-09")
    # the lines of the untouched orders of `agency` kept their ids
    kept = [key for key in ids if key[0] in (acts[3].order_id, acts[5].order_id)]
    assert kept and all(after[key] == ids[key] for key in kept)
    assert changed_key in ids and changed_key in after
    assert (acts[1].order_id, "clawback", "2026-09") in after
    assert result["steps"]["changed"] > 0
    assert _fresh_snapshot("2026-09") == snapshot


def test_rerun_removes_a_stored_duplicate_line(cb):
    """The comparison is of multisets: a stored line twice where the run gives it once is fixed."""
    _world(cb)
    run_period("2026-09")
    expected = ledger_snapshot("2026-09")
    columns = LINE_COLUMNS + ", prior_fen"
    db.session.execute(sa.text(f"INSERT INTO commission_lines ({columns}) SELECT {columns} FROM commission_lines "
                               "WHERE id = (SELECT MIN(id) FROM commission_lines WHERE component = 'share')"))
    db.session.flush()
    assert len(ledger_snapshot("2026-09")[0]) == len(expected[0]) + 1
    run_period("2026-09")
    assert ledger_snapshot("2026-09") == expected


def test_payout_account_check_for_many_agencies_is_asked_once(cb):
    from commissions import statements as st

    agency, other, _product, _acts = _world(cb)
    asked_one, asked_many = [], []

    def check(a):
        asked_one.append(a.id)
        return True

    def many(agencies):
        asked_many.append(sorted(a.id for a in agencies))
        return {a.id: a.id != other.id for a in agencies}

    check.many = many
    st.PAYOUT_ACCOUNT_CHECKS.append(check)
    try:
        run_period("2026-09")
    finally:
        st.PAYOUT_ACCOUNT_CHECKS.remove(check)
    assert asked_one == [] and asked_many == [sorted([agency.id, other.id])]
    held = {s.agency_id: s.hold_reason for s in db.session.scalars(sa.select(Statement))}
    assert held == {agency.id: None, other.id: HoldReason.NO_PAYOUT_ACCOUNT}


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))


@SETTINGS
@given(history=st.lists(st.tuples(days, st.sampled_from(list(Grade))), max_size=4),
       multipliers=st.lists(st.tuples(st.sampled_from(["gold", "silver", "bronze"]), days,
                                      st.integers(0, 100_000)), max_size=6),
       probes=st.lists(days, min_size=1, max_size=10))
def test_grade_intervals_agree_with_the_day_by_day_rule(cb, history, multipliers, probes):
    nested = db.session.begin_nested()
    try:
        agency = cb.make.agency(grade=None)
        plain = cb.make.agency(grade=None)
        grades = {}
        for day, grade in history:
            grades[day] = grade
        for day, grade in grades.items():
            db.session.add(AgencyGrade(agency_id=agency.id, grade=grade, effective_from=day))
        mults = {}
        for grade, day, units in multipliers:
            mults[(grade, day)] = units
        for (grade, day), units in mults.items():
            db.session.add(GradeMultiplier(grade=grade, effective_from=day, multiplier_u=units))
        db.session.flush()
        intervals = [row for row in grade_intervals() if row[0] in (agency.id, plain.id)]
        for day in [*probes, date(1, 1, 1), date(9999, 12, 30), *grades]:
            grade_days = [d for d in grades if d <= day]
            grade = grades[max(grade_days)].value if grade_days else None
            mult_days = [d for (g, d) in mults if g == grade and d <= day]
            units = mults[(grade, max(mult_days))] if mult_days else 10000
            found = [(g, u) for a, lo, hi, g, u in intervals if a == agency.id and lo <= day < hi]
            assert found == [(grade, units)], day
            assert [(g, u) for a, lo, hi, g, u in intervals if a == plain.id and lo <= day < hi] == [(None, 10000)]
    finally:
        nested.rollback()


def test_a_grade_without_a_multiplier_yet_counts_one(cb):
    agency, product, _rule = cb.setup()
    db.session.add(AgencyGrade(agency_id=agency.id, grade=Grade.GOLD, effective_from=date(2026, 9, 1)))
    db.session.execute(sa.delete(GradeMultiplier).where(GradeMultiplier.grade == "gold"))
    db.session.add(GradeMultiplier(grade="gold", effective_from=date(2026, 9, 20), multiplier_u=12000))
    db.session.flush()
    early = cb.activation(product, agency, activated=datetime(2026, 9, 10, 2, tzinfo=UTC))
    late = cb.activation(product, agency, activated=datetime(2026, 9, 21, 2, tzinfo=UTC))
    cb.billing(early, "2026-09", 10000)
    run_period("2026-09")
    got = {(line.order_id, line.component): (line.grade, line.multiplier_u)
           for line in db.session.scalars(sa.select(Line))}
    assert got[(early.order_id, "one_off")] == ("gold", 10000)
    assert got[(late.order_id, "one_off")] == ("gold", 12000)
    assert got[(early.order_id, "share")] == ("gold", 12000)  # accrues on the last day of the month


def test_a_paid_amount_changed_and_changed_back_after_the_close_is_corrected_both_times(cb):
    """September's line has basis 1,000.00; after the close the payment becomes 1,200.00 (a
    correction in October), then 1,000.00 again: November corrects back, although September's own
    line has that basis."""
    from commissions.periods import close_period
    from commissions.statements import publish_period

    agency, product, _rule = cb.setup(min_payout_fen=0)
    act = cb.activation(product, agency, activated="2026-09-01T10:00:00")
    bill = cb.billing(act, "2026-09", 100000, billed_fen=200000)

    def close(period):
        run_period(period)
        publish_period(period)
        close_period(period)

    close("2026-09")
    bill.paid_fen = 120000
    db.session.flush()
    close("2026-10")
    bill.paid_fen = 100000
    db.session.flush()
    run_period("2026-11")
    shares = db.session.scalars(sa.select(Line).where(Line.order_id == act.order_id, Line.component == "share")
                                .order_by(Line.period)).all()
    assert [(ln.period, ln.source_period, ln.basis_fen, ln.amount_fen, ln.prior_fen) for ln in shares] == [
        ("2026-09", "2026-09", 100000, 8000, None),
        ("2026-10", "2026-09", 120000, 1600, 8000),
        ("2026-11", "2026-09", 100000, -1600, 9600),
    ]
    snapshot = ledger_snapshot("2026-11")
    run_period("2026-11")
    assert ledger_snapshot("2026-11") == snapshot
