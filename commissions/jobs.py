"""Background jobs: long work (imports, period runs) off the request, with progress the UI polls.

    job = enqueue("ingest.apply", {"run_id": 7}, user)   # commits the current transaction
    register_job("ingest.apply", fn)                       # fn(job, params, progress) -> dict | None

`fn` does its work in the job's own transaction: the runner commits when `fn` returns and rolls
everything back when it raises, so a failed job leaves nothing half-applied. `progress(percent,
message=None)` is recorded apart from that transaction, so the progress page can show it while
the work is still uncommitted. A result dict may carry `url`: the progress page goes there when
the job is done.

Runners:
- `REDIS_URL` set: an RQ queue named "portal"; `portal jobs worker` runs a worker (in-process
  `SimpleWorker`, inside the app context). Progress goes to the `jobs` row through a separate
  connection (PostgreSQL) as the job runs.
- otherwise the in-process fallback: a daemon thread in the web process. Jobs in flight are
  lost if the process stops (their row stays `running`; `portal jobs fail-stale` marks them
  failed). Progress is kept in memory for the polling page and, on PostgreSQL, in the row too.
- `TESTING` (unless `JOBS_SYNC` is False): the job runs synchronously inside `enqueue`.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import click
import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, render_template, request
from flask.cli import with_appcontext
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm as so

from portal.core.context import Actor, reset_actor, set_actor
from portal.core.db import UTCDateTime, db, utcnow
from portal.core.models import Role
from portal.core.permissions import roles_required

log = logging.getLogger("portal.jobs")

QUEUE_NAME = "portal"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


STATUS_LABELS = {
    JobStatus.QUEUED: _l("Queued"),
    JobStatus.RUNNING: _l("Running"),
    JobStatus.DONE: _l("Done"),
    JobStatus.FAILED: _l("Failed"),
}


class Job(db.Model):
    __tablename__ = "jobs"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    params: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    status: so.Mapped[JobStatus] = so.mapped_column(
        sa.Enum(JobStatus, native_enum=False, length=16, values_callable=lambda x: [m.value for m in x]),
        default=JobStatus.QUEUED, index=True)
    progress: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    message: so.Mapped[str | None] = so.mapped_column(sa.Text)
    result: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    started_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    finished_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    def as_dict(self) -> dict[str, Any]:
        progress, message = _LIVE.get(self.id, (None, None)) if self.status == JobStatus.RUNNING else (None, None)
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "status_label": str(STATUS_LABELS[self.status]),
            "progress": max(self.progress or 0, progress or 0),
            "message": (message if progress is not None and progress >= (self.progress or 0) else None)
            or self.message,
            "result": self.result,
            "url": (self.result or {}).get("url") if self.status == JobStatus.DONE else None,
            "finished": self.finished,
        }

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status}>"


JobFunction = Any  # Callable[[Job, dict, Progress], dict | None]
JOB_FUNCTIONS: dict[str, JobFunction] = {}
_LIVE: dict[int, tuple[int, str | None]] = {}  # in-process progress of running jobs


class JobError(RuntimeError):
    """A job failed for a reason worth showing to the user."""


JOB_LABELS: dict[str, Any] = {}


def register_job(kind: str, fn: JobFunction, label=None) -> None:
    """`label`: a lazy text naming the work on the progress page (else the kind is shown)."""
    JOB_FUNCTIONS[kind] = fn
    if label is not None:
        JOB_LABELS[kind] = label


def enqueue(kind: str, params: dict | None, user=None) -> Job:
    """Create the job row, commit (the worker must see it, with whatever the caller added to
    the transaction), and hand it to the runner. Under TESTING the job has run when this returns."""
    if kind not in JOB_FUNCTIONS:
        raise JobError(f"unknown job kind {kind!r}")
    job = Job(kind=kind, params=dict(params or {}), status=JobStatus.QUEUED, progress=0,
              created_by_id=getattr(user, "id", None))
    db.session.add(job)
    db.session.commit()
    _dispatch(job.id)
    db.session.refresh(job)
    return job


def runner_mode(app=None) -> str:
    app = app or current_app
    if app.config.get("REDIS_URL") and not app.config.get("JOBS_SYNC"):
        return "rq"
    if app.config.get("JOBS_SYNC", app.config.get("TESTING", False)):
        return "sync"
    return "thread"


def _dispatch(job_id: int) -> None:
    mode = runner_mode()
    if mode == "sync":
        run_job(job_id)
    elif mode == "rq":
        queue = _rq_queue()
        queue.enqueue("commissions.jobs.rq_entry", job_id, job_id=f"portal-job-{job_id}",
                      job_timeout=6 * 3600, result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600)
    else:
        app = current_app._get_current_object()

        def target():
            with app.app_context():
                try:
                    run_job(job_id)
                finally:
                    db.session.remove()

        threading.Thread(target=target, name=f"portal-job-{job_id}", daemon=True).start()


def _rq_queue():
    from redis import Redis
    from rq import Queue

    return Queue(QUEUE_NAME, connection=Redis.from_url(current_app.config["REDIS_URL"]))


def rq_entry(job_id: int) -> None:
    """What the RQ worker calls (inside the app context of `portal jobs worker`)."""
    run_job(job_id)


class Progress:
    """`progress(percent, message=None)`: throttled, written outside the job's transaction."""

    def __init__(self, job_id: int, separate_connection: bool):
        self.job_id = job_id
        self.separate = separate_connection
        self.last_percent = -1
        self.last_write = 0.0
        self.history: list[int] = []

    def __call__(self, percent: float, message: str | None = None) -> None:
        percent = int(max(0, min(99, percent)))
        now = time.monotonic()
        if percent == self.last_percent and message is None:
            return
        if percent < self.last_percent + 1 and now - self.last_write < 0.5 and message is None:
            return
        self.last_percent, self.last_write = percent, now
        self.history.append(percent)
        _LIVE[self.job_id] = (percent, message)
        if self.separate:
            try:
                with db.engine.begin() as conn:
                    values = {"progress": percent}
                    if message is not None:
                        values["message"] = message[:1000]
                    conn.execute(sa.update(Job.__table__).where(Job.__table__.c.id == self.job_id).values(**values))
            except sa.exc.SQLAlchemyError:  # progress is advisory; never fail the job for it
                log.warning("job %s: could not record progress", self.job_id, exc_info=True)


