"""The lead pages over HTTP: who sees what (404 outside one's scope), the approval queue, bulk
approval, the account manager's workspace, the agency's filters, the USCC lookup, API tokens."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from portal.api.models import ApiToken
from portal.core.db import db
from portal.core.time import today_shanghai
from portal.leads import operations as ops
from portal.leads.models import Lead, LeadStatus

EN = {"Accept-Language": "en"}


def test_registration_through_the_form(world, client, login):
    customer = world.customer(name="Known Customer Group")
    login(world.sales)
    response = client.post(
        "/leads/new",
        data={
            "customer_uscc": customer.uscc.lower(),
            "customer_name": "",
            "contact_name": "韩梅梅",
            "contact_mobile": "139 0013 9000",
            "products": [world.low.code, world.high.code],
            "expected_lines": "20",
            "expected_monthly_revenue": "2500.50",
            "notes": "needs quote",
        },
        headers=EN,
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/leads")
    leads = db.session.scalars(sa.select(Lead).order_by(Lead.id)).all()
    assert [(lead.product_id, lead.kind.value, lead.status.value) for lead in leads] == [
        (world.low.id, "sale", "submitted"),
        (world.high.id, "referral", "routed"),
    ]
    assert leads[0].expected_monthly_revenue_fen == 250050 and leads[0].contact_mobile == "13900139000"
    page = client.get("/leads", headers=EN)
    assert b"Known Customer Group" in page.data


def test_form_errors_are_shown_on_the_fields(world, client, login):
    login(world.sales)
    response = client.post(
        "/leads/new",
        data={
            "customer_uscc": "91440101MA0000000X",
            "contact_name": "",
            "contact_mobile": "12345",
            "expected_lines": "1",
            "expected_monthly_revenue": "1",
        },
        headers=EN,
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The check character does not match" in text
    assert "Enter a mainland mobile number" in text
    assert "Choose at least one product." in text


def test_new_customer_needs_a_name_on_the_form(world, client, login):
    from tests.factories import make_uscc

    login(world.sales)
    response = client.post(
        "/leads/new",
        data={
            "customer_uscc": make_uscc(990001),
            "contact_name": "Li",
            "contact_mobile": "13800138000",
            "products": [world.low.code],
            "expected_lines": "1",
            "expected_monthly_revenue": "1",
        },
        headers=EN,
    )
    assert b"Enter the customer&#39;s name" in response.data


def test_customer_lookup_json(world, client, login):
    customer = world.customer(name="Lookup Group")
    login(world.sales)
    found = client.get(f"/leads/customer-lookup?uscc={customer.uscc}").get_json()
    assert found == {
        "uscc": customer.uscc,
        "valid": True,
        "problem": None,
        "found": True,
        "name": "Lookup Group",
        "named_account": False,
    }
    assert client.get("/leads/customer-lookup?uscc=123").get_json()["valid"] is False
    unknown = client.get("/leads/customer-lookup?uscc=91440101MA0000001X")
    assert unknown.status_code == 200


def test_another_agency_lead_is_404_and_sales_see_their_agencys_leads(world, client, login):
    (mine,) = world.register(customer=world.customer(), user=world.owner).created
    (theirs,) = world.register(agency=world.rival, customer=world.customer()).created
    login(world.sales)
    assert client.get(f"/leads/{mine.id}").status_code == 200  # registered by the owner
    assert client.get(f"/leads/{theirs.id}").status_code == 404
    listing = client.get("/leads", headers=EN).get_data(as_text=True)
    assert f'/leads/{mine.id}"' in listing and f'/leads/{theirs.id}"' not in listing
    assert client.post(f"/leads/{theirs.id}/extension", data={"reason": "x"}).status_code == 404


def test_channel_manager_of_another_region_gets_404(world, client, login):
    (lead,) = world.register(customer=world.customer()).created
    login(world.other_cm)
    assert client.get(f"/leads/{lead.id}").status_code == 404
    assert client.post(f"/leads/{lead.id}/approve").status_code == 404
    assert client.post(f"/leads/{lead.id}/reject", data={"reason": "x"}).status_code == 404
    queue = client.get("/leads/queue", headers=EN).get_data(as_text=True)
    assert f'/leads/{lead.id}"' not in queue
    client.post("/leads/bulk-approve", data={"lead_ids": [str(lead.id)]})
    db.session.refresh(lead)
    assert lead.status == LeadStatus.SUBMITTED


def test_queue_approve_reject_and_bulk(world, client, login):
    leads = [world.register(customer=world.customer()).created[0] for _ in range(4)]
    login(world.cm)
    queue = client.get("/leads/queue", headers=EN).get_data(as_text=True)
    for lead in leads:
        assert f'/leads/{lead.id}"' in queue
    until = (today_shanghai() + timedelta(days=90)).isoformat()
    assert until in queue
    assert client.post(f"/leads/{leads[0].id}/approve").status_code == 302
    assert client.post(f"/leads/{leads[1].id}/reject", data={"reason": ""}).status_code == 302
    db.session.refresh(leads[1])
    assert leads[1].status == LeadStatus.SUBMITTED  # a reason is required
    client.post(f"/leads/{leads[1].id}/reject", data={"reason": "incomplete contact"})
    response = client.post(
        "/leads/bulk-approve",
        data={"lead_ids": [str(leads[2].id), str(leads[3].id), str(leads[0].id)]},
        headers=EN,
    )
    assert response.status_code == 302
    for lead in leads:
        db.session.refresh(lead)
    assert [lead.status for lead in leads] == [
        LeadStatus.APPROVED,
        LeadStatus.REJECTED,
        LeadStatus.APPROVED,
        LeadStatus.APPROVED,
    ]
    assert leads[2].protected_until.isoformat() == until
    detail = client.get(f"/leads/{leads[0].id}", headers=EN).get_data(as_text=True)
    assert until in detail and world.agency.name in detail


def test_agency_filters_state_product_and_expiring(world, client, login):
    other_product = world.make.product(scores=(1, 1, 1))
    (soon,) = world.register(customer=world.customer()).created
    (later,) = world.register(customer=world.customer()).created
    (waiting,) = world.register(customer=world.customer(), products=[other_product]).created
    ops.approve(soon, world.cm, today=today_shanghai() - timedelta(days=80))
    ops.approve(later, world.cm)
    login(world.sales)

    def ids(query):
        text = client.get(f"/leads{query}", headers=EN).get_data(as_text=True)
        return {lead.id for lead in (soon, later, waiting) if f'/leads/{lead.id}"' in text}

    assert ids("") == {soon.id, later.id, waiting.id}
    assert ids("?status=approved") == {soon.id, later.id}
    assert ids(f"?product={other_product.code}") == {waiting.id}
    assert ids("?expiring=1") == {soon.id}
    assert ids("?status=bogus") == {soon.id, later.id, waiting.id}


def test_agency_requests_extension_and_channel_manager_decides(world, client, login):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm)
    until = lead.protected_until
    login(world.sales)
    client.post(f"/leads/{lead.id}/extension", data={"reason": "tender postponed"})
    login(world.cm)
    queue = client.get("/leads/queue", headers=EN).get_data(as_text=True)
    assert "tender postponed" in queue
    client.post(f"/leads/{lead.id}/extension/decide", data={"decision": "grant", "reason": ""})
    db.session.refresh(lead)
    assert lead.protected_until == until + timedelta(days=30)


def test_account_manager_workspace(world, client, login):
    owned = world.customer(tier="A", account_manager=world.am1, name="Named Bank Group")
    (lead,) = world.register(customer=owned, products=[world.low]).created
    (other,) = world.register(agency=world.rival, customer=world.customer(), products=[world.high]).created
    login(world.am1)
    page = client.get("/leads/referrals", headers=EN).get_data(as_text=True)
    assert f'/leads/{lead.id}"' in page and world.agency.name in page
    assert client.post(f"/leads/{lead.id}/accept").status_code == 302
    db.session.refresh(lead)
    assert lead.status == LeadStatus.ACCEPTED
    client.post(f"/leads/{lead.id}/won", data={"order_id": "BOSS-77"})
    db.session.refresh(lead)
    assert (lead.status, lead.order_id) == (LeadStatus.WON, "BOSS-77")
    customers = client.get("/leads/my-customers", headers=EN).get_data(as_text=True)
    assert "Named Bank Group" in customers and f'/leads/{lead.id}"' in customers
    if other.account_manager_id != world.am1.id:
        assert client.get(f"/leads/{other.id}").status_code == 404
        assert client.post(f"/leads/{other.id}/won", data={}).status_code == 404


def test_agency_owner_manages_api_tokens(world, client, login):
    login(world.owner)
    created = client.post("/settings/api-tokens", data={"name": "CRM"}, headers=EN)
    text = created.get_data(as_text=True)
    assert "shown only once" in text
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.agency_id == world.agency.id))
    token = text.split('token-text">')[1].split("<")[0]
    assert token.startswith(row.prefix) and row.token_hash != token and token not in row.token_hash
    listing = client.get("/settings/api-tokens", headers=EN).get_data(as_text=True)
    assert token not in listing and row.prefix in listing and "never" in listing
    assert client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert "never" not in client.get("/settings/api-tokens", headers=EN).get_data(as_text=True)
    client.post(f"/settings/api-tokens/{row.id}/revoke")
    assert client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    # another agency's owner cannot see or revoke it
    rival_owner = world.make.user("agency_owner", agency=world.rival)
    login(rival_owner)
    assert row.prefix not in client.get("/settings/api-tokens").get_data(as_text=True)
    assert client.post(f"/settings/api-tokens/{row.id}/revoke").status_code == 404


def test_huge_ids_are_404_not_500(world, client, login):
    login(world.cm)
    assert client.get("/leads/99999999999999999999").status_code == 404
    assert client.post("/leads/99999999999999999999/approve").status_code == 404


def test_referral_list_filters_by_state(world, client, login):
    routed = world.register(customer=world.customer(), products=[world.high]).created[0]
    accepted = world.register(customer=world.customer(), products=[world.high]).created[0]
    manager = routed.account_manager
    accepted.account_manager_id = manager.id
    ops.accept(accepted, manager)
    login(manager)

    def ids(**args):
        html = client.get("/leads/referrals", query_string=args).get_data(as_text=True)
        return {lead.id for lead in (routed, accepted) if f'/leads/{lead.id}"' in html}

    assert ids(status="routed") == {routed.id}
    assert ids(status="accepted") == {accepted.id}
    assert ids() == {routed.id, accepted.id}
