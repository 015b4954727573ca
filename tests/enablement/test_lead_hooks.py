"""Enablement's hooks into leads: certification before a sale lead, a survey when a lead is won."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import OutboxMessage, Role
from portal.core.time import today_shanghai
from portal.enablement import operations as ops
from portal.enablement import rules
from portal.enablement.models import SoldBy, SurveyInvitation
from tests.enablement.conftest import all_right
from tests.factories import make_uscc

try:
    from portal.leads import operations as lead_ops
    from portal.leads import rules as lead_rules
except ImportError:  # pragma: no cover - the leads area not there yet
    lead_ops = lead_rules = None


def test_hooks_are_installed():
    assert rules.certification_sale_check in lead_rules.SALE_CHECKS
    assert rules.survey_on_lead_won in lead_rules.ON_LEAD_WON


def test_sale_check_refuses_without_certification_and_accepts_with_it(make, en):
    course = en.course(requires=True)
    product = course.product
    free = make.product()
    sales = make.user(Role.AGENCY_SALES)
    message, link = rules.certification_sale_check(sales.agency, product)
    assert product.code in message and course.title in message
    assert link == f"/enablement/training/{course.id}"
    assert rules.certification_sale_check(sales.agency, free) is None
    ops.certify(sales, product.id, today_shanghai(), course.id)
    assert rules.certification_sale_check(sales.agency, product) is None
    # a certification in another agency does not help
    assert rules.certification_sale_check(make.agency(), product) is not None
    # a disabled user's certification does not count
    sales.is_enabled = False
    db.session.flush()
    assert rules.certification_sale_check(sales.agency, product) is not None


def _register(agency, user, product):
    return lead_ops.register_leads(
        agency,
        user,
        make_uscc(),
        "Pearl River Logistics",
        "Wang Fang",
        "13912345678",
        [product.code],
        10,
        "2000.00",
    )


def test_lead_registration_is_refused_until_a_user_of_the_agency_passes(client, make, login, en):
    course = en.course(requires=True)
    product = course.product
    owner = make.user(Role.AGENCY_OWNER)
    sales = make.user(Role.AGENCY_SALES, agency=owner.agency)
    refused = _register(owner.agency, owner, product)
    assert not refused.created
    assert refused.rejected[0].code == "not_allowed" and refused.rejected[0].link.endswith(
        f"/enablement/training/{course.id}"
    )
    login(sales)
    client.post(f"/enablement/training/{course.id}/quiz", data=all_right(course))
    accepted = _register(owner.agency, owner, product)
    assert [lead.product_id for lead in accepted.created] == [product.id]
    assert accepted.created[0].kind.value == "sale"


def test_lead_form_shows_the_missing_certification_and_links_the_course(client, make, login, en):
    course = en.course(requires=True)
    sales = make.user(Role.AGENCY_SALES)
    login(sales)
    response = client.post(
        "/leads/new",
        headers={"Accept-Language": "en"},
        data={
            "customer_uscc": make_uscc(),
            "customer_name": "Pearl River Logistics",
            "contact_name": "Wang Fang",
            "contact_mobile": "13912345678",
            "products": [course.product.code],
            "expected_lines": "5",
            "expected_monthly_revenue": "100.00",
            "notes": "",
        },
    )
    page = response.get_data(as_text=True)
    assert "may only be sold by agencies with a certified user" in page
    assert f"/enablement/training/{course.id}" in page


def test_won_lead_sends_the_customer_a_survey(make, en):
    product = make.product()
    manager = make.user(Role.CHANNEL_MANAGER)
    sales = make.user(Role.AGENCY_SALES, agency=make.agency(region=manager.regions[0]))
    lead = _register(sales.agency, sales, product).created[0]
    lead_ops.approve(lead, manager)
    lead_ops.mark_won(lead, "ORDER-1")
    invitation = db.session.scalar(sa.select(SurveyInvitation).where(SurveyInvitation.lead_id == lead.id))
    assert invitation is not None and invitation.agency_id == sales.agency_id
    assert invitation.product_id == product.id and invitation.customer_id == lead.customer_id
    sms = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.channel == "sms"))
    assert sms.recipient == "13912345678" and ops.survey_path(invitation).split(".")[0] in sms.body


def test_won_referral_sends_a_survey_marked_as_the_account_managers_sale(make):
    region = make.region("GZ")
    am = make.user(Role.ACCOUNT_MANAGER, regions=[region])
    high = make.product(scores=(5, 1, 1))
    sales = make.user(Role.AGENCY_SALES, agency=make.agency(region=region))
    lead = _register(sales.agency, sales, high).created[0]
    assert (
        lead.kind.value == "referral" and lead.status.value == "routed" and lead.account_manager_id == am.id
    )
    lead_ops.accept(lead, am)
    lead_ops.mark_won(lead, "ORDER-REF-1", am)
    invitation = db.session.scalar(sa.select(SurveyInvitation).where(SurveyInvitation.lead_id == lead.id))
    assert invitation.sold_by == SoldBy.ACCOUNT_MANAGER and invitation.account_manager_id == am.id
    assert invitation.agency_id == sales.agency_id and invitation.product_id == high.id
    assert db.session.scalar(
        sa.select(OutboxMessage.id).where(
            OutboxMessage.channel == "sms", OutboxMessage.recipient == "13912345678"
        )
    )
