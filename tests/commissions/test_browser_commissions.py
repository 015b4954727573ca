"""The commission journey in headless Chromium on the demo data: finance runs and publishes a
period; the agency owner reads the statement and disputes a line; finance accepts the dispute."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import screenshot, sign_in_through_the_form

pytestmark = pytest.mark.browser

PERIOD = "2026-11"  # the demo computes 2026-09 and 2026-10; 2026-11 has one-off lines to compute


def _english(page):
    page.set_extra_http_headers({"Accept-Language": "en"})
    page.on("dialog", lambda dialog: dialog.accept())


def test_finance_runs_and_publishes_owner_disputes_finance_accepts(browser, live_server):
    finance_ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    finance = finance_ctx.new_page()
    _english(finance)
    sign_in_through_the_form(finance, live_server, "finance@demo.local")

    # the demo's periods, then a run of 2026-11 (a background job with its progress page)
    finance.goto(f"{live_server.url}/commissions/periods")
    assert finance.locator("[data-testid=periods-table]").inner_text().count("2026-") >= 2
    screenshot(finance, "commissions-periods")
    finance.fill("#period", PERIOD)
    finance.click("button:has-text('Run period')")
    finance.wait_for_load_state("load")
    finance.goto(f"{live_server.url}/commissions/periods/{PERIOD}")
    table = finance.locator("[data-testid=statements-table]")
    assert "AGGZ0001" in table.inner_text()
    finance.click("button:has-text('Publish statements')")
    finance.wait_for_load_state("load")
    assert "statements published" in finance.locator("main").inner_text()
    assert "Published" in finance.locator("[data-testid=statements-table]").inner_text()
    screenshot(finance, "commissions-period-published")

    # the agency owner reads the statement line by line and disputes one line
    owner_ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    owner = owner_ctx.new_page()
    _english(owner)
    sign_in_through_the_form(owner, live_server, "owner@agency1.demo.local")
    owner.goto(f"{live_server.url}/commissions/statements")
    assert owner.locator("[data-testid=earned-chart] rect").count() >= 3
    screenshot(owner, "commissions-owner-statements")
    owner.click(f"a:has-text('{PERIOD}')")
    lines = owner.locator("[data-testid=lines-table]")
    text = lines.inner_text()
    assert "DEMO-CM-0005" in text
    assert re.search(r"\(10 × ¥30\.00 \+ 0\.00% × ¥0\.00 one-time fee\) × 1\.20 \(gold\), plan 2026A", text)
    screenshot(owner, "commissions-owner-statement")
    owner.locator("tr", has_text="DEMO-CM-0005").locator("a:has-text('Dispute')").click()
    owner.fill("textarea[name=comment]", "We sold 12 lines, not 10: please add 2 × ¥30.00 × 1.20.")
    owner.click("button:has-text('Send the dispute to finance')")
    owner.wait_for_load_state("load")
    assert "Your dispute was sent to finance." in owner.locator("main").inner_text()
    dispute_url = owner.url
    screenshot(owner, "commissions-owner-dispute")

    # finance accepts it: an adjustment in the next open period; the owner sees the decision
    finance.goto(dispute_url)
    assert "We sold 12 lines" in finance.locator("[data-testid=dispute-comment]").inner_text()
    finance.fill("input[name=amount]", "72.00")
    finance.fill("textarea[name=reason]", "Two more lines confirmed by the billing system.")
    finance.click("button:has-text('Accept')")
    finance.wait_for_load_state("load")
    assert "an adjustment is booked in 2026-12" in finance.locator("main").inner_text()
    screenshot(finance, "commissions-dispute-accepted")
    owner.goto(dispute_url)
    assert "Two more lines confirmed" in owner.locator("[data-testid=dispute-resolution]").inner_text()
    assert "Dispute accepted" in owner.locator("main").inner_text()

    # Chinese: the statement page speaks the owner's language
    owner.set_extra_http_headers({"Accept-Language": "zh-CN"})
    owner.goto(f"{live_server.url}/commissions/statements/{PERIOD}")
    assert "方案 2026A" in owner.locator("[data-testid=lines-table]").inner_text()
    screenshot(owner, "commissions-owner-statement-zh")
    owner_ctx.close()
    finance_ctx.close()
