"""Amounts beyond what 64-bit products of scaled integers hold are still computed exactly (no
float on SQLite, no overflow error on PostgreSQL), for every amount ingest accepts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from commissions import calculation as calc
from commissions.engine import EXACT_BOUND, run_period
from commissions.models import Component, Line, Statement
from portal.core.db import db
from portal.partners.models import AgencyGrade, Grade

MAX_FEN = 9_999_999_999_999  # ¥99,999,999,999.99: the largest amount ingest accepts


def amounts(component):
    return {ln.order_id: ln.amount_fen for ln in db.session.scalars(
        sa.select(Line).where(Line.component == component))}


def _gold(cb, agency, multiplier):
    cb.multipliers(effective_from=date(2026, 6, 1), gold=multiplier)  # after the set-up's
    agency.grades.clear()
    db.session.flush()
    agency.grades.append(AgencyGrade(grade=Grade.GOLD, effective_from=date(2020, 1, 1)))
    db.session.flush()


@pytest.mark.parametrize(("rate", "multiplier"), [("0.08", "1.20"), ("1", "10"), ("0.123457", "1.3333")])
def test_share_of_large_paid_amounts_is_exact(cb, rate, multiplier):
    agency, product, _rule = cb.setup(share_rate=rate)
    _gold(cb, agency, multiplier)
    paid = {}
    for fen in (EXACT_BOUND - 1, EXACT_BOUND, EXACT_BOUND + 1, 3_800_000_000, 38_000_000_01, MAX_FEN):
        act = cb.activation(product, agency, activated="2026-09-01T10:00:00")
        cb.billing(act, "2026-09", fen)
        paid[act.order_id] = fen
    run_period("2026-09")
    got = amounts(Component.SHARE)
    for order_id, fen in paid.items():
        expected = calc.share_amount(Decimal(fen) / 100, Decimal(rate), Decimal(multiplier))
        assert isinstance(got[order_id], int), got[order_id]
        assert Decimal(got[order_id]) / 100 == expected, (fen, got[order_id], expected)
    statement = db.session.scalar(sa.select(Statement).where(Statement.agency_id == agency.id))
    assert statement.earned_fen == sum(db.session.scalars(sa.select(Line.amount_fen)))


@pytest.mark.parametrize("multiplier", ["1.20", "10"])
def test_one_off_and_referral_of_large_amounts_are_exact(cb, make, multiplier):
    from portal.core.time import parse_iso_timestamp
    from portal.leads.models import Lead, LeadKind, LeadStatus

    agency, product, _rule = cb.setup(one_off_per_unit="30.00", one_off_rate="1")
    _gold(cb, agency, multiplier)
    cases = {
        "FEE-MAX": (1, MAX_FEN),              # the largest one-time fee
        "QTY-BIG": (1_000_000_000 - 1, 0),    # the largest quantity × ¥30.00
        "EDGE": (1, EXACT_BOUND - 3000),      # at the bound: the 64-bit path
        "EDGE+1": (1, EXACT_BOUND - 2999),    # just above it: the exact path
    }
    for order_id, (qty, fee) in cases.items():
        cb.activation(product, agency, activated="2026-09-01T10:00:00", quantity=qty, one_time_fee_fen=fee,
                      order_id=order_id)
    high = make.product(code="HI-BIG", scores=(5, 1, 1))
    cb.rule(high, one_off_per_unit="0", share_rate="0", referral_bounty="99999999999.99")
    customer = make.customer()
    db.session.add(Lead(agency_id=agency.id, customer_id=customer.id, product_id=high.id, kind=LeadKind.REFERRAL,
                        status=LeadStatus.ACCEPTED, contact_name="x", contact_mobile="13800000000",
                        approved_at=parse_iso_timestamp("2026-08-01T10:00:00"),
                        routed_at=parse_iso_timestamp("2026-08-02T10:00:00")))
    db.session.flush()
    cb.activation(high, None, uscc=customer.uscc, agent_code="", activated="2026-09-05T10:00:00", order_id="REF-MAX")
    run_period("2026-09")
    got = amounts(Component.ONE_OFF)
    mult = Decimal(multiplier)
    for order_id, (qty, fee) in cases.items():
        expected = calc.one_off_amount(qty, Decimal("30.00"), Decimal(fee) / 100, Decimal(1), mult)
        assert isinstance(got[order_id], int)
        assert Decimal(got[order_id]) / 100 == expected, order_id
    (referral,) = amounts(Component.REFERRAL).values()
    assert Decimal(referral) / 100 == calc.referral_amount(Decimal("99999999999.99"), mult)
