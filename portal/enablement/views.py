"""Pages of enablement: the agencies' materials, training, notices and complaints; the staff's
library, course editor, quality view, complaint desk and notices; the public survey."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from catalog.models import Customer, Product, ProductStatus
from portal.core.db import db, utcnow
from portal.core.forms import EmptyForm
from portal.core.i18n import current_lang
from portal.core.models import AGENCY_ROLES, Region, Role
from portal.core.nav import register_home_panel, register_nav
from portal.core.operations import OperationError
from portal.core.permissions import (
    agency_required,
    get_scoped_or_404,
    public,
    roles_required,
    scope_clause,
    scoped,
)
from portal.core.time import today_shanghai
from portal.enablement import operations as ops
from portal.enablement import storage
from portal.enablement.forms import (
    CATEGORY_LABELS,
    DIMENSION_LABELS,
    DIMENSION_SHORT_LABELS,
    KIND_LABELS,
    LANGUAGE_LABELS,
    SEVERITY_LABELS,
    AnnouncementForm,
    ComplaintForm,
    ComplaintResolveForm,
    ComplaintResponseForm,
    CourseForm,
    MaterialEditForm,
    MaterialForm,
    PageForm,
    ProductTrainingForm,
    QuestionForm,
    SurveyForm,
    quiz_form,
)
from portal.enablement.models import (
    SURVEY_DIMENSIONS,
    Announcement,
    Certification,
    Complaint,
    ComplaintStatus,
    Course,
    CoursePage,
    Material,
    ProductTraining,
    QuizAttempt,
    QuizQuestion,
    SurveyInvitation,
    SurveyResponse,
)
from portal.partners.models import Agency, AgencyStatus

bp = Blueprint("enablement", __name__)

EDITORS = (Role.ADMIN, Role.CHANNEL_MANAGER)
editors_required = roles_required(*EDITORS)

register_nav("enablement.materials", _l("Materials"), AGENCY_ROLES, order=60, group="enablement")
register_nav("enablement.training", _l("Training"), AGENCY_ROLES, order=61, group="enablement")
register_nav("enablement.notices", _l("Notices"), AGENCY_ROLES, order=62, group="enablement")
register_nav("enablement.complaints", _l("Complaints"), AGENCY_ROLES, order=63, group="enablement")
register_nav("enablement.my_quality", _l("Service quality"), AGENCY_ROLES, order=64, group="enablement")
register_nav("enablement.staff_home", _l("Materials, training and notices"), EDITORS, order=60, group="enablement")
register_nav("enablement.quality", _l("Service quality"), EDITORS, order=61, group="enablement")


def _problem(code: str) -> str:
    messages = {
        "file_empty": _("The file is empty."),
        "file_too_large": _("The file is larger than 20 MB."),
        "file_type": _(
            "Only PDF, PNG and JPEG files are accepted; the file's content is checked, not its name."
        ),
        "valid_until_before_from": _("The end date is before the start date."),
        "validity_range": _("A certification is valid for 1 to 60 months."),
        "pass_mark_range": _("The pass mark is a percentage from 1 to 100."),
        "publish_without_questions": _("Add at least one quiz question before publishing the course."),
        "question_needs_two_options": _("A question needs at least two answers."),
        "question_correct_index": _("The right answer must be one of the answers filled in."),
        "course_not_published": _("This course is not open yet."),
        "only_agency_users": _("Only agency users take courses."),
        "survey_used": _("This survey has already been answered. Thank you!"),
        "score_range": _("Please choose a score from 1 to 5."),
        "complaint_resolved": _("This complaint is already resolved."),
        "complaint_agency_unknown": _("Choose an agency."),
        "complaint_agency_outside_regions": _("Choose an agency."),
        "complaint_lead_other_agency": _("This lead number is not a lead of the chosen agency."),
        "complaint_customer_not_lead": _("The customer is not the customer of the linked lead."),
        "notice_region_scope": _("Choose one of your regions."),
    }
    return messages.get(code, code)


def _send_stored(stored_name: str | None, content_type: str, file_name: str):
    try:
        path = storage.path_of(stored_name or "")
    except FileNotFoundError:
        abort(404)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype=content_type, as_attachment=True, download_name=file_name)


def _product_choices(include_retired: bool = True):
    stmt = sa.select(Product).order_by(Product.code)
    if not include_retired:
        stmt = stmt.where(Product.status == ProductStatus.ACTIVE)
    return [
        (p.id, f"{p.code} · {p.name_en if current_lang() == 'en' else p.name_zh}")
        for p in db.session.scalars(stmt)
    ]


def _read_upload(field) -> bytes | None:
    upload = field.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    return upload.read(storage.MAX_FILE_BYTES + 1)


# --- home panels ---------------------------------------------------------------------------------


def _notices_panel(user) -> dict:
    items = ops.announcements_for(user)
    unread = [n for n, read in items if not read]
    return {"unread": unread[:5], "unread_count": len(unread), "form": EmptyForm()}


def _active(certs):
    """Leave out certifications of retired products (agencies never see those)."""
    return [c for c in certs if c.product.status == ProductStatus.ACTIVE]


def _training_panel(user) -> dict:
    today = today_shanghai()
    certs = _active(ops.user_certifications(user.id))
    locked = []
    if user.agency_id:
        for settings in db.session.scalars(
            sa.select(ProductTraining).where(
                ProductTraining.requires_certification.is_(True),
                ProductTraining.product_id.in_(ops.active_product_ids()),
            )
        ):
            if not ops.agency_certified_for(user.agency_id, settings.product_id, today):
                locked.append((settings.product, ops.course_for_product(settings.product_id)))
    return {"certs": certs, "today": today, "locked": locked, "soon": today + timedelta(days=30)}


def _quality_panel(user) -> dict:
    clause = scope_clause(Complaint, user)
    open_count = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Complaint)
            .where(clause, Complaint.status != ComplaintStatus.RESOLVED)
        )
        or 0
    )
    since = utcnow() - timedelta(days=30)
    responses = db.session.scalars(
        sa.select(SurveyResponse).where(
            scope_clause(SurveyResponse, user), SurveyResponse.created_at >= since
        )
    ).all()
    from portal.enablement.scoring import average

    return {
        "open_complaints": open_count,
        "responses": len(responses),
        "average": average(s for r in responses for s in r.scores()),
    }


def _agency_quality_panel(user) -> dict:
    if user.agency is None:
        return {"q": None}
    return {"q": ops.quality_signals(user.agency, today_shanghai())}


register_home_panel("enablement/_panel_notices.html", AGENCY_ROLES, _notices_panel, order=20)
register_home_panel("enablement/_panel_training.html", AGENCY_ROLES, _training_panel, order=21)
register_home_panel("enablement/_panel_agency_quality.html", AGENCY_ROLES, _agency_quality_panel, order=22)
register_home_panel("enablement/_panel_quality.html", EDITORS, _quality_panel, order=40)


# --- agency: materials ---------------------------------------------------------------------------


@bp.route("/enablement/materials")
@agency_required
def materials():
    product_id = request.args.get("product", type=int)
    rows = ops.materials_for_agency(today_shanghai(), current_lang(), product_id)
    counts = ops.download_counts(current_user.agency_id)
    return render_template(
        "enablement/materials.html",
        materials=rows,
        counts=counts,
        kind_labels=KIND_LABELS,
        language_labels=LANGUAGE_LABELS,
        products=_product_choices(include_retired=False),
        product_id=product_id,
    )


@bp.route("/enablement/materials/<int:material_id>/download")
@agency_required
def download_material(material_id: int):
    material = ops.agency_material(material_id, today_shanghai(), current_lang())
    if material is None:
        abort(404)
    ops.record_download(material, current_user)
    db.session.commit()
    return _send_stored(material.stored_name, material.content_type, material.file_name)


# --- agency: training ----------------------------------------------------------------------------


@bp.route("/enablement/training")
@agency_required
def training():
    today = today_shanghai()
    courses = ops.published_courses()
    settings = {s.product_id: s for s in db.session.scalars(sa.select(ProductTraining))}
    mine = {c.product_id: c for c in ops.user_certifications(current_user.id)}
    agency_ok = {
        c.product_id for c in courses if ops.agency_certified_for(current_user.agency_id, c.product_id, today)
    }
    team = _active(db.session.scalars(scoped(Certification).order_by(Certification.valid_until.desc())).all())
    return render_template(
        "enablement/training.html",
        courses=courses,
        settings=settings,
        mine=mine,
        agency_ok=agency_ok,
        team=team,
        today=today,
    )


def _published_course_or_404(course_id: int) -> Course:
    """A course agencies may open: published, and its product not retired."""
    course = db.session.get(Course, course_id)
    if not ops.course_open_to_agencies(course):
        abort(404)
    return course


@bp.route("/enablement/training/<int:course_id>")
@agency_required
def course(course_id: int):
    course = _published_course_or_404(course_id)
    today = today_shanghai()
    cert = db.session.scalar(
        sa.select(Certification).where(
            Certification.user_id == current_user.id, Certification.product_id == course.product_id
        )
    )
    last = db.session.scalar(
        sa.select(QuizAttempt)
        .where(QuizAttempt.user_id == current_user.id, QuizAttempt.course_id == course.id)
        .order_by(QuizAttempt.id.desc())
    )
    return render_template(
        "enablement/course.html",
        course=course,
        cert=cert,
        today=today,
        last=last,
        requires=ops.requires_certification(course.product_id),
        lead_url=_lead_form_url(course.product),
    )


def _lead_form_url(product) -> str | None:
    """The leads area's registration form, when it exists."""
    from flask import current_app

    for endpoint in ("leads.new_lead", "leads.new", "leads.register", "leads.create"):
        if endpoint in current_app.view_functions:
            return url_for(endpoint, product=product.code)
    return None


