"""Commission pages: finance (periods, plans, exceptions, disputes), channel managers (attribution
conflicts) and agency owners (statements, lines, disputes). Agency sales users see no money."""

from __future__ import annotations

import io
from decimal import Decimal

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from catalog.models import Product
from commissions import rules  # noqa: F401 - notification texts and hooks
from commissions.attribution import (
    REASON_LABELS,
    AttributionError,
    exceptions_query,
    may_resolve,
    resolve_conflict,
)
from commissions.calculation import PlanValueError, mult_to_u, parse_period, u_to_mult, u_to_rate
from commissions.disputes import DisputeError, accept_dispute, may_dispute, open_dispute, reject_dispute
from commissions.engine import run_period, run_problems
from commissions.exports import export
from commissions.forms import (
    AcceptDisputeForm,
    DisputeForm,
    MultiplierForm,
    PeriodForm,
    RejectDisputeForm,
    ResolveConflictForm,
    RuleForm,
    SettingsForm,
)
from commissions.ingest.models import Activation
from commissions.models import (
    Attribution,
    CommissionRule,
    Component,
    Dispute,
    DisputeStatus,
    GradeMultiplier,
    Line,
    Period,
    Statement,
    StatementStatus,
)
from commissions.periods import PeriodError, close_period, close_problems, ensure_period, get_period
from commissions.plans import (
    PlanError,
    RuleTerms,
    delete_rule,
    save_multiplier,
    save_rule,
    save_settings,
    settings,
)
from commissions.statements import (
    COMPONENT_LABELS,
    HOLD_LABELS,
    STATUS_LABELS,
    LineExplainer,
    StatementError,
    approve_period,
    approve_statement,
    publish_period,
)
from portal.core.db import db
from portal.core.forms import EmptyForm
from portal.core.models import Role
from portal.core.money import fen_to_yuan
from portal.core.nav import register_nav
from portal.core.permissions import get_scoped_or_404, roles_required

bp = Blueprint("commissions", __name__, url_prefix="/commissions")

FINANCE = (Role.FINANCE, Role.ADMIN)
OWNER = (Role.AGENCY_OWNER,)
DISPUTE_READERS = (Role.FINANCE, Role.ADMIN, Role.AGENCY_OWNER)
EXCEPTION_READERS = (Role.FINANCE, Role.ADMIN, Role.CHANNEL_MANAGER)
PAGE = 100
LINES_PAGE = 50  # lines of a statement per page (with filters and next/previous)
STATUS_BADGE = {"draft": "secondary", "published": "info", "approved": "primary", "paid": "success"}

register_nav("commissions.periods", _l("Periods"), FINANCE, order=60, group="money")
register_nav("commissions.plans", _l("Plans"), FINANCE, order=61, group="money")
register_nav("commissions.exceptions", _l("Exceptions"), EXCEPTION_READERS, order=62, group="money")
register_nav("commissions.disputes", _l("Disputes"), DISPUTE_READERS, order=63, group="money")
register_nav("commissions.statements", _l("Statements"), OWNER, order=60, group="money")

LABELS = {"status": STATUS_LABELS, "hold": HOLD_LABELS, "component": COMPONENT_LABELS, "reason": REASON_LABELS}


def _period_or_404(period: str) -> str:
    try:
        return parse_period(period)
    except PlanValueError:
        abort(404)


def _ctx(**kw):
    return {"labels": LABELS, "explain": LineExplainer(), **kw}  # one per page: texts translated once


# --- finance: periods ----------------------------------------------------------------------------

@bp.route("/periods")
@roles_required(*FINANCE)
def periods():
    rows = db.session.scalars(sa.select(Period).order_by(Period.period.desc())).all()
    totals = {p: (n, s, earned) for p, n, s, earned in db.session.execute(
        sa.select(Statement.period, sa.func.count(), sa.func.coalesce(sa.func.sum(Statement.payable_fen), 0),
                  sa.func.coalesce(sa.func.sum(Statement.earned_fen), 0)).group_by(Statement.period))}
    return render_template("commissions/periods.html", **_ctx(periods=rows, totals=totals, form=PeriodForm(),
                                                              action=EmptyForm()))


