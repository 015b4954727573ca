"""The catalog's demo data: the seed catalog split 8 low / 7 high and a dozen customers A–D."""

from __future__ import annotations

from catalog import demo
from catalog.models import CustomerTier, Tier
from portal.core import demo as core_demo
from portal.core.validators import is_valid_uscc
from portal.demo import DemoContext


def test_demo_loads_the_seed_catalog_and_customers(app_ctx):
    ctx = DemoContext()
    core_demo.load(ctx)
    demo.load(ctx)
    assert len(ctx.products) == 15
    assert sum(1 for p in ctx.products.values() if p.tier == Tier.LOW) == 8
    assert sum(1 for p in ctx.products.values() if p.tier == Tier.HIGH) == 7
    assert all(p.description_zh and p.description_en for p in ctx.products.values())
    assert len(ctx.customers) == 12
    tiers = [c.tier for c in ctx.customers.values()]
    assert {t: tiers.count(t) for t in CustomerTier} == {
        CustomerTier.A: 3,
        CustomerTier.B: 3,
        CustomerTier.C: 3,
        CustomerTier.D: 3,
    }
    am = ctx.users["am@demo.local"]
    for uscc, customer in ctx.customers.items():
        assert is_valid_uscc(uscc)
        assert {r.code for r in [customer.region]} <= {"GZ", "SZ"}
        if customer.tier in (CustomerTier.A, CustomerTier.B):
            assert customer.account_manager_id == am.id
        else:
            assert customer.account_manager_id is None
    # loading again changes nothing
    again = DemoContext(regions=ctx.regions, users=ctx.users)
    demo.load(again)
    assert set(again.products) == set(ctx.products) and set(again.customers) == set(ctx.customers)