@bp.route("/enablement/training/<int:course_id>/pages/<int:page_id>/file")
@roles_required(*AGENCY_ROLES, *EDITORS)
def page_file(course_id: int, page_id: int):
    page = db.session.get(CoursePage, page_id)
    if page is None or page.course_id != course_id or not page.stored_name:
        abort(404)
    if current_user.role in AGENCY_ROLES and not ops.course_open_to_agencies(page.course):
        abort(404)
    return _send_stored(page.stored_name, page.content_type, page.file_name)


@bp.route("/enablement/training/<int:course_id>/quiz", methods=["GET", "POST"])
@agency_required
def quiz(course_id: int):
    course = _published_course_or_404(course_id)
    form = quiz_form(course)
    if form.validate_on_submit():
        answers = {q.id: getattr(form, f"q{q.id}").data for q in course.questions}
        try:
            attempt, cert = ops.submit_quiz(course, current_user._get_current_object(), answers)
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
            return redirect(url_for("enablement.training"))
        db.session.commit()
        if cert is not None:
            flash(
                _(
                    "You passed with %(correct)d of %(total)d right. You are certified for %(product)s "
                    "until %(date)s.",
                    correct=attempt.correct,
                    total=attempt.total,
                    product=course.product.code,
                    date=cert.valid_until.isoformat(),
                ),
                "success",
            )
        else:
            flash(
                _(
                    "You had %(correct)d of %(total)d right; the pass mark is %(mark)d%%. Read the "
                    "course again and retry.",
                    correct=attempt.correct,
                    total=attempt.total,
                    mark=course.pass_mark,
                ),
                "warning",
            )
        return redirect(url_for("enablement.course", course_id=course.id))
    return render_template("enablement/quiz.html", course=course, form=form)


