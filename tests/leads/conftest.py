"""Builders for lead tests: a region with a channel manager, an account-manager pool, two
agencies, low and high products and customers of every tier."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from catalog.models import CustomerTier
from portal.core.models import Role
from portal.leads import operations as ops
from tests.browser.conftest import (  # noqa: F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
    sign_in,
)
from tests.factories import make_uscc, next_seq


@dataclass
class World:
    make: object
    region: object
    other_region: object
    cm: object
    other_cm: object
    am1: object
    am2: object
    agency: object
    rival: object
    owner: object
    sales: object
    rival_sales: object
    low: object
    high: object

    def customer(self, tier=CustomerTier.C, **kw):
        return self.make.customer(tier=tier, region=self.region, **kw)

    def register(self, agency=None, user=None, customer=None, products=None, uscc=None, name="", **kw):
        agency = agency or self.agency
        user = user or (self.sales if agency is self.agency else self.rival_sales)
        if customer is not None:
            uscc = customer.uscc
        products = products or [self.low]
        return ops.register_leads(
            agency,
            user,
            uscc or make_uscc(700000 + next_seq()),
            name or "New Co",
            kw.pop("contact_name", "李雷"),
            kw.pop("contact_mobile", "13800138000"),
            [p.code for p in products],
            kw.pop("expected_lines", 10),
            kw.pop("expected_monthly_revenue", "1500.00"),
            kw.pop("notes", ""),
            **kw,
        )


@pytest.fixture
def world(make):
    region = make.region("LR1")
    other = make.region("LR2")
    cm = make.user(Role.CHANNEL_MANAGER, regions=[region], name="CM one")
    other_cm = make.user(Role.CHANNEL_MANAGER, regions=[other], name="CM two")
    am1 = make.user(Role.ACCOUNT_MANAGER, regions=[region], name="AM one")
    am2 = make.user(Role.ACCOUNT_MANAGER, regions=[region], name="AM two")
    agency = make.agency(region=region, name="Alpha Telecom Agency")
    rival = make.agency(region=region, name="Rival Hidden Partner Ltd")
    owner = make.user(Role.AGENCY_OWNER, agency=agency)
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    rival_sales = make.user(Role.AGENCY_SALES, agency=rival)
    low = make.product(scores=(2, 2, 2))
    high = make.product(scores=(4, 1, 1))
    return World(
        make, region, other, cm, other_cm, am1, am2, agency, rival, owner, sales, rival_sales, low, high
    )
