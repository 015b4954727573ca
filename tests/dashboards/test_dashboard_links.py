"""Every number of every dashboard links to a page its viewer may open (issue 9: "each number links
to the list behind it"): on the demo data, each signed-in user's home page is read and every link
inside its main content is followed as that same user."""

from __future__ import annotations

import re
from html import unescape

import pytest
import sqlalchemy as sa

from commissions.models import Statement, StatementStatus
from commissions.payouts.models import Payout, PayoutStatus, Rail
from portal.core.db import db
from portal.core.models import Role, User
from portal.demo import load_demo
from portal.leads.models import LeadStatus
from portal.partners.models import AgencyStatus

from .test_dashboards import _lead

EN = {"Accept-Language": "en"}


def _main_hrefs(html: str) -> list[str]:
    main = re.search(r"<main\b.*?</main>", html, re.S)
    assert main, "the page has no <main>"
    hrefs = {unescape(h) for h in re.findall(r'href="([^"]*)"', main.group(0))}
    return sorted(h for h in hrefs if h and not h.startswith(("#", "mailto:", "tel:")))


def _signed_in(app, user):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    return client


@pytest.fixture
def demo_app(isolated_app):
    with isolated_app.app_context():
        load_demo()
        # The demo pays nothing yet: give finance's payout panel one paid and one pending payout.
        statements = db.session.scalars(sa.select(Statement).where(Statement.status != StatementStatus.DRAFT)
                                        .order_by(Statement.period, Statement.id)).all()
        assert statements, "the demo has no published statement"
        for statement, status in zip(statements, (PayoutStatus.PAID, PayoutStatus.PENDING), strict=False):
            db.session.add(Payout(statement_id=statement.id, agency_id=statement.agency_id,
                                  period=statement.period, rail=Rail.BANK, status=status,
                                  amount_fen=max(statement.payable_fen, 1)))
        db.session.commit()
        yield isolated_app
        db.session.remove()


def test_every_dashboard_link_opens_for_its_viewer(demo_app):
    with demo_app.app_context():
        users = db.session.scalars(sa.select(User).where(User.is_enabled.is_(True)).order_by(User.id)).all()
        roles_seen = set()
        broken = []
        followed = 0
        pages = {}
        for user in users:
            client = _signed_in(demo_app, user)
            home = client.get("/", headers=EN)
            assert home.status_code == 200, user.email
            html = home.get_data(as_text=True)
            pages[user.email] = html
            roles_seen.add(user.role)
            for href in _main_hrefs(html):
                status = client.get(href, headers=EN).status_code
                followed += 1
                if status != 200:
                    broken.append((user.email, href, status))
        assert not broken, broken
        assert roles_seen == set(Role)
        assert followed > 100

        finance = pages["finance@demo.local"]
        assert "/commissions/statements" not in finance  # agency owners' page: 403 for finance
        latest = db.session.scalar(sa.select(sa.func.max(Statement.period)))
        assert f'href="/commissions/periods/{latest}"' in finance  # period buttons and chart bars
        assert 'data-testid="dash-payouts"' in finance
        for period in db.session.scalars(sa.select(Payout.period).distinct()):
            assert f'href="/payouts/{period}"' in finance

        owner = db.session.scalar(sa.select(User).where(User.email == "owner@agency1.demo.local"))
        published = db.session.scalars(sa.select(Statement.period).where(
            Statement.agency_id == owner.agency_id, Statement.status != StatementStatus.DRAFT)).all()
        assert published, "the demo agency has no published statement"
        for period in published:  # each month's bar opens that month's statement
            assert f'href="/commissions/statements/{period}"' in pages[owner.email]
        assert 'href="/commissions/disputes?status=open"' in pages[owner.email]


def test_finance_links_follow_the_latest_period(client, make, login):
    """Without demo data: no period, no payout — the panels say so and link nowhere broken."""
    login(make.user(Role.FINANCE))
    html = client.get("/", headers=EN).get_data(as_text=True)
    assert "No period yet." in html and "None yet" in html
    for href in _main_hrefs(html):
        assert client.get(href, headers=EN).status_code == 200, href


def test_channel_manager_sees_real_conversion_from_leads(client, make, login):
    """The scorecard's lead metrics feed the "conversion to activation" column: of the accepted
    leads of the last 90 days (approved sale leads), the share won."""
    region = make.region("GZ")
    manager = make.user(Role.CHANNEL_MANAGER, regions=[region])
    agency = make.agency(region=region, status=AgencyStatus.ACTIVE)
    quiet = make.agency(region=region, status=AgencyStatus.ACTIVE)
    for status in (LeadStatus.WON, LeadStatus.APPROVED, LeadStatus.LOST, LeadStatus.APPROVED):
        _lead(agency, make.customer(), make.product(), status)
    _lead(agency, make.customer(), make.product(), LeadStatus.REJECTED)  # never accepted: not counted
    login(manager)
    html = client.get("/", headers=EN).get_data(as_text=True)
    row = re.search(rf'href="/agencies/{agency.id}">.*?</tr>', html, re.S)
    assert row, html
    cells = re.findall(r'<td class="text-end">(.*?)</td>', row.group(0), re.S)
    assert cells[0].strip() == "25%"  # 1 won of 4 accepted
    quiet_row = re.search(rf'href="/agencies/{quiet.id}">.*?</tr>', html, re.S).group(0)
    assert re.findall(r'<td class="text-end">(.*?)</td>', quiet_row, re.S)[0].strip() == "–"
