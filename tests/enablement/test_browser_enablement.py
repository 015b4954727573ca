"""Browser journey: an agency user learns QXT, passes the quiz and registers the unlocked product;
the customer answers the satisfaction survey; the channel manager sees the quality signals change."""

from __future__ import annotations

import re
import secrets

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from catalog.models import Product
from portal.core.db import db
from portal.core.models import OutboxMessage, User
from portal.enablement import operations as ops
from portal.enablement.models import Course
from portal.leads import operations as lead_ops
from portal.leads.models import Lead
from tests.browser.conftest import screenshot
from tests.factories import make_uscc

pytestmark = pytest.mark.browser

SALES = "sales@agency1.demo.local"
CHANNEL = "channel@demo.local"


def _qxt_course(app) -> tuple[int, dict[int, int]]:
    """The demo's published QXT course (portal/enablement/demo.py): its id and question id → right
    answer. QXT requires certification in the demo and nobody in AGGZ0001 holds it."""
    with app.app_context():
        product = db.session.scalar(sa.select(Product).where(Product.code == "QXT"))
        assert product is not None, "the demo catalog has QXT"
        assert ops.requires_certification(product.id)
        agency_id = db.session.scalar(sa.select(User.agency_id).where(User.email == SALES))
        assert not ops.agency_certified_for(agency_id, product.id), "the demo leaves QXT locked"
        course = ops.course_for_product(product.id)
        assert course is not None and course.published, "the demo has a published QXT course"
        answers = {q.id: q.correct_index for q in course.questions}
        course_id = course.id
        db.session.remove()
    return course_id, answers


def _quality_row(page, live_server) -> tuple[str, str]:
    page.goto(f"{live_server.url}/enablement/staff/quality")
    return (
        page.locator("[data-testid=satisfaction-AGGZ0001]").inner_text(),
        page.locator("[data-testid=answers-AGGZ0001]").inner_text(),
    )


def test_learn_certify_sell_and_get_rated(page, browser, live_server, sign_in):
    app = live_server.app
    course_id, answers = _qxt_course(app)

    # the channel manager's quality view before
    staff = browser.new_context(
        viewport={"width": 1366, "height": 900}, extra_http_headers={"Accept-Language": "en"}
    )
    manager = staff.new_page()
    sign_in(manager, CHANNEL)
    before_avg, before_answers = _quality_row(manager, live_server)

    # the agency user learns and passes
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in(page, SALES)
    page.goto(f"{live_server.url}/enablement/training")
    assert page.locator(f"[data-testid=course-{course_id}]").is_visible()
    screenshot(page, "enablement-training-zh")
    page.locator(f"[data-testid=course-{course_id}] a").click()
    expect(page.locator("h1")).to_contain_text("企信通")
    page.click("a.btn-primary[href$='/quiz']")
    for question_id, right in answers.items():
        page.check(f"input[name=q{question_id}][value='{right}']")
    screenshot(page, "enablement-quiz-zh")
    page.click("main form button[type=submit]")
    expect(page.locator("[data-testid=certified]")).to_be_visible()
    assert "已通过" in page.locator(".alert-success").first.inner_text()
    screenshot(page, "enablement-certified-zh")

    # … and registers a sale lead for the product it unlocked
    mobile = f"139{secrets.randbelow(10**8):08d}"
    page.locator("[data-testid=certified] a").click()
    assert "/leads/new" in page.url
    page.fill("input[name=customer_uscc]", make_uscc(900000 + secrets.randbelow(90000)))
    page.fill("input[name=customer_name]", "珠江物流集团有限公司")
    page.fill("input[name=contact_name]", "王芳")
    page.fill("input[name=contact_mobile]", mobile)
    assert page.locator("input[name=products][value=QXT]").is_checked()
    page.fill("input[name=expected_lines]", "20")
    page.fill("input[name=expected_monthly_revenue]", "4000.00")
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/leads/\d+$"))
    screenshot(page, "enablement-lead-registered-zh")
    assert page.locator("[data-testid=rejected]").count() == 0
    lead_id = int(re.search(r"/leads/(\d+)$", page.url).group(1))
    # the channel manager approves it and the operator's activation wins it
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert lead.product.code == "QXT" and lead.kind.value == "sale"
        assert lead.status.value == "submitted"
        channel_user = db.session.scalar(sa.select(User).where(User.email == CHANNEL))
        lead_ops.approve(lead, channel_user)
        lead_ops.mark_won(lead, f"BOSS-{secrets.token_hex(4)}")
        db.session.commit()
        db.session.remove()

    # the agency's own quality page before the customer answers
    page.goto(f"{live_server.url}/enablement/quality")
    agency_answers_before = int(page.locator("[data-testid=my-answers]").inner_text())

    # the customer answers the survey from the SMS link, without signing in, in English
    with app.app_context():
        body = db.session.scalar(
            sa.select(OutboxMessage.body).where(
                OutboxMessage.channel == "sms", OutboxMessage.recipient == mobile
            )
        )
        db.session.remove()
    assert body, "no survey SMS in the outbox"
    link = re.search(r"/survey/\S+", body).group(0)
    customer = browser.new_context(
        viewport={"width": 1366, "height": 900}, extra_http_headers={"Accept-Language": "zh-CN"}
    ).new_page()
    customer.goto(live_server.url + link)
    assert customer.locator("h1").inner_text() == "客户满意度调查"
    customer.click("nav button[value=en]")
    expect(customer.locator("h1")).to_have_text("Customer satisfaction survey")
    for dimension in ("product", "agent", "channel", "promotion", "relationship"):
        customer.check(f"input[name=score_{dimension}][value='1']")
    customer.fill("textarea[name=comment]", "Nobody called back after the activation.")
    screenshot(customer, "enablement-survey-en")
    customer.click("main form button[type=submit]")
    expect(customer.locator("[data-testid=survey-thanks]")).to_be_visible()
    screenshot(customer, "enablement-survey-thanks-en")
    customer.goto(live_server.url + link)
    expect(customer.locator("[data-testid=survey-used]")).to_be_visible()

    # the channel manager sees the quality signals change
    after_avg, after_answers = _quality_row(manager, live_server)
    assert int(after_answers) == int(before_answers) + 1
    assert float(after_avg) < float(before_avg)  # the demo has answers; this one gave 1s
    screenshot(manager, "enablement-quality-en")
    # the agency scorecard shows the same satisfaction average
    manager.locator("[data-testid=scorecard-AGGZ0001]").click()
    expect(manager.locator("main")).to_contain_text(after_avg)
    screenshot(manager, "enablement-agency-scorecard-en")
    staff.close()

    # … and so does the agency's own quality page
    page.goto(f"{live_server.url}/enablement/quality")
    expect(page.locator("h1")).to_have_text("本代理商的服务质量")
    assert int(page.locator("[data-testid=my-answers]").inner_text()) == agency_answers_before + 1
    expect(page.locator("[data-testid=my-satisfaction]")).to_have_text(after_avg)
    expect(page.locator("[data-testid=dimension-agent] td").nth(1)).not_to_have_text("–")
    screenshot(page, "enablement-agency-quality-zh")


