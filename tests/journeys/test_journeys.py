"""The three users of the portal, end to end in headless Chromium, each on a fresh demo portal:

1. a third-party agency, from its online application to its first paid statement (in Chinese);
2. a channel manager approving an agency and leads and resolving an attribution conflict;
3. finance, from the import of the billing system's files to the close of a period.

Everything a user does goes through the pages; the database is only read to check the outcome.
Screenshots: test-results/screenshots/journey-*.png (and test-results/failures/ when one fails)."""

from __future__ import annotations

import re
import secrets

import pytest
import sqlalchemy as sa

from commissions.models import Period, PeriodStatus, Statement, StatementStatus
from portal.core.db import db
from portal.core.time import today_shanghai
from portal.core.validators import uscc_check_character
from portal.leads.models import Lead, LeadStatus
from portal.partners.demo import demo_licence_pdf
from tests.journeys.conftest import activations_file, billing_file, finance_imports

pytestmark = pytest.mark.browser

PASSWORD = "journey-password-2026"
PERIOD = "2026-11"  # the open month after the demo's two computed periods


def new_uscc() -> str:
    first = "91440101MA" + "".join(secrets.choice("0123456789") for _ in range(7))
    return first + uscc_check_character(first)


def read(portal, fn):
    with portal.app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def register_lead(person, uscc: str, customer: str, product: str, lines: str = "10") -> int:
    page = person.go("/leads/new")
    page.fill("#customer_uscc", uscc)
    page.wait_for_selector("#customer-status:not(:empty)")
    if page.locator("#customer_name").input_value() == "":
        page.fill("#customer_name", customer)
    page.fill("#contact_name", "周杰")
    page.fill("#contact_mobile", "13912345678")
    page.check(f"input[name=products][value='{product}']")
    page.fill("#expected_lines", lines)
    page.fill("#expected_monthly_revenue", "3600.00")
    person.click("#lead-form button[type=submit]")
    assert re.search(r"/leads/\d+$", page.url), person.flash()
    return int(page.url.rsplit("/", 1)[1])


def approve_and_pay_by_bank(finance, period: str, reference: str) -> list[str]:
    """Approve the period's statements, run the payouts (bank rail: no Stripe in these portals) and
    record the bank's reference of every payout waiting for a bank transfer. Returns the agency codes
    paid."""
    finance.go(f"/commissions/periods/{period}")
    finance.click(f"form[action$='/commissions/periods/{period}/approve'] button[type=submit]")
    page = finance.go(f"/payouts/{period}")
    finance.click("[data-testid=run-payouts]")
    paid = []
    waiting = page.locator("tr[data-agency]:has(input[name=ref-reference])")
    while waiting.count():
        row = waiting.first
        code = row.get_attribute("data-agency")
        row.locator("input[name=ref-reference]").fill(f"{reference}-{code}")
        row.locator("form[action*='/bank-reference'] button[type=submit]").click()
        page.wait_for_load_state("load")
        assert "marked paid" in finance.flash(), finance.flash()
        paid.append(code)
    return paid


def carry_what_cannot_be_paid(finance, period: str) -> None:
    """Approved statements that no rail can pay (no payout account) are carried, with the reason."""
    page = finance.go(f"/payouts/{period}")
    carry = page.locator("tr[data-agency] form[action*='/carry']")
    while carry.count():
        carry.first.locator("input[name=carry-reason]").fill("No payout account yet: carried to next month.")
        carry.first.locator("button[type=submit]").click()
        page.wait_for_load_state("load")


def reconcile_and_close(finance, period: str) -> None:
    page = finance.go(f"/payouts/{period}/reconciliation")
    assert page.locator("[data-testid=reconciled]").is_visible(), page.locator("main").inner_text()[:2000]
    finance.click("[data-testid=close-period]")
    assert f"{period}" in finance.flash() and "closed" in finance.flash(), finance.flash()