def _start_run(period: str):
    problems = run_problems(period)
    if problems:
        for p in problems:
            flash(p, "danger")
        return redirect(url_for("commissions.period", period=period))
    ensure_period(period)
    try:
        from commissions.jobs import enqueue, job_url
    except ImportError:  # no job runner: run in the request
        try:
            result = run_period(period)
        except PeriodError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for("commissions.period", period=period))
        db.session.commit()
        flash(_("Period %(period)s computed: %(lines)s lines, %(statements)s statements.", period=period,
                lines=result["lines"], statements=result["statements"]), "success")
        return redirect(url_for("commissions.period", period=period))
    job = enqueue("commissions.run", {"period": period}, current_user)
    return redirect(job_url(job))


@bp.route("/periods/run", methods=["POST"])
@roles_required(*FINANCE)
def run_new():
    form = PeriodForm()
    if not form.validate_on_submit():
        flash(_("Give a period as YYYY-MM."), "danger")
        return redirect(url_for("commissions.periods"))
    try:
        period = parse_period(form.period.data)
    except PlanValueError:
        flash(_("Give a period as YYYY-MM."), "danger")
        return redirect(url_for("commissions.periods"))
    return _start_run(period)


@bp.route("/periods/<period>")
@roles_required(*FINANCE)
def period(period: str):
    period = _period_or_404(period)
    row = get_period(period)
    statements = db.session.scalars(sa.select(Statement).where(Statement.period == period)
                                    .order_by(Statement.agency_id)).all()
    disputes = {sid: n for sid, n in db.session.execute(
        sa.select(Dispute.statement_id, sa.func.count()).where(Dispute.period == period,
                                                              Dispute.status == DisputeStatus.OPEN)
        .group_by(Dispute.statement_id))}
    by_component = db.session.execute(
        sa.select(Line.component, sa.func.count(), sa.func.sum(Line.amount_fen)).where(Line.period == period)
        .group_by(Line.component).order_by(Line.component)).all()
    late = db.session.scalar(sa.select(sa.func.count()).select_from(Line).where(
        Line.period == period, Line.source_period != Line.period))
    return render_template("commissions/period.html", **_ctx(
        period=period, row=row, statements=statements, disputes=disputes, by_component=by_component, late=late,
        problems=run_problems(period), close_problems=close_problems(row) if row else [], action=EmptyForm(),
        filtered=_filtered_lines(period)))


FILTERED_LINES_SHOWN = 200


def _filtered_lines(period: str) -> dict | None:
    """The period's lines of one component and/or one product (`?component=&product=`, the lists
    behind the finance dashboard's bars): the count, the total and the first lines."""
    component = request.args.get("component") or ""
    product = (request.args.get("product") or "").strip().upper()
    if component not in {c.value for c in Component}:
        component = ""
    if not component and not product:
        return None
    where = [Line.period == period]
    if component:
        where.append(Line.component == component)
    if product:
        where.append(Line.order_id.in_(sa.select(Activation.order_id).where(Activation.product_code == product)))
    count, total = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(Line.amount_fen), 0)).where(*where)).one()
    lines = db.session.scalars(sa.select(Line).where(*where).order_by(Line.agency_id, Line.order_id, Line.id)
                               .limit(FILTERED_LINES_SHOWN)).all()
    return {"component": component, "product": product, "count": count, "total": total, "lines": lines}


@bp.route("/periods/<period>/run", methods=["POST"])
@roles_required(*FINANCE)
def run(period: str):
    return _start_run(_period_or_404(period))


@bp.route("/periods/<period>/publish", methods=["POST"])
@roles_required(*FINANCE)
def publish(period: str):
    period = _period_or_404(period)
    try:
        n = publish_period(period)
    except StatementError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("%(n)s statements published.", n=n), "success")
    return redirect(url_for("commissions.period", period=period))


@bp.route("/periods/<period>/approve", methods=["POST"])
@roles_required(*FINANCE)
def approve(period: str):
    period = _period_or_404(period)
    approved, skipped = approve_period(period, current_user)
    db.session.commit()
    flash(_("%(n)s statements approved.", n=approved), "success")
    if skipped:
        flash(_("%(n)s statements have an open dispute and were not approved.", n=len(skipped)), "warning")
    return redirect(url_for("commissions.period", period=period))