# --- agency: notices -----------------------------------------------------------------------------


@bp.route("/enablement/notices")
@agency_required
def notices():
    return render_template(
        "enablement/notices.html", items=ops.announcements_for(current_user), form=EmptyForm()
    )


@bp.route("/enablement/notices/<int:notice_id>/read", methods=["POST"])
@agency_required
def read_notice(notice_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    notice = ops.announcement_for(current_user, notice_id)
    if notice is None:
        abort(404)
    ops.mark_read(notice, current_user)
    db.session.commit()
    target = request.form.get("next")
    return redirect(url_for("core.home") if target == "home" else url_for("enablement.notices"))


# --- agency: complaints --------------------------------------------------------------------------


@bp.route("/enablement/complaints")
@agency_required
def complaints():
    rows = db.session.scalars(scoped(Complaint).order_by(Complaint.created_at.desc())).all()
    return render_template(
        "enablement/complaints.html",
        complaints=rows,
        category_labels=CATEGORY_LABELS,
        severity_labels=SEVERITY_LABELS,
    )


@bp.route("/enablement/complaints/<int:complaint_id>", methods=["GET", "POST"])
@agency_required
def complaint(complaint_id: int):
    item = get_scoped_or_404(Complaint, complaint_id)
    form = ComplaintResponseForm()
    if item.status != ComplaintStatus.RESOLVED and form.validate_on_submit():
        try:
            ops.respond_to_complaint(item, current_user._get_current_object(), form.response.data)
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("Your answer was sent to the channel manager."), "success")
        return redirect(url_for("enablement.complaint", complaint_id=item.id))
    return render_template(
        "enablement/complaint.html",
        complaint=item,
        form=form,
        staff=False,
        category_labels=CATEGORY_LABELS,
        severity_labels=SEVERITY_LABELS,
    )


