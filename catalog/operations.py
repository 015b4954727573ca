"""Verbs on products and group customers. They validate, flush and write the audit record
(before → after); the caller (request or CLI) commits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from catalog import customer_tiers
from catalog.messages import Message
from catalog.models import NAMED_ACCOUNT_TIERS, Customer, CustomerTier, Product, ProductStatus, Tier
from portal.core import audit
from portal.core import operations as core_ops
from portal.core.db import db
from portal.core.models import Region, Role, User
from portal.core.money import MoneyError, to_decimal
from portal.core.validators import normalise_uscc, uscc_problem

PRODUCT_CODE_RE = re.compile(r"^[A-Z0-9](?:[A-Z0-9-]{0,30}[A-Z0-9])?$")
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_PRICE_FEN = 10**12  # ¥10,000,000,000: anything above is a typing mistake

PRODUCT_FIELDS = [
    "code",
    "name_zh",
    "name_en",
    "category",
    "description_zh",
    "description_en",
    "monthly_price_fen",
    "one_time_price_fen",
    "module_complexity",
    "market_exclusivity",
    "training_requirement",
]
SCORE_FIELDS = ["module_complexity", "market_exclusivity", "training_requirement"]
PRODUCT_AUDIT_FIELDS = [*PRODUCT_FIELDS, "status", "tier_override", "tier_override_reason"]

CUSTOMER_FIELDS = [
    "uscc",
    "name",
    "industry",
    "region_id",
    "monthly_spend_fen",
    "members",
    "strategic",
    "account_manager_id",
]
CUSTOMER_AUDIT_FIELDS = [*CUSTOMER_FIELDS, "tier", "value_score", "tier_manual", "tier_reason"]


class CatalogError(ValueError):
    """A rule refused the change. `field` names the form field it concerns (or None);
    `str(error)` is the message in the user's language."""

    def __init__(self, message: Message, field: str | None = None):
        super().__init__(message.english)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return str(self.message)


def _err(field: str | None, msgid, **params) -> CatalogError:
    return CatalogError(Message(msgid, **params), field)


# --- parsing shared by forms, importers and operations ----------------------------------------


def parse_price_fen(text, field: str) -> int:
    """A list price in yuan (at most two decimals, not negative) → integer fen."""
    raw = "" if text is None else str(text).strip()
    if raw == "":
        return 0
    try:
        amount = to_decimal(raw)
    except MoneyError:
        raise _err(field, _l("%(value)s is not an amount in yuan."), value=raw) from None
    if amount < 0:
        raise _err(field, _l("A price cannot be negative."))
    if amount != amount.quantize(Decimal("0.01")):
        raise _err(field, _l("A price has at most two decimals (fen)."))
    fen = int(amount * 100)
    if fen > MAX_PRICE_FEN:
        raise _err(field, _l("%(value)s is too large for a price."), value=raw)
    return fen


def parse_score(value, field: str) -> int:
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError):
        raise _err(field, _l("A complexity score is a whole number from 1 to 5.")) from None
    if not 1 <= score <= 5:
        raise _err(field, _l("A complexity score is a whole number from 1 to 5."))
    return score


def _clean_code(value) -> str:
    code = (value or "").strip().upper()
    if not PRODUCT_CODE_RE.match(code):
        raise _err("code", _l("The code is 1–32 upper-case letters, digits and dashes (e.g. GRP-SMS)."))
    return code


def _clean_name(value, field: str) -> str:
    name = (value or "").strip()
    if not name:
        raise _err(field, _l("Enter the product name in both languages."))
    if len(name) > 128:
        raise _err(field, _l("The name is at most 128 characters."))
    return name


def _clean_category(value) -> str:
    category = (value or "").strip().lower()
    if not CATEGORY_RE.match(category):
        raise _err("category", _l("The category is a short lower-case word (e.g. messaging)."))
    return category


def _clean_price_fen(value, field: str) -> int:
    if not isinstance(value, int) or value < 0 or value > MAX_PRICE_FEN:
        raise _err(field, _l("A price cannot be negative."))
    return value


