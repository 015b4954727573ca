"""Agency pages: the public application, the applicant's and owner's pages, the channel
manager's review and agency management. Views are thin: form → operation → commit → redirect."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

import portal.partners.rules  # noqa: F401 - notification texts
from portal.core.db import db
from portal.core.forms import EmptyForm, NewPasswordForm
from portal.core.models import AuditLog, Role, User
from portal.core.nav import register_home_panel, register_nav
from portal.core.operations import OperationError
from portal.core.permissions import agency_required, get_scoped_or_404, public, roles_required, scoped
from portal.core.time import today_shanghai
from portal.partners import operations as ops
from portal.partners import scorecard
from portal.partners.forms import (
    GRADE_LABELS,
    ApplicationForm,
    ApproveForm,
    GradeForm,
    InfoRequestForm,
    InviteForm,
    ReasonForm,
    ResubmitForm,
    TransferForm,
)
from portal.partners.licences import licence_path
from portal.partners.models import Agency, AgencyGrade, AgencyStatus, Grade

bp = Blueprint("partners", __name__)

STAFF_VIEWERS = (Role.CHANNEL_MANAGER, Role.ADMIN, Role.FINANCE)
LICENCE_READERS = (Role.AGENCY_OWNER, Role.AGENCY_SALES, Role.CHANNEL_MANAGER, Role.ADMIN)

STATUS_LABELS = {
    AgencyStatus.PENDING: _l("Pending"),
    AgencyStatus.ACTIVE: _l("Active"),
    AgencyStatus.SUSPENDED: _l("Suspended"),
    AgencyStatus.REJECTED: _l("Rejected"),
    AgencyStatus.TERMINATED: _l("Terminated"),
}
STATUS_BADGES = {
    AgencyStatus.PENDING: "bg-warning text-dark",
    AgencyStatus.ACTIVE: "bg-success",
    AgencyStatus.SUSPENDED: "bg-secondary",
    AgencyStatus.REJECTED: "bg-danger",
    AgencyStatus.TERMINATED: "bg-dark",
}
OUTCOME_LABELS = {
    None: _l("Waiting for review"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "info_requested": _l("More information requested"),
}

FIELD_LABELS = {
    "name": _l("Company name"),
    "uscc": _l("Unified social credit code"),
    "legal_representative": _l("Legal representative"),
    "contact_name": _l("Contact name"),
    "mobile": _l("Mobile phone"),
    "email": _l("E-mail"),
    "region": _l("Region"),
    "address": _l("Business address"),
    "business_scope": _l("Business scope"),
    "licence_filename": _l("Business licence"),
}

register_nav("partners.applications", _l("Applications"), [Role.CHANNEL_MANAGER], order=200, group="partners")
register_nav("partners.agencies", _l("Agencies"), [Role.CHANNEL_MANAGER, Role.ADMIN, Role.FINANCE], order=210,
             group="partners")
register_nav("partners.my_agency", _l("My agency"), [Role.AGENCY_OWNER, Role.AGENCY_SALES], order=200, group="agency")
register_nav("partners.agency_users", _l("Users"), [Role.AGENCY_OWNER], order=210, group="agency")


def _channel_panel(user) -> dict:
    return {"pending_count": ops.count_applications_waiting(user)}


def _agency_panel(user) -> dict:
    return {"agency": user.agency}


register_home_panel("partners/_panel_channel.html", [Role.CHANNEL_MANAGER], _channel_panel, order=20)
register_home_panel(
    "partners/_panel_agency.html", [Role.AGENCY_OWNER, Role.AGENCY_SALES], _agency_panel, order=10
)


@bp.app_context_processor
def _labels():
    return {
        "agency_status_label": lambda s: STATUS_LABELS.get(s, s),
        "agency_status_badge": lambda s: STATUS_BADGES.get(s, "bg-light text-dark"),
        "grade_label": lambda g: GRADE_LABELS.get(g, "–") if g else "–",
        "round_outcome_label": lambda o: OUTCOME_LABELS.get(o.value if o else None, o),
        "field_labels": FIELD_LABELS,
    }


def _locale() -> str:
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh_Hans_CN"


def _error(form_field, exc: OperationError) -> None:
    form_field.errors = [*list(form_field.errors or []), str(exc)]


def _data_from(form) -> ops.ApplicationData:
    return ops.ApplicationData(
        name=form.name.data,
        uscc=form.uscc.data,
        legal_representative=form.legal_representative.data,
        contact_name=form.contact_name.data,
        mobile=form.mobile.data,
        email=form.email.data if hasattr(form, "email") else "",
        region_id=form.region_id.data,
        address=form.address.data,
        business_scope=form.business_scope.data,
    )


# --- public: apply -------------------------------------------------------------------------------


@bp.route("/apply", methods=["GET", "POST"])
@public
def apply():
    if current_user.is_authenticated:
        flash(_("You are signed in. Sign out to apply for another agency."), "info")
        return redirect(url_for("core.home"))
    form = ApplicationForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.submit_application(
                    _data_from(form), form.checked_licence, form.password.data, locale=_locale()
                )
        except OperationError as exc:
            _error(getattr(form, getattr(exc, "field", "uscc"), form.uscc), exc)
        else:
            db.session.commit()
            flash(
                _(
                    "Thank you. Your application was received and a confirmation was sent by e-mail. "
                    "Sign in with your e-mail and password to follow it."
                ),
                "success",
            )
            return redirect(url_for("auth.login"))
    return render_template("partners/apply.html", form=form, agreement_version=ops.AGREEMENT_VERSION)


@bp.route("/apply/agreement")
@public
def agreement():
    return render_template("partners/agreement.html", agreement_version=ops.AGREEMENT_VERSION)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    user = ops.user_for_invitation(token)
    if user is None:
        flash(
            _(
                "This invitation is invalid, was already used or has expired. "
                "Ask the agency owner for a new one."
            ),
            "danger",
        )
        return redirect(url_for("auth.login"))
    form = NewPasswordForm(email=user.email)
    if form.validate_on_submit():
        ops.accept_invitation(user, form.password.data)
        db.session.commit()
        flash(_("Welcome. Sign in with your e-mail and the password you chose."), "success")
        return redirect(url_for("auth.login"))
    return render_template("partners/invitation.html", form=form, invited=user)


# --- agency users: my agency ---------------------------------------------------------------------


def _my_agency() -> Agency:
    agency = current_user.agency
    if agency is None:
        abort(404)
    return agency


@bp.route("/my-agency")
@agency_required
def my_agency():
    agency = _my_agency()
    return render_template("partners/my_agency.html", agency=agency, today=today_shanghai())


@bp.route("/my-agency/application", methods=["GET", "POST"])
@roles_required(Role.AGENCY_OWNER)
def resubmit():
    agency = _my_agency()
    if not agency.awaiting_applicant:
        flash(_("Your application cannot be changed now."), "info")
        return redirect(url_for("partners.my_agency"))
    form = ResubmitForm(data=ops.application_data_of(agency) if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            data = _data_from(form)
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.resubmit_application(agency, data, form.checked_licence)
        except OperationError as exc:
            _error(getattr(form, getattr(exc, "field", "uscc"), form.uscc), exc)
        else:
            db.session.commit()
            flash(_("Your application was submitted again. We will tell you the outcome."), "success")
            return redirect(url_for("partners.my_agency"))
    return render_template("partners/resubmit.html", form=form, agency=agency)


@bp.route("/my-agency/users", methods=["GET", "POST"])
@roles_required(Role.AGENCY_OWNER)
def agency_users():
    agency = _my_agency()
    form = InviteForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.invite_user(
                    agency,
                    form.email.data,
                    form.name.data,
                    current_user._get_current_object(),
                    locale=_locale(),
                )
        except OperationError as exc:
            _error(form.email, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "The invitation was sent to %(email)s. The link is valid for 7 days.",
                    email=form.email.data,
                ),
                "success",
            )
            return redirect(url_for("partners.agency_users"))
    members = db.session.scalars(
        sa.select(User).where(User.agency_id == agency.id).order_by(User.role, User.email)
    ).all()
    transfer = TransferForm()
    transfer.new_owner.choices = [
        (u.id, f"{u.name} <{u.email}>")
        for u in members
        if u.role == Role.AGENCY_SALES and u.is_enabled and u.password_hash
    ]
    return render_template(
        "partners/agency_users.html",
        agency=agency,
        members=members,
        form=form,
        transfer=transfer,
        button_form=EmptyForm(),
    )


def _member_or_404(agency: Agency, user_id: int) -> User:
    user = db.session.scalar(sa.select(User).where(User.id == user_id, User.agency_id == agency.id))
    if user is None:
        abort(404)
    return user


@bp.route("/my-agency/users/<int:user_id>/resend", methods=["POST"])
@roles_required(Role.AGENCY_OWNER)
def resend_invitation(user_id: int):
    return _member_action(
        user_id, ops.resend_invitation,
        lambda m: _("A new invitation was sent to %(email)s. The link is valid for 7 days.", email=m.email))


@bp.route("/my-agency/users/<int:user_id>/deactivate", methods=["POST"])
@roles_required(Role.AGENCY_OWNER)
def deactivate_user(user_id: int):
    return _member_action(
        user_id, lambda agency, member, owner: ops.set_member_enabled(agency, member, False, owner),
        lambda m: _("%(email)s can no longer sign in.", email=m.email))


@bp.route("/my-agency/users/<int:user_id>/reactivate", methods=["POST"])
@roles_required(Role.AGENCY_OWNER)
def reactivate_user(user_id: int):
    return _member_action(
        user_id, lambda agency, member, owner: ops.set_member_enabled(agency, member, True, owner),
        lambda m: _("%(email)s may sign in again.", email=m.email))


def _member_action(user_id: int, operation, done):
    """The owner acts on one user of its own agency: `operation(agency, member, owner)`, then the
    message `done(member)`; a refusal is shown and undoes only this operation."""
    agency = _my_agency()
    member = _member_or_404(agency, user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        with db.session.begin_nested():
            operation(agency, member, current_user._get_current_object())
    except OperationError as exc:
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(done(member), "success")
    return redirect(url_for("partners.agency_users"))


@bp.route("/my-agency/transfer", methods=["POST"])
@roles_required(Role.AGENCY_OWNER)
def transfer_ownership():
    agency = _my_agency()
    form = TransferForm()
    form.new_owner.choices = [
        (u.id, u.email) for u in db.session.scalars(sa.select(User).where(User.agency_id == agency.id))
    ]
    if not form.validate_on_submit():
        flash(_("Choose the new owner."), "danger")
        return redirect(url_for("partners.agency_users"))
    new_owner = _member_or_404(agency, form.new_owner.data)
    try:
        with db.session.begin_nested():  # a refusal undoes only this operation
            ops.transfer_ownership(agency, current_user._get_current_object(), new_owner)
    except OperationError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("partners.agency_users"))
    db.session.commit()
    flash(_("%(email)s is now the owner of the agency.", email=new_owner.email), "success")
    return redirect(url_for("partners.my_agency"))


@bp.route("/agencies/<int:agency_id>/licence")
@roles_required(*LICENCE_READERS)
def licence(agency_id: int):
    agency = get_scoped_or_404(Agency, agency_id)
    path = licence_path(agency.licence_file or "")
    if path is None:
        abort(404)
    return send_file(
        path,
        mimetype=agency.licence_mime or "application/octet-stream",
        as_attachment=True,
        download_name=agency.licence_filename or path.name,
    )


# --- staff: applications and agencies ------------------------------------------------------------


@bp.route("/agencies/applications")
@roles_required(Role.CHANNEL_MANAGER)
def applications():
    user = current_user._get_current_object()
    waiting = db.session.scalars(ops.applications_waiting(user).order_by(Agency.created_at)).unique().all()
    with_applicant = db.session.scalars(
        ops.applications_with_applicant(user).order_by(Agency.created_at)).unique().all()
    return render_template("partners/applications.html", waiting=waiting, with_applicant=with_applicant)


PAGE_SIZE = 50


@bp.route("/agencies")
@roles_required(*STAFF_VIEWERS)
def agencies():
    user = current_user._get_current_object()
    q = (request.args.get("q") or "").strip()
    status = request.args.get("status") or ""
    grade = request.args.get("grade") or ""
    today = today_shanghai()
    stmt = scoped(Agency, user).order_by(Agency.code.is_(None), Agency.code, Agency.id)
    if status in {s.value for s in AgencyStatus}:
        stmt = stmt.where(Agency.status == status)
    if grade in {g.value for g in Grade} | {"none"}:
        # the grade in effect today (SPEC §3), among the agencies that work with us (active or suspended)
        current = (sa.select(AgencyGrade.grade).where(AgencyGrade.agency_id == Agency.id,
                                                       AgencyGrade.effective_from <= today)
                   .order_by(AgencyGrade.effective_from.desc()).limit(1).scalar_subquery())
        stmt = stmt.where(Agency.status.in_((AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED)),
                          current.is_(None) if grade == "none" else current == grade)
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Agency.name).like(like),
                sa.func.lower(Agency.code).like(like),
                sa.func.lower(Agency.uscc).like(like),
            )
        )
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    rows = db.session.scalars(stmt.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).unique().all()
    return render_template(
        "partners/agencies.html",
        agencies=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        page=page,
        q=q,
        status=status,
        statuses=list(AgencyStatus),
        grade=grade,
        grades=list(Grade),
        today=today,
    )


def _detail(agency: Agency, **forms):
    today = today_shanghai()
    history = db.session.scalars(
        sa.select(AuditLog)
        .where(AuditLog.object_type == "agencies", AuditLog.object_id == str(agency.id))
        .order_by(AuditLog.id.desc())
        .limit(100)
    ).all()
    members = db.session.scalars(
        sa.select(User).where(User.agency_id == agency.id).order_by(User.role, User.email)
    ).all()
    defaults = {
        "approve_form": ApproveForm(prefix="approve"),
        "reject_form": ReasonForm(prefix="reject"),
        "info_form": InfoRequestForm(prefix="info"),
        "status_form": ReasonForm(prefix="status"),
        "grade_form": GradeForm(prefix="grade", data={"effective_from": today}),
    }
    defaults.update(forms)
    card = scorecard.compute(agency, today) if agency.status != AgencyStatus.PENDING else None
    return render_template(
        "partners/agency.html",
        agency=agency,
        today=today,
        history=history,
        members=members,
        scorecard=card,
        metrics_kinds=scorecard,
        thresholds=scorecard.THRESHOLDS,
        can_act=current_user.role == Role.CHANNEL_MANAGER,
        **defaults,
    )


@bp.route("/agencies/<int:agency_id>")
@roles_required(*STAFF_VIEWERS)
def agency(agency_id: int):
    return _detail(get_scoped_or_404(Agency, agency_id))


def _refused(agency: Agency, exc: OperationError):
    flash(str(exc), "danger")
    return redirect(url_for("partners.agency", agency_id=agency.id))


def _reviewer():
    return current_user._get_current_object()


@bp.route("/agencies/<int:agency_id>/approve", methods=["POST"])
@roles_required(Role.CHANNEL_MANAGER)
def approve(agency_id: int):
    agency = get_scoped_or_404(Agency, agency_id)
    form = ApproveForm(prefix="approve")
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.approve_application(
                    agency, Grade(form.grade.data), _reviewer(), today_shanghai(), form.note.data
                )
        except OperationError as exc:
            return _refused(agency, exc)
        else:
            db.session.commit()
            flash(_("Approved. The agency code is %(code)s.", code=agency.code), "success")
            return redirect(url_for("partners.agency", agency_id=agency.id))
    return _detail(agency, approve_form=form), 200


@bp.route("/agencies/<int:agency_id>/reject", methods=["POST"])
@roles_required(Role.CHANNEL_MANAGER)
def reject(agency_id: int):
    agency = get_scoped_or_404(Agency, agency_id)
    form = ReasonForm(prefix="reject")
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.reject_application(agency, form.reason.data, _reviewer())
        except OperationError as exc:
            return _refused(agency, exc)
        else:
            db.session.commit()
            flash(_("The application was rejected; the applicant was told why."), "success")
            return redirect(url_for("partners.agency", agency_id=agency.id))
    return _detail(agency, reject_form=form), 200


@bp.route("/agencies/<int:agency_id>/request-information", methods=["POST"])
@roles_required(Role.CHANNEL_MANAGER)
def request_information(agency_id: int):
    agency = get_scoped_or_404(Agency, agency_id)
    form = InfoRequestForm(prefix="info")
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.request_information(agency, form.note.data, _reviewer())
        except OperationError as exc:
            return _refused(agency, exc)
        else:
            db.session.commit()
            flash(_("The applicant was asked for more information."), "success")
            return redirect(url_for("partners.agency", agency_id=agency.id))
    return _detail(agency, info_form=form), 200


STATUS_ACTIONS = {
    "suspend": (AgencyStatus.SUSPENDED, _l("The agency was suspended.")),
    "reactivate": (AgencyStatus.ACTIVE, _l("The agency is active again.")),
    "terminate": (AgencyStatus.TERMINATED, _l("The agency was terminated.")),
}


@bp.route("/agencies/<int:agency_id>/status/<action>", methods=["POST"])
@roles_required(Role.CHANNEL_MANAGER)
def change_status(agency_id: int, action: str):
    agency = get_scoped_or_404(Agency, agency_id)
    if action not in STATUS_ACTIONS:
        abort(404)
    new_status, done = STATUS_ACTIONS[action]
    form = ReasonForm(prefix="status")
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.change_status(agency, new_status, form.reason.data, user=current_user._get_current_object())
        except OperationError as exc:
            return _refused(agency, exc)
        else:
            db.session.commit()
            flash(str(done), "success")
            return redirect(url_for("partners.agency", agency_id=agency.id))
    return _detail(agency, status_form=form), 200


@bp.route("/agencies/<int:agency_id>/grade", methods=["POST"])
@roles_required(Role.CHANNEL_MANAGER)
def change_grade(agency_id: int):
    agency = get_scoped_or_404(Agency, agency_id)
    form = GradeForm(prefix="grade")
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():  # a refusal undoes only this operation
                ops.change_grade(
                    agency, Grade(form.grade.data), form.effective_from.data, _reviewer(), form.reason.data
                )
        except OperationError as exc:
            return _refused(agency, exc)
        else:
            db.session.commit()
            flash(_("The grade was changed."), "success")
            return redirect(url_for("partners.agency", agency_id=agency.id))
    return _detail(agency, grade_form=form), 200