# --- agency: its own service quality -------------------------------------------------------------


@bp.route("/enablement/quality")
@agency_required
def my_quality():
    """The signed-in user's agency's satisfaction (the last 365 days, its own sales only),
    complaints and certification coverage: what the channel manager sees in its scorecard."""
    agency = current_user.agency or abort(404)
    signals = ops.quality_signals(agency, today_shanghai())
    since = utcnow() - timedelta(days=365)
    # per product every answer counts; on the agency's own page only its own sales do
    per_product = ops.satisfaction_rollup(
        SurveyResponse.product_id,
        sa.and_(scope_clause(SurveyResponse, current_user), ops.agency_score_clause()),
        since=since,
    )
    products = {p.id: p for p in db.session.scalars(sa.select(Product))}
    per_product = sorted(
        (r for r in per_product if r["key"] in products), key=lambda r: products[r["key"]].code
    )
    return render_template(
        "enablement/my_quality.html",
        agency=agency,
        q=signals,
        dimensions=SURVEY_DIMENSIONS,
        dimension_labels=DIMENSION_SHORT_LABELS,
        per_product=per_product,
        products=products,
    )


# --- public: the satisfaction survey -------------------------------------------------------------


@bp.route("/survey/<token>", methods=["GET", "POST"])
@public
def survey(token: str):
    state, invitation = ops.open_survey(token)
    if state != "ok":
        status = {"invalid": 404, "expired": 410, "used": 410}[state]
        return render_template("enablement/survey_closed.html", state=state), status
    form = SurveyForm()
    if form.validate_on_submit():
        scores = {d: getattr(form, f"score_{d}").data for d in SURVEY_DIMENSIONS}
        try:
            ops.answer_survey(invitation, scores, form.comment.data or "", language=current_lang())
        except OperationError:
            db.session.rollback()
            return render_template("enablement/survey_closed.html", state="used"), 410
        db.session.commit()
        return render_template("enablement/survey_closed.html", state="thanks")
    return render_template(
        "enablement/survey.html", form=form, invitation=invitation, dimensions=SURVEY_DIMENSIONS
    )