def test_an_agency_from_its_application_to_its_first_paid_statement(portal, actor, tmp_path):
    tag = secrets.token_hex(3)
    email = f"owner-{tag}@journey.test"
    company = f"旅程通信服务有限公司 {tag}"
    uscc = new_uscc()
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(demo_licence_pdf("Business licence " + tag))

    # 1. a stranger applies online (public page, Chinese)
    visitor = actor(None, lang="zh-CN,zh;q=0.9")
    page = visitor.go("/apply")
    page.fill("input[name=name]", company)
    page.fill("input[name=uscc]", uscc)
    page.fill("input[name=legal_representative]", "张三")
    gz = page.locator("select[name=region_id] option", has_text="GZ").get_attribute("value")
    page.select_option("select[name=region_id]", gz)
    page.fill("input[name=address]", "广州市天河区旅程路 8 号")
    page.fill("textarea[name=business_scope]", "集团短信、企业邮箱销售")
    page.set_input_files("input[name=licence]", str(licence))
    page.fill("input[name=contact_name]", "李四")
    page.fill("input[name=mobile]", "13812345678")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.check("input[name=accept_agreement]")
    visitor.click("form[data-testid=application-form] button[type=submit]")
    assert "/login" in page.url, visitor.flash()
    visitor.shot("agency-1-applied")

    # 2. the channel manager of Guangzhou approves it
    channel = actor("channel@demo.local")
    page = channel.go("/agencies/applications")
    channel.click(f"a:has-text('{company}')")
    page.select_option("select[name=approve-grade]", "silver")
    channel.click("form[data-testid=approve-form] button[type=submit]")
    code = page.locator("[data-testid=agency-code]").inner_text()
    assert re.fullmatch(r"AGGZ\d{4}", code)
    channel.shot("agency-2-approved")

    # 3. the new owner signs in (Chinese), enters the bank account and registers a lead
    owner = actor(email, PASSWORD, lang="zh-CN,zh;q=0.9")
    page = owner.go("/payouts/account")
    page.fill("input[name=bank-account_name]", company)
    page.fill("input[name=bank-bank_name]", "中国工商银行广州天河支行")
    page.fill("input[name=bank-account_number]", "6222020200112233445")
    owner.click("form[action$='/payouts/account/bank'] button[type=submit]")
    customer_uscc = new_uscc()
    lead_id = register_lead(owner, customer_uscc, f"旅程物流有限公司 {tag}", "GRP-SMS")
    assert page.locator("[data-status=submitted]").first.is_visible()
    owner.shot("agency-3-lead-registered")

    # 4. the channel manager approves the lead: it is protected
    channel.go(f"/leads/{lead_id}")
    channel.click("form[action$='/approve'] button[type=submit]")
    assert channel.page.locator("[data-status=approved]").first.is_visible()

    # 5. the billing system reports the sale (today: an agency earns from its approval on); finance
    #    imports it, runs and publishes the month
    today = today_shanghai()
    period = f"{today:%Y-%m}"
    finance = actor("finance@demo.local")
    order = f"JRN-{tag}-1"
    finance_imports(
        finance,
        "activations",
        activations_file(
            tmp_path / "activations.csv",
            [
                [
                    order,
                    customer_uscc,
                    f"旅程物流有限公司 {tag}",
                    "GRP-SMS",
                    code,
                    "10",
                    "60.00",
                    "0.00",
                    f"{today.isoformat()}T00:05:00",
                    "",
                ]
            ],
        ),
        expect_inserted=1,
    )
    finance.go(f"/commissions/periods/{period}")
    finance.click(f"form[action$='/commissions/periods/{period}/run'] button[type=submit]")
    assert read(portal, lambda: db.session.get(Lead, lead_id).status) == LeadStatus.WON  # matched by the run
    finance.go(f"/commissions/periods/{period}")
    finance.click(f"form[action$='/commissions/periods/{period}/publish'] button[type=submit]")

    # 6. the owner reads the statement line by line (10 × ¥30.00 × 1.00 silver = ¥300.00)
    page = owner.go(f"/commissions/statements/{period}")
    lines = page.locator("[data-testid=lines-table]").inner_text()
    assert order in lines and "¥300.00" in lines and "2026A" in lines
    owner.shot("agency-4-statement")

    # 7. finance approves and pays it by bank transfer
    assert code in approve_and_pay_by_bank(finance, period, f"ICBC-{tag}")

    # 8. the owner sees its first paid statement and the bank's reference
    page = owner.go("/payouts/mine")
    statements = page.locator("[data-testid=my-statements]").inner_text()
    assert period in statements and "¥300.00" in statements
    assert f"ICBC-{tag}-{code}" in page.locator("main").inner_text()
    owner.shot("agency-5-paid")
    status = read(
        portal,
        lambda: db.session.scalar(
            sa.select(Statement.status)
            .join(Statement.agency)
            .where(Statement.period == period, Statement.agency.has(code=code))
        ),
    )
    assert status == StatementStatus.PAID


