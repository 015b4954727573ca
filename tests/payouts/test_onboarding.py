"""Stripe Connect onboarding of an agency owner: Express account with controller settings,
account link, Stripe's return and refresh, and the state shown to the owner and to staff."""

from __future__ import annotations

from urllib.parse import urlsplit

from commissions.payouts import operations as ops
from portal.core.db import db
from portal.core.models import Role

EN = {"Accept-Language": "en"}


def test_onboarding_round_trip(client, login, make, fake):
    agency = make.agency()
    owner = make.user(Role.AGENCY_OWNER, agency=agency)
    login(owner)
    page = client.get("/payouts/account", headers=EN)
    assert b"No Stripe account is connected." in page.data and b"Connect a Stripe account" in page.data

    response = client.post("/payouts/account/connect", headers=EN)
    assert response.status_code == 302
    link = response.headers["Location"]
    assert link.startswith(fake.url + "/setup/e/")
    (create,) = fake.requests_to("POST", "/v1/accounts")
    assert "type" not in create.params
    assert create.params["controller"] == {"stripe_dashboard": {"type": "express"}, "fees": {"payer": "application"},
                                           "losses": {"payments": "application"}, "requirement_collection": "stripe"}
    assert create.params["capabilities"] == {"transfers": {"requested": "true"}}
    db.session.expire_all()
    account_id = agency.stripe_account_id
    assert account_id and account_id.startswith("acct_")
    (link_request,) = fake.requests_to("POST", "/v1/account_links")
    assert link_request.params["account"] == account_id and link_request.params["type"] == "account_onboarding"
    assert link_request.params["return_url"].endswith("/payouts/account/return")
    assert link_request.params["refresh_url"].endswith("/payouts/account/refresh")

    page = client.get("/payouts/account", headers=EN)
    assert b"business_profile.url" in page.data and b"Continue onboarding with Stripe" in page.data

    # the link expired: Stripe sends the owner to refresh_url, which makes a new link (no new account)
    response = client.get("/payouts/account/refresh", headers=EN)
    assert response.status_code == 302 and response.headers["Location"].startswith(fake.url + "/setup/e/")
    assert len(fake.requests_to("POST", "/v1/accounts")) == 1

    # the owner completes Stripe's pages and is sent back to the portal's return_url
    return_url = fake.follow_link(response.headers["Location"])
    response = client.get(urlsplit(return_url).path, headers=EN, follow_redirects=True)
    assert b"Your Stripe account is connected and can receive payouts." in response.data
    state = ops.account_for(agency.id)
    assert (state.payouts_enabled, state.transfers_capability, state.currently_due) == (True, "active", [])

    # finance sees the same on the agency's payout page
    login(make.user(Role.FINANCE))
    page = client.get(f"/payouts/agency/{agency.id}", headers=EN)
    assert account_id.encode() in page.data and b"nothing" in page.data


def test_connect_without_stripe_key_says_bank_transfer(client, login, make, stripe_off):
    owner = make.user(Role.AGENCY_OWNER)
    login(owner)
    page = client.get("/payouts/account", headers=EN)
    assert b"Stripe payouts are switched off" in page.data and b"Connect a Stripe account" not in page.data
    response = client.post("/payouts/account/connect", headers=EN, follow_redirects=True)
    assert b"pay-outs are made by bank transfer" in response.data


def test_stripe_down_during_onboarding_is_reported(client, login, make, fake):
    owner = make.user(Role.AGENCY_OWNER)
    login(owner)
    fake.fail_next(3, 503)
    response = client.post("/payouts/account/connect", headers=EN, follow_redirects=True)
    assert b"Stripe could not be reached" in response.data


def test_bank_details_form(client, login, make, stripe_off):
    owner = make.user(Role.AGENCY_OWNER)
    login(owner)
    bad = client.post("/payouts/account/bank", headers=EN, data={
        "bank-account_name": "A", "bank-bank_name": "B", "bank-account_number": "12ab"})
    assert bad.status_code == 400 and b"8 to 40 digits" in bad.data
    response = client.post("/payouts/account/bank", headers=EN, follow_redirects=True, data={
        "bank-account_name": "广州示例有限公司", "bank-bank_name": "工商银行广州分行",
        "bank-account_number": "6222 0200 1234 5678"})
    assert b"Your bank details are saved." in response.data
    row = ops.account_for(owner.agency_id)
    assert row.has_bank_details and row.bank_account_number == "6222020012345678"
    from commissions.statements import has_payout_account

    assert has_payout_account(owner.agency) is True


def test_agency_sales_sees_no_payout_pages(client, login, make):
    login(make.user(Role.AGENCY_SALES))
    assert client.get("/payouts/mine").status_code == 403
    assert client.get("/payouts/account").status_code == 403


def test_another_agencys_payout_page_is_404_for_a_channel_manager(client, login, make):
    other_region = make.region("SZ")
    agency = make.agency(region=other_region)
    login(make.user(Role.CHANNEL_MANAGER, regions=[make.region("GZ")]))
    assert client.get(f"/payouts/agency/{agency.id}").status_code == 404
