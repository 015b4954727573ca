"""Finance uploads an activations file, sees the preview with a rejected row, confirms, sees the report."""

from __future__ import annotations

import time

import pytest

from commissions.ingest.parsing import ACTIVATION_COLUMNS
from tests.browser.conftest import screenshot
from tests.ingest.conftest import activation, csv_bytes

pytestmark = pytest.mark.browser


def test_finance_uploads_previews_and_applies(page, live_server, sign_in, tmp_path):
    tag = f"BR{int(time.time() * 1000) % 10_000_000:07d}"
    rows = [
        activation(f"{tag}-1", product_code="GRP-SMS", agent_code="AGGZ0001", activated_at="2026-11-06T10:00:00"),
        activation(f"{tag}-2", product_code="NO-SUCH", agent_code="AGGZ0001"),
        activation(f"{tag}-3", product_code="ENT-MAIL", agent_code="AGSZ0001", monthly_fee="50.00"),
    ]
    path = tmp_path / "activations-2026-11.csv"
    path.write_bytes(csv_bytes(ACTIVATION_COLUMNS, rows))

    page.set_extra_http_headers({"Accept-Language": "en"})
    sign_in(page, "finance@demo.local")
    screenshot(page, "ingest-0-home")
    if page.locator("nav button[value=en]").count():
        page.click("nav button[value=en]")
        page.wait_for_load_state("load")
    page.click("nav #menu-money")  # the Commissions menu
    page.click("nav a[href='/imports']")
    assert page.url.endswith("/imports")
    page.select_option("select[name=kind]", "activations")
    page.set_input_files("input[name=file]", str(path))
    screenshot(page, "ingest-1-upload")
    page.click("main form button[type=submit]:has-text('Check the file')")
    page.wait_for_load_state("load")

    assert page.locator("[data-import-status=previewed]").is_visible()
    assert page.locator("[data-count=read]").inner_text() == "3"
    assert page.locator("[data-count=inserted]").inner_text() == "2"
    assert page.locator("[data-count=rejected]").inner_text() == "1"
    rejected = page.locator("[data-rejections] tbody tr")
    assert rejected.count() == 1
    assert rejected.first.inner_text().split("\t")[:2] == ["3", f"{tag}-2"]
    assert "unknown product NO-SUCH" in rejected.first.inner_text()
    screenshot(page, "ingest-2-preview")

    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.click("button:has-text('Apply the good rows, skip 1 rejected')")
    page.wait_for_load_state("load")
    assert messages and "skip the 1 rejected" in messages[0]
    assert page.locator("[data-import-status=applied]").is_visible()
    assert page.locator("[data-count=inserted]").inner_text() == "2"
    assert page.locator("[data-count=rejected]").inner_text() == "1"
    screenshot(page, "ingest-3-applied")

    page.click("main a:has-text('Imports')")
    assert page.locator("table tbody tr").first.locator("td").nth(3).inner_text() == "Applied"
    screenshot(page, "ingest-4-list")


def test_job_progress_page_renders(page, live_server, sign_in):
    from commissions import jobs
    from portal.core.db import db

    with live_server.app.app_context():
        jobs.register_job("test.browser", lambda job, params, progress: {"url": "/imports"})
        job = jobs.enqueue("test.browser", {}, None)
        job_id = job.id
        db.session.remove()
    page.set_extra_http_headers({"Accept-Language": "zh-CN"})
    sign_in(page, "finance@demo.local")
    page.goto(f"{live_server.url}/jobs/{job_id}")
    page.wait_for_url(f"{live_server.url}/imports")  # a finished job goes on to its result

    def fails(job, params, progress):
        progress(45)
        raise jobs.JobError("period 2026-10 is closed")

    with live_server.app.app_context():
        jobs.register_job("test.browser_fails", fails)
        failed_id = jobs.enqueue("test.browser_fails", {}, None).id
        db.session.remove()
    page.goto(f"{live_server.url}/jobs/{failed_id}")
    page.wait_for_load_state("load")
    assert page.locator("[data-job-error]").is_visible()
    assert "period 2026-10 is closed" in page.locator("[data-job-error]").inner_text()
    screenshot(page, "ingest-5-job-failed")