@bp.route("/periods/<period>/close", methods=["POST"])
@roles_required(*FINANCE)
def close(period: str):
    period = _period_or_404(period)
    try:
        close_period(period, current_user)
    except PeriodError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("Period %(period)s closed.", period=period), "success")
    return redirect(url_for("commissions.period", period=period))


@bp.route("/periods/<period>/export/<kind>.<fmt>")
@roles_required(*FINANCE)
def export_file(period: str, kind: str, fmt: str):
    period = _period_or_404(period)
    if kind not in ("lines", "statements") or fmt not in ("csv", "xlsx"):
        abort(404)
    buffer = io.BytesIO()
    export(kind, period, fmt, buffer)
    buffer.seek(0)
    mimetype = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(buffer, mimetype=mimetype, as_attachment=True, download_name=f"{kind}-{period}.{fmt}")


@bp.route("/statement/<int:statement_id>")
@roles_required(*FINANCE)
def staff_statement(statement_id: int):
    statement = db.session.get(Statement, statement_id) or abort(404)
    return _statement_page(statement, staff=True)


@bp.route("/statement/<int:statement_id>/approve", methods=["POST"])
@roles_required(*FINANCE)
def approve_one(statement_id: int):
    statement = db.session.get(Statement, statement_id) or abort(404)
    try:
        approve_statement(statement, current_user)
    except StatementError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("Statement approved."), "success")
    return redirect(url_for("commissions.staff_statement", statement_id=statement_id))


# --- finance: plans ------------------------------------------------------------------------------

@bp.route("/plans")
@roles_required(*FINANCE)
def plans():
    rules_ = db.session.scalars(sa.select(CommissionRule).join(Product, Product.id == CommissionRule.product_id)
                                .order_by(Product.code, CommissionRule.effective_from)).all()
    multipliers = db.session.scalars(sa.select(GradeMultiplier).order_by(GradeMultiplier.effective_from.desc(),
                                                                         GradeMultiplier.grade)).all()
    current = settings()
    settings_form = SettingsForm(min_payout=fen_to_yuan(current.min_payout_fen))
    return render_template("commissions/plans.html", **_ctx(
        rules=rules_, multipliers=multipliers, settings=current, settings_form=settings_form,
        multiplier_form=MultiplierForm(), action=EmptyForm(), u_to_rate=u_to_rate, u_to_mult=u_to_mult))


def _rule_form(rule: CommissionRule | None):
    form = RuleForm(obj=None)
    form.product.choices = [SelectChoice(p.code, f"{p.code} · {p.name_en}") for p in
                            db.session.scalars(sa.select(Product).order_by(Product.code))]
    if rule is not None and request.method == "GET":
        form.product.data = rule.product.code
        form.version.data = rule.version
        form.effective_from.data = rule.effective_from
        form.effective_to.data = rule.effective_to
        form.one_off_per_unit.data = fen_to_yuan(rule.one_off_per_unit_fen)
        form.one_off_rate.data = u_to_rate(rule.one_off_rate_u)
        form.share_rate.data = u_to_rate(rule.share_rate_u)
        form.share_months.data = rule.share_months
        form.clawback_days.data = rule.clawback_days
        form.referral_bounty.data = fen_to_yuan(rule.referral_bounty_fen)
    return form


def _rule_edit(rule: CommissionRule | None):
    form = _rule_form(rule)
    if form.validate_on_submit():
        product = db.session.scalar(sa.select(Product).where(Product.code == form.product.data))
        try:
            terms = RuleTerms(version=form.version.data.strip(), effective_from=form.effective_from.data,
                              effective_to=form.effective_to.data,
                              one_off_per_unit=Decimal(form.one_off_per_unit.data),
                              one_off_rate=Decimal(form.one_off_rate.data), share_rate=Decimal(form.share_rate.data),
                              share_months=form.share_months.data, clawback_days=form.clawback_days.data,
                              referral_bounty=Decimal(form.referral_bounty.data))
            if terms.effective_to is not None and terms.effective_to < terms.effective_from:
                raise PlanError(_("The end date is before the start date."), field="effective_to")
            save_rule(product, terms, rule)
        except PlanError as exc:
            db.session.rollback()
            target = getattr(form, exc.field or "", None) or form.version
            target.errors = [*target.errors, exc.message] if isinstance(target.errors, list) else [exc.message]
        else:
            db.session.commit()
            flash(_("Rule %(version)s of %(product)s saved.", version=terms.version, product=product.code), "success")
            return redirect(url_for("commissions.plans"))
    return render_template("commissions/rule_form.html", **_ctx(form=form, rule=rule))