# --- staff: hub ----------------------------------------------------------------------------------


@bp.route("/enablement/staff")
@editors_required
def staff_home():
    counts = {
        "materials": db.session.scalar(sa.select(sa.func.count()).select_from(Material)) or 0,
        "courses": db.session.scalar(sa.select(sa.func.count()).select_from(Course)) or 0,
        "complaints": db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Complaint)
            .where(scope_clause(Complaint, current_user), Complaint.status != ComplaintStatus.RESOLVED)
        )
        or 0,
        "notices": db.session.scalar(sa.select(sa.func.count()).select_from(Announcement)) or 0,
    }
    return render_template("enablement/staff_home.html", counts=counts)


# --- staff: materials ----------------------------------------------------------------------------


@bp.route("/enablement/staff/materials")
@editors_required
def staff_materials():
    rows = db.session.scalars(sa.select(Material).order_by(Material.created_at.desc())).all()
    return render_template(
        "enablement/staff_materials.html",
        materials=rows,
        counts=ops.download_counts(),
        today=today_shanghai(),
        kind_labels=KIND_LABELS,
        language_labels=LANGUAGE_LABELS,
    )


def _material_values(form) -> dict:
    return {
        "title": form.title.data,
        "description": form.description.data or "",
        "kind": form.kind.data,
        "product_id": form.product_id.data or None,
        "language": form.language.data,
        "valid_from": form.valid_from.data,
        "valid_until": form.valid_until.data,
        "approved": bool(form.approved.data),
    }


@bp.route("/enablement/staff/materials/new", methods=["GET", "POST"])
@editors_required
def new_material():
    form = MaterialForm(product_choices=_product_choices())
    if request.method == "GET":
        form.valid_from.data = today_shanghai()
    if form.validate_on_submit():
        data = _read_upload(form.file) or b""
        try:
            material = ops.upload_material(
                data, form.file.data.filename, uploaded_by=current_user, **_material_values(form)
            )
        except OperationError as exc:
            form.file.errors.append(_problem(str(exc)))
        else:
            db.session.commit()
            flash(_("The material was uploaded."), "success")
            return redirect(url_for("enablement.edit_material", material_id=material.id))
    return render_template("enablement/material_form.html", form=form, material=None)


@bp.route("/enablement/staff/materials/<int:material_id>", methods=["GET", "POST"])
@editors_required
def edit_material(material_id: int):
    material = db.session.get(Material, material_id) or abort(404)
    form = MaterialEditForm(
        obj=material if request.method == "GET" else None, product_choices=_product_choices()
    )
    if request.method == "GET":
        form.product_id.data = material.product_id or 0
        form.kind.data = material.kind.value
        form.language.data = material.language.value
    if form.validate_on_submit():
        try:
            ops.update_material(material, **_material_values(form))
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("The material was saved."), "success")
            return redirect(url_for("enablement.edit_material", material_id=material.id))
    by_agency = ops.downloads_by_agency(material.id, scope_clause(Agency, current_user))
    return render_template(
        "enablement/material_form.html",
        form=form,
        material=material,
        by_agency=by_agency,
        today=today_shanghai(),
    )


@bp.route("/enablement/staff/materials/<int:material_id>/file")
@editors_required
def staff_material_file(material_id: int):
    material = db.session.get(Material, material_id) or abort(404)
    return _send_stored(material.stored_name, material.content_type, material.file_name)


# --- staff: product settings and courses --------------------------------------------------------


