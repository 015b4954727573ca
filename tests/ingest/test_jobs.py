"""The background-job runner: results, failures that leave nothing applied, progress while running."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from commissions import jobs
from commissions.ingest.models import Activation
from commissions.jobs import Job, JobStatus
from portal.core.db import db
from portal.core.models import Role
from tests.ingest.conftest import USCC_A


def _add_activation(order_id):
    from datetime import UTC, date, datetime

    db.session.add(Activation(order_id=order_id, uscc=USCC_A, customer_name="x", product_code="ING-LOW",
                              agent_code=None, quantity=1, monthly_fee_fen=1, one_time_fee_fen=0,
                              activated_at=datetime(2026, 10, 1, tzinfo=UTC), activation_date=date(2026, 10, 1)))
    db.session.flush()


def test_failed_job_applies_nothing_and_reports(client, login, make, catalog):
    user = make.user(Role.FINANCE)

    def half_then_fail(job, params, progress):
        _add_activation("JOB-HALF")
        progress(50)
        raise jobs.JobError("the disk is full")

    jobs.register_job("test.half_then_fail", half_then_fail)
    job = jobs.enqueue("test.half_then_fail", {"x": 1}, user)
    assert job.status == JobStatus.FAILED and job.message == "the disk is full" and job.finished_at
    assert db.session.scalar(sa.select(Activation).where(Activation.order_id == "JOB-HALF")) is None
    login(user)
    state = client.get(f"/jobs/{job.id}", headers={"Accept": "application/json"}).get_json()
    assert (state["status"], state["finished"], state["message"]) == ("failed", True, "the disk is full")


def test_done_job_commits_its_work_and_result(make, catalog):
    def work(job, params, progress):
        _add_activation(params["order"])
        progress(40)
        return {"order": params["order"]}

    jobs.register_job("test.work", work)
    job = jobs.enqueue("test.work", {"order": "JOB-OK"}, make.user(Role.FINANCE))
    assert job.status == JobStatus.DONE and job.progress == 100 and job.result == {"order": "JOB-OK"}
    assert db.session.scalar(sa.select(Activation.order_id).where(Activation.order_id == "JOB-OK")) == "JOB-OK"


def test_progress_is_visible_while_the_job_runs(client, login, make):
    user = make.user(Role.FINANCE)
    login(user)
    seen = []

    def slow(job, params, progress):
        progress(37)
        seen.append(client.get(f"/jobs/{job.id}", headers={"Accept": "application/json"}).get_json())
        return

    jobs.register_job("test.slow", slow)
    job = jobs.enqueue("test.slow", {}, user)
    assert seen[0]["status"] == "running" and seen[0]["progress"] == 37 and not seen[0]["finished"]
    assert job.status == JobStatus.DONE


def test_background_thread_runner_survives_polling(isolated_app):
    """The in-process fallback: the job runs in a thread; the page polls its progress; it ends."""
    from tests.factories import Builder

    isolated_app.config["JOBS_SYNC"] = False
    release = threading.Event()

    def waits(job, params, progress):
        progress(60)
        assert release.wait(20)
        return {"ok": True}

    jobs.register_job("test.thread", waits)
    with isolated_app.app_context():
        user = Builder().user(Role.FINANCE)
        db.session.commit()
        assert jobs.runner_mode() == "thread"
        job = jobs.enqueue("test.thread", {}, user)
        job_id, user_id = job.id, user.get_id()
    client = isolated_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user_id
        session["_fresh"] = True
    state = None
    for _ in range(100):
        state = client.get(f"/jobs/{job_id}", headers={"Accept": "application/json"}).get_json()
        if state["progress"] == 60:
            break
        time.sleep(0.05)
    assert state["status"] == "running" and state["progress"] == 60
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)  # a reload shows the same state
    assert "60%" in html
    release.set()
    for _ in range(100):
        state = client.get(f"/jobs/{job_id}", headers={"Accept": "application/json"}).get_json()
        if state["finished"]:
            break
        time.sleep(0.05)
    assert state["status"] == "done" and state["result"] == {"ok": True}
    with isolated_app.app_context():
        assert db.session.get(Job, job_id).status == JobStatus.DONE
