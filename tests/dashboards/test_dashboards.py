"""Dashboards on each role's home page: figures scoped to the viewer, linked to the lists behind them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from commissions.models import Statement, StatementStatus
from portal.core.db import db
from portal.core.models import Role
from portal.core.time import today_shanghai
from portal.dashboards.svg import Bar, bar_chart
from portal.leads.models import Lead, LeadKind, LeadStatus
from portal.partners.models import AgencyStatus, ApplicationRound, RoundOutcome

EN = {"Accept-Language": "en"}


def _lead(agency, customer, product, status, **kw):
    lead = Lead(agency_id=agency.id, customer_id=customer.id, product_id=product.id, kind=kw.pop("kind", LeadKind.SALE),
                status=status, contact_name="Wang", contact_mobile="13800138000", **kw)
    db.session.add(lead)
    db.session.flush()
    return lead


def _stat(html: str, testid: str) -> int:
    match = re.search(rf'data-testid="{testid}">\s*<div class="card-body"><div[^>]*>[^<]*</div>'
                      r'<div class="stat">(\d+)<', html)
    assert match, testid
    return int(match.group(1))


@pytest.fixture
def agency_with_leads(make):
    agency = make.agency()
    today = today_shanghai()
    customers = [make.customer() for _ in range(4)]
    products = [make.product() for _ in range(4)]
    _lead(agency, customers[0], products[0], LeadStatus.SUBMITTED)
    _lead(agency, customers[1], products[1], LeadStatus.APPROVED, protected_until=today + timedelta(days=10))
    _lead(agency, customers[2], products[2], LeadStatus.APPROVED, protected_until=today + timedelta(days=60))
    _lead(agency, customers[3], products[3], LeadStatus.WON)
    other = make.agency()
    _lead(other, make.customer(), products[0], LeadStatus.SUBMITTED)  # not counted for `agency`
    return agency


def test_agency_owner_sees_leads_expiring_and_earnings(client, make, login, agency_with_leads):
    owner = make.user(Role.AGENCY_OWNER, agency=agency_with_leads)
    db.session.add(Statement(period="2026-09", agency_id=agency_with_leads.id, earned_fen=75000,
                             available_fen=75000, payable_fen=75000, status=StatementStatus.PUBLISHED))
    db.session.add(Statement(period="2026-10", agency_id=agency_with_leads.id, earned_fen=12345,
                             status=StatementStatus.DRAFT))  # not published: not shown
    db.session.flush()
    login(owner)
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert _stat(html, "dash-leads-total") == 4
    assert _stat(html, "dash-expiring") == 1
    assert 'href="/leads?expiring=1"' in html
    assert 'href="/leads?status=submitted"' in html  # the bar of submitted leads links to that list
    assert "Earned by month" in html and "¥750.00" in html
    assert "¥123.45" not in html


def test_agency_sales_sees_no_money(client, make, login, agency_with_leads):
    sales = make.user(Role.AGENCY_SALES, agency=agency_with_leads)
    db.session.add(Statement(period="2026-09", agency_id=agency_with_leads.id, earned_fen=75000,
                             status=StatementStatus.PUBLISHED))
    db.session.flush()
    login(sales)
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert _stat(html, "dash-leads-total") == 4
    assert "Earned by month" not in html and "¥750.00" not in html


def test_channel_manager_counts_only_its_regions(client, make, login):
    gz, sz = make.region("GZ"), make.region("SZ")
    manager = make.user(Role.CHANNEL_MANAGER, regions=[gz])
    # two GZ applications waiting for a decision; one GZ applicant asked for more information
    # (waiting on the applicant, not on the manager); one in SZ (another region)
    for region, outcome in ((gz, None), (gz, None), (gz, RoundOutcome.INFO_REQUESTED), (sz, None)):
        applicant = make.agency(region=region, status=AgencyStatus.PENDING)
        db.session.add(ApplicationRound(agency_id=applicant.id, number=1, data={}, outcome=outcome))
    db.session.flush()
    active = make.agency(region=gz)
    _lead(active, make.customer(), make.product(), LeadStatus.SUBMITTED)
    _lead(make.agency(region=sz), make.customer(), make.product(), LeadStatus.SUBMITTED)
    login(manager)
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert _stat(html, "dash-applications") == 2
    # the home panel of the applications and the review queue count the same applications
    panel = re.search(r'data-testid="applications-panel".*?class="stat mb-1">(\d+)<', html, re.S)
    assert panel and int(panel.group(1)) == 2
    assert _stat(html, "dash-leads-to-review") == 1
    assert "Conversion and early churn by agency" in html and active.code in html
    assert 'href="/agencies?status=pending"' in html


def test_finance_account_manager_and_admin_dashboards_render(client, make, login):
    for role, text in [(Role.FINANCE, "Open disputes"), (Role.ACCOUNT_MANAGER, "Referrals to accept"),
                       (Role.ADMIN, "Users by role")]:
        login(make.user(role))
        response = client.get("/", headers=EN)
        assert response.status_code == 200
        assert text in response.get_data(as_text=True)


def test_account_manager_referrals_to_act_on(client, make, login):
    am = make.user(Role.ACCOUNT_MANAGER)
    agency = make.agency()
    _lead(agency, make.customer(), make.product(scores=(5, 1, 1)), LeadStatus.ROUTED, kind=LeadKind.REFERRAL,
          account_manager_id=am.id)
    _lead(agency, make.customer(), make.product(scores=(5, 1, 1)), LeadStatus.ROUTED, kind=LeadKind.REFERRAL)
    login(am)
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert _stat(html, "dash-referrals") == 1


def test_bar_chart_is_escaped_svg_with_links():
    svg = str(bar_chart([Bar("<b>", 3, "/x?a=1&b=2"), Bar("neg", -2, None, "-¥2.00")], "Title & more"))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert 'href="/x?a=1&amp;b=2"' in svg
    assert "-¥2.00" in svg
    assert str(bar_chart([], "empty")) == ""