@bp.route("/enablement/staff/products")
@editors_required
def product_settings():
    products = db.session.scalars(
        sa.select(Product).where(Product.status == ProductStatus.ACTIVE).order_by(Product.code)
    ).all()
    settings = {s.product_id: s for s in db.session.scalars(sa.select(ProductTraining))}
    courses = {}
    for c in db.session.scalars(sa.select(Course).order_by(Course.id)):
        courses.setdefault(c.product_id, []).append(c)
    forms = {}
    for p in products:
        s = settings.get(p.id)
        forms[p.id] = ProductTrainingForm(
            prefix=f"p{p.id}",
            formdata=None,
            requires_certification=bool(s and s.requires_certification),
            validity_months=s.validity_months if s else 12,
        )
    return render_template(
        "enablement/product_settings.html", products=products, forms=forms, courses=courses
    )


@bp.route("/enablement/staff/products/<int:product_id>", methods=["POST"])
@roles_required(Role.ADMIN, Role.CHANNEL_MANAGER)
def save_product_settings(product_id: int):
    product = db.session.get(Product, product_id) or abort(404)
    form = ProductTrainingForm(prefix=f"p{product.id}")
    if form.validate_on_submit():
        try:
            ops.set_product_training(product.id, form.requires_certification.data, form.validity_months.data)
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("Training settings of %(product)s were saved.", product=product.code), "success")
    else:
        flash(_("A certification is valid for 1 to 60 months."), "danger")
    return redirect(url_for("enablement.product_settings"))


@bp.route("/enablement/staff/courses")
@editors_required
def staff_courses():
    rows = db.session.scalars(sa.select(Course).order_by(Course.created_at.desc())).all()
    return render_template("enablement/staff_courses.html", courses=rows)


@bp.route("/enablement/staff/courses/new", methods=["GET", "POST"])
@editors_required
def new_course():
    form = CourseForm(product_choices=_product_choices(include_retired=False))
    del form.published
    if form.validate_on_submit():
        try:
            course = ops.create_course(
                form.product_id.data, form.title.data, form.summary.data or "", form.pass_mark.data
            )
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("The course was created. Add pages and quiz questions, then publish it."), "success")
            return redirect(url_for("enablement.edit_course", course_id=course.id))
    return render_template("enablement/course_new.html", form=form)


@bp.route("/enablement/staff/courses/<int:course_id>", methods=["GET", "POST"])
@editors_required
def edit_course(course_id: int):
    course = db.session.get(Course, course_id) or abort(404)
    form = CourseForm(obj=course if request.method == "GET" else None, product_choices=_product_choices())
    if form.validate_on_submit():
        try:
            ops.update_course(
                course,
                product_id=form.product_id.data,
                title=form.title.data,
                summary=form.summary.data or "",
                pass_mark=form.pass_mark.data,
                published=bool(form.published.data),
            )
        except OperationError as exc:
            db.session.rollback()
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("The course was saved."), "success")
        return redirect(url_for("enablement.edit_course", course_id=course.id))
    return render_template(
        "enablement/course_edit.html",
        course=course,
        form=form,
        page_form=PageForm(formdata=None),
        question_form=QuestionForm(formdata=None),
        post_form=EmptyForm(),
    )


@bp.route("/enablement/staff/courses/<int:course_id>/pages", methods=["POST"])
@editors_required
def add_page(course_id: int):
    course = db.session.get(Course, course_id) or abort(404)
    form = PageForm()
    if form.validate_on_submit():
        data = _read_upload(form.file)
        try:
            ops.add_course_page(
                course, form.title.data, form.body.data or "", data, form.file.data.filename if data else None
            )
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("The page was added."), "success")
    else:
        flash(_("A page needs a title."), "danger")
    return redirect(url_for("enablement.edit_course", course_id=course_id))


@bp.route("/enablement/staff/courses/<int:course_id>/pages/<int:page_id>/delete", methods=["POST"])
@editors_required
def delete_page(course_id: int, page_id: int):
    page = db.session.get(CoursePage, page_id)
    if page is None or page.course_id != course_id:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    ops.delete_course_page(page)
    db.session.commit()
    flash(_("The page was removed."), "success")
    return redirect(url_for("enablement.edit_course", course_id=course_id))


