"""SPEC §4, in order: agency active; referral routing; conflict (other agency hidden) or the same
agency's lead returned; otherwise waiting for approval. Enforced by the database too."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from catalog.models import Customer, CustomerTier
from portal.core.db import db
from portal.core.models import AuditLog, Notification
from portal.core.time import today_shanghai
from portal.leads import operations as ops
from portal.leads import rules
from portal.leads.models import Lead, LeadEvent, LeadKind, LeadStatus
from portal.partners.models import AgencyStatus, Grade

# --- rule 1: the agency must be active ---------------------------------------------------------


@pytest.mark.parametrize("status", [AgencyStatus.SUSPENDED, AgencyStatus.PENDING, AgencyStatus.TERMINATED])
def test_rule1_inactive_agency_cannot_register(world, status):
    world.agency.status = status
    db.session.flush()
    with pytest.raises(ops.AgencyNotActive):
        world.register(customer=world.customer())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0


def test_rule1_suspended_agency_refused_on_the_form(world, client, login):
    world.agency.status = AgencyStatus.SUSPENDED
    db.session.flush()
    customer = world.customer()
    login(world.sales)
    page = client.get("/leads/new", headers={"Accept-Language": "en"})
    assert b"Your agency is not active" in page.data
    response = client.post(
        "/leads/new",
        data={
            "customer_uscc": customer.uscc,
            "contact_name": "Li",
            "contact_mobile": "13800138000",
            "products": [world.low.code],
            "expected_lines": "1",
            "expected_monthly_revenue": "10",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    assert b"Your agency is not active" in response.data
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0


# --- rule 2: high product or A/B customer → referral routed to an account manager -------------


def test_rule2_high_product_is_a_referral_routed_round_robin(world):
    customers = [world.customer() for _ in range(3)]
    managers = []
    for customer in customers:
        result = world.register(customer=customer, products=[world.high])
        (lead,) = result.created
        assert lead.kind == LeadKind.REFERRAL
        assert lead.status == LeadStatus.ROUTED
        assert lead.routed_at is not None
        managers.append(lead.account_manager_id)
    # round-robin over the region's pool (am1, am2 in id order), wrapping around
    assert managers == [world.am1.id, world.am2.id, world.am1.id]
    note = db.session.scalar(
        sa.select(Notification).where(
            Notification.user_id == world.am2.id, Notification.kind == "lead.routed"
        )
    )
    assert note is not None and note.params["agency"] == world.agency.name


@pytest.mark.parametrize("tier", [CustomerTier.A, CustomerTier.B])
def test_rule2_named_customer_goes_to_its_own_account_manager(world, tier):
    owner_am = world.make.user("account_manager", regions=[world.other_region], name="Named AM")
    customer = world.customer(tier=tier, account_manager=owner_am)
    result = world.register(customer=customer, products=[world.low])
    (lead,) = result.created
    assert lead.kind == LeadKind.REFERRAL
    assert lead.status == LeadStatus.ROUTED
    assert lead.account_manager_id == owner_am.id


def test_rule2_new_customer_with_high_product_goes_to_region_pool(world):
    result = world.register(uscc=None, name="Brand New Group", products=[world.high])
    (lead,) = result.created
    assert lead.customer.tier == CustomerTier.D
    assert lead.customer.region_id == world.agency.region_id
    assert lead.account_manager_id in (world.am1.id, world.am2.id)


def test_rule2_referral_without_any_account_manager_waits_for_routing(world):
    world.am1.is_enabled = False
    world.am2.is_enabled = False
    db.session.flush()
    (lead,) = world.register(customer=world.customer(), products=[world.high]).created
    assert lead.status == LeadStatus.SUBMITTED and lead.account_manager_id is None
    ops.route(lead, world.make.user("account_manager", regions=[world.region]), world.cm)
    assert lead.status == LeadStatus.ROUTED


def test_rule2_sale_checks_never_block_referrals_but_block_sales(world):
    def needs_certificate(agency, product):
        return ("Certify your staff first.", "/enablement/courses")

    rules.SALE_CHECKS.append(needs_certificate)
    try:
        customer = world.customer()
        result = world.register(customer=customer, products=[world.low, world.high])
    finally:
        rules.SALE_CHECKS.remove(needs_certificate)
    assert [lead.product.code for lead in result.created] == [world.high.code]
    (refusal,) = result.rejected
    assert (refusal.product, refusal.code, refusal.message, refusal.link) == (
        world.low.code,
        "not_allowed",
        "Certify your staff first.",
        "/enablement/courses",
    )


# --- rule 3: conflicts and the same agency's lead ---------------------------------------------


def test_rule3_conflict_under_review_does_not_name_the_other_agency(world, client, login):
    customer = world.customer()
    world.register(agency=world.rival, customer=customer)
    login(world.sales)
    response = client.post(
        "/leads/new",
        data={
            "customer_uscc": customer.uscc,
            "contact_name": "Li",
            "contact_mobile": "13800138000",
            "products": [world.low.code],
            "expected_lines": "3",
            "expected_monthly_revenue": "100",
        },
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Already registered by another partner; under review." in text
    assert world.rival.name not in text and world.rival.code not in text
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Lead).where(Lead.agency_id == world.agency.id)
        )
        == 0
    )


def test_rule3_conflict_with_approved_lead_gives_protection_end_date(world):
    customer = world.customer()
    (held,) = world.register(agency=world.rival, customer=customer).created
    ops.approve(held, world.cm, today=date(2026, 3, 1))
    result = world.register(customer=customer)
    assert result.created == [] and result.existing == []
    (rejection,) = result.rejected
    assert rejection.code == "conflict"
    assert rejection.protected_until == date(2026, 5, 30)
    assert "2026-05-30" in rejection.message and world.rival.name not in rejection.message


def test_rule3_same_agency_gets_its_existing_lead_back(world):
    customer = world.customer()
    (first,) = world.register(customer=customer).created
    again = world.register(customer=customer, user=world.owner)
    assert again.created == [] and again.rejected == []
    assert again.existing == [first]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 1


def test_rule3_mixed_products_create_return_and_reject_per_product(world):
    customer = world.customer()
    other_low = world.make.product(scores=(1, 2, 3))
    (mine,) = world.register(customer=customer, products=[world.low]).created
    world.register(agency=world.rival, customer=customer, products=[other_low])
    third = world.make.product(scores=(1, 1, 1))
    result = world.register(customer=customer, products=[world.low, other_low, third])
    assert result.existing == [mine]
    assert [r.product for r in result.rejected] == [other_low.code]
    assert [lead.product_id for lead in result.created] == [third.id]


@pytest.mark.parametrize("close", ["reject", "lost", "expired", "won"])
def test_rule3_closed_lead_frees_the_claim(world, close):
    customer = world.customer()
    (held,) = world.register(agency=world.rival, customer=customer).created
    if close == "reject":
        ops.reject(held, world.cm, "duplicate")
    else:
        ops.approve(held, world.cm, today=date(2026, 1, 1))
        if close == "lost":
            ops.mark_lost(held, world.rival_sales, "customer chose a competitor")
        elif close == "won":
            ops.mark_won(held, order_id="ORD-1")
        else:
            ops.expire_protections(date(2026, 6, 1))
    (lead,) = world.register(customer=customer).created
    assert lead.status == LeadStatus.SUBMITTED and lead.agency_id == world.agency.id


def test_database_refuses_a_second_live_lead(world):
    customer = world.customer()
    (held,) = world.register(agency=world.rival, customer=customer).created
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(
            Lead(
                agency_id=world.agency.id,
                customer_id=customer.id,
                product_id=world.low.id,
                kind=LeadKind.SALE,
                status=LeadStatus.APPROVED,
                contact_name="x",
                contact_mobile="13800138000",
            )
        )
    # a closed lead of the same pair is fine
    with db.session.begin_nested():
        db.session.add(
            Lead(
                agency_id=world.agency.id,
                customer_id=customer.id,
                product_id=world.low.id,
                kind=LeadKind.SALE,
                status=LeadStatus.LOST,
                contact_name="x",
                contact_mobile="13800138000",
            )
        )
    assert held.status == LeadStatus.SUBMITTED


# --- rule 4: waiting for approval, auto-approval by grade -------------------------------------


def test_rule4_sale_lead_waits_for_the_channel_manager(world):
    (lead,) = world.register(customer=world.customer()).created
    assert (lead.kind, lead.status, lead.protected_until) == (LeadKind.SALE, LeadStatus.SUBMITTED, None)
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == world.cm.id))
    assert note.kind == "lead.submitted" and note.link == f"/leads/{lead.id}"
    assert db.session.scalar(sa.select(Notification).where(Notification.user_id == world.other_cm.id)) is None
    assert [e.action for e in lead.events] == ["submit"]
    assert (
        db.session.scalar(
            sa.select(AuditLog).where(AuditLog.action == "lead.submit", AuditLog.object_id == str(lead.id))
        )
        is not None
    )


def test_rule4_configured_grades_are_approved_at_once(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "LEAD_AUTO_APPROVE_GRADES", ["silver"])
    monkeypatch.setitem(app.config, "LEAD_PROTECTION_DAYS", 60)
    (lead,) = world.register(customer=world.customer()).created
    assert lead.status == LeadStatus.APPROVED
    assert lead.protected_until == today_shanghai() + timedelta(days=60)
    world.agency.grades[0].grade = Grade.BRONZE
    db.session.flush()
    (other,) = world.register(customer=world.customer()).created
    assert other.status == LeadStatus.SUBMITTED


def test_unknown_customer_is_created_as_tier_d_in_the_agencys_region(world):
    (lead,) = world.register(uscc=None, name="未登记集团").created
    customer = db.session.get(Customer, lead.customer_id)
    assert (customer.name, customer.tier, customer.region_id) == (
        "未登记集团",
        CustomerTier.D,
        world.region.id,
    )


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("customer_uscc", {"uscc": "91440101MA0000000X"}),
        ("contact_mobile", {"contact_mobile": "12345"}),
        ("customer_name", {"name": " "}),
        ("expected_monthly_revenue", {"expected_monthly_revenue": "abc"}),
        ("expected_lines", {"expected_lines": -1}),
    ],
)
def test_invalid_input_is_refused_with_the_field(world, field, kwargs):
    with pytest.raises(ops.LeadError) as info:
        name = kwargs.pop("name", "Some Co")
        world.register(name=name, **kwargs)
    assert info.value.field == field


def test_unknown_and_retired_products_are_refused(world):
    from catalog.models import ProductStatus

    retired = world.make.product(status=ProductStatus.RETIRED)
    with pytest.raises(ops.LeadError) as info:
        world.register(customer=world.customer(), products=[retired])
    assert info.value.code == "unknown_product"


def test_history_events_of_a_lead(world):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm)
    ops.request_extension(lead, world.sales, "big tender next month")
    ops.decide_extension(lead, world.cm, grant=True)
    actions = [
        e.action
        for e in db.session.scalars(
            sa.select(LeadEvent).where(LeadEvent.lead_id == lead.id).order_by(LeadEvent.id)
        )
    ]
    assert actions == ["submit", "approve", "request_extension", "grant_extension"]