def test_a_channel_manager_approves_an_agency_and_leads_and_resolves_a_conflict(portal, actor, tmp_path):
    channel = actor("channel@demo.local")

    # 1. the dashboard shows what waits; the demo's pending application is approved
    page = channel.go("/")
    channel.shot("channel-1-dashboard")
    channel.click("main a[href='/agencies/applications']")
    rows = page.locator("main table tbody tr a")
    assert rows.count() >= 1
    rows.first.click()
    page.wait_for_load_state("load")
    page.select_option("select[name=approve-grade]", "bronze")
    channel.click("form[data-testid=approve-form] button[type=submit]")
    assert re.fullmatch(r"AG[A-Z]{2}\d{4}", page.locator("[data-testid=agency-code]").inner_text())

    # 2. two agencies' salespeople register leads; the queue approves them in one go
    gz_sales = actor("sales@agency1.demo.local")
    customer, name = new_uscc(), f"Pearl River Freight {secrets.token_hex(2)}"
    first = register_lead(gz_sales, customer, name, "GRP-SMS")
    second = register_lead(gz_sales, new_uscc(), f"Tianhe Clinics {secrets.token_hex(2)}", "ENT-MAIL")
    page = channel.go("/leads/queue")
    for lead_id in (first, second):
        page.check(f"input[name=lead_ids][value='{lead_id}']")
    channel.shot("channel-2-queue")
    channel.click("#bulk-form button[type=submit]")
    assert read(portal, lambda: {db.session.get(Lead, i).status for i in (first, second)}) == {
        LeadStatus.APPROVED
    }

    # 3. the billing system records today's sale under the OTHER agency's code: an attribution conflict
    today = today_shanghai()
    period = f"{today:%Y-%m}"
    finance = actor("finance@demo.local")
    order = f"CONFLICT-{secrets.token_hex(3)}"
    finance_imports(
        finance,
        "activations",
        activations_file(
            tmp_path / "conflict.csv",
            [
                [
                    order,
                    customer,
                    name,
                    "GRP-SMS",
                    "AGSZ0001",
                    "20",
                    "60.00",
                    "0.00",
                    f"{today.isoformat()}T00:10:00",
                    "",
                ]
            ],
        ),
        expect_inserted=1,
    )
    finance.go("/commissions/exceptions")
    finance.click(
        "main form[action$='/commissions/exceptions/recheck'] button[type=submit]"
    )  # attribute new sales

    # 4. the channel manager sees it and gives the sale to the agency that held the protected lead
    page = channel.go("/commissions/exceptions")
    row = page.locator("[data-testid=exceptions-table] tr", has_text=order)
    assert row.count() == 1 and "AGSZ0001" in row.inner_text()
    channel.shot("channel-3-conflict")
    choice = row.locator("select option", has_text="AGGZ0001").get_attribute("value")
    row.locator("select").select_option(choice)
    row.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert "attributed" in channel.flash(), channel.flash()
    assert page.locator("[data-testid=exceptions-table] tr", has_text=order).count() == 0

    # 5. finance's next run pays that agency for the sale: 20 × ¥30.00 × 1.20 (gold)
    finance.go(f"/commissions/periods/{period}")
    finance.click(f"form[action$='/commissions/periods/{period}/run'] button[type=submit]")
    page = finance.go(f"/commissions/periods/{period}?component=one_off")
    lines = page.locator("[data-testid=filtered-lines]").inner_text()
    assert order in lines and "AGGZ0001" in lines and "¥720.00" in lines
    channel.shot("channel-4-resolved")


