"""Builders for enablement tests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core.time import today_shanghai
from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET
from portal.enablement import operations as ops
from portal.enablement.demo import make_pdf, make_png
from portal.enablement.models import MaterialLanguage
from tests.browser.conftest import (  # noqa: F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
)

PDF = make_pdf(["test material"])
PNG = make_png(20, 10)


class EnablementBuilder:
    def __init__(self, make):
        self.make = make

    def material(
        self,
        language=MaterialLanguage.BOTH,
        approved=True,
        valid_from=None,
        valid_until=None,
        product=None,
        data=PDF,
        title="Brochure",
        file_name="brochure.pdf",
    ):
        today = today_shanghai()
        return ops.upload_material(
            data,
            file_name,
            title=title,
            language=language,
            approved=approved,
            valid_from=valid_from or today - timedelta(days=1),
            valid_until=valid_until,
            product_id=product.id if product else None,
        )

    def course(self, product=None, questions=4, pass_mark=75, published=True, requires=False, months=12):
        product = product or self.make.product()
        if requires:
            ops.set_product_training(product.id, True, months)
        course = ops.create_course(product.id, f"Course {product.code}", "summary", pass_mark)
        ops.add_course_page(course, "Page one", "Read this.")
        for n in range(questions):
            ops.add_question(course, f"Question {n + 1}?", ["right", "wrong", "also wrong"], 0)
        if published:
            ops.update_course(course, published=True)
        return course


@pytest.fixture
def en(make):
    return EnablementBuilder(make)


def all_right(course) -> dict:
    return {f"q{q.id}": "0" for q in course.questions}


@pytest.fixture
def sign_in(live_server):  # noqa: F811 - uses the live_server fixture imported above
    """`sign_in(page, email)` through the real form and, for staff, the two-factor page. (The
    shared fixture clicks the first submit button of the page, which is the language switch on
    the two-factor page; this one clicks the button of the main form.)"""

    def _sign_in(page, email: str, password: str = DEMO_PASSWORD):
        page.goto(f"{live_server.url}/login")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("main form button[type=submit]")
        if "/login/two-factor" in page.url or "/login/enrol" in page.url:
            page.fill("input[name=code]", live_server.totp_code(email, DEMO_TOTP_SECRET))
            page.click("main form button[type=submit]")
        page.wait_for_load_state("load")
        assert "/login" not in page.url, f"sign-in of {email} failed"
        return page

    return _sign_in