_PRODUCT_CLEANERS = {
    "code": lambda v: _clean_code(v),
    "name_zh": lambda v: _clean_name(v, "name_zh"),
    "name_en": lambda v: _clean_name(v, "name_en"),
    "category": _clean_category,
    "description_zh": lambda v: (v or "").strip(),
    "description_en": lambda v: (v or "").strip(),
    "monthly_price_fen": lambda v: _clean_price_fen(v, "monthly_price_fen"),
    "one_time_price_fen": lambda v: _clean_price_fen(v, "one_time_price_fen"),
    "module_complexity": lambda v: parse_score(v, "module_complexity"),
    "market_exclusivity": lambda v: parse_score(v, "market_exclusivity"),
    "training_requirement": lambda v: parse_score(v, "training_requirement"),
}
_CREATE_DEFAULTS = {
    "description_zh": "",
    "description_en": "",
    "monthly_price_fen": 0,
    "one_time_price_fen": 0,
}


def clean_product_data(data: dict, *, creating: bool) -> dict:
    """Check and normalise the fields of a product (all of them when `creating`, else those
    given). Raises CatalogError on the first problem, in the order of PRODUCT_FIELDS."""
    out = {}
    for name in PRODUCT_FIELDS:
        if name in data:
            out[name] = _PRODUCT_CLEANERS[name](data[name])
        elif creating:
            out[name] = _PRODUCT_CLEANERS[name](_CREATE_DEFAULTS.get(name))
    return out


# --- products -------------------------------------------------------------------------------------


def get_product_by_code(code: str) -> Product | None:
    return db.session.scalar(sa.select(Product).where(Product.code == (code or "").strip().upper()))


def create_product(data: dict, *, source: str = "form") -> Product:
    """A new active product. The code must be new."""
    values = clean_product_data(data, creating=True)
    if get_product_by_code(values["code"]) is not None:
        raise _err("code", _l("A product with the code %(code)s already exists."), code=values["code"])
    product = Product(status=ProductStatus.ACTIVE, **values)
    db.session.add(product)
    db.session.flush()
    audit.record(
        "product.create",
        product,
        after={**audit.snapshot(product, PRODUCT_AUDIT_FIELDS), "tier": product.tier, "source": source},
    )
    return product


def product_changes(product: Product, values: dict) -> dict:
    """The fields of `values` that differ from `product`: {field: (before, after)}."""
    return {k: (getattr(product, k), v) for k, v in values.items() if getattr(product, k) != v}


def update_product(product: Product, data: dict, *, source: str = "form") -> dict:
    """Change the given fields; the code never changes. Returns {field: (before, after)} of what
    changed (empty: nothing to do, nothing audited)."""
    data = {k: v for k, v in data.items() if k != "code"}
    values = clean_product_data(data, creating=False)
    changes = product_changes(product, values)
    if not changes:
        return {}
    tier_before = product.tier
    for key, (_before, after) in changes.items():
        setattr(product, key, after)
    db.session.flush()
    before = {k: b for k, (b, _a) in changes.items()}
    after = {k: a for k, (_b, a) in changes.items()}
    if product.tier != tier_before:
        before["tier"], after["tier"] = tier_before, product.tier
    audit.record(
        "product.update",
        product,
        before={**before, "code": product.code},
        after={**after, "code": product.code, "source": source},
    )
    return changes


def _set_status(product: Product, status: ProductStatus, action: str) -> bool:
    if product.status == status:
        return False
    before = product.status
    product.status = status
    db.session.flush()
    audit.record(
        action,
        product,
        before={"code": product.code, "status": before},
        after={"code": product.code, "status": status},
    )
    return True


def retire_product(product: Product) -> bool:
    """Retire: agencies no longer see the product. False when it was already retired."""
    return _set_status(product, ProductStatus.RETIRED, "product.retire")


def reactivate_product(product: Product) -> bool:
    return _set_status(product, ProductStatus.ACTIVE, "product.reactivate")


