"""The whole journeys of the portal's three users, each on a portal of its own: a fresh database
with the demo data, served on a free port, driven in headless Chromium (issue 9, item 2)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from commissions.ingest.parsing import ACTIVATION_COLUMNS, BILLING_COLUMNS
from tests.browser.conftest import (  # noqa: F401 - the browser fixtures
    browser_context_args,
    browser_type_launch_args,
    demo_portal,
    screenshot,
    sign_in_through_the_form,
)


@pytest.fixture
def portal(tmp_path):
    """A portal of this journey's own (nothing another test did is in it)."""
    with demo_portal(tmp_path) as server:
        yield server


class Actor:
    """One person in the journey: a browser context of their own, signed in through the form."""

    def __init__(self, browser, portal, email: str | None, password: str | None = None, lang: str = "en"):
        """`email` None: a visitor who is not signed in."""
        self.portal = portal
        self.context = browser.new_context(
            viewport={"width": 1366, "height": 900}, extra_http_headers={"Accept-Language": lang}
        )
        self.page = self.context.new_page()
        self.page.on("dialog", lambda dialog: dialog.accept())  # data-confirm buttons
        self.email = email
        if email is not None:
            sign_in_through_the_form(self.page, portal, email, *([password] if password else []))

    def go(self, path: str):
        self.page.goto(self.portal.url + path)
        self.page.wait_for_load_state("load")
        return self.page

    def click(self, selector: str):
        self.page.click(selector)
        self.page.wait_for_load_state("load")
        return self.page

    def flash(self) -> str:
        return " ".join(self.page.locator(".alert").all_inner_texts())

    def shot(self, name: str) -> Path:
        return screenshot(self.page, f"journey-{name}")


@pytest.fixture
def actor(browser, portal):
    made = []

    def _actor(email: str | None, password: str | None = None, lang: str = "en") -> Actor:
        person = Actor(browser, portal, email, password, lang)
        made.append(person)
        return person

    yield _actor
    for person in made:
        person.context.close()


def csv_file(path: Path, header, rows) -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def activations_file(path: Path, rows) -> Path:
    return csv_file(path, ACTIVATION_COLUMNS, rows)


def billing_file(path: Path, rows) -> Path:
    return csv_file(path, BILLING_COLUMNS, rows)


def finance_imports(finance: Actor, kind: str, path: Path, expect_inserted: int) -> None:
    """Finance uploads a file on the imports page, reads the preview, applies it."""
    page = finance.go("/imports")
    page.select_option("select[name=kind]", kind)
    page.set_input_files("input[name=file]", str(path))
    finance.click("main form button[type=submit]:has-text('Check the file')")
    assert page.locator("[data-import-status=previewed]").is_visible()
    assert page.locator("[data-count=rejected]").inner_text() == "0"
    assert page.locator("[data-count=inserted]").inner_text() == str(expect_inserted)
    finance.click("main form button[type=submit]:has-text('Apply')")
    assert page.locator("[data-import-status=applied]").is_visible(), finance.flash()
