"""Channel rules over the whole matrix: product tier × override × status × customer tier."""

from __future__ import annotations

import itertools

import pytest

import portal.models_registry  # noqa: F401 - every model mapped before this module builds Products at import
from catalog.models import Customer, CustomerTier, Product, ProductStatus, Tier
from catalog.rules import Route, high_reasons, is_named_account, may_agency_sell, route_for

SCORES = list(itertools.product(range(1, 6), repeat=3))


def product(scores=(1, 1, 1), override=None, status=ProductStatus.ACTIVE) -> Product:
    return Product(
        code="X",
        name_zh="x",
        name_en="x",
        category="messaging",
        module_complexity=scores[0],
        market_exclusivity=scores[1],
        training_requirement=scores[2],
        tier_override=override,
        tier_override_reason="because" if override else None,
        status=status,
    )


@pytest.mark.parametrize("scores", SCORES)
def test_derived_tier_is_high_when_any_score_is_four_or_more(scores):
    p = product(scores)
    expected = Tier.HIGH if max(scores) >= 4 else Tier.LOW
    assert p.derived_tier == expected
    assert p.tier == expected
    assert [value for _name, value in high_reasons(p)] == [s for s in scores if s >= 4]


@pytest.mark.parametrize(
    ("scores", "override"),
    [((1, 1, 1), Tier.HIGH), ((5, 5, 5), Tier.LOW), ((3, 3, 3), Tier.LOW), ((4, 1, 1), Tier.HIGH)],
)
def test_override_wins_over_the_derived_tier(scores, override):
    p = product(scores, override)
    assert p.tier == override
    assert p.derived_tier == (Tier.HIGH if max(scores) >= 4 else Tier.LOW)


@pytest.mark.parametrize(
    ("scores", "override", "status", "expected"),
    [
        ((1, 1, 1), None, ProductStatus.ACTIVE, True),
        ((3, 3, 3), None, ProductStatus.ACTIVE, True),
        ((4, 1, 1), None, ProductStatus.ACTIVE, False),
        ((1, 5, 1), None, ProductStatus.ACTIVE, False),
        ((1, 1, 4), None, ProductStatus.ACTIVE, False),
        ((1, 1, 1), Tier.HIGH, ProductStatus.ACTIVE, False),
        ((5, 5, 5), Tier.LOW, ProductStatus.ACTIVE, True),
        ((1, 1, 1), None, ProductStatus.RETIRED, False),
        ((5, 5, 5), Tier.LOW, ProductStatus.RETIRED, False),
    ],
)
def test_may_agency_sell(scores, override, status, expected):
    assert may_agency_sell(product(scores, override, status)) is expected


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (CustomerTier.A, True),
        (CustomerTier.B, True),
        (CustomerTier.C, False),
        (CustomerTier.D, False),
        (None, False),
    ],
)
def test_is_named_account(tier, expected):
    customer = Customer(uscc="x", name="x", tier=tier) if tier else None
    assert is_named_account(customer) is expected


PRODUCTS = {
    "low": product((2, 2, 2)),
    "high": product((4, 2, 2)),
    "low-by-override": product((5, 5, 5), Tier.LOW),
    "high-by-override": product((1, 1, 1), Tier.HIGH),
}
CUSTOMER_TIERS = [CustomerTier.A, CustomerTier.B, CustomerTier.C, CustomerTier.D, None]


@pytest.mark.parametrize(("product_kind", "customer_tier"), list(itertools.product(PRODUCTS, CUSTOMER_TIERS)))
def test_route_for_whole_matrix(product_kind, customer_tier):
    p = PRODUCTS[product_kind]
    customer = Customer(uscc="x", name="x", tier=customer_tier) if customer_tier else None
    expected = (
        Route.REFERRAL
        if (p.tier == Tier.HIGH or customer_tier in (CustomerTier.A, CustomerTier.B))
        else Route.SALE
    )
    assert route_for(customer, p) == expected
    assert route_for(customer, p) in ("sale", "referral")


def test_route_for_examples_written_out():
    assert route_for(None, PRODUCTS["low"]) == "sale"
    assert route_for(None, PRODUCTS["high"]) == "referral"
    assert route_for(Customer(tier=CustomerTier.D), PRODUCTS["low"]) == "sale"
    assert route_for(Customer(tier=CustomerTier.A), PRODUCTS["low"]) == "referral"
    assert route_for(Customer(tier=CustomerTier.C), PRODUCTS["high-by-override"]) == "referral"
    assert route_for(Customer(tier=CustomerTier.C), PRODUCTS["low-by-override"]) == "sale"
