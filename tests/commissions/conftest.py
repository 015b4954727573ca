"""Builders for commission tests: a plan, activations, billing records, leads."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from commissions.calculation import mult_to_u, rate_to_u
from commissions.ingest.models import Activation, BillingRecord
from commissions.models import CommissionRule, GradeMultiplier, PlanSettings
from portal.core.db import db
from portal.core.models import Role
from portal.core.time import parse_iso_timestamp, shanghai_date
from tests.browser.conftest import (  # noqa: F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
    sign_in,
)
from tests.factories import next_seq


class CommissionBuilder:
    def __init__(self, make):
        self.make = make

    def settings(self, min_payout_fen=10000):
        row = db.session.get(PlanSettings, 1)
        if row is None:
            row = PlanSettings(id=1, currency="CNY", min_payout_fen=min_payout_fen)
            db.session.add(row)
        row.min_payout_fen = min_payout_fen
        db.session.flush()
        return row

    def multipliers(self, effective_from=date(2026, 1, 1), gold="1.20", silver="1.00", bronze="0.80"):
        for grade, value in (("gold", gold), ("silver", silver), ("bronze", bronze)):
            db.session.add(GradeMultiplier(grade=grade, effective_from=effective_from,
                                           multiplier_u=mult_to_u(Decimal(value))))
        db.session.flush()

    def rule(self, product, version="2026A", effective_from=date(2026, 1, 1), effective_to=date(2026, 12, 31),
             one_off_per_unit="30.00", one_off_rate="0", share_rate="0.08", share_months=12, clawback_days=180,
             referral_bounty="0"):
        rule = CommissionRule(product_id=product.id, version=version, effective_from=effective_from,
                              effective_to=effective_to, one_off_per_unit_fen=int(Decimal(one_off_per_unit) * 100),
                              one_off_rate_u=rate_to_u(Decimal(one_off_rate)),
                              share_rate_u=rate_to_u(Decimal(share_rate)), share_months=share_months,
                              clawback_days=clawback_days, referral_bounty_fen=int(Decimal(referral_bounty) * 100))
        db.session.add(rule)
        db.session.flush()
        return rule

    def setup(self, min_payout_fen=10000, **rule_kw):
        """An active silver agency, a low product with rule 2026A, multipliers, settings."""
        self.settings(min_payout_fen)
        self.multipliers()
        agency = self.make.agency(approved_on=date(2020, 1, 1))
        product = self.make.product(code=f"GRP-{next_seq()}")
        rule = self.rule(product, **rule_kw)
        return agency, product, rule

    def activation(self, product, agency=None, activated="2026-09-10T10:00:00", quantity=1, one_time_fee_fen=0,
                   monthly_fee_fen=10000, terminated=None, uscc=None, agent_code=None, order_id=None):
        at = activated if isinstance(activated, datetime) else parse_iso_timestamp(activated)
        end = None if terminated is None else (terminated if isinstance(terminated, datetime)
                                               else parse_iso_timestamp(terminated))
        row = Activation(order_id=order_id or f"ORD-{next_seq()}", uscc=uscc or f"91440101MA{next_seq():07d}X",
                         customer_name="Customer", product_code=product.code,
                         agent_code=agent_code if agent_code is not None else (agency.code if agency else None),
                         quantity=quantity, monthly_fee_fen=monthly_fee_fen, one_time_fee_fen=one_time_fee_fen,
                         activated_at=at, activation_date=shanghai_date(at), terminated_at=end,
                         termination_date=shanghai_date(end) if end else None)
        db.session.add(row)
        db.session.flush()
        return row

    def billing(self, activation, period, paid_fen, billed_fen=None):
        row = BillingRecord(order_id=activation.order_id, period=period, billed_fen=billed_fen or paid_fen,
                            paid_fen=paid_fen)
        db.session.add(row)
        db.session.flush()
        return row

    def owner(self, agency):
        return self.make.user(Role.AGENCY_OWNER, agency=agency)


@pytest.fixture
def cb(make):
    return CommissionBuilder(make)


@pytest.fixture(autouse=True)
def _own_hooks(monkeypatch):
    """Commission tests decide their own hooks: no payout-account or close checks of other features
    unless a test adds one (those features test their hooks themselves)."""
    from commissions import periods, statements

    monkeypatch.setattr(statements, "PAYOUT_ACCOUNT_CHECKS", [])
    monkeypatch.setattr(periods, "CLOSE_GUARDS", [])