@bp.route("/enablement/staff/courses/<int:course_id>/questions", methods=["POST"])
@editors_required
def add_question(course_id: int):
    course = db.session.get(Course, course_id) or abort(404)
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            ops.add_question(course, form.text.data, form.options(), form.correct.data)
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("The question was added."), "success")
    else:
        errors = [str(e) for f in form for e in f.errors]
        flash(errors[0] if errors else _("The question is incomplete."), "danger")
    return redirect(url_for("enablement.edit_course", course_id=course_id))


@bp.route("/enablement/staff/courses/<int:course_id>/questions/<int:question_id>/delete", methods=["POST"])
@editors_required
def delete_question(course_id: int, question_id: int):
    question = db.session.get(QuizQuestion, question_id)
    if question is None or question.course_id != course_id:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    ops.delete_question(question)
    db.session.commit()
    flash(_("The question was removed."), "success")
    return redirect(url_for("enablement.edit_course", course_id=course_id))


# --- staff: quality (satisfaction, complaints, certification per agency and product) ------------


@bp.route("/enablement/staff/quality")
@editors_required
def quality():
    today = today_shanghai()
    agencies = db.session.scalars(
        scoped(Agency)
        .where(Agency.status.in_([AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED]))
        .order_by(Agency.code)
    ).all()
    by_agency = {
        row["key"]: row
        for row in ops.satisfaction_rollup(
            SurveyResponse.agency_id, scope_clause(SurveyResponse, current_user)
        )
    }
    rows = []
    for agency in agencies:
        rows.append((agency, ops.quality_signals(agency, today), by_agency.get(agency.id)))
    product_rows = ops.satisfaction_rollup(
        SurveyResponse.product_id, scope_clause(SurveyResponse, current_user)
    )
    products = {p.id: p for p in db.session.scalars(sa.select(Product))}
    product_rows = sorted(
        (r for r in product_rows if r["key"] is not None), key=lambda r: products[r["key"]].code
    )
    recent = db.session.scalars(
        scoped(SurveyResponse).order_by(SurveyResponse.created_at.desc()).limit(10)
    ).all()
    pending = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SurveyInvitation)
            .where(
                scope_clause(SurveyInvitation, current_user),
                SurveyInvitation.answered_at.is_(None),
                SurveyInvitation.expires_at > utcnow(),
            )
        )
        or 0
    )
    return render_template(
        "enablement/quality.html",
        rows=rows,
        product_rows=product_rows,
        products=products,
        dimensions=SURVEY_DIMENSIONS,
        dimension_labels=DIMENSION_LABELS,
        recent=recent,
        pending=pending,
        agencies={a.id: a for a in agencies},
        scorecard_endpoint=_scorecard_endpoint(),
    )


def _scorecard_endpoint() -> str | None:
    from flask import current_app

    for endpoint in ("partners.scorecard", "partners.agency_scorecard", "partners.agency"):
        if endpoint in current_app.view_functions:
            return endpoint
    return None


# --- staff: complaints ---------------------------------------------------------------------------


@bp.route("/enablement/staff/complaints")
@editors_required
def staff_complaints():
    status = request.args.get("status") or ""
    stmt = scoped(Complaint).order_by(Complaint.created_at.desc())
    if status in {s.value for s in ComplaintStatus}:
        stmt = stmt.where(Complaint.status == status)
    return render_template(
        "enablement/staff_complaints.html",
        complaints=db.session.scalars(stmt).all(),
        status=status,
        category_labels=CATEGORY_LABELS,
        severity_labels=SEVERITY_LABELS,
    )


