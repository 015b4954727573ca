"""The channel rules of the catalog (SPEC §2, §4): who may sell what.

Pure functions over products and customers, used by the lead registration, the API and the
catalog pages. They never touch the database."""

from __future__ import annotations

import enum

from catalog.models import NAMED_ACCOUNT_TIERS, Customer, Product, Tier


class Route(enum.StrEnum):
    SALE = "sale"  # the agency registers and sells the lead itself
    REFERRAL = "referral"  # the lead goes to an account manager (商机转介)


def may_agency_sell(product: Product) -> bool:
    """True when agencies may register and sell `product` themselves: it is active and its
    effective tier (the admin's override, else the derived one) is `low`."""
    return product.is_active and product.tier == Tier.LOW


def is_named_account(customer: Customer | None) -> bool:
    """True for tier A/B customers (named accounts, covered by account managers)."""
    return customer is not None and customer.tier in NAMED_ACCOUNT_TIERS


def route_for(customer: Customer | None, product: Product) -> Route:
    """`referral` when the product is `high` or the customer is a named account (A/B), else
    `sale`. `customer` is None for a customer the operator does not know yet (then only the
    product decides)."""
    if product.tier == Tier.HIGH or is_named_account(customer):
        return Route.REFERRAL
    return Route.SALE


def high_reasons(product: Product) -> list[tuple[str, int]]:
    """The complexity scores that make `product` high: (score name, value) for every score at or
    above the threshold. Names are 'module_complexity', 'market_exclusivity',
    'training_requirement'."""
    from catalog.models import HIGH_SCORE_THRESHOLD

    scores = [
        ("module_complexity", product.module_complexity),
        ("market_exclusivity", product.market_exclusivity),
        ("training_requirement", product.training_requirement),
    ]
    return [(name, value) for name, value in scores if value is not None and value >= HIGH_SCORE_THRESHOLD]