def set_tier_override(product: Product, tier: Tier | str | None, reason: str | None) -> bool:
    """Override the derived tier with a written reason, or clear the override (tier None).
    Returns False when nothing changed."""
    tier = Tier(tier) if tier else None
    reason = (reason or "").strip() or None
    if tier is not None and not reason:
        raise _err("reason", _l("Give the reason for overriding the tier."))
    if reason is not None and len(reason) > 2000:
        raise _err("reason", _l("The reason is at most 2,000 characters."))
    if tier is None:
        reason = None
    if product.tier_override == tier and product.tier_override_reason == reason:
        return False
    before = {
        "code": product.code,
        "tier_override": product.tier_override,
        "tier_override_reason": product.tier_override_reason,
        "tier": product.tier,
    }
    product.tier_override = tier
    product.tier_override_reason = reason
    db.session.flush()
    audit.record(
        "product.tier_override" if tier else "product.tier_override_cleared",
        product,
        before=before,
        after={
            "code": product.code,
            "tier_override": tier,
            "tier_override_reason": reason,
            "tier": product.tier,
        },
    )
    return True


# --- group customers ---------------------------------------------------------------------------


@dataclass
class CustomerData:
    uscc: str
    name: str
    industry: str
    region_id: int | None
    monthly_spend_fen: int
    members: int
    strategic: bool
    account_manager_id: int | None

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in CUSTOMER_FIELDS}


def get_customer_by_uscc(uscc: str) -> Customer | None:
    return db.session.scalar(sa.select(Customer).where(Customer.uscc == normalise_uscc(uscc)))


def account_managers() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role == Role.ACCOUNT_MANAGER, User.is_enabled.is_(True))
            .order_by(User.name)
        )
    )


def clean_customer_data(data: CustomerData) -> CustomerData:
    uscc = normalise_uscc(data.uscc)
    problem = uscc_problem(uscc)
    if problem == "length":
        raise _err("uscc", _l("The unified social credit code has 18 characters."))
    if problem == "characters":
        raise _err(
            "uscc",
            _l("The unified social credit code uses only digits and the letters A–H, J–N, P–R, T–U, W–Y."),
        )
    if problem == "check":
        raise _err(
            "uscc", _l("The check character (the last one) of this unified social credit code is wrong.")
        )
    name = (data.name or "").strip()
    if not name or len(name) > 200:
        raise _err("name", _l("Enter the customer name (at most 200 characters)."))
    industry = (data.industry or "other").strip().lower()
    if industry not in customer_tiers.INDUSTRY_RATINGS:
        raise _err("industry", _l("Unknown industry %(value)s."), value=industry)
    if data.region_id is None or db.session.get(Region, data.region_id) is None:
        raise _err("region_id", _l("Choose a region."))
    if data.monthly_spend_fen is None or data.monthly_spend_fen < 0:
        raise _err("monthly_spend", _l("The monthly spend cannot be negative."))
    if data.members is None or data.members < 0:
        raise _err("members", _l("The number of members cannot be negative."))
    if data.account_manager_id is not None:
        manager = db.session.get(User, data.account_manager_id)
        if manager is None or manager.role != Role.ACCOUNT_MANAGER or not manager.is_enabled:
            raise _err("account_manager_id", _l("The owner must be an account manager."))
    return CustomerData(
        uscc,
        name,
        industry,
        data.region_id,
        int(data.monthly_spend_fen),
        int(data.members),
        bool(data.strategic),
        data.account_manager_id,
    )


def _check_named_account_owner(tier: CustomerTier, account_manager_id: int | None) -> None:
    if tier in NAMED_ACCOUNT_TIERS and account_manager_id is None:
        raise _err(
            "account_manager_id",
            _l("A tier %(tier)s customer is a named account: choose its owning account manager."),
            tier=tier.value,
        )


