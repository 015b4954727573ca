"""Value assessment of group customers on worked examples (weights 40/25/15/20, bonus 10,
thresholds A ≥ 80, B ≥ 60, C ≥ 35)."""

from __future__ import annotations

import pytest

from catalog import customer_tiers
from catalog import operations as ops
from catalog.customer_tiers import assess
from catalog.models import CustomerTier
from portal.core.models import AuditLog, Role
from tests.factories import make_uscc


def test_configuration_is_consistent():
    assert sum(customer_tiers.WEIGHTS.values()) == 100
    assert set(customer_tiers.WEIGHTS) == {"monthly_spend", "members", "industry", "strategic"}
    assert {"government", "finance", "education", "healthcare"} == customer_tiers.KEY_INDUSTRIES
    assert [lowest for _tier, lowest in customer_tiers.THRESHOLDS] == [80, 60, 35]


# Worked examples, written out by hand:
#   rating × weight / 100, summed, rounded half-up, plus the key-industry bonus.
EXAMPLES = [
    # ¥50,000/month → 75×40 = 3000; 500 members → 75×25 = 1875; finance 100×15 = 1500;
    # not strategic 0 → 6375/100 = 63.75 → 64; finance bonus +10 → 74 → B
    (5_000_000, 500, "finance", False, 74, CustomerTier.B),
    # ¥180,000 → 100×40; 2,500 members → 100×25; government 100×15; strategic 100×20 → 100; +10 → 110 → A
    (18_000_000, 2500, "government", True, 110, CustomerTier.A),
    # ¥12,000 → 50×40 = 2000; 150 members → 50×25 = 1250; retail 50×15 = 750; → 40 → C (no bonus)
    (1_200_000, 150, "retail", False, 40, CustomerTier.C),
    # ¥600 → 0; 8 members → 0; other 25×15 = 375 → 3.75 → 4 → D
    (60_000, 8, "other", False, 4, CustomerTier.D),
    # ¥30,000 exactly (band ≥ ¥30,000 → 75×40 = 3000); 300 members exactly → 75×25 = 1875;
    # manufacturing 75×15 = 1125; strategic 2000 → 8000/100 = 80 → A (threshold reached exactly)
    (3_000_000, 300, "manufacturing", True, 80, CustomerTier.A),
    # ¥29,999.99 (band ≥ ¥10,000 → 50×40 = 2000); 299 members → 50×25 = 1250; manufacturing 1125;
    # strategic 2000 → 6375 → 63.75 → 64 → B
    (2_999_999, 299, "manufacturing", True, 64, CustomerTier.B),
    # ¥3,000 → 25×40 = 1000; 20 members → 25×25 = 625; healthcare 75×15 = 1125 → 27.5 → 28; +10 → 38 → C
    (300_000, 20, "healthcare", False, 38, CustomerTier.C),
    # ¥2,999 → 0; 19 → 0; education 75×15 = 1125 → 11.25 → 11; +10 → 21 → D
    (299_900, 19, "education", False, 21, CustomerTier.D),
    # an unknown industry rates as "other" and gets no bonus: ¥100,000 → 4000; 1,000 → 2500;
    # 25×15 = 375 → 6875 → 68.75 → 69 → B
    (10_000_000, 1000, "space-mining", False, 69, CustomerTier.B),
]


@pytest.mark.parametrize(("spend", "members", "industry", "strategic", "score", "tier"), EXAMPLES)
def test_worked_examples(spend, members, industry, strategic, score, tier):
    result = assess(spend, members, industry, strategic)
    assert (result.score, result.tier) == (score, tier)


def test_thresholds_at_the_boundaries():
    assert customer_tiers.tier_for_score(80) == CustomerTier.A
    assert customer_tiers.tier_for_score(79) == CustomerTier.B
    assert customer_tiers.tier_for_score(60) == CustomerTier.B
    assert customer_tiers.tier_for_score(59) == CustomerTier.C
    assert customer_tiers.tier_for_score(35) == CustomerTier.C
    assert customer_tiers.tier_for_score(34) == CustomerTier.D
    assert customer_tiers.tier_for_score(0) == CustomerTier.D