@bp.route("/plans/rules/new", methods=["GET", "POST"])
@roles_required(*FINANCE)
def rule_new():
    return _rule_edit(None)


@bp.route("/plans/rules/<int:rule_id>", methods=["GET", "POST"])
@roles_required(*FINANCE)
def rule_edit(rule_id: int):
    return _rule_edit(db.session.get(CommissionRule, rule_id) or abort(404))


@bp.route("/plans/rules/<int:rule_id>/delete", methods=["POST"])
@roles_required(*FINANCE)
def rule_delete(rule_id: int):
    rule = db.session.get(CommissionRule, rule_id) or abort(404)
    try:
        delete_rule(rule)
    except PlanError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("Rule deleted."), "success")
    return redirect(url_for("commissions.plans"))


@bp.route("/plans/multipliers", methods=["POST"])
@roles_required(*FINANCE)
def multiplier_save():
    form = MultiplierForm()
    if form.validate_on_submit():
        try:
            save_multiplier(form.grade.data, form.effective_from.data, Decimal(form.multiplier.data))
            if Decimal(form.multiplier.data) != u_to_mult(mult_to_u(Decimal(form.multiplier.data))):
                raise PlanError(_("At most four decimal places."))
        except PlanError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        else:
            db.session.commit()
            flash(_("Multiplier saved."), "success")
    else:
        flash(_("Give a grade, a date and a multiplier between 0 and 10."), "danger")
    return redirect(url_for("commissions.plans"))


@bp.route("/plans/settings", methods=["POST"])
@roles_required(*FINANCE)
def settings_save():
    form = SettingsForm()
    if form.validate_on_submit():
        save_settings(Decimal(form.min_payout.data))
        db.session.commit()
        flash(_("Minimum payout saved."), "success")
    else:
        flash(_("Give the minimum payout in yuan."), "danger")
    return redirect(url_for("commissions.plans"))


# --- exceptions ------------------------------------------------------------------------------------

@bp.route("/exceptions")
@roles_required(*EXCEPTION_READERS)
def exceptions():
    rows = db.session.scalars(exceptions_query(current_user).limit(500)).all()
    forms = {}
    for row in rows:
        if may_resolve(current_user, row):
            form = ResolveConflictForm(prefix=f"r{row.id}")
            form.agency.choices = [SelectChoice(a.id, f"{a.code} · {a.name}")
                                   for a in (row.agency, row.candidate_agency) if a]
            forms[row.id] = form
    return render_template("commissions/exceptions.html", **_ctx(rows=rows, forms=forms, action=EmptyForm()))


@bp.route("/exceptions/<int:attribution_id>/resolve", methods=["POST"])
@roles_required(Role.CHANNEL_MANAGER, Role.ADMIN)
def resolve(attribution_id: int):
    row = db.session.get(Attribution, attribution_id) or abort(404)
    form = ResolveConflictForm(prefix=f"r{row.id}")
    form.agency.choices = [SelectChoice(a.id, a.code) for a in (row.agency, row.candidate_agency) if a]
    if not form.validate_on_submit():
        flash(_("Choose one of the two agencies."), "danger")
        return redirect(url_for("commissions.exceptions"))
    try:
        resolve_conflict(row, form.agency.data, current_user)
    except AttributionError as exc:
        db.session.rollback()
        if exc.code == "forbidden":
            abort(404)
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("The sale is attributed. The next run of its period computes its lines."), "success")
    return redirect(url_for("commissions.exceptions"))


@bp.route("/exceptions/recheck", methods=["POST"])
@roles_required(*FINANCE)
def recheck():
    from commissions.attribution import attribute_pending

    attribute_pending()
    db.session.commit()
    flash(_("Exceptions checked again against the current products, agencies and rules."), "success")
    return redirect(url_for("commissions.exceptions"))


# --- disputes --------------------------------------------------------------------------------------

