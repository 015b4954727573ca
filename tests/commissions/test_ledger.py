"""Worked examples of SPEC §5.4 for every component and edge, through the set-based engine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from commissions import calculation as calc
from commissions.engine import RunRefused, ledger_snapshot, run_period
from commissions.models import Component, HoldReason, Line, Statement
from commissions.periods import PeriodError, close_period
from commissions.statements import explain, publish_period
from portal.core.db import db
from portal.partners.models import AgencyGrade, Grade


def lines(period=None, component=None, order_id=None):
    stmt = sa.select(Line).order_by(Line.id)
    if period:
        stmt = stmt.where(Line.period == period)
    if component:
        stmt = stmt.where(Line.component == component)
    if order_id:
        stmt = stmt.where(Line.order_id == order_id)
    return db.session.scalars(stmt).all()


def statement(agency, period):
    return db.session.scalar(sa.select(Statement).where(Statement.agency_id == agency.id, Statement.period == period))


def gold(agency, since=date(2020, 1, 1)):
    agency.grades.clear()
    db.session.flush()
    agency.grades.append(AgencyGrade(grade=Grade.GOLD, effective_from=since))
    db.session.flush()


def test_one_off_with_quantity_fee_rate_and_multiplier(cb):
    agency, product, _rule = cb.setup(one_off_per_unit="30.00", one_off_rate="0.05")
    gold(agency)
    act = cb.activation(product, agency, quantity=3, one_time_fee_fen=20000)
    run_period("2026-09")
    (line,) = lines(component=Component.ONE_OFF)
    # (3 × 30.00 + 200.00 × 0.05) × 1.20 = 120.00
    assert line.amount_fen == 12000
    assert line.period == line.source_period == "2026-09"
    assert line.accrual_date == act.activation_date
    assert (line.quantity, line.unit_fen, line.basis_fen, line.rate_u, line.multiplier_u, line.grade,
            line.rule_version) == (3, 3000, 20000, 50000, 12000, "gold", "2026A")
    assert calc.one_off_amount(3, Decimal("30.00"), Decimal("200.00"), Decimal("0.05"), Decimal("1.20")) == \
        Decimal("120.00")
    assert explain(line) == "(3 × ¥30.00 + 5.00% × ¥200.00 one-time fee) × 1.20 (gold), plan 2026A"


def test_share_line_and_the_spec_explanation(cb):
    agency, product, _rule = cb.setup()
    gold(agency)
    act = cb.activation(product, agency, activated="2026-09-10T10:00:00")
    cb.billing(act, "2026-10", 128000)
    run_period("2026-10")
    (line,) = lines(component=Component.SHARE)
    assert line.amount_fen == 12288  # 8% × 1,280.00 × 1.20 = 122.88
    assert line.accrual_date == date(2026, 10, 31)
    assert line.month_index == 2
    assert explain(line) == "8.00% × ¥1,280.00 paid for 2026-10 × 1.20 (gold), plan 2026A"


def test_half_up_rounding_per_line(cb):
    agency, product, _rule = cb.setup(share_rate="0.05")
    act = cb.activation(product, agency, activated="2026-09-01T10:00:00")
    cb.billing(act, "2026-09", 10)  # 0.10 × 0.05 = 0.005 → 0.01 (half-up)
    act2 = cb.activation(product, agency, activated="2026-09-01T10:00:00")
    cb.billing(act2, "2026-09", 9)  # 0.09 × 0.05 = 0.0045 → 0.00: not written
    run_period("2026-09")
    share = lines(component=Component.SHARE)
    assert [(ln.order_id, ln.amount_fen) for ln in share] == [(act.order_id, 1)]
    assert calc.share_amount(Decimal("0.10"), Decimal("0.05"), Decimal("1")) == Decimal("0.01")


@pytest.mark.parametrize(("period", "expected"), [("2026-01", 1), ("2026-12", 12), ("2027-01", None)])
def test_month_index_one_to_share_months(cb, period, expected):
    agency, product, _rule = cb.setup(share_months=12, effective_to=None)
    act = cb.activation(product, agency, activated="2026-01-31T23:00:00")
    cb.billing(act, period, 100000)
    run_period(period)
    share = lines(component=Component.SHARE)
    if expected is None:
        assert share == []
    else:
        assert [ln.month_index for ln in share] == [expected]
        assert share[0].amount_fen == 8000
    assert calc.month_index(date(2026, 1, 31), period) == (expected or 13)


@pytest.mark.parametrize(("days", "clawed"), [(179, True), (180, False)])
def test_clawback_on_day_clawback_days_minus_one_and_on_clawback_days(cb, days, clawed):
    agency, product, _rule = cb.setup(clawback_days=180)
    start = date(2026, 3, 1)
    end = date.fromordinal(start.toordinal() + days)
    act = cb.activation(product, agency, activated=f"{start.isoformat()}T10:00:00", quantity=2,
                        terminated=f"{end.isoformat()}T10:00:00")
    run_period("2026-03")
    run_period(calc.period_of(end))
    claw = lines(component=Component.CLAWBACK)
    if clawed:
        assert [(ln.amount_fen, ln.period, ln.accrual_date) for ln in claw] == [(-6000, calc.period_of(end), end)]
        assert explain(claw[0]).startswith("Clawback of ¥60.00")
    else:
        assert claw == []
    assert calc.clawback_applies(start, end, 180) is clawed
    assert act.termination_date == end


def test_clawback_in_the_activation_month(cb):
    agency, product, _rule = cb.setup()
    cb.activation(product, agency, activated="2026-09-01T10:00:00", terminated="2026-09-20T10:00:00")
    run_period("2026-09")
    assert sorted(ln.amount_fen for ln in lines("2026-09")) == [-3000, 3000]
    assert statement(agency, "2026-09").earned_fen == 0


def test_version_boundary_on_the_activation_date(cb):
    agency, product, _rule = cb.setup(effective_to=date(2026, 6, 30), one_off_per_unit="30.00")
    cb.rule(product, version="2026B", effective_from=date(2026, 7, 1), effective_to=None, one_off_per_unit="50.00")
    before = cb.activation(product, agency, activated="2026-06-30T23:59:59")            # Shanghai 06-30
    after = cb.activation(product, agency, activated="2026-06-30T16:00:00+00:00")       # Shanghai 07-01 00:00
    late_utc = cb.activation(product, agency, activated="2026-06-30T15:59:59+00:00")    # Shanghai 06-30 23:59:59
    run_period("2026-06")
    run_period("2026-07")
    got = {ln.order_id: (ln.rule_version, ln.amount_fen, ln.period) for ln in lines(component=Component.ONE_OFF)}
    assert got[before.order_id] == ("2026A", 3000, "2026-06")
    assert got[after.order_id] == ("2026B", 5000, "2026-07")
    assert got[late_utc.order_id] == ("2026A", 3000, "2026-06")


def test_rule_version_fixes_the_terms_for_the_orders_whole_life(cb):
    agency, product, _rule = cb.setup(effective_to=date(2026, 6, 30), share_rate="0.08")
    cb.rule(product, version="2026B", effective_from=date(2026, 7, 1), effective_to=None, share_rate="0.10")
    act = cb.activation(product, agency, activated="2026-06-15T10:00:00")
    cb.billing(act, "2026-08", 100000)
    run_period("2026-08")
    (line,) = lines(component=Component.SHARE)
    assert (line.rule_version, line.amount_fen) == ("2026A", 8000)


def test_grade_change_between_activation_and_billing_period(cb):
    agency, product, _rule = cb.setup()
    gold(agency)
    agency.grades.append(AgencyGrade(grade=Grade.BRONZE, effective_from=date(2026, 10, 1)))
    db.session.flush()
    act = cb.activation(product, agency, activated="2026-09-10T10:00:00", quantity=1)
    cb.billing(act, "2026-09", 100000)
    cb.billing(act, "2026-10", 100000)
    run_period("2026-09")
    run_period("2026-10")
    got = {(ln.component, ln.period): (ln.grade, ln.multiplier_u, ln.amount_fen) for ln in lines()}
    assert got[(Component.ONE_OFF, "2026-09")] == ("gold", 12000, 3600)   # 30.00 × 1.20 at activation
    assert got[(Component.SHARE, "2026-09")] == ("gold", 12000, 9600)     # 1,000.00 × 8% × 1.20
    assert got[(Component.SHARE, "2026-10")] == ("bronze", 8000, 6400)    # grade on 2026-10-31


def test_midnight_shanghai_timestamps_decide_the_period(cb):
    agency, product, _rule = cb.setup()
    utc_evening = cb.activation(product, agency, activated="2026-09-30T16:30:00+00:00")  # 10-01 00:30 Shanghai
    local_late = cb.activation(product, agency, activated="2026-09-30T23:30:00")         # 09-30 Shanghai
    run_period("2026-09")
    run_period("2026-10")
    periods = {ln.order_id: ln.period for ln in lines(component=Component.ONE_OFF)}
    assert periods == {utc_evening.order_id: "2026-10", local_late.order_id: "2026-09"}


def test_zero_lines_are_not_written(cb):
    agency, product, _rule = cb.setup(one_off_per_unit="0")
    act = cb.activation(product, agency)
    cb.billing(act, "2026-09", 0)
    result = run_period("2026-09")
    assert result["lines"] == 0 and lines() == []


def test_referral_bounty_for_a_high_product(cb, make):
    from portal.core.time import parse_iso_timestamp
    from portal.leads.models import Lead, LeadKind, LeadStatus

    agency, _low, _rule = cb.setup()
    high = make.product(code="HI-REF", scores=(5, 1, 1))
    cb.rule(high, one_off_per_unit="0", share_rate="0", referral_bounty="500.00")
    gold(agency)
    customer = make.customer()
    lead = Lead(agency_id=agency.id, customer_id=customer.id, product_id=high.id, kind=LeadKind.REFERRAL,
                status=LeadStatus.ROUTED, contact_name="x", contact_mobile="13800000000",
                approved_at=parse_iso_timestamp("2026-08-01T10:00:00"),
                routed_at=parse_iso_timestamp("2026-08-02T10:00:00"))
    db.session.add(lead)
    db.session.flush()
    act = cb.activation(high, None, uscc=customer.uscc, agent_code="", activated="2026-09-05T10:00:00")
    run_period("2026-09")
    (line,) = lines(component=Component.REFERRAL)
    assert (line.agency_id, line.amount_fen, line.order_id) == (agency.id, 60000, act.order_id)
    assert explain(line) == "Referral bounty ¥500.00 × 1.20 (gold), plan 2026A"
    # SPEC §4: a referral is won only once its account manager accepted it (routed → accepted → won);
    # the bounty does not wait for that
    db.session.refresh(lead)
    assert lead.status == LeadStatus.ROUTED
    from commissions.attribution import attribute_pending
    from portal.core.models import Role
    from portal.leads.operations import accept

    accept(lead, make.user(Role.ADMIN))
    attribute_pending()
    db.session.refresh(lead)
    assert lead.status == LeadStatus.WON and lead.order_id == act.order_id


def test_late_line_into_the_first_open_period_keeps_its_source(cb):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    act = cb.activation(product, agency, activated="2026-09-01T10:00:00")
    run_period("2026-09")
    publish_period("2026-09")
    close_period("2026-09")
    with pytest.raises(RunRefused):
        run_period("2026-09")
    cb.billing(act, "2026-09", 100000)   # billing of a closed period arrives late
    run_period("2026-10")
    (share,) = lines(component=Component.SHARE)
    assert (share.period, share.source_period, share.amount_fen) == ("2026-10", "2026-09", 8000)
    # the closed period did not change
    assert [ln.component for ln in lines("2026-09")] == [Component.ONE_OFF]
    again = ledger_snapshot("2026-10")
    run_period("2026-10")
    assert ledger_snapshot("2026-10") == again


def test_periods_close_in_order(cb):
    agency, product, _rule = cb.setup()
    cb.activation(product, agency, activated="2026-09-01T10:00:00")
    run_period("2026-09")
    run_period("2026-10")
    publish_period("2026-09")
    publish_period("2026-10")
    with pytest.raises(PeriodError, match="Close 2026-09 first"):
        close_period("2026-10")
    close_period("2026-09")
    close_period("2026-10")


def test_negative_balance_is_carried_forward(cb):
    agency, product, _rule = cb.setup(min_payout_fen=10000)
    a1 = cb.activation(product, agency, activated="2026-08-01T10:00:00", quantity=10)  # one-off 300.00 in 08
    run_period("2026-08")
    s8 = statement(agency, "2026-08")
    assert (s8.earned_fen, s8.payable_fen, s8.carried_fen, s8.hold_reason) == (30000, 30000, 0, None)
    a1.terminated_at, a1.termination_date = a1.activated_at, date(2026, 9, 2)  # clawback −300.00 in 09
    db.session.flush()
    run_period("2026-09")
    s9 = statement(agency, "2026-09")
    assert (s9.opening_fen, s9.earned_fen, s9.available_fen, s9.payable_fen, s9.carried_fen) == \
        (0, -30000, -30000, 0, -30000)
    assert s9.hold_reason == HoldReason.NEGATIVE_BALANCE
    a2 = cb.activation(product, agency, activated="2026-10-01T10:00:00", quantity=20)  # 600.00 in 10
    run_period("2026-10")
    s10 = statement(agency, "2026-10")
    assert (s10.opening_fen, s10.earned_fen, s10.available_fen, s10.payable_fen, s10.carried_fen) == \
        (-30000, 60000, 30000, 30000, 0)
    assert a2.order_id


@pytest.mark.parametrize(("quantity", "payable"), [(3, False), (4, True)])
def test_minimum_payout(cb, quantity, payable):
    agency, product, _rule = cb.setup(min_payout_fen=12000, one_off_per_unit="30.00")
    cb.activation(product, agency, quantity=quantity)  # 90.00 or 120.00
    run_period("2026-09")
    s = statement(agency, "2026-09")
    if payable:
        assert (s.payable_fen, s.carried_fen, s.hold_reason) == (12000, 0, None)
    else:
        assert (s.payable_fen, s.carried_fen, s.hold_reason) == (0, 9000, HoldReason.BELOW_MINIMUM)


def test_suspended_agency_is_held_and_no_payout_account_hook(cb):
    from commissions import statements as st
    from portal.partners.models import AgencyStatus

    agency, product, _rule = cb.setup(min_payout_fen=0)
    other = cb.make.agency(approved_on=date(2020, 1, 1))
    cb.activation(product, agency, quantity=10)
    cb.activation(product, other, quantity=10)
    agency.status = AgencyStatus.SUSPENDED
    agency.status_changed_at = datetime(2026, 10, 1, tzinfo=UTC)
    db.session.flush()

    def no_account(a):
        return a.id != other.id

    st.PAYOUT_ACCOUNT_CHECKS.append(no_account)
    try:
        run_period("2026-09")
    finally:
        st.PAYOUT_ACCOUNT_CHECKS.remove(no_account)
    assert statement(agency, "2026-09").hold_reason == HoldReason.AGENCY_SUSPENDED
    assert statement(other, "2026-09").hold_reason == HoldReason.NO_PAYOUT_ACCOUNT
    assert statement(other, "2026-09").carried_fen == 30000


def test_running_twice_gives_identical_results(cb):
    agency, product, _rule = cb.setup()
    for i in range(5):
        act = cb.activation(product, agency, quantity=i + 1, activated=f"2026-09-0{i + 1}T10:00:00")
        cb.billing(act, "2026-09", 12345 * (i + 1))
    first = run_period("2026-09")
    snap = ledger_snapshot("2026-09")
    second = run_period("2026-09")
    assert ledger_snapshot("2026-09") == snap
    assert (first["lines"], first["total_fen"]) == (second["lines"], second["total_fen"])
