"""Finance pages of the ingest: upload → preview (the report, nothing stored) → apply or discard.

Files are checked and applied by background jobs (commissions.jobs), so a 1,000,000-row file
never holds a request; the job page shows progress and then this page's report."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from commissions import jobs
from commissions.ingest import operations as ops
from commissions.ingest.models import ImportKind, ImportRun, ImportSource, ImportStatus
from commissions.ingest.parsing import ACTIVATION_COLUMNS, BILLING_COLUMNS, IngestFileError
from portal.core.db import db
from portal.core.forms import EmptyForm
from portal.core.models import Role
from portal.core.nav import register_nav
from portal.core.permissions import roles_required

bp = Blueprint("ingest", __name__)
bp.register_blueprint(jobs.bp)

register_nav("ingest.index", _l("Imports"), [Role.FINANCE], order=59, group="money")

FINANCE = (Role.FINANCE,)
SHOWN_REJECTIONS = 1000

KIND_LABELS = {ImportKind.ACTIVATIONS: _l("Activations"), ImportKind.BILLING: _l("Billing")}
STATUS_LABELS = {
    ImportStatus.UPLOADED: _l("Checking"),
    ImportStatus.PREVIEWED: _l("Preview — nothing stored yet"),
    ImportStatus.APPLIED: _l("Applied"),
    ImportStatus.REFUSED: _l("Refused — nothing stored"),
    ImportStatus.FAILED: _l("Unreadable file — nothing stored"),
    ImportStatus.DISCARDED: _l("Discarded"),
}
SOURCE_LABELS = {ImportSource.UI: _l("upload"), ImportSource.CLI: _l("command line"), ImportSource.API: _l("API"),
                 ImportSource.DEMO: _l("demo")}


class UploadForm(FlaskForm):
    kind = SelectField(_l("What the file holds"), choices=[
        SelectChoice(ImportKind.ACTIVATIONS.value, _l("Activations")),
        SelectChoice(ImportKind.BILLING.value, _l("Billing"))])
    file = FileField(_l("CSV or XLSX file"), validators=[FileRequired(_l("Choose a file."))])


@bp.route("/imports", methods=["GET", "POST"])
@roles_required(*FINANCE)
def index():
    form = UploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        name, size = ops.store_upload(upload.stream)
        if size == 0:
            form.file.errors.append(_("The file is empty."))
        else:
            run = ops.new_run(form.kind.data, ImportSource.UI, filename=upload.filename or "upload",
                              user=current_user, stored_file=name, file_size=size)
            job = jobs.enqueue("ingest.preview", {"run_id": run.id}, current_user)
            return redirect(_after_job(job, run))
    runs = db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc()).limit(50)).all()
    status = 400 if request.method == "POST" else 200
    return render_template("ingest/index.html", form=form, runs=runs, kinds=KIND_LABELS, statuses=STATUS_LABELS,
                           sources=SOURCE_LABELS, activation_columns=",".join(ACTIVATION_COLUMNS),
                           billing_columns=",".join(BILLING_COLUMNS)), status


def _after_job(job, run) -> str:
    """Where to go after starting a job: its result when it already finished, else its progress page."""
    if job.status == jobs.JobStatus.DONE:
        return url_for("ingest.show", run_id=run.id)
    return jobs.job_url(job)


def _run_or_404(run_id: int) -> ImportRun:
    run = db.session.get(ImportRun, run_id)
    if run is None:
        abort(404)
    return run


@bp.route("/imports/<int:run_id>")
@roles_required(*FINANCE)
def show(run_id: int):
    run = _run_or_404(run_id)
    job = db.session.get(jobs.Job, run.job_id) if run.job_id else None
    error = None
    if run.status == ImportStatus.FAILED and run.error:
        error = IngestFileError(run.error["code"], **(run.error.get("params") or {})).text()
    rejections = [(line, order_id, ops.rejection_text(code, params))
                  for line, order_id, code, params in (run.rejections or [])[:SHOWN_REJECTIONS]]
    return render_template("ingest/show.html", run=run, job=job, error=error, rejections=rejections,
                           shown=SHOWN_REJECTIONS, form=EmptyForm(), kinds=KIND_LABELS, statuses=STATUS_LABELS,
                           sources=SOURCE_LABELS, Status=ImportStatus, JobStatus=jobs.JobStatus)


@bp.route("/imports/<int:run_id>/rejections.csv")
@roles_required(*FINANCE)
def rejections_csv(run_id: int):
    """Every rejected row of the import (the page lists the first SHOWN_REJECTIONS), streamed."""
    run = _run_or_404(run_id)
    chunks = (text.encode("utf-8") for text in ops.rejection_csv_chunks(run))
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f"attachment; filename=import-{run.id}-rejections.csv"
    return response


@bp.route("/imports/<int:run_id>/apply", methods=["POST"])
@roles_required(*FINANCE)
def apply(run_id: int):
    run = _run_or_404(run_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    if run.status != ImportStatus.PREVIEWED:
        flash(_("Only a previewed import can be applied."), "warning")
        return redirect(url_for("ingest.show", run_id=run.id))
    confirmed = request.form.get("confirm") == "skip-bad"
    if run.previewed_rejected and not confirmed:
        flash(_("Some rows are rejected: confirm that the good rows should be applied without them."), "warning")
        return redirect(url_for("ingest.show", run_id=run.id))
    job = jobs.enqueue("ingest.apply", {"run_id": run.id, "skip_bad": bool(run.previewed_rejected),
                                        "expected_rejected": run.previewed_rejected or 0}, current_user)
    return redirect(_after_job(job, run))


@bp.route("/imports/<int:run_id>/discard", methods=["POST"])
@roles_required(*FINANCE)
def discard(run_id: int):
    run = _run_or_404(run_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        ops.discard(run)
    except ops.ImportRefused:
        flash(_("This import was applied; it cannot be discarded."), "warning")
        return redirect(url_for("ingest.show", run_id=run.id))
    db.session.commit()
    flash(_("The upload was discarded; nothing was stored."), "info")
    return redirect(url_for("ingest.index"))