def test_agency_home_materials_and_notices(page, live_server, sign_in):
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in(page, "owner@agency1.demo.local")
    assert page.locator("[data-testid=notices-panel]").is_visible()
    assert page.locator("[data-testid=training-panel]").is_visible()
    screenshot(page, "enablement-agency-home-zh")
    page.goto(f"{live_server.url}/enablement/materials")
    rows = page.locator("tbody tr[data-testid^=material-]")
    assert rows.count() >= 2
    assert "2025 夏季促销" not in page.content()  # expired
    assert "QXT price sheet 2026" not in page.content()  # English only
    screenshot(page, "enablement-materials-zh")
    with page.expect_download() as info:
        rows.first.locator("a").click()
    assert info.value.suggested_filename.endswith((".pdf", ".png"))
    page.goto(f"{live_server.url}/enablement/complaints")
    screenshot(page, "enablement-complaints-zh")
    page.goto(f"{live_server.url}/enablement/notices")
    unread = page.locator("article.enablement-unread").count()
    page.locator("article.enablement-unread form button").first.click()
    expect(page.locator("article.enablement-unread")).to_have_count(unread - 1)
    screenshot(page, "enablement-notices-zh")


def test_staff_enablement_pages(page, live_server, sign_in):
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in(page, CHANNEL)
    for path, name in (
        ("/", "home"),
        ("/enablement/staff", "hub"),
        ("/enablement/staff/materials", "materials"),
        ("/enablement/staff/products", "products"),
        ("/enablement/staff/complaints", "complaints"),
    ):
        page.goto(live_server.url + path)
        assert page.locator("h1").count() >= 1
        screenshot(page, f"enablement-staff-{name}-zh")
    with live_server.app.app_context():
        course_id = db.session.scalar(sa.select(Course.id).order_by(Course.id))
        db.session.remove()
    assert course_id is not None, "the demo has courses"
    page.goto(f"{live_server.url}/enablement/staff/courses/{course_id}")
    expect(page.locator("main")).to_contain_text("企信通")
    screenshot(page, "enablement-staff-course-zh")


def test_agency_quality_page_in_english(page, live_server, sign_in):
    page.set_extra_http_headers({"Accept-Language": "en"})
    sign_in(page, "owner@agency1.demo.local")
    panel = page.locator("[data-testid=agency-quality-panel]")
    expect(panel).to_be_visible()
    panel.locator("a[href='/enablement/quality']").click()
    expect(page.locator("h1")).to_have_text("Service quality of your agency")
    # the demo has answers and an open complaint for AGGZ0001
    assert int(page.locator("[data-testid=my-answers]").inner_text()) >= 2
    assert float(page.locator("[data-testid=my-satisfaction]").inner_text()) > 0
    assert int(page.locator("[data-testid=my-complaints-open]").inner_text()) >= 1
    expect(page.locator("[data-testid=my-dimensions] tbody tr")).to_have_count(5)
    expect(page.locator("nav")).to_contain_text("Service quality")
    screenshot(page, "enablement-agency-quality-en")
