"""Browser journey, in Chinese and in English: a stranger applies as a new agency (with a real PDF
licence), the channel manager approves it, the new owner signs in and invites a sales user, and
the sales user joins through the invitation link."""

from __future__ import annotations

import os
import re
import secrets
import shutil

import pytest
import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import OutboxMessage
from portal.demo import DEMO_PASSWORD
from portal.partners.demo import demo_licence_pdf
from tests.browser.conftest import screenshot as _screenshot
from tests.factories import make_uscc

pytestmark = pytest.mark.browser

PASSWORD = "journey-password-2026"
TEXT = {
    "zh": {"header": "zh-CN,zh;q=0.9", "apply_link": "申请成为代理商", "h1": "申请成为代理商",
           "received": "我们已收到您的申请", "waiting": "正在等待所在区域的渠道经理审核", "approve": "通过",
           "approved": "已通过，代理商编码为", "invite": "发送邀请", "invited": "邀请已发送至",
           "set_password": "设置密码", "welcome": "欢迎！", "active": "正常", "bad_uscc": "校验位不符"},
    "en": {"header": "en-US,en;q=0.9", "apply_link": "Apply as an agency", "h1": "Apply as an agency",
           "received": "Your application was received", "waiting": "waiting for review by a channel manager",
           "approve": "Approve", "approved": "Approved. The agency code is", "invite": "Send the invitation",
           "invited": "The invitation was sent to", "set_password": "Set my password", "welcome": "Welcome.",
           "active": "Active", "bad_uscc": "check character does not match"},
}


def screenshot(page, name: str):
    """The shared screenshot helper; with PARTNERS_SCREENSHOTS=DIR also keep a copy there (other
    test runs in the same tree clean test-results/ when they start)."""
    path = _screenshot(page, name)
    if os.environ.get("PARTNERS_SCREENSHOTS"):
        os.makedirs(os.environ["PARTNERS_SCREENSHOTS"], exist_ok=True)
        shutil.copy(path, os.environ["PARTNERS_SCREENSHOTS"])
    return path