def _data(make, **kw):
    region = make.region("GZ")
    values = dict(
        uscc=kw.pop("uscc", None) or make_uscc(),
        name="客户",
        industry="finance",
        region_id=region.id,
        monthly_spend_fen=5_000_000,
        members=500,
        strategic=False,
        account_manager_id=None,
    )
    values.update(kw)
    return ops.CustomerData(**values)


def test_named_account_needs_an_owning_account_manager(make):
    with pytest.raises(ops.CatalogError) as info:
        ops.save_customer(None, _data(make))  # score 74 → B without an owner
    assert info.value.field == "account_manager_id"
    am = make.user(Role.ACCOUNT_MANAGER)
    customer, _ = ops.save_customer(None, _data(make, account_manager_id=am.id))
    assert (customer.tier, customer.value_score, customer.tier_manual) == (CustomerTier.B, 74, False)


def test_owner_must_be_an_account_manager(make):
    finance = make.user(Role.FINANCE)
    with pytest.raises(ops.CatalogError) as info:
        ops.save_customer(None, _data(make, account_manager_id=finance.id))
    assert info.value.field == "account_manager_id"


def test_tier_set_by_hand_needs_a_reason_is_audited_and_survives_reassessment(make, app_ctx):
    customer, _ = ops.save_customer(
        None, _data(make, industry="retail", monthly_spend_fen=1_200_000, members=150)
    )
    assert customer.tier == CustomerTier.C
    with pytest.raises(ops.CatalogError):
        ops.set_customer_tier(customer, CustomerTier.D, "  ")
    assert ops.set_customer_tier(customer, CustomerTier.D, "Moving to a competitor next quarter")
    entry = AuditLog.query.filter_by(action="customer.tier_set", object_id=str(customer.id)).one()
    assert entry.before["tier"] == "C" and entry.after["tier"] == "D"
    assert entry.after["tier_reason"] == "Moving to a competitor next quarter"
    # new indicators change the score, not the hand-set tier
    data = _data(make, uscc=customer.uscc, industry="retail", monthly_spend_fen=1_500_000, members=150)
    ops.save_customer(customer, data)
    assert customer.tier == CustomerTier.D and customer.tier_manual and customer.value_score == 40
    assert ops.restore_assessed_tier(customer)
    assert customer.tier == CustomerTier.C and not customer.tier_manual and customer.tier_reason is None


def test_setting_a_named_tier_by_hand_needs_an_owner(make):
    customer, _ = ops.save_customer(
        None, _data(make, industry="retail", monthly_spend_fen=1_200_000, members=150)
    )
    with pytest.raises(ops.CatalogError):
        ops.set_customer_tier(customer, CustomerTier.A, "Provincial flagship")


def test_an_account_manager_with_named_customers_keeps_the_role(client, make, login):
    """Named (A/B) customers always have an owning account manager: the admin cannot change the
    owner's role or disable them until the customers have another owner."""
    from flask_babel import force_locale

    from portal.core import operations as core_ops
    from portal.core.models import Role as R

    owner = make.user(R.ACCOUNT_MANAGER)
    make.customer(tier=CustomerTier.A, account_manager=owner)
    with force_locale("en"):
        with pytest.raises(core_ops.OperationError, match="owns 1 named"):
            core_ops.change_role(owner, R.FINANCE)
        with pytest.raises(core_ops.OperationError, match="owns 1 named"):
            core_ops.set_enabled(owner, False)
    with force_locale("zh_Hans_CN"), pytest.raises(core_ops.OperationError, match="重点"):
        core_ops.set_enabled(owner, False)
    free = make.user(R.ACCOUNT_MANAGER)
    make.customer(tier=CustomerTier.C, account_manager=free)  # C/D customers do not hold the role
    core_ops.change_role(free, R.FINANCE)
    assert free.role == R.FINANCE