def save_customer(
    customer: Customer | None,
    data: CustomerData,
    *,
    manual_tier: CustomerTier | None = None,
    manual_reason: str | None = None,
    source: str = "form",
) -> tuple[Customer, bool]:
    """Create (customer None) or update a group customer from `data`, reassessing its value score.
    A tier set by hand stays (only the score changes) unless `manual_tier` sets a new one.
    Returns (customer, changed)."""
    data = clean_customer_data(data)
    assessment = customer_tiers.assess(data.monthly_spend_fen, data.members, data.industry, data.strategic)
    creating = customer is None
    if creating:
        if get_customer_by_uscc(data.uscc) is not None:
            raise _err("uscc", _l("A customer with this unified social credit code already exists."))
        customer = Customer(uscc=data.uscc, tier=assessment.tier, tier_manual=False)
    elif data.uscc != customer.uscc:
        other = get_customer_by_uscc(data.uscc)
        if other is not None and other.id != customer.id:
            raise _err("uscc", _l("A customer with this unified social credit code already exists."))
    if manual_tier is not None:
        reason = (manual_reason or "").strip()
        if not reason:
            raise _err("tier_reason", _l("Give the reason for setting the tier by hand."))
        tier, manual, tier_reason = CustomerTier(manual_tier), True, reason
    elif not creating and customer.tier_manual:
        tier, manual, tier_reason = customer.tier, True, customer.tier_reason
    else:
        tier, manual, tier_reason = assessment.tier, False, None
    _check_named_account_owner(tier, data.account_manager_id)
    before = None if creating else audit.snapshot(customer, CUSTOMER_AUDIT_FIELDS)
    for key, value in data.as_dict().items():
        setattr(customer, key, value)
    customer.value_score = assessment.score
    customer.tier, customer.tier_manual, customer.tier_reason = tier, manual, tier_reason
    if creating:
        db.session.add(customer)
    db.session.flush()
    after = audit.snapshot(customer, CUSTOMER_AUDIT_FIELDS)
    if creating:
        audit.record("customer.create", customer, after={**after, "source": source})
        return customer, True
    changed = {k for k in after if after[k] != before[k]}
    if not changed:
        return customer, False
    audit.record(
        "customer.update",
        customer,
        before={k: before[k] for k in sorted(changed)} | {"uscc": before["uscc"]},
        after={k: after[k] for k in sorted(changed)} | {"uscc": customer.uscc, "source": source},
    )
    return customer, True


def set_customer_tier(customer: Customer, tier: CustomerTier | str, reason: str) -> bool:
    """An admin sets the tier by hand, with a reason (kept until the assessment is restored)."""
    tier = CustomerTier(tier)
    reason = (reason or "").strip()
    if not reason:
        raise _err("reason", _l("Give the reason for setting the tier by hand."))
    if len(reason) > 2000:
        raise _err("reason", _l("The reason is at most 2,000 characters."))
    _check_named_account_owner(tier, customer.account_manager_id)
    if customer.tier_manual and customer.tier == tier and customer.tier_reason == reason:
        return False
    before = audit.snapshot(customer, ["uscc", "tier", "tier_manual", "tier_reason"])
    customer.tier, customer.tier_manual, customer.tier_reason = tier, True, reason
    db.session.flush()
    audit.record(
        "customer.tier_set",
        customer,
        before=before,
        after=audit.snapshot(customer, ["uscc", "tier", "tier_manual", "tier_reason"]),
    )
    return True


def restore_assessed_tier(customer: Customer) -> bool:
    """Drop the hand-set tier: the tier follows the value assessment again."""
    assessment = customer_tiers.assess_customer(customer)
    _check_named_account_owner(assessment.tier, customer.account_manager_id)
    if (
        not customer.tier_manual
        and customer.tier == assessment.tier
        and customer.value_score == assessment.score
    ):
        return False
    before = audit.snapshot(customer, ["uscc", "tier", "tier_manual", "tier_reason", "value_score"])
    customer.tier, customer.tier_manual, customer.tier_reason = assessment.tier, False, None
    customer.value_score = assessment.score
    db.session.flush()
    audit.record(
        "customer.tier_assessed",
        customer,
        before=before,
        after=audit.snapshot(customer, ["uscc", "tier", "tier_manual", "tier_reason", "value_score"]),
    )
    return True


def _named_accounts_keep_their_owner(user, new_role):
    """An account manager who owns A/B customers keeps the role (and stays enabled) until the
    customers have another owner (SPEC §4: named accounts need an owning account manager)."""
    if user.role != Role.ACCOUNT_MANAGER:
        return None
    owned = db.session.scalar(sa.select(sa.func.count()).select_from(Customer).where(
        Customer.account_manager_id == user.id, Customer.tier.in_(NAMED_ACCOUNT_TIERS)))
    if not owned:
        return None
    return _l("%(name)s owns %(count)s named (A/B) customers: give them another account manager first.",
              name=user.name, count=owned)


if _named_accounts_keep_their_owner not in core_ops.USER_CHANGE_GUARDS:
    core_ops.USER_CHANGE_GUARDS.append(_named_accounts_keep_their_owner)
