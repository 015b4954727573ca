"""An agency browses the catalog in Chinese and in English; an admin changes a product and finds
the change in the audit log. Screenshots go to test-results/screenshots/catalog-*.png."""

from __future__ import annotations

import secrets

import pytest

from tests.browser.conftest import screenshot, sign_in_through_the_form

pytestmark = pytest.mark.browser

TEXT = {
    "en": {
        "accept": "en",
        "title": "Group product catalog",
        "sell": "You can sell",
        "refer": "Account manager product — refer a lead",
        "earn": "What you earn",
        "no_rule": "No commission rule yet",
        "why_high": "Complexity scores of 4 or more",
        "why_low": "Every complexity score is below 4.",
        "cta_low": "Register a lead",
        "cta_high": "Refer a lead",
        "search": "Switchboard",
        "found": "GRP-PBX",
    },
    "zh": {
        "accept": "zh-CN,zh;q=0.9",
        "title": "集团产品目录",
        "sell": "您可以销售",
        "refer": "客户经理产品 — 请转介商机",
        "earn": "您的酬金",
        "no_rule": "暂无酬金规则",
        "why_high": "复杂度评分达到 4 分及以上",
        "why_low": "各项复杂度评分均低于 4 分。",
        "cta_low": "商机报备",
        "cta_high": "转介商机",
        "search": "专线",
        "found": "DDN-LINE",
    },
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_agency_browses_the_catalog(page, live_server, sign_in, lang):
    text = TEXT[lang]
    page.set_extra_http_headers({"Accept-Language": text["accept"]})
    sign_in(page, "sales@agency1.demo.local")
    screenshot(page, f"catalog-home-{lang}")
    assert page.locator("[data-testid=catalog-panel]").count() == 1

    page.goto(f"{live_server.url}/catalog")
    assert page.locator("h1").inner_text() == text["title"]
    cards = page.locator("[data-testid=catalog-list] .catalog-card")
    seed = {
        "ENT-MAIL",
        "GRP-MMS",
        "GRP-SMS",
        "GRP-CRBT",
        "SN-SMS",
        "QXT",
        "VPMN",
        "GRP-PBX",
        "ENT-CARD",
        "ENT-INFO",
        "GRP-ACCESS",
        "MBB-ACCESS",
        "HOSTING",
        "MOB-MEDIA",
        "DDN-LINE",
    }
    tiers = {
        cards.nth(i).get_attribute("data-code"): cards.nth(i).get_attribute("data-tier")
        for i in range(cards.count())
    }
    seed_tiers = {code: tier for code, tier in tiers.items() if code in seed}
    assert len(seed_tiers) == 15
    assert sum(1 for t in seed_tiers.values() if t == "low") == 8
    assert sum(1 for t in seed_tiers.values() if t == "high") == 7
    assert page.get_by_text(text["sell"], exact=True).count() >= 8
    assert page.get_by_text(text["refer"], exact=True).count() >= 7
    screenshot(page, f"catalog-list-{lang}")

    page.fill("#q", text["search"])
    page.click(".catalog-filters button[type=submit]")
    page.wait_for_load_state("load")
    codes = page.locator(".catalog-card").evaluate_all("cards => cards.map(c => c.dataset.code)")
    assert codes == [text["found"]]

    page.select_option("#tier", "high")  # catalog.js submits on change
    page.wait_for_url("**tier=high**")
    page.goto(f"{live_server.url}/catalog?tier=high")
    high_codes = page.locator(".catalog-card").evaluate_all("cards => cards.map(c => c.dataset.tier)")
    assert high_codes and set(high_codes) == {"high"}

    page.goto(f"{live_server.url}/catalog/GRP-ACCESS")
    assert text["refer"] in page.locator("[data-testid=verdict]").inner_text()
    assert text["why_high"] in page.locator("[data-testid=why]").inner_text()
    assert page.locator("[data-testid=earnings] h2").inner_text() == text["earn"]
    cta = page.locator("[data-testid=cta]")
    if cta.count():
        assert cta.inner_text() == text["cta_high"]
        assert cta.get_attribute("href").endswith("/leads/new?product=GRP-ACCESS")
    screenshot(page, f"catalog-product-high-{lang}")

    page.goto(f"{live_server.url}/catalog/GRP-SMS")
    assert text["sell"] in page.locator("[data-testid=verdict]").inner_text()
    assert page.locator("[data-testid=why]").inner_text() == text["why_low"]
    if page.locator("[data-testid=cta]").count():
        assert page.locator("[data-testid=cta]").inner_text() == text["cta_low"]
    screenshot(page, f"catalog-product-low-{lang}")

    assert page.goto(f"{live_server.url}/admin/products").status == 403


def test_admin_changes_a_product_and_the_audit_log_shows_it(page, live_server):
    page.set_extra_http_headers({"Accept-Language": "en"})
    sign_in_through_the_form(page, live_server, "admin@demo.local", two_factor=True)
    code = f"BR-{secrets.token_hex(3).upper()}"
    page.goto(f"{live_server.url}/admin/products/new")
    page.fill("#code", code)
    page.fill("#name_zh", "浏览器测试产品")
    page.fill("#name_en", "Browser test product")
    page.fill("#category", "messaging")
    page.fill("#monthly_price", "12.345")
    page.click("[data-testid=product-form] button[type=submit]")
    assert (
        "A price has at most two decimals (fen)." in page.locator("[data-testid=product-form]").inner_text()
    )
    screenshot(page, "catalog-admin-validation")
    page.fill("#monthly_price", "12.30")
    page.click("[data-testid=product-form] button[type=submit]")
    page.wait_for_url(f"**/catalog/{code}")

    page.goto(f"{live_server.url}/admin/products/{code}/edit")
    page.select_option("#market_exclusivity", "5")
    page.click("[data-testid=product-form] button[type=submit]")
    page.wait_for_url(f"**/catalog/{code}")
    assert "Account manager product — refer a lead" in page.locator("[data-testid=verdict]").inner_text()

    page.goto(f"{live_server.url}/admin/products/{code}/edit")
    page.select_option("#tier", "low")
    page.click("[data-testid=tier-form] button[type=submit]")
    assert "Give the reason for overriding the tier." in page.locator("[data-testid=tier-form]").inner_text()
    page.fill("#reason", "Pilot: agencies may sell it in 2027")
    page.click("[data-testid=tier-form] button[type=submit]")
    page.wait_for_url(f"**/admin/products/{code}/edit")
    screenshot(page, "catalog-admin-edit")

    page.goto(f"{live_server.url}/admin/audit?object_type=products")
    body = page.locator("main").inner_text()
    assert "product.update" in body and "product.tier_override" in body and "product.create" in body
    assert '"market_exclusivity":5' in body.replace(" ", "") or '"market_exclusivity": 5' in body
    screenshot(page, "catalog-audit-log")


def test_customer_lists_for_admin_and_account_manager(page, live_server):
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in_through_the_form(page, live_server, "admin@demo.local", two_factor=True)
    page.goto(f"{live_server.url}/customers")
    assert page.locator("h1").inner_text() == "集团客户"
    rows = page.locator("[data-testid=customers] tbody tr")
    assert rows.count() >= 12
    screenshot(page, "catalog-customers-admin-zh")
    page.click("text=广州珠江银行股份有限公司")
    assert "90 → A 类" in page.locator("[data-testid=value-score]").inner_text()
    screenshot(page, "catalog-customer-zh")

    page.context.clear_cookies()
    sign_in_through_the_form(page, live_server, "am@demo.local", two_factor=True)
    page.goto(f"{live_server.url}/customers")
    assert page.locator("h1").inner_text() == "我的客户"
    managers = page.locator("[data-testid=customers] tbody tr td:nth-child(7)").all_inner_texts()
    assert managers and set(managers) == {"客户经理 Account Manager"}
    assert "广州番禺小微科技工作室" not in page.locator("main").inner_text()  # a D customer, not theirs
    screenshot(page, "catalog-customers-am-zh")


IMPORT_TEXT = {
    "en": {"accept": "en", "pending": "Nothing has been applied yet.", "apply": "Apply the good rows (2)",
           "applied": "Import applied: 1 inserted, 1 updated.", "discard": "Discard this file",
           "discarded": "The file was discarded: nothing was applied."},
    "zh": {"accept": "zh-CN,zh;q=0.9", "pending": "尚未导入任何数据。", "apply": "导入有效行（2 行）",
           "applied": "导入已生效：新增 1 条，更新 1 条。", "discard": "放弃此文件",
           "discarded": "文件已放弃，未导入任何数据。"},
}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_admin_previews_an_import_then_confirms_or_discards(page, live_server, lang):
    """Upload → the report with the rejected rows and nothing applied → the CSRF-protected
    confirmation applies the good rows (English) or the file is discarded (Chinese)."""
    text = IMPORT_TEXT[lang]
    page.set_extra_http_headers({"Accept-Language": text["accept"]})
    sign_in_through_the_form(page, live_server, "admin@demo.local", two_factor=True)
    code = f"IM-{secrets.token_hex(3).upper()}"
    price = "86.00" if lang == "en" else "87.00"
    rows = [
        "code,name_zh,name_en,category,module_complexity,market_exclusivity,training_requirement,"
        "monthly_price,one_time_price,description_en",
        f"GRP-SMS,集团短信,Group SMS,messaging,1,1,1,{price},0.00,Bulk text messages to group members",
        f"{code},导入测试,Import test,messaging,2,1,1,10.00,0,Imported from the browser",
        "BAD-SCORE,坏评分,Bad score,messaging,6,1,1,1,0,x",
        "BAD-PRICE,坏价格,Bad price,messaging,1,1,1,12.5 yuan,0,x",
    ]
    page.goto(f"{live_server.url}/admin/products/import")
    page.set_input_files("#file", files=[{"name": "catalog.csv", "mimeType": "text/csv",
                                          "buffer": ("\n".join(rows) + "\n").encode("utf-8")}])
    page.click("[data-testid=import-form] button[type=submit]")
    page.wait_for_load_state("load")
    report = page.locator("[data-testid=import-report]")
    assert report.get_attribute("data-applied") == "no"
    assert text["pending"] in report.inner_text()
    assert page.locator("[data-testid=import-rejected] tbody tr").count() == 2
    page.locator("[data-testid=import-inserted] summary").click()
    screenshot(page, f"catalog-import-preview-{lang}")
    # not applied: the new product does not exist yet (asked with the same signed-in cookies)
    assert page.context.request.get(f"{live_server.url}/catalog/{code}").status == 404

    if lang == "en":
        page.get_by_role("button", name=text["apply"]).click()
        page.wait_for_load_state("load")
        assert text["applied"] in page.locator("main").inner_text()
        assert page.locator("[data-testid=import-report]").get_attribute("data-applied") == "yes"
        screenshot(page, f"catalog-import-applied-{lang}")
        page.goto(f"{live_server.url}/catalog/{code}")
        assert code in page.locator("main").inner_text()
    else:
        page.get_by_role("button", name=text["discard"]).click()
        page.wait_for_load_state("load")
        assert text["discarded"] in page.locator("main").inner_text()
        assert page.goto(f"{live_server.url}/catalog/{code}").status == 404