def run_job(job_id: int) -> None:
    """Run one queued job to the end: done with its result, or failed with nothing applied."""
    job = db.session.get(Job, job_id)
    if job is None or job.status != JobStatus.QUEUED:
        return
    job.status = JobStatus.RUNNING
    job.started_at = utcnow()
    db.session.commit()
    fn = JOB_FUNCTIONS.get(job.kind)
    user_label = f"job {job.id} ({job.kind})"
    token = set_actor(Actor(user_id=job.created_by_id, label=user_label))
    separate = runner_mode() != "sync" and db.engine.dialect.name != "sqlite"
    progress = Progress(job.id, separate)
    try:
        if fn is None:
            raise JobError(f"unknown job kind {job.kind!r}")
        result = fn(job, dict(job.params or {}), progress)
        job = db.session.get(Job, job_id)
        job.status = JobStatus.DONE
        job.progress = 100
        job.result = result or {}
        job.finished_at = utcnow()
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        log.warning("job %s (%s) failed: %s", job_id, getattr(job, "kind", "?"), exc,
                    exc_info=not isinstance(exc, JobError))
        job = db.session.get(Job, job_id)
        job.status = JobStatus.FAILED
        job.progress = max(job.progress or 0, progress.last_percent)
        job.message = (str(exc) or exc.__class__.__name__)[:1000]
        job.finished_at = utcnow()
        db.session.commit()
    finally:
        reset_actor(token)
        _LIVE.pop(job_id, None)


def fail_stale(max_age: timedelta = timedelta(hours=6)) -> int:
    """Mark jobs failed that have been running longer than `max_age` (a stopped process)."""
    cutoff = utcnow() - max_age
    rows = db.session.scalars(sa.select(Job).where(Job.status == JobStatus.RUNNING, Job.started_at < cutoff)).all()
    for job in rows:
        job.status = JobStatus.FAILED
        job.message = "stopped: the process running this job ended"
        job.finished_at = utcnow()
    db.session.flush()
    return len(rows)


# --- pages ---------------------------------------------------------------------------------

bp = Blueprint("jobs", __name__)  # nested into the ingest blueprint: endpoints "ingest.jobs.*"

JOB_VIEWERS = (Role.FINANCE, Role.ADMIN)


def wants_json() -> bool:
    if request.args.get("format") == "json":
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes["application/json"] > \
        request.accept_mimetypes["text/html"]


@bp.route("/jobs/<int:job_id>")
@roles_required(*JOB_VIEWERS)
def show(job_id: int):
    job = db.session.get(Job, job_id)
    if job is None:
        if wants_json():
            return jsonify({"error": {"code": "not_found", "message": "no such job"}}), 404
        from flask import abort

        abort(404)
    if wants_json():
        return jsonify(job.as_dict())
    return render_template("jobs/show.html", job=job, state=job.as_dict(), labels=STATUS_LABELS,
                           title=JOB_LABELS.get(job.kind, job.kind))


def job_url(job: Job) -> str:
    from flask import url_for

    return url_for("ingest.jobs.show", job_id=job.id)


# --- command line --------------------------------------------------------------------------

@click.group("jobs")
def jobs_cli():
    """Background jobs (imports, period runs)."""


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@with_appcontext
def worker_command(burst: bool):
    """Run an RQ worker for the portal queue (needs REDIS_URL)."""
    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: jobs run in the web process (in-process fallback).")
    from rq import SimpleWorker

    queue = _rq_queue()
    worker = SimpleWorker([queue], connection=queue.connection)
    worker.work(burst=burst)


@jobs_cli.command("fail-stale")
@click.option("--hours", default=6, show_default=True, help="Running longer than this means stopped.")
@with_appcontext
def fail_stale_command(hours: int):
    """Mark jobs failed whose process ended while they ran."""
    count = fail_stale(timedelta(hours=hours))
    db.session.commit()
    click.echo(f"{count} job(s) marked failed")


def register_cli(app) -> None:
    app.cli.add_command(jobs_cli)