@bp.route("/disputes")
@roles_required(*DISPUTE_READERS)
def disputes():
    status = request.args.get("status") or ("open" if current_user.role in FINANCE else "")
    stmt = sa.select(Dispute).order_by(Dispute.opened_at.desc())
    if current_user.role == Role.AGENCY_OWNER:
        stmt = stmt.where(Dispute.agency_id == current_user.agency_id)
    if status in {s.value for s in DisputeStatus}:
        stmt = stmt.where(Dispute.status == status)
    rows = db.session.scalars(stmt.limit(PAGE)).all()
    return render_template("commissions/disputes.html", **_ctx(rows=rows, status=status, statuses=list(DisputeStatus)))


@bp.route("/disputes/<int:dispute_id>")
@roles_required(*DISPUTE_READERS)
def dispute(dispute_id: int):
    row = get_scoped_or_404(Dispute, dispute_id)
    return render_template("commissions/dispute.html", **_ctx(
        dispute=row, accept_form=AcceptDisputeForm(),
        reject_form=RejectDisputeForm(prefix="reject")))


@bp.route("/disputes/<int:dispute_id>/accept", methods=["POST"])
@roles_required(*FINANCE)
def dispute_accept(dispute_id: int):
    row = db.session.get(Dispute, dispute_id) or abort(404)
    form = AcceptDisputeForm()
    if not form.validate_on_submit():
        flash(_("Give the amount of the adjustment and a reason."), "danger")
        return redirect(url_for("commissions.dispute", dispute_id=dispute_id))
    try:
        line = accept_dispute(row, int(Decimal(form.amount.data) * 100), form.reason.data, current_user)
    except DisputeError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("Dispute accepted: an adjustment is booked in %(period)s.", period=line.period), "success")
    return redirect(url_for("commissions.dispute", dispute_id=dispute_id))


@bp.route("/disputes/<int:dispute_id>/reject", methods=["POST"])
@roles_required(*FINANCE)
def dispute_reject(dispute_id: int):
    row = db.session.get(Dispute, dispute_id) or abort(404)
    form = RejectDisputeForm(prefix="reject")
    if not form.validate_on_submit():
        flash(_("Give the reason for rejecting."), "danger")
        return redirect(url_for("commissions.dispute", dispute_id=dispute_id))
    try:
        reject_dispute(row, form.reason.data, current_user)
    except DisputeError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(_("Dispute rejected."), "success")
    return redirect(url_for("commissions.dispute", dispute_id=dispute_id))


# --- agency owners: statements ----------------------------------------------------------------------

VISIBLE = (StatementStatus.PUBLISHED, StatementStatus.APPROVED, StatementStatus.PAID)


def _chart(statements) -> dict:
    """An "earned by month" bar chart drawn as SVG on the server (no script, no CDN)."""
    points = sorted(statements, key=lambda s: s.period)[-12:]
    width, height, pad = 640, 220, 30
    if not points:
        return {"bars": [], "width": width, "height": height, "zero": height - pad}
    top = max(max(s.earned_fen for s in points), 0)
    bottom = min(min(s.earned_fen for s in points), 0)
    span = (top - bottom) or 1
    plot = height - 2 * pad
    zero = pad + plot * top / span
    step = (width - 2 * pad) / len(points)
    bars = []
    for i, s in enumerate(points):
        h = plot * abs(s.earned_fen) / span
        y = zero - h if s.earned_fen >= 0 else zero
        bars.append({"x": round(pad + i * step + step * 0.15, 1), "y": round(y, 1), "w": round(step * 0.7, 1),
                     "h": round(max(h, 1), 1), "label": s.period, "value": s.earned_fen,
                     "negative": s.earned_fen < 0, "cx": round(pad + i * step + step / 2, 1)})
    return {"bars": bars, "width": width, "height": height, "zero": round(zero, 1)}


# The agency's statements, as rows of the columns the list shows (ORM objects of every column cost
# three times as much), built once.
_STATEMENT_LIST = (
    sa.select(Statement.period, Statement.status, Statement.hold_reason, Statement.opening_fen, Statement.earned_fen,
              Statement.payable_fen, Statement.carried_fen)
    .where(Statement.agency_id == sa.bindparam("agency_id"), Statement.status.in_(VISIBLE))
    .order_by(Statement.period.desc())
)


