"""Builders for enablement tests."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.core.time import today_shanghai
from portal.enablement import operations as ops
from portal.enablement.demo import make_pdf, make_png
from portal.enablement.models import MaterialLanguage
from tests.browser.conftest import (  # noqa: F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
    sign_in,
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