def test_finance_from_the_import_to_the_close_of_a_period(portal, actor, tmp_path):
    finance = actor("finance@demo.local")
    tag = secrets.token_hex(3)

    # 1. the month's files from the billing system: new activations and the billing of the demo's orders
    finance_imports(
        finance,
        "activations",
        activations_file(
            tmp_path / "act.csv",
            [
                [
                    f"FIN-{tag}-1",
                    new_uscc(),
                    "Baiyun Logistics",
                    "GRP-SMS",
                    "AGGZ0001",
                    "8",
                    "48.00",
                    "0.00",
                    "2026-11-03T09:00:00",
                    "",
                ],
                [
                    f"FIN-{tag}-2",
                    new_uscc(),
                    "Nansha Ports",
                    "ENT-MAIL",
                    "AGSZ0001",
                    "25",
                    "75.00",
                    "0.00",
                    "2026-11-04T15:30:00",
                    "",
                ],
            ],
        ),
        expect_inserted=2,
    )
    finance_imports(
        finance,
        "billing",
        billing_file(
            tmp_path / "bill.csv",
            [["DEMO-CM-0001", PERIOD, "4000.00", "4000.00"], ["DEMO-CM-0002", PERIOD, "400.00", "400.00"]],
        ),
        expect_inserted=2,
    )
    finance.shot("finance-1-imported")

    # 2. month-end: the earlier months close first (periods close in calendar order); the open
    #    dispute of the demo is decided before its statement can be approved
    page = finance.go("/commissions/disputes?status=open")
    disputes = [
        a.get_attribute("href") for a in page.locator("main table a[href*='/commissions/disputes/']").all()
    ]
    assert disputes, "the demo has an open dispute"
    for href in disputes:
        page = finance.go(href)
        page.fill(
            "form[action$='/reject'] textarea[name=reject-reason]",
            "Checked against the billing system: the line is right.",
        )
        finance.click("form[action$='/reject'] button[type=submit]")
    for period in ("2026-09", "2026-10"):
        assert approve_and_pay_by_bank(finance, period, f"BOC-{tag}")
        carry_what_cannot_be_paid(finance, period)
        reconcile_and_close(finance, period)
    finance.shot("finance-2-earlier-closed")

    # 3. the month just imported: run, publish, approve, pay, reconcile, close
    finance.go(f"/commissions/periods/{PERIOD}")
    finance.click(f"form[action$='/commissions/periods/{PERIOD}/run'] button[type=submit]")
    lines = finance.go(f"/commissions/periods/{PERIOD}?component=one_off").locator(
        "[data-testid=filtered-lines]"
    )
    assert f"FIN-{tag}-1" in lines.inner_text() and f"FIN-{tag}-2" in lines.inner_text()
    finance.go(f"/commissions/periods/{PERIOD}")
    finance.click(f"form[action$='/commissions/periods/{PERIOD}/publish'] button[type=submit]")
    finance.shot("finance-3-published")
    approve_and_pay_by_bank(finance, PERIOD, f"BOC-{tag}")
    carry_what_cannot_be_paid(finance, PERIOD)
    finance.shot("finance-4-paid")
    reconcile_and_close(finance, PERIOD)
    finance.shot("finance-5-closed")
    statuses = read(
        portal, lambda: {p: s for p, s in db.session.execute(sa.select(Period.period, Period.status))}
    )
    assert [statuses[p] for p in ("2026-09", "2026-10", PERIOD)] == [PeriodStatus.CLOSED] * 3