@bp.route("/statements")
@roles_required(*OWNER)
def statements():
    rows = db.session.execute(_STATEMENT_LIST, {"agency_id": current_user.agency_id}).all()
    # labels translated once per request, not once per row (an agency has a statement a month)
    return render_template("commissions/statements.html", **_ctx(
        statements=rows, chart=_chart(rows), status_names={k: str(v) for k, v in STATUS_LABELS.items()},
        hold_names={k: str(v) for k, v in HOLD_LABELS.items()}, badge_class=STATUS_BADGE,
        statement_url=url_for("commissions.statement", period="PERIOD").removesuffix("PERIOD")))


@bp.route("/statements/<period>")
@roles_required(*OWNER)
def statement(period: str):
    period = _period_or_404(period)
    row = db.session.scalar(sa.select(Statement).where(
        Statement.agency_id == current_user.agency_id, Statement.period == period, Statement.status.in_(VISIBLE)))
    if row is None:
        abort(404)
    return _statement_page(row, staff=False)


def _latest_dispute(column):
    """A line's latest dispute's `column` (None without one), for the statement page's rows."""
    return (sa.select(column).where(Dispute.line_id == Line.id).order_by(Dispute.id.desc()).limit(1)
            .correlate(Line).scalar_subquery())


# What a statement page shows and explains of each line, as rows (50 ORM objects of every column
# cost three times as much), with the line's latest dispute (no second query).
_LINE_COLUMNS = (
    Line.id, Line.order_id, Line.component, Line.period, Line.source_period, Line.accrual_date, Line.amount_fen,
    Line.basis_fen, Line.prior_fen, Line.rate_u, Line.multiplier_u, Line.grade, Line.rule_version, Line.quantity,
    Line.unit_fen, Line.note, (Line.source_period != Line.period).label("is_late"),
    _latest_dispute(Dispute.id).label("dispute_id"), _latest_dispute(Dispute.status).label("dispute_status"),
)


def _statement_page(row: Statement, staff: bool):
    component = request.args.get("component") or ""
    order = (request.args.get("order") or "").strip()
    stmt = sa.select(*_LINE_COLUMNS).where(Line.period == row.period, Line.agency_id == row.agency_id)
    if component in {c.value for c in Component}:
        stmt = stmt.where(Line.component == component)
    if order:
        stmt = stmt.where(Line.order_id.contains(order, autoescape=True))
    page = max(request.args.get("page", 1, type=int), 1)
    lines = db.session.execute(stmt.order_by(Line.order_id, Line.component, Line.source_period, Line.id)
                               .offset((page - 1) * LINES_PAGE).limit(LINES_PAGE + 1)).all()
    more = len(lines) > LINES_PAGE
    lines = lines[:LINES_PAGE]
    can_dispute = {ln.id for ln in lines if not staff and ln.dispute_id is None and may_dispute(ln, row)}
    component_names = {c: str(label) for c, label in COMPONENT_LABELS.items()}  # translated once, not per line
    return render_template("commissions/statement.html", **_ctx(
        statement=row, lines=lines, component=component, order=order, page=page, more=more, staff=staff,
        can_dispute=can_dispute, components=list(Component), action=EmptyForm(),
        component_names=component_names))


@bp.route("/lines/<int:line_id>/dispute", methods=["GET", "POST"])
@roles_required(*OWNER)
def dispute_line(line_id: int):
    line = get_scoped_or_404(Line, line_id)
    from commissions.disputes import statement_of

    statement_row = statement_of(line)
    if statement_row is None or statement_row.status not in VISIBLE:
        abort(404)
    form = DisputeForm()
    if form.validate_on_submit():
        try:
            row = open_dispute(line, form.comment.data, current_user)
        except DisputeError as exc:
            db.session.rollback()
            form.comment.errors = [exc.message]
        else:
            db.session.commit()
            flash(_("Your dispute was sent to finance."), "success")
            return redirect(url_for("commissions.dispute", dispute_id=row.id))
    return render_template("commissions/dispute_new.html", **_ctx(line=line, form=form, statement=statement_row))


@bp.app_template_filter("yuan_rate")
def _rate_filter(units) -> str:
    return "" if units is None else f"{(u_to_rate(units) * 100).normalize():f}%"

