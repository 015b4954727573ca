"""Browser journeys: an agency registers a lead, the channel manager approves it, a second agency
is refused with the protection end date; and a referral reaching the account manager."""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog.models import Product, ProductStatus, Tier
from portal.core.db import db
from portal.core.time import today_shanghai
from portal.core.validators import uscc_check_character
from tests.browser.conftest import screenshot as _screenshot

pytestmark = pytest.mark.browser
EN = {"Accept-Language": "en-US,en;q=0.9"}


def screenshot(page, name: str):
    """test-results/screenshots/NAME.png, plus a copy in $LEADS_SCREENSHOTS when set (other test runs
    in the same tree clear test-results/ when they start)."""
    path = _screenshot(page, name)
    copy_to = os.environ.get("LEADS_SCREENSHOTS")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(copy_to) / path.name)
    return path


def fresh_uscc() -> str:
    first17 = "91440101MA" + "".join(secrets.choice("0123456789") for _ in range(7))
    return first17 + uscc_check_character(first17)


def product_code(live_server, tier: Tier) -> str:
    with live_server.app.app_context():
        products = db.session.scalars(
            sa.select(Product).where(Product.status == ProductStatus.ACTIVE).order_by(Product.code)
        ).all()
        code = next(p.code for p in products if p.tier == tier)
        db.session.remove()
    return code


def sign_out(page):
    page.click("nav form button:has-text('Sign out')")
    page.wait_for_url("**/login**")


def fill_lead_form(page, uscc, name, product, contact="Zhou Jie", mobile="13912345678"):
    page.fill("#customer_uscc", uscc)
    if name:
        page.wait_for_selector("#customer-status:has-text('New customer')")
        page.fill("#customer_name", name)
    page.fill("#contact_name", contact)
    page.fill("#contact_mobile", mobile)
    page.check(f"input[name=products][value='{product}']")
    page.fill("#expected_lines", "12")
    page.fill("#expected_monthly_revenue", "3600.00")


def test_register_approve_and_second_agency_refused_with_the_date(page, live_server, sign_in):
    page.set_extra_http_headers(EN)
    low = product_code(live_server, Tier.LOW)
    uscc = fresh_uscc()
    customer_name = f"Journey Logistics {uscc[-5:]}"

    sign_in(page, "sales@agency1.demo.local")
    page.goto(f"{live_server.url}/leads/new")
    fill_lead_form(page, uscc, customer_name, low)
    screenshot(page, "leads-register-form")
    page.click("#lead-form button[type=submit]")
    page.wait_for_load_state("load")
    assert "/leads/" in page.url
    lead_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert page.locator("[data-status=submitted]").first.is_visible()
    assert "under review" in page.locator("[data-testid=protected-until]").inner_text()
    screenshot(page, "leads-registered-agency")
    sign_out(page)

    sign_in(page, "channel@demo.local")
    page.goto(f"{live_server.url}/leads/queue")
    row = page.locator("[data-testid=queue-table] tr", has_text=customer_name)
    assert row.count() == 1
    screenshot(page, "leads-queue-channel-manager")
    row.locator("a:has-text('Review')").click()
    page.wait_for_url(f"**/leads/{lead_id}")
    page.click("form[action$='/approve'] button")
    page.wait_for_load_state("load")
    until = (today_shanghai() + timedelta(days=90)).isoformat()
    assert page.locator("[data-status=approved]").first.is_visible()
    assert until in page.locator("[data-testid=protected-until]").inner_text()
    screenshot(page, "leads-approved-channel-manager")
    sign_out(page)

    sign_in(page, "owner@agency2.demo.local")
    page.goto(f"{live_server.url}/leads/new")
    page.fill("#customer_uscc", uscc)
    page.wait_for_selector("#customer-status:has-text('Known customer')")
    assert page.input_value("#customer_name") == customer_name
    fill_lead_form(page, uscc, None, low, contact="Qian Ming", mobile="13698765432")
    page.click("#lead-form button[type=submit]")
    page.wait_for_load_state("load")
    refusal = page.locator("[data-testid=rejected]").inner_text()
    assert f"Already registered by another partner; protected until {until}." in refusal
    assert "广州云帆" not in page.content() and "AGGZ0001" not in page.content()
    screenshot(page, "leads-conflict-second-agency")


def test_referral_reaches_the_account_manager(page, live_server, sign_in):
    page.set_extra_http_headers(EN)
    high = product_code(live_server, Tier.HIGH)
    uscc = fresh_uscc()
    customer_name = f"Referral Hospital {uscc[-5:]}"

    sign_in(page, "sales@agency1.demo.local")
    page.goto(f"{live_server.url}/leads/new")
    fill_lead_form(page, uscc, customer_name, high)
    page.click("#lead-form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.locator("[data-status=routed]").first.is_visible()
    screenshot(page, "leads-referral-agency")
    sign_out(page)

    sign_in(page, "am@demo.local")
    page.goto(f"{live_server.url}/leads/referrals")
    row = page.locator("[data-testid=referrals-table] tr", has_text=customer_name)
    assert row.count() == 1
    assert "广州云帆通信服务有限公司" in row.inner_text()  # the referring agency is shown
    screenshot(page, "leads-referrals-account-manager")
    row.locator("button:has-text('Accept')").click()
    page.wait_for_load_state("load")
    assert page.locator("[data-status=accepted]").first.is_visible()
    screenshot(page, "leads-referral-accepted")


def test_agency_lead_list_in_chinese_with_the_expiring_filter(page, live_server, sign_in):
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in(page, "sales@agency1.demo.local")
    screenshot(page, "leads-home-agency-zh")
    page.goto(f"{live_server.url}/leads")
    assert page.locator("h1").inner_text() == "商机报备"
    all_rows = page.locator("[data-testid=leads-table] tbody tr").count()
    page.check("#f-expiring")
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    rows = page.locator("[data-testid=leads-table] tbody tr")
    assert 1 <= rows.count() < all_rows  # the demo lead whose protection ends within 14 days
    assert rows.first.locator("[data-status=approved]").is_visible()
    screenshot(page, "leads-list-expiring-zh")
