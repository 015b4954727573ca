"""The finance upload page: preview (nothing stored), then apply; the job page."""

from __future__ import annotations

import io

import sqlalchemy as sa

from commissions.ingest.models import Activation, ImportRun, ImportStatus
from commissions.ingest.parsing import ACTIVATION_COLUMNS
from commissions.jobs import Job, JobStatus
from portal.core.db import db
from portal.core.models import Role
from tests.ingest.conftest import activation, csv_bytes


def _upload(client, data: bytes, kind="activations", name="acts.csv"):
    return client.post("/imports", data={"kind": kind, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers={"Accept-Language": "en"})


def _count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(Activation))


def test_preview_then_confirm_applies_good_rows(client, login, make, catalog):
    login(make.user(Role.FINANCE))
    data = csv_bytes(ACTIVATION_COLUMNS, [activation("UI-1"), activation("UI-2", product_code="NOPE"),
                                          activation("UI-3")])
    response = _upload(client, data)
    assert response.status_code == 302
    run = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert response.headers["Location"].endswith(f"/imports/{run.id}")
    assert run.status == ImportStatus.PREVIEWED and run.rejected == 1 and run.inserted == 2
    assert _count() == 0  # a preview stores nothing
    page = client.get(f"/imports/{run.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "unknown product NOPE" in page and "Apply the good rows, skip 1 rejected" in page

    # without the confirmation nothing happens
    response = client.post(f"/imports/{run.id}/apply", data={}, headers={"Accept-Language": "en"})
    assert response.status_code == 302 and _count() == 0
    response = client.post(f"/imports/{run.id}/apply", data={"confirm": "skip-bad"})
    assert response.status_code == 302
    db.session.refresh(run)
    assert run.status == ImportStatus.APPLIED and run.inserted == 2 and run.rejected == 1
    assert sorted(db.session.scalars(sa.select(Activation.order_id))) == ["UI-1", "UI-3"]
    page = client.get(f"/imports/{run.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Applied" in page and "line" not in page.lower().split("rejected rows")[0][-5:]
    # applying twice is refused
    client.post(f"/imports/{run.id}/apply", data={"confirm": "skip-bad"})
    assert _count() == 2


def test_clean_file_applies_without_confirmation_and_discard(client, login, make, catalog):
    login(make.user(Role.FINANCE))
    _upload(client, csv_bytes(ACTIVATION_COLUMNS, [activation("UI-9")]))
    run = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert run.rejected == 0
    client.post(f"/imports/{run.id}/apply", data={})
    db.session.refresh(run)
    assert run.status == ImportStatus.APPLIED and _count() == 1

    _upload(client, csv_bytes(ACTIVATION_COLUMNS, [activation("UI-10")]))
    run = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
    response = client.post(f"/imports/{run.id}/discard", data={})
    assert response.status_code == 302
    db.session.refresh(run)
    assert run.status == ImportStatus.DISCARDED and _count() == 1


def test_unreadable_file_is_reported(client, login, make, catalog):
    login(make.user(Role.FINANCE))
    _upload(client, b"order_id,foo\nX,1\n")
    run = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert run.status == ImportStatus.FAILED
    page = client.get(f"/imports/{run.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "The first row must be exactly: order_id,uscc" in page


def test_upload_page_lists_runs_and_needs_a_file(client, login, make):
    login(make.user(Role.FINANCE))
    response = client.get("/imports", headers={"Accept-Language": "en"})
    assert response.status_code == 200 and "Upload a file" in response.get_data(as_text=True)
    response = client.post("/imports", data={"kind": "activations"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "Choose a file." in response.get_data(as_text=True)


def test_only_finance_may_import(client, login, make):
    for role in (Role.ADMIN, Role.CHANNEL_MANAGER, Role.AGENCY_OWNER):
        login(make.user(role))
        assert client.get("/imports").status_code == 403


def test_job_page_json_and_html(client, login, make, catalog):
    login(make.user(Role.FINANCE))
    _upload(client, csv_bytes(ACTIVATION_COLUMNS, [activation("UI-20")]))
    job = db.session.scalars(sa.select(Job).order_by(Job.id.desc())).first()
    assert job.status == JobStatus.DONE
    state = client.get(f"/jobs/{job.id}", headers={"Accept": "application/json"}).get_json()
    assert state["status"] == "done" and state["progress"] == 100 and state["url"].startswith("/imports/")
    html = client.get(f"/jobs/{job.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "data-job-poll" in html and "jobs.js" in html
    assert client.get("/jobs/999999", headers={"Accept": "application/json"}).status_code == 404
