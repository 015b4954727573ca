"""Lead pages: registration, the agency's leads, the channel managers' approval queue, the account
managers' workspace, and the agency's API tokens. Thin: parse the form, call an operation, commit."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from catalog.models import Customer, Product, ProductStatus, Tier
from portal.api.auth import create_token, revoke_token
from portal.api.models import ApiToken, TokenKind
from portal.core.db import db
from portal.core.forms import EmptyForm
from portal.core.models import AGENCY_ROLES, Role, User
from portal.core.nav import register_home_panel, register_nav
from portal.core.permissions import get_scoped_or_404, roles_required, scope_clause, scoped, signed_in
from portal.core.time import today_shanghai
from portal.core.validators import normalise_uscc, uscc_problem
from portal.leads import operations as ops
from portal.leads import rules  # noqa: F401 - notification texts
from portal.leads.forms import (
    BulkApproveForm,
    ExtensionDecisionForm,
    LeadForm,
    OptionalReasonForm,
    ReasonForm,
    RouteForm,
    TokenForm,
    WonForm,
)
from portal.leads.models import Lead, LeadKind, LeadStatus
from portal.partners.models import Agency, AgencyStatus

bp = Blueprint("leads", __name__)

AGENCY = tuple(AGENCY_ROLES)
LIST_ROLES = (*AGENCY, Role.CHANNEL_MANAGER, Role.FINANCE, Role.ADMIN)
DECIDERS = (Role.CHANNEL_MANAGER, Role.ADMIN)
AM = (Role.ACCOUNT_MANAGER, Role.ADMIN)
TOKEN_ROLES = (Role.AGENCY_OWNER, Role.ADMIN)
PAGE_SIZE = 50
EXPIRING_DAYS = 14

STATUS_LABELS = {
    LeadStatus.SUBMITTED: _l("Submitted"),
    LeadStatus.APPROVED: _l("Approved (protected)"),
    LeadStatus.REJECTED: _l("Rejected"),
    LeadStatus.ROUTED: _l("Routed to account manager"),
    LeadStatus.ACCEPTED: _l("Accepted by account manager"),
    LeadStatus.WON: _l("Won"),
    LeadStatus.LOST: _l("Lost"),
    LeadStatus.EXPIRED: _l("Expired"),
}
KIND_LABELS = {LeadKind.SALE: _l("Sale"), LeadKind.REFERRAL: _l("Referral")}
ACTION_LABELS = {
    "submit": _l("Registered"),
    "approve": _l("Approved"),
    "reject": _l("Rejected"),
    "route": _l("Routed to an account manager"),
    "accept": _l("Accepted"),
    "win": _l("Won"),
    "lose": _l("Lost"),
    "expire": _l("Protection ended"),
    "request_extension": _l("Extension requested"),
    "grant_extension": _l("Extension granted"),
    "deny_extension": _l("Extension refused"),
}
STATUS_BADGES = {
    LeadStatus.SUBMITTED: "text-bg-info",
    LeadStatus.APPROVED: "text-bg-success",
    LeadStatus.REJECTED: "text-bg-secondary",
    LeadStatus.ROUTED: "text-bg-primary",
    LeadStatus.ACCEPTED: "text-bg-primary",
    LeadStatus.WON: "text-bg-success",
    LeadStatus.LOST: "text-bg-dark",
    LeadStatus.EXPIRED: "text-bg-warning",
}

register_nav("leads.index", _l("Leads"), LIST_ROLES, order=300, group="leads")
register_nav("leads.queue", _l("Lead approvals"), DECIDERS, order=320, group="leads")
register_nav("leads.referrals", _l("Referrals"), (Role.ACCOUNT_MANAGER,), order=330, group="leads")
register_nav("leads.my_customers", _l("My customers"), (Role.ACCOUNT_MANAGER,), order=340, group="leads")
register_nav("leads.tokens", _l("API tokens"), (Role.AGENCY_OWNER,), order=880, group="agency")
register_nav("leads.tokens", _l("API tokens"), (Role.ADMIN,), order=940, group="admin")  # staff: under Administration


@bp.record_once
def _labels(state):
    """Labels for templates and their macros (globals, so imported macros see them too)."""
    state.app.jinja_env.globals.update(
        lead_status_labels=STATUS_LABELS,
        lead_kind_labels=KIND_LABELS,
        lead_action_labels=ACTION_LABELS,
        lead_status_badges=STATUS_BADGES,
    )


# --- home panels ------------------------------------------------------------------------------


def _count(stmt) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0


def _agency_panel(user) -> dict:
    base = scoped(Lead, user)
    soon = today_shanghai() + timedelta(days=EXPIRING_DAYS)
    return {
        "live": _count(base.where(Lead.status.in_(ops.LIVE_STATUSES))),
        "expiring": _count(base.where(Lead.status == LeadStatus.APPROVED, Lead.protected_until <= soon)),
        "may_register": user.agency is not None and user.agency.status == AgencyStatus.ACTIVE,
    }


def _queue_panel(user) -> dict:
    return {"waiting": _count(_queue_stmt(user)), "extensions": _count(_extension_stmt(user))}


def _am_panel(user) -> dict:
    return {
        "routed": _count(
            sa.select(Lead).where(Lead.account_manager_id == user.id, Lead.status == LeadStatus.ROUTED)
        ),
        "accepted": _count(
            sa.select(Lead).where(Lead.account_manager_id == user.id, Lead.status == LeadStatus.ACCEPTED)
        ),
    }


register_home_panel("leads/panel_agency.html", AGENCY, _agency_panel, order=30)
register_home_panel("leads/panel_queue.html", (Role.CHANNEL_MANAGER,), _queue_panel, order=30)
register_home_panel("leads/panel_am.html", (Role.ACCOUNT_MANAGER,), _am_panel, order=30)


# --- registration -----------------------------------------------------------------------------


def _product_choices():
    products = db.session.scalars(
        sa.select(Product)
        .where(Product.status == ProductStatus.ACTIVE)
        .order_by(Product.category, Product.code)
    ).all()
    return products, [SelectChoice(p.code, p.code) for p in products]


@bp.route("/leads/new", methods=["GET", "POST"])
@roles_required(*AGENCY)
def new():
    agency = current_user.agency
    products, choices = _product_choices()
    form = LeadForm()
    form.products.choices = choices
    if request.method == "GET" and request.args.get("product"):
        form.products.data = [request.args["product"].upper()]
    rejected = []
    may_register = agency is not None and agency.status == AgencyStatus.ACTIVE
    if may_register and form.validate_on_submit():
        try:
            result = ops.register_leads(
                agency,
                current_user,
                form.customer_uscc.data,
                form.customer_name.data or "",
                form.contact_name.data,
                form.contact_mobile.data,
                form.products.data,
                form.expected_lines.data,
                form.expected_monthly_revenue.data,
                form.notes.data or "",
            )
        except ops.LeadError as exc:
            db.session.rollback()
            target = getattr(form, exc.field or "", None) or form.customer_uscc
            target.errors = [*target.errors, exc.message]
        else:
            db.session.commit()
            if result.leads:
                for lead in result.created:
                    flash(
                        _(
                            "Lead #%(id)s registered for %(product)s: %(status)s.",
                            id=lead.id,
                            product=lead.product.code,
                            status=STATUS_LABELS[lead.status],
                        ),
                        "success",
                    )
                for lead in result.existing:
                    flash(
                        _(
                            "You already registered %(product)s for this customer: lead #%(id)s.",
                            id=lead.id,
                            product=lead.product.code,
                        ),
                        "info",
                    )
                for rejection in result.rejected:
                    flash(f"{rejection.product}: {rejection.message}", "warning")
                if len(result.leads) == 1:
                    return redirect(url_for("leads.detail", lead_id=result.leads[0].id))
                return redirect(url_for("leads.index"))
            rejected = result.rejected
    elif request.method == "POST" and not may_register:
        flash(_("Your agency is not active: it cannot register leads."), "danger")
    return render_template(
        "leads/new.html",
        form=form,
        products=products,
        rejected=rejected,
        may_register=may_register,
        high=Tier.HIGH,
        protection_days=ops.protection_days(),
    )


@bp.route("/leads/customer-lookup")
@roles_required(*AGENCY, Role.CHANNEL_MANAGER, Role.ADMIN)
def customer_lookup():
    """JSON for the registration form: is the USCC valid, and is the customer known?"""
    uscc = normalise_uscc(request.args.get("uscc", ""))[:32]
    problem = uscc_problem(uscc)
    answer = {"uscc": uscc, "valid": problem is None, "problem": problem, "found": False}
    if problem is None:
        customer = db.session.scalar(sa.select(Customer).where(Customer.uscc == uscc))
        if customer is not None:
            answer.update(found=True, name=customer.name, named_account=customer.is_named_account)
    return jsonify(answer)


# --- lists ------------------------------------------------------------------------------------


def _lead_rows(where, page: int, with_agency: bool):
    """One page of the lead list as plain rows (only the columns the table shows), newest first.

    The page's ids are chosen on the leads table alone (index scans, no joins for the rows that
    OFFSET skips), then only those rows are joined to their customer, product and agency."""
    page_ids = (
        sa.select(Lead.id)
        .where(*where)
        .order_by(Lead.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    columns = [
        Lead.id,
        Lead.kind,
        Lead.status,
        Lead.protected_until,
        Lead.submitted_at,
        Customer.name.label("customer_name"),
        Customer.uscc.label("customer_uscc"),
        Product.code.label("product_code"),
    ]
    stmt = (
        sa.select(*columns)
        .join(Customer, Customer.id == Lead.customer_id)
        .join(Product, Product.id == Lead.product_id)
    )
    if with_agency:
        stmt = stmt.add_columns(Agency.name.label("agency_name"), Agency.code.label("agency_code")).join(
            Agency, Agency.id == Lead.agency_id
        )
    return db.session.execute(stmt.where(Lead.id.in_(page_ids)).order_by(Lead.id.desc())).all()


@bp.route("/leads")
@roles_required(*LIST_ROLES)
def index():
    status = request.args.get("status", "")
    product = (request.args.get("product") or "").strip().upper()
    expiring = request.args.get("expiring") == "1"
    page = max(1, request.args.get("page", 1, type=int) or 1)
    where = [scope_clause(Lead, current_user)]
    if status in {s.value for s in LeadStatus}:
        where.append(Lead.status == LeadStatus(status))
    else:
        status = ""
    if product:
        where.append(Lead.product_id.in_(sa.select(Product.id).where(Product.code == product)))
    if expiring:
        where += [
            Lead.status == LeadStatus.APPROVED,
            Lead.protected_until <= today_shanghai() + timedelta(days=EXPIRING_DAYS),
        ]
    is_agency = current_user.is_agency_user
    rows = _lead_rows(where, page, with_agency=not is_agency)
    more = len(rows) > PAGE_SIZE
    product_codes = db.session.scalars(sa.select(Product.code).order_by(Product.code)).all()
    return render_template(
        "leads/index.html",
        leads=rows[:PAGE_SIZE],
        more=more,
        page=page,
        status=status,
        product=product,
        expiring=expiring,
        product_codes=product_codes,
        statuses=list(LeadStatus),
        today=today_shanghai(),
        expiring_days=EXPIRING_DAYS,
        is_agency=is_agency,
        # Labels and the detail link once per request, not once per row.
        status_labels={s: str(label) for s, label in STATUS_LABELS.items()},
        kind_labels={k: str(label) for k, label in KIND_LABELS.items()},
        under_review=_("under review"),
        detail_prefix=url_for("leads.detail", lead_id=0).removesuffix("0"),
    )


@bp.route("/leads/<int(max=2147483647):lead_id>")
@signed_in
def detail(lead_id: int):
    lead = get_scoped_or_404(Lead, lead_id)
    route_form = RouteForm()
    route_form.account_manager.choices = _account_manager_choices(lead)
    return render_template(
        "leads/detail.html",
        lead=lead,
        reason_form=ReasonForm(),
        optional_form=OptionalReasonForm(),
        extension_form=ExtensionDecisionForm(),
        route_form=route_form,
        won_form=WonForm(),
        form=EmptyForm(),
        can_decide=current_user.role in DECIDERS,
        is_agency=current_user.role in AGENCY_ROLES,
        is_am=current_user.role in AM
        and (current_user.role == Role.ADMIN or lead.account_manager_id == current_user.id),
        today=today_shanghai(),
    )


def _account_manager_choices(lead: Lead):
    region_id = lead.customer.region_id or lead.agency.region_id
    pool = (
        ops.account_manager_pool(region_id)
        or db.session.scalars(
            sa.select(User)
            .where(User.role == Role.ACCOUNT_MANAGER, User.is_enabled.is_(True))
            .order_by(User.name)
        ).all()
    )
    return [SelectChoice(u.id, f"{u.name} ({u.email})") for u in pool]


def _queue_stmt(user):
    return scoped(Lead, user).where(Lead.status == LeadStatus.SUBMITTED).order_by(Lead.submitted_at, Lead.id)


def _extension_stmt(user):
    return (
        scoped(Lead, user)
        .where(
            Lead.status == LeadStatus.APPROVED,
            Lead.extension_requested_at.is_not(None),
            Lead.extension_decision.is_(None),
        )
        .order_by(Lead.extension_requested_at)
    )


@bp.route("/leads/queue")
@roles_required(*DECIDERS)
def queue():
    waiting = db.session.scalars(_queue_stmt(current_user).limit(500)).all()
    extensions = db.session.scalars(_extension_stmt(current_user).limit(500)).all()
    return render_template(
        "leads/queue.html",
        waiting=waiting,
        extensions=extensions,
        form=BulkApproveForm(),
        protection_days=ops.protection_days(),
        until=today_shanghai() + timedelta(days=ops.protection_days()),
    )


@bp.route("/leads/referrals")
@roles_required(*AM)
def referrals():
    stmt = scoped(Lead).where(Lead.kind == LeadKind.REFERRAL)
    if current_user.role == Role.ACCOUNT_MANAGER:
        stmt = stmt.where(Lead.account_manager_id == current_user.id)
    show = request.args.get("show", "open")
    status = request.args.get("status") or ""
    if status in (LeadStatus.ROUTED, LeadStatus.ACCEPTED):
        stmt = stmt.where(Lead.status == status)
    elif show != "all":
        stmt = stmt.where(Lead.status.in_((LeadStatus.ROUTED, LeadStatus.ACCEPTED)))
    rows = db.session.scalars(stmt.order_by(Lead.routed_at.desc(), Lead.id.desc()).limit(500)).all()
    return render_template("leads/referrals.html", leads=rows, show=show, status=status, form=EmptyForm())


@bp.route("/leads/my-customers")
@roles_required(*AM)
def my_customers():
    stmt = sa.select(Customer).order_by(Customer.name)
    if current_user.role == Role.ACCOUNT_MANAGER:
        stmt = stmt.where(Customer.account_manager_id == current_user.id)
    customers = db.session.scalars(stmt.limit(500)).all()
    leads_by_customer: dict[int, list[Lead]] = {c.id: [] for c in customers}
    if customers:
        for lead in db.session.scalars(
            sa.select(Lead).where(Lead.customer_id.in_(list(leads_by_customer))).order_by(Lead.id.desc())
        ):
            leads_by_customer[lead.customer_id].append(lead)
    return render_template(
        "leads/my_customers.html", customers=customers, leads_by_customer=leads_by_customer
    )


# --- decisions --------------------------------------------------------------------------------


def _act(lead_id: int, action, success: str):
    """Run `action(lead)` on a lead the user may see; flash the outcome; back to the lead."""
    lead = get_scoped_or_404(Lead, lead_id)
    try:
        action(lead)
    except ops.LeadError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for("leads.detail", lead_id=lead_id))


def _form_error(form, lead_id: int):
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "danger")
    return redirect(url_for("leads.detail", lead_id=lead_id))


@bp.route("/leads/<int(max=2147483647):lead_id>/approve", methods=["POST"])
@roles_required(*DECIDERS)
def approve(lead_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    return _act(lead_id, lambda lead: ops.approve(lead, current_user), _("The lead was approved."))


@bp.route("/leads/<int(max=2147483647):lead_id>/reject", methods=["POST"])
@roles_required(*DECIDERS)
def reject(lead_id: int):
    get_scoped_or_404(Lead, lead_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _form_error(form, lead_id)
    return _act(
        lead_id, lambda lead: ops.reject(lead, current_user, form.reason.data), _("The lead was rejected.")
    )


@bp.route("/leads/bulk-approve", methods=["POST"])
@roles_required(*DECIDERS)
def bulk_approve():
    form = BulkApproveForm()
    if not form.validate_on_submit():
        flash(_("Choose the leads to approve."), "warning")
        return redirect(url_for("leads.queue"))
    ids = [i for i in (form.lead_ids.data or []) if isinstance(i, int)][:500]
    leads = db.session.scalars(scoped(Lead).where(Lead.id.in_(ids)).order_by(Lead.id)).all() if ids else []
    done, skipped = ops.approve_many(leads, current_user)
    db.session.commit()
    if done:
        flash(_("%(n)s leads approved.", n=len(done)), "success")
    if skipped or not done:
        flash(
            _(
                "%(n)s leads could not be approved (already decided, or referrals).",
                n=len(skipped) + (len(ids) - len(leads)),
            ),
            "warning",
        )
    return redirect(url_for("leads.queue"))


@bp.route("/leads/<int(max=2147483647):lead_id>/route", methods=["POST"])
@roles_required(*DECIDERS)
def route(lead_id: int):
    lead = get_scoped_or_404(Lead, lead_id)
    form = RouteForm()
    form.account_manager.choices = _account_manager_choices(lead)
    if not form.validate_on_submit():
        return _form_error(form, lead_id)
    manager = db.session.get(User, form.account_manager.data)
    return _act(
        lead_id,
        lambda lead: ops.route(lead, manager, current_user),
        _("The referral was routed to the account manager."),
    )


@bp.route("/leads/<int(max=2147483647):lead_id>/extension", methods=["POST"])
@roles_required(*AGENCY)
def request_extension(lead_id: int):
    get_scoped_or_404(Lead, lead_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _form_error(form, lead_id)
    return _act(
        lead_id,
        lambda lead: ops.request_extension(lead, current_user, form.reason.data),
        _("The extension was requested; the channel manager decides."),
    )


@bp.route("/leads/<int(max=2147483647):lead_id>/extension/decide", methods=["POST"])
@roles_required(*DECIDERS)
def decide_extension(lead_id: int):
    get_scoped_or_404(Lead, lead_id)
    form = ExtensionDecisionForm()
    if not form.validate_on_submit():
        return _form_error(form, lead_id)
    grant = form.decision.data == "grant"
    return _act(
        lead_id,
        lambda lead: ops.decide_extension(lead, current_user, grant, form.reason.data or ""),
        _("The extension was granted.") if grant else _("The extension was refused."),
    )


@bp.route("/leads/<int(max=2147483647):lead_id>/accept", methods=["POST"])
@roles_required(*AM)
def accept(lead_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    return _act(lead_id, lambda lead: ops.accept(lead, current_user), _("The referral was accepted."))


@bp.route("/leads/<int(max=2147483647):lead_id>/won", methods=["POST"])
@roles_required(*AM)
def won(lead_id: int):
    lead = get_scoped_or_404(Lead, lead_id)
    form = WonForm()
    if not form.validate_on_submit():
        return _form_error(form, lead_id)
    if current_user.role == Role.ACCOUNT_MANAGER and lead.account_manager_id != current_user.id:
        abort(404)
    return _act(
        lead_id,
        lambda lead: ops.mark_won(lead, form.order_id.data or None, current_user),
        _("The lead was marked won."),
    )


@bp.route("/leads/<int(max=2147483647):lead_id>/lost", methods=["POST"])
@roles_required(*AGENCY, *AM)
def lost(lead_id: int):
    get_scoped_or_404(Lead, lead_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _form_error(form, lead_id)
    return _act(
        lead_id,
        lambda lead: ops.mark_lost(lead, current_user, form.reason.data),
        _("The lead was marked lost."),
    )


# --- API tokens -------------------------------------------------------------------------------


def _token_scope():
    stmt = sa.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    if current_user.role != Role.ADMIN:
        stmt = stmt.where(ApiToken.kind == TokenKind.AGENCY, ApiToken.agency_id == current_user.agency_id)
    return stmt


@bp.route("/settings/api-tokens", methods=["GET", "POST"])
@roles_required(*TOKEN_ROLES)
def tokens():
    form = TokenForm()
    new_token = None
    is_admin = current_user.role == Role.ADMIN
    if form.validate_on_submit():
        # Administrators create integration tokens; agency owners their agency's tokens.
        agency = None if is_admin else db.session.get(Agency, current_user.agency_id)
        _row, new_token = create_token(
            TokenKind.INTEGRATION if is_admin else TokenKind.AGENCY,
            form.name.data,
            agency=agency,
            created_by=current_user,
        )
        db.session.commit()
        form = TokenForm(formdata=None)
    rows = db.session.scalars(_token_scope().limit(200)).all()
    return render_template(
        "leads/tokens.html", form=form, tokens=rows, new_token=new_token, is_admin=is_admin, post=EmptyForm()
    )


@bp.route("/settings/api-tokens/<int(max=2147483647):token_id>/revoke", methods=["POST"])
@roles_required(*TOKEN_ROLES)
def revoke(token_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    token = db.session.scalar(_token_scope().where(ApiToken.id == token_id))
    if token is None:
        abort(404)
    revoke_token(token)
    db.session.commit()
    flash(_("The token was revoked."), "success")
    return redirect(url_for("leads.tokens"))