@bp.route("/enablement/staff/complaints/new", methods=["GET", "POST"])
@editors_required
def new_complaint():
    agencies = db.session.scalars(
        scoped(Agency)
        .where(Agency.status.in_([AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED, AgencyStatus.TERMINATED]))
        .order_by(Agency.code)
    ).all()
    form = ComplaintForm(agency_choices=[(a.id, f"{a.code} · {a.name}") for a in agencies])
    if request.method == "GET" and request.args.get("agency", type=int):
        form.agency_id.data = request.args.get("agency", type=int)
    if form.validate_on_submit():
        customer_id = None
        if form.customer_uscc.data:
            customer = db.session.scalar(
                sa.select(Customer).where(Customer.uscc == form.customer_uscc.data.strip().upper())
            )
            if customer is None:
                form.customer_uscc.errors.append(_("No group customer has this code."))
            else:
                customer_id = customer.id
        if not form.customer_uscc.errors:
            try:
                item = ops.record_complaint(
                    form.agency_id.data,
                    form.category.data,
                    form.severity.data,
                    form.description.data,
                    customer_id=customer_id,
                    lead_id=form.lead_id.data,
                    created_by=current_user._get_current_object(),
                )
            except OperationError as exc:  # refused before anything was written
                code = str(exc)
                target = {
                    "complaint_lead_other_agency": form.lead_id,
                    "complaint_customer_not_lead": form.customer_uscc,
                }.get(code, form.agency_id)
                target.errors = [*target.errors, _problem(code)]
            else:
                db.session.commit()
                flash(_("The complaint was recorded; the agency was notified."), "success")
                return redirect(url_for("enablement.staff_complaint", complaint_id=item.id))
    return render_template("enablement/complaint_new.html", form=form)


@bp.route("/enablement/staff/complaints/<int:complaint_id>", methods=["GET", "POST"])
@editors_required
def staff_complaint(complaint_id: int):
    item = get_scoped_or_404(Complaint, complaint_id)
    form = ComplaintResolveForm()
    if item.status != ComplaintStatus.RESOLVED and form.validate_on_submit():
        try:
            ops.resolve_complaint(item, current_user._get_current_object(), form.resolution.data)
        except OperationError as exc:
            flash(_problem(str(exc)), "danger")
        else:
            db.session.commit()
            flash(_("The complaint was resolved."), "success")
        return redirect(url_for("enablement.staff_complaint", complaint_id=item.id))
    return render_template(
        "enablement/complaint.html",
        complaint=item,
        form=form,
        staff=True,
        category_labels=CATEGORY_LABELS,
        severity_labels=SEVERITY_LABELS,
    )


# --- staff: notices ------------------------------------------------------------------------------


def _region_choices():
    """Admins may address all agencies or one region; a channel manager one of its regions."""
    regions = db.session.scalars(sa.select(Region).order_by(Region.code)).all()
    if current_user.role == Role.CHANNEL_MANAGER:
        regions = [r for r in regions if r.id in current_user.region_ids]
        return [(r.id, r.name(current_lang())) for r in regions]
    return [(0, _("All regions"))] + [(r.id, r.name(current_lang())) for r in regions]


@bp.route("/enablement/staff/notices")
@editors_required
def staff_notices():
    rows = db.session.scalars(sa.select(Announcement).order_by(Announcement.published_at.desc())).all()
    return render_template("enablement/staff_notices.html", notices=rows)


@bp.route("/enablement/staff/notices/new", methods=["GET", "POST"])
@editors_required
def new_notice():
    form = AnnouncementForm(region_choices=_region_choices())
    if form.validate_on_submit():
        try:
            ops.post_announcement(
                form.title.data,
                form.body.data,
                region_id=form.region_id.data or None,
                grade=form.grade.data or None,
                created_by=current_user._get_current_object(),
            )
        except OperationError as exc:  # refused before anything was written
            form.region_id.errors = [*form.region_id.errors, _problem(str(exc))]
        else:
            db.session.commit()
            flash(_("The notice was published."), "success")
            return redirect(url_for("enablement.staff_notices"))
    return render_template("enablement/notice_new.html", form=form)
