"""Every demo user signs in through the real pages in headless Chromium."""

from __future__ import annotations

import pytest

from tests.browser.conftest import STAFF_EMAILS, screenshot

pytestmark = pytest.mark.browser

DEMO_USERS = [
    "admin@demo.local",
    "channel@demo.local",
    "am@demo.local",
    "finance@demo.local",
    "owner@agency1.demo.local",
    "sales@agency1.demo.local",
]


@pytest.mark.parametrize("email", DEMO_USERS)
def test_demo_user_signs_in(page, live_server, sign_in, email):
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    page.goto(f"{live_server.url}/login")
    assert page.locator("h1").inner_text() == "登录"
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "demo-password-2026")
    page.click("main form button[type=submit]")
    if email in STAFF_EMAILS:
        assert "/login/two-factor" in page.url
        page.fill("input[name=code]", live_server.totp_code(email))
        page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    assert page.url.rstrip("/") == live_server.url
    assert page.locator("[data-testid=role]").is_visible()
    _top_bar_is_one_line(page)
    screenshot(page, f"sign-in-{email.split('@')[0]}-{email.split('@')[1].split('.')[0]}")
    # the same session in an English browser (no saved language: Accept-Language decides)
    english = page.context.browser.new_context(storage_state=page.context.storage_state(),
                                               viewport=page.viewport_size,
                                               extra_http_headers={"Accept-Language": "en-US,en;q=0.9"})
    en_page = english.new_page()
    en_page.goto(live_server.url)
    assert en_page.locator("html").get_attribute("lang") == "en"
    assert en_page.locator("[data-testid=role]").is_visible()
    _top_bar_is_one_line(en_page)
    english.close()
    # sign out again
    page.click("nav form button:has-text('退出')")
    assert "/login" in page.url


def _top_bar_is_one_line(page):
    """At 1366 px the top bar of every role holds its links and menus on one line (56 px high;
    a second line would make it about 96)."""
    assert page.viewport_size["width"] == 1366
    height = page.locator("body > nav.navbar").bounding_box()["height"]
    assert height < 70, f"the top bar wraps: {height} px"


def test_english_sign_in_page_and_wrong_password(page, live_server):
    page.set_extra_http_headers({"Accept-Language": "en-US,en;q=0.9"})
    page.goto(f"{live_server.url}/login")
    assert page.locator("h1").inner_text() == "Sign in"
    page.fill("input[name=email]", "finance@demo.local")
    page.fill("input[name=password]", "not-the-password")
    page.click("main form button[type=submit]")
    assert page.locator(".alert-danger").inner_text() == "Wrong e-mail or password."
    screenshot(page, "sign-in-wrong-password-en")
