"""The agency's own service-quality page and home panel: its satisfaction (average and the five
dimensions), answers, complaints and certified users — its own agency only."""

from __future__ import annotations

import re

import pytest

from portal.core.models import Role
from portal.core.nav import nav_for
from portal.enablement import operations as ops
from portal.enablement.models import SoldBy

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


def _answer(agency, product, scores, sold_by=SoldBy.AGENCY, n=0):
    invitation = ops.create_survey(
        contact_mobile=f"1390000{n:04d}",
        agency_id=agency.id,
        product_id=product.id,
        sold_by=sold_by,
        send=False,
    )
    dims = ("product", "agent", "channel", "promotion", "relationship")
    return ops.answer_survey(invitation, dict(zip(dims, scores, strict=True)))


def _testid(html: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert match, name
    return match.group(1).strip()


@pytest.fixture
def two_agencies(make):
    region = make.region("GZ")
    a, b = make.agency(region=region), make.agency(region=region)
    qxt, sms = make.product(), make.product()
    _answer(a, qxt, (5, 4, 4, 3, 5), n=1)
    _answer(a, sms, (3, 2, 4, 3, 3), n=2)
    _answer(a, qxt, (1, 1, 1, 1, 1), sold_by=SoldBy.ACCOUNT_MANAGER, n=3)  # a referral: not A's score
    _answer(b, qxt, (1, 1, 1, 1, 1), n=4)
    open_one = ops.record_complaint(a.id, "delay", "high", "Slow activation.")
    answered = ops.record_complaint(a.id, "service", "low", "Rude.")
    done = ops.record_complaint(a.id, "billing", "medium", "Wrong bill.")
    ops.record_complaint(b.id, "other", "low", "B's complaint.")
    return {"a": a, "b": b, "qxt": qxt, "sms": sms, "open": open_one, "answered": answered, "done": done}


@pytest.mark.parametrize("role", [Role.AGENCY_OWNER, Role.AGENCY_SALES])
def test_the_agency_sees_its_own_satisfaction_and_complaints(client, make, login, two_agencies, role):
    a, qxt, sms = two_agencies["a"], two_agencies["qxt"], two_agencies["sms"]
    user = make.user(role, agency=a)
    ops.respond_to_complaint(two_agencies["answered"], user, "We apologised.")
    ops.resolve_complaint(two_agencies["done"], make.user(Role.ADMIN), "Refunded.")
    login(user)
    response = client.get("/enablement/quality", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Service quality of your agency" in html and a.code in html
    # (5+4+4+3+5 + 3+2+4+3+3) / 10 = 3.60; the referral's 1s and agency B's 1s are left out
    assert _testid(html, "my-satisfaction") == "3.60"
    assert _testid(html, "my-answers") == "2"
    dims = re.findall(r'data-testid="dimension-(\w+)"><td>[^<]*</td>\s*<td[^>]*>([^<]*)<', html)
    assert dims == [
        ("product", "4.00"),
        ("agent", "3.00"),
        ("channel", "4.00"),
        ("promotion", "3.00"),
        ("relationship", "4.00"),
    ]
    assert _testid(html, "my-complaints-open") == "2"  # open + answered
    assert _testid(html, "my-complaints-resolved") == "1"
    assert "1 awaiting your answer" in html
    products = html[html.index('data-testid="my-products"') :]
    assert qxt.code in products and sms.code in products
    assert "B's complaint." not in html


def test_the_page_in_chinese_and_the_navigation_and_home_panel(client, make, login, two_agencies):
    sales = make.user(Role.AGENCY_SALES, agency=two_agencies["a"])
    assert "enablement.my_quality" in [i.endpoint for e in nav_for(sales) for i in getattr(e, "items", [e])]
    login(sales)
    chinese = client.get("/enablement/quality", headers=ZH).get_data(as_text=True)
    assert "本代理商的服务质量" in chinese and "满意度" in chinese
    home = client.get("/", headers=EN).get_data(as_text=True)
    assert 'data-testid="agency-quality-panel"' in home and 'href="/enablement/quality"' in home
    panel = home[home.index('data-testid="agency-quality-panel"') :]
    assert re.search(r'class="stat">3\.60<', panel)


def test_another_agency_sees_only_its_own_figures(client, make, login, two_agencies):
    login(make.user(Role.AGENCY_OWNER, agency=two_agencies["b"]))
    html = client.get("/enablement/quality", headers=EN).get_data(as_text=True)
    assert _testid(html, "my-satisfaction") == "1.00" and _testid(html, "my-answers") == "1"
    assert _testid(html, "my-complaints-open") == "1" and _testid(html, "my-complaints-resolved") == "0"
    login(make.user(Role.AGENCY_OWNER))  # an agency without answers
    html = client.get("/enablement/quality", headers=EN).get_data(as_text=True)
    assert _testid(html, "my-satisfaction") == "–" and _testid(html, "my-answers") == "0"
    assert "No survey answers yet." in html


@pytest.mark.parametrize("role", [Role.CHANNEL_MANAGER, Role.ADMIN, Role.FINANCE, Role.ACCOUNT_MANAGER])
def test_staff_use_their_own_quality_view(client, make, login, role):
    login(make.user(role))
    assert client.get("/enablement/quality").status_code == 403