def sign_in_as(page, live_server, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the real form (with the TOTP step for staff). Like the shared `sign_in`
    fixture, but it presses the buttons inside <main>: the shared fixture's
    `form button[type=submit]` on the two-factor page hits the language switch in the navbar."""
    page.goto(f"{live_server.url}/login")
    page.fill("main input[name=email]", email)
    page.fill("main input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    if "/login/two-factor" in page.url:
        page.fill("main input[name=code]", live_server.totp_code(email))
        page.click("main form button[type=submit]")
        page.wait_for_load_state("load")
    assert "/login" not in page.url, f"sign-in of {email} failed: {page.url}"


def _sign_out(page):
    page.context.clear_cookies()


def _invitation_path(app, email: str) -> str:
    with app.app_context():
        body = db.session.scalars(sa.select(OutboxMessage.body).where(OutboxMessage.recipient == email)
                                  .order_by(OutboxMessage.id.desc())).first()
        db.session.remove()
    return re.search(r"(/invitation/\S+)", body).group(1)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_apply_approve_sign_in_and_invite(page, live_server, tmp_path, lang):
    text = TEXT[lang]
    page.set_extra_http_headers({"Accept-Language": text["header"]})
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm buttons
    tag = secrets.token_hex(3)
    owner_email = f"owner-{lang}-{tag}@journey.test"
    sales_email = f"sales-{lang}-{tag}@journey.test"
    company = f"{'旅程测试通信有限公司' if lang == 'zh' else 'Journey Telecom Ltd'} {tag}"
    uscc = make_uscc(int(tag, 16) % 9_000_000)
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(demo_licence_pdf("Business licence " + tag))

    # 1. the stranger finds the form from the landing page and applies
    page.goto(live_server.url + "/")
    page.click(f"a:has-text('{text['apply_link']}')")
    assert page.locator("h1").inner_text() == text["h1"]
    page.fill("input[name=name]", company)
    page.fill("input[name=uscc]", uscc[:17] + ("0" if uscc[17] != "0" else "1"))  # a typo first
    page.fill("input[name=legal_representative]", "张三")
    gz = page.locator("select[name=region_id] option", has_text="GZ").get_attribute("value")
    page.select_option("select[name=region_id]", gz)
    page.fill("input[name=address]", "广州市天河区旅程路 8 号")
    page.fill("textarea[name=business_scope]", "通信产品销售")
    page.set_input_files("input[name=licence]", str(licence))
    page.fill("input[name=contact_name]", "李四")
    page.fill("input[name=mobile]", "13812345678")
    page.fill("input[name=email]", owner_email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.check("input[name=accept_agreement]")
    page.click("form[data-testid=application-form] button[type=submit]")
    assert text["bad_uscc"] in page.locator("form[data-testid=application-form]").inner_text()
    screenshot(page, f"partners-apply-error-{lang}")
    page.fill("input[name=uscc]", uscc)
    page.set_input_files("input[name=licence]", str(licence))
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("form[data-testid=application-form] button[type=submit]")
    page.wait_for_load_state("load")
    assert "/login" in page.url
    assert text["received"] in page.locator(".alert-success").inner_text()

    # 2. the applicant signs in and sees the state
    sign_in_as(page, live_server, owner_email, PASSWORD)
    page.goto(live_server.url + "/my-agency")
    assert text["waiting"] in page.locator("[data-testid=application-state]").inner_text()
    screenshot(page, f"partners-applicant-pending-{lang}")
    _sign_out(page)

    # 3. the channel manager reviews and approves
    sign_in_as(page, live_server, "channel@demo.local")
    page.goto(live_server.url + "/agencies/applications")
    screenshot(page, f"partners-applications-{lang}")
    page.click(f"a:has-text('{company}')")
    page.locator("[data-testid=review]").wait_for()
    with page.expect_download() as download:
        page.click("[data-testid=licence-link]")
    assert download.value.path().read_bytes().startswith(b"%PDF")
    page.select_option("select[name=approve-grade]", "silver")
    screenshot(page, f"partners-review-{lang}")
    page.click(f"form[data-testid=approve-form] button:has-text('{text['approve']}')")
    page.wait_for_load_state("load")
    assert text["approved"] in page.locator(".alert-success").inner_text()
    code = page.locator("[data-testid=agency-code]").inner_text()
    assert re.fullmatch(r"AGGZ\d{4}", code)
    assert page.locator("[data-testid=scorecard]").is_visible()
    screenshot(page, f"partners-approved-{lang}")
    page.goto(live_server.url + "/agencies")
    assert code in page.locator("[data-testid=agencies]").inner_text()
    screenshot(page, f"partners-agencies-{lang}")
    _sign_out(page)

    # 4. the new owner signs in, sees the code and invites a sales user
    sign_in_as(page, live_server, owner_email, PASSWORD)
    assert page.locator("[data-testid=unread-count]").is_visible()
    page.goto(live_server.url + "/my-agency")
    assert page.locator("[data-testid=agency-code]").inner_text() == code
    assert page.locator("[data-testid=agency-status]").inner_text() == text["active"]
    screenshot(page, f"partners-owner-agency-{lang}")
    page.click("nav #menu-agency")  # the My agency menu
    page.click("nav a[href='/my-agency/users']")
    page.fill("form[data-testid=invite-form] input[name=name]", "王小明")
    page.fill("form[data-testid=invite-form] input[name=email]", sales_email)
    page.click(f"form[data-testid=invite-form] button:has-text('{text['invite']}')")
    page.wait_for_load_state("load")
    assert text["invited"] in page.locator(".alert-success").inner_text()
    assert sales_email in page.locator("[data-testid=members]").inner_text()
    screenshot(page, f"partners-owner-invited-{lang}")
    _sign_out(page)

    # 5. the sales user opens the invitation, chooses a password and signs in
    page.goto(live_server.url + _invitation_path(live_server.app, sales_email))
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    screenshot(page, f"partners-invitation-{lang}")
    page.click(f"main button:has-text('{text['set_password']}')")
    assert text["welcome"] in page.locator(".alert-success").inner_text()
    sign_in_as(page, live_server, sales_email, PASSWORD)
    page.goto(live_server.url + "/my-agency")
    assert page.locator("[data-testid=agency-code]").inner_text() == code
    assert page.locator("nav a[href='/my-agency/users']").count() == 0
    assert page.request.get(live_server.url + "/my-agency/users").status == 403
    screenshot(page, f"partners-sales-agency-{lang}")
