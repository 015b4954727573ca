"""Browser journey in Chromium: finance approves a period's statements, pays them (one agency
through the Stripe fake, one by bank transfer with the payment file and the bank reference),
reconciles and closes the period; the agency owner sees the payout with its reference.

The statements are built through the commission engine's models in the live server's database
(a period of its own, earlier than the demo's, so that it may close first)."""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
from datetime import date

import pytest
import sqlalchemy as sa

from commissions.models import Component, Line, Period, PeriodStatus, Statement, StatementStatus
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout
from portal.core.db import db, utcnow
from portal.core.models import Role
from tests.browser.conftest import screenshot as _screenshot
from tests.browser.conftest import sign_in_through_the_form
from tests.factories import PASSWORD, Builder, make_uscc
from tests.payouts.stripe_fake import API_KEY, CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET

pytestmark = pytest.mark.browser


def screenshot(page, name: str):
    """The shared helper; with PAYOUTS_SCREENSHOTS=DIR also keep a copy there (other test runs in
    the same tree clean test-results/ when they start)."""
    path = _screenshot(page, name)
    keep = os.environ.get("PAYOUTS_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, os.path.join(keep, path.name))
    return path

PERIOD = "2020-03"


@pytest.fixture
def stripe_live(live_server, stripe_server):
    """The live server paying through the Stripe fake (restored afterwards)."""
    config = live_server.app.config
    keys = ("STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET", "STRIPE_CONNECT_WEBHOOK_SECRET")
    saved = {k: config.get(k) for k in keys}
    config.update({"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": stripe_server.url,
                   "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET})
    yield stripe_server
    config.update(saved)


def _setup(live_server, fake) -> dict:
    tag = secrets.token_hex(3)
    with live_server.app.app_context():
        make = Builder()
        seed = secrets.randbelow(1_000_000)
        stripe_agency = make.agency(code=f"AGPS{tag}".upper(), uscc=make_uscc(8_000_000 + seed),
                                    name=f"华南云联 Stripe {tag}")
        bank_agency = make.agency(code=f"AGPB{tag}".upper(), uscc=make_uscc(9_000_000 + seed),
                                  name=f"珠江数科 Bank {tag}")
        owner = make.user(Role.AGENCY_OWNER, agency=stripe_agency, email=f"payout-owner-{tag}@example.test")
        make.user(Role.AGENCY_OWNER, agency=bank_agency, email=f"payout-bank-{tag}@example.test")
        stripe_agency.stripe_account_id = fake.make_account()["id"]
        ops.save_bank_details(bank_agency, f"珠江数科 Bank {tag}", "中国银行广州分行", "6013821000123456")
        db.session.add(Period(period=PERIOD, status=PeriodStatus.OPEN, runs=1, last_run_at=utcnow()))
        for agency, amount in ((stripe_agency, 128_050), (bank_agency, 64_000)):
            db.session.add(Line(period=PERIOD, source_period=PERIOD, agency_id=agency.id,
                                component=Component.ADJUSTMENT, accrual_date=date(2020, 3, 31), amount_fen=amount,
                                computed=False, note="browser journey"))
            db.session.add(Statement(period=PERIOD, agency_id=agency.id, opening_fen=0, earned_fen=amount,
                                     available_fen=amount, payable_fen=amount, carried_fen=0, line_count=1,
                                     status=StatementStatus.PUBLISHED, published_at=utcnow()))
        db.session.commit()
        data = {"stripe_code": stripe_agency.code, "bank_code": bank_agency.code, "owner": owner.email,
                "account": stripe_agency.stripe_account_id, "bank_agency_id": bank_agency.id}
        db.session.remove()
    return data


def test_finance_approves_pays_reconciles_and_closes_and_the_agency_sees_its_payout(
        page, live_server, stripe_live, tmp_path):
    fake = stripe_live
    data = _setup(live_server, fake)
    page.on("dialog", lambda dialog: dialog.accept())
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in_through_the_form(page, live_server, "finance@demo.local")
    url = live_server.url

    # 1. approve the period's published statements (the commission engine's page)
    page.goto(f"{url}/commissions/periods/{PERIOD}")
    screenshot(page, "payouts-0-period")
    page.click(f"form[action$='/commissions/periods/{PERIOD}/approve'] button[type=submit]")
    page.wait_for_load_state("load")
    screenshot(page, "payouts-1-approved")

    # 2. the payout run: Stripe for the connected agency, the bank queue for the other
    page.goto(f"{url}/payouts/")
    page.click(f"a[href='/payouts/{PERIOD}']")
    screenshot(page, "payouts-2-before-run")
    page.click("[data-testid=run-payouts]")
    page.wait_for_load_state("load")
    flash = page.locator(".alert-success").first.inner_text()
    assert "Stripe 已付 1 笔" in flash and "等待银行转账 1 笔" in flash, flash
    assert fake.transfer_count(PERIOD) == 1
    (transfer,) = [t for t in fake.transfers.values() if t["transfer_group"] == PERIOD]
    assert (transfer["destination"], transfer["amount"]) == (data["account"], 128_050)
    screenshot(page, "payouts-3-after-run")

    # a double click / second run pays nothing again
    page.click("[data-testid=run-payouts]")
    page.wait_for_load_state("load")
    assert fake.transfer_count(PERIOD) == 1

    # 3. the bank rail: payment file, then the bank's reference
    with page.expect_download() as download_info:
        page.click("[data-testid=bank-csv]")
    path = tmp_path / "bank.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8-sig"))))
    assert [(r["agency_code"], r["amount"], r["account_number"]) for r in rows] == [
        (data["bank_code"], "640.00", "6013821000123456")]
    page.fill(f"tr[data-agency='{data['bank_code']}'] input[name=ref-reference]", "BOC-20200405-0088")
    page.click(f"tr[data-agency='{data['bank_code']}'] button:has-text('标记已付')")
    page.wait_for_load_state("load")
    assert "已标记为银行转账已付" in page.locator(".alert-success").first.inner_text()
    screenshot(page, "payouts-4-bank-paid")

    # 4. reconcile (Stripe's own list included) and close
    page.click(f"main a[href='/payouts/{PERIOD}/reconciliation']")
    page.wait_for_load_state("load")
    assert page.locator("[data-testid=reconciled]").is_visible()
    assert transfer["id"] in page.locator("#stripe").inner_text()
    screenshot(page, "payouts-5-reconciled")
    page.click("[data-testid=close-period]")
    page.wait_for_load_state("load")
    assert f"账期 {PERIOD} 已关闭" in page.locator(".alert-success").first.inner_text()
    screenshot(page, "payouts-6-closed")
    with live_server.app.app_context():
        assert db.session.scalar(sa.select(Period.status).where(Period.period == PERIOD)) == PeriodStatus.CLOSED
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Payout).where(Payout.period == PERIOD)) == 2
        db.session.remove()

    # 5. the agency owner sees the payout, its status and reference
    page.context.clear_cookies()
    sign_in_through_the_form(page, live_server, data["owner"], password=PASSWORD)
    page.click("nav #menu-money")  # the 酬金 menu
    page.click("nav a:has-text('酬金付款')")
    page.wait_for_load_state("load")
    history = page.locator("[data-testid=payout-history]").inner_text()
    assert PERIOD in history and "¥1,280.50" in history and transfer["id"] in history and "已支付" in history
    screenshot(page, "payouts-7-agency-sees-payout")
    page.goto(f"{url}/payouts/account")
    assert page.locator("[data-testid=payouts-enabled]").inner_text().strip() == "是"
    screenshot(page, "payouts-8-agency-account")
