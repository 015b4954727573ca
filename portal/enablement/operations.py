"""Verbs of enablement. They change state, flush and write the audit record; the caller (a
view or a command) commits. Nothing here reads the HTTP request."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext

from catalog.models import Product, ProductStatus
from portal.core import audit
from portal.core.db import db, utcnow
from portal.core.models import AGENCY_ROLES, Role, User
from portal.core.notify import notify
from portal.core.operations import OperationError
from portal.core.security import make_signed_token, read_signed_token
from portal.core.time import today_shanghai
from portal.enablement import scoring, storage
from portal.enablement.models import (
    SURVEY_DIMENSIONS,
    Announcement,
    AnnouncementRead,
    Certification,
    Complaint,
    ComplaintCategory,
    ComplaintSeverity,
    ComplaintStatus,
    Course,
    CoursePage,
    Material,
    MaterialDownload,
    MaterialKind,
    MaterialLanguage,
    ProductTraining,
    QuizAttempt,
    QuizQuestion,
    SoldBy,
    SurveyInvitation,
    SurveyResponse,
)

SURVEY_PURPOSE = "enablement.survey"
DEFAULT_SURVEY_DAYS = 30

MATERIAL_FIELDS = [
    "title",
    "description",
    "kind",
    "product_id",
    "language",
    "valid_from",
    "valid_until",
    "approved",
]


# --- materials ------------------------------------------------------------------------------------


def upload_material(
    data: bytes,
    file_name: str,
    *,
    title: str,
    description: str = "",
    kind: MaterialKind = MaterialKind.BROCHURE,
    product_id: int | None = None,
    language: MaterialLanguage = MaterialLanguage.BOTH,
    valid_from: date,
    valid_until: date | None = None,
    approved: bool = False,
    uploaded_by: User | None = None,
) -> Material:
    """Store a PDF/PNG/JPEG (checked by content, at most 20 MB) and describe it."""
    if valid_until is not None and valid_until < valid_from:
        raise OperationError("valid_until_before_from")
    try:
        stored_name, content_type = storage.save(data)
    except storage.FileRefused as exc:
        raise OperationError(f"file_{exc}") from exc
    material = Material(
        title=title.strip(),
        description=(description or "").strip(),
        kind=MaterialKind(kind),
        product_id=product_id,
        language=MaterialLanguage(language),
        valid_from=valid_from,
        valid_until=valid_until,
        approved=approved,
        file_name=storage.safe_download_name(file_name, content_type),
        stored_name=stored_name,
        content_type=content_type,
        size_bytes=len(data),
        uploaded_by_id=uploaded_by.id if uploaded_by else None,
    )
    db.session.add(material)
    db.session.flush()
    audit.record("material.upload", material, after=audit.snapshot(material, [*MATERIAL_FIELDS, "file_name"]))
    return material


def update_material(material: Material, **changes) -> Material:
    before = audit.snapshot(material, MATERIAL_FIELDS)
    for name, value in changes.items():
        if name not in MATERIAL_FIELDS:
            raise TypeError(name)
        setattr(material, name, value)
    if material.valid_until is not None and material.valid_until < material.valid_from:
        raise OperationError("valid_until_before_from")
    db.session.flush()
    audit.record("material.update", material, before=before, after=audit.snapshot(material, MATERIAL_FIELDS))
    return material


def languages_for(lang: str) -> list[MaterialLanguage]:
    """The material languages a reader of `lang` ('zh' or 'en') is offered."""
    return [MaterialLanguage.EN if lang == "en" else MaterialLanguage.ZH, MaterialLanguage.BOTH]


def active_product_ids():
    """The ids of products agencies may see (SPEC §2: agencies never see retired products)."""
    return sa.select(Product.id).where(Product.status == ProductStatus.ACTIVE)


def current_material_clause(today: date, lang: str):
    """What an agency reader of `lang` is offered today: approved, within its dates, in its
    language (or both), and not about a retired product."""
    return sa.and_(
        Material.approved.is_(True),
        Material.valid_from <= today,
        sa.or_(Material.valid_until.is_(None), Material.valid_until >= today),
        Material.language.in_(languages_for(lang)),
        sa.or_(Material.product_id.is_(None), Material.product_id.in_(active_product_ids())),
    )


def materials_for_agency(today: date, lang: str, product_id: int | None = None) -> list[Material]:
    stmt = sa.select(Material).where(current_material_clause(today, lang))
    if product_id:
        stmt = stmt.where(Material.product_id == product_id)
    return list(db.session.scalars(stmt.order_by(Material.valid_from.desc(), Material.id.desc())))


def agency_material(material_id: int, today: date, lang: str) -> Material | None:
    """The material if an agency reader of `lang` may have it today, else None."""
    return db.session.scalar(
        sa.select(Material).where(Material.id == material_id, current_material_clause(today, lang))
    )


def record_download(material: Material, user: User) -> MaterialDownload:
    row = MaterialDownload(material_id=material.id, agency_id=user.agency_id, user_id=user.id)
    db.session.add(row)
    db.session.flush()
    return row


def download_counts(agency_id: int | None = None) -> dict:
    """material id → downloads (by one agency when given, else by all)."""
    stmt = sa.select(MaterialDownload.material_id, sa.func.count()).group_by(MaterialDownload.material_id)
    if agency_id is not None:
        stmt = stmt.where(MaterialDownload.agency_id == agency_id)
    return dict(db.session.execute(stmt).all())


def downloads_by_agency(material_id: int, agency_clause=None) -> list[tuple]:
    """(agency, downloads) for one material, most first."""
    from portal.partners.models import Agency

    stmt = (
        sa.select(Agency, sa.func.count(MaterialDownload.id))
        .join(MaterialDownload, MaterialDownload.agency_id == Agency.id)
        .where(MaterialDownload.material_id == material_id)
        .group_by(Agency.id)
        .order_by(sa.func.count(MaterialDownload.id).desc())
    )
    if agency_clause is not None:
        stmt = stmt.where(agency_clause)
    return list(db.session.execute(stmt).all())


# --- product training settings -------------------------------------------------------------------


def training_settings(product_id: int) -> ProductTraining | None:
    return db.session.scalar(sa.select(ProductTraining).where(ProductTraining.product_id == product_id))


def set_product_training(
    product_id: int, requires_certification: bool, validity_months: int = scoring.DEFAULT_VALIDITY_MONTHS
) -> ProductTraining:
    if not 1 <= int(validity_months) <= 60:
        raise OperationError("validity_range")
    settings = training_settings(product_id)
    before = None
    if settings is None:
        settings = ProductTraining(product_id=product_id)
        db.session.add(settings)
    else:
        before = audit.snapshot(settings, ["requires_certification", "validity_months"])
    settings.requires_certification = bool(requires_certification)
    settings.validity_months = int(validity_months)
    db.session.flush()
    audit.record(
        "product_training.set",
        settings,
        before=before,
        after=audit.snapshot(settings, ["product_id", "requires_certification", "validity_months"]),
    )
    return settings


def requires_certification(product_id: int) -> bool:
    settings = training_settings(product_id)
    return bool(settings and settings.requires_certification)


def validity_months(product_id: int) -> int:
    settings = training_settings(product_id)
    return settings.validity_months if settings else scoring.DEFAULT_VALIDITY_MONTHS


# --- courses -------------------------------------------------------------------------------------

COURSE_FIELDS = ["product_id", "title", "summary", "pass_mark", "published"]


def create_course(
    product_id: int, title: str, summary: str = "", pass_mark: int = 80, published: bool = False
) -> Course:
    course = Course(
        product_id=product_id,
        title=title.strip(),
        summary=(summary or "").strip(),
        pass_mark=int(pass_mark),
        published=published,
    )
    if not 1 <= course.pass_mark <= 100:
        raise OperationError("pass_mark_range")
    db.session.add(course)
    db.session.flush()
    audit.record("course.create", course, after=audit.snapshot(course, COURSE_FIELDS))
    return course


def update_course(course: Course, **changes) -> Course:
    before = audit.snapshot(course, COURSE_FIELDS)
    for name, value in changes.items():
        if name not in COURSE_FIELDS:
            raise TypeError(name)
        setattr(course, name, value)
    if not 1 <= int(course.pass_mark) <= 100:
        raise OperationError("pass_mark_range")
    if course.published and not course.questions:
        raise OperationError("publish_without_questions")
    db.session.flush()
    audit.record("course.update", course, before=before, after=audit.snapshot(course, COURSE_FIELDS))
    return course


def add_course_page(
    course: Course, title: str, body: str = "", data: bytes | None = None, file_name: str | None = None
) -> CoursePage:
    page = CoursePage(
        course_id=course.id, title=title.strip(), body=(body or "").strip(), position=len(course.pages) + 1
    )
    if data:
        try:
            page.stored_name, page.content_type = storage.save(data)
        except storage.FileRefused as exc:
            raise OperationError(f"file_{exc}") from exc
        page.file_name = storage.safe_download_name(file_name or "attachment", page.content_type)
    db.session.add(page)
    db.session.flush()
    db.session.refresh(course)
    audit.record(
        "course.page_add", page, after={"course_id": course.id, "title": page.title, "file": page.file_name}
    )
    return page


def delete_course_page(page: CoursePage) -> None:
    audit.record("course.page_delete", page, before={"course_id": page.course_id, "title": page.title})
    course = page.course
    db.session.delete(page)
    db.session.flush()
    db.session.refresh(course)


def add_question(course: Course, text: str, options: list[str], correct_index: int) -> QuizQuestion:
    options = [o.strip() for o in options if o and o.strip()]
    if len(options) < 2:
        raise OperationError("question_needs_two_options")
    if not 0 <= int(correct_index) < len(options):
        raise OperationError("question_correct_index")
    question = QuizQuestion(
        course_id=course.id,
        text=text.strip(),
        options=options,
        correct_index=int(correct_index),
        position=len(course.questions) + 1,
    )
    db.session.add(question)
    db.session.flush()
    db.session.refresh(course)
    audit.record(
        "course.question_add",
        question,
        after={
            "course_id": course.id,
            "text": question.text,
            "options": options,
            "correct_index": correct_index,
        },
    )
    return question


def delete_question(question: QuizQuestion) -> None:
    course = question.course
    audit.record("course.question_delete", question, before={"course_id": course.id, "text": question.text})
    db.session.delete(question)
    db.session.flush()
    db.session.refresh(course)
    if course.published and not course.questions:
        course.published = False
        db.session.flush()


def published_courses() -> list[Course]:
    """The courses agencies are offered: published, for a product that is not retired."""
    return list(
        db.session.scalars(
            sa.select(Course)
            .where(Course.published.is_(True), Course.product_id.in_(active_product_ids()))
            .order_by(Course.title)
        )
    )


def course_open_to_agencies(course: Course | None) -> bool:
    return bool(
        course is not None
        and course.published
        and getattr(course.product, "status", None) == ProductStatus.ACTIVE
    )


# --- quiz and certification ----------------------------------------------------------------------


def submit_quiz(
    course: Course, user: User, answers: dict[int, int | None], today: date | None = None
) -> tuple[QuizAttempt, Certification | None]:
    """Score the answers; a pass certifies (or renews) `user` for the course's product from
    `today` for the product's validity period."""
    if user.role not in AGENCY_ROLES or user.agency_id is None:
        raise OperationError("only_agency_users")
    if not course_open_to_agencies(course) or not course.questions:
        raise OperationError("course_not_published")
    today = today or today_shanghai()
    result = scoring.score_quiz({q.id: q.correct_index for q in course.questions}, answers, course.pass_mark)
    attempt = QuizAttempt(
        course_id=course.id,
        user_id=user.id,
        agency_id=user.agency_id,
        correct=result.correct,
        total=result.total,
        passed=result.passed,
        answers={str(k): v for k, v in answers.items()},
    )
    db.session.add(attempt)
    db.session.flush()
    audit.record(
        "quiz.submit",
        attempt,
        after={
            "course_id": course.id,
            "user_id": user.id,
            "correct": result.correct,
            "total": result.total,
            "passed": result.passed,
        },
    )
    certification = certify(user, course.product_id, today, course_id=course.id) if result.passed else None
    return attempt, certification


def certify(user: User, product_id: int, today: date, course_id: int | None = None) -> Certification:
    valid_until = scoring.certification_valid_until(today, validity_months(product_id))
    cert = db.session.scalar(
        sa.select(Certification).where(
            Certification.user_id == user.id, Certification.product_id == product_id
        )
    )
    before = None
    if cert is None:
        cert = Certification(user_id=user.id, agency_id=user.agency_id, product_id=product_id)
        db.session.add(cert)
    else:
        before = audit.snapshot(cert, ["certified_on", "valid_until"])
    cert.agency_id = user.agency_id
    cert.course_id = course_id
    cert.certified_on = today
    cert.valid_until = max(valid_until, cert.valid_until) if before else valid_until
    cert.expiry_notified_for = None
    db.session.flush()
    audit.record(
        "certification.grant",
        cert,
        before=before,
        after=audit.snapshot(cert, ["user_id", "product_id", "certified_on", "valid_until"]),
    )
    return cert


def current_certifications_clause(today: date):
    return sa.and_(
        Certification.valid_until >= today,
        Certification.user_id.in_(sa.select(User.id).where(User.is_enabled.is_(True))),
    )


def agency_certified_for(agency_id: int, product_id: int, today: date | None = None) -> bool:
    """True when at least one enabled user of the agency holds a current certification."""
    today = today or today_shanghai()
    return bool(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Certification)
            .where(
                Certification.agency_id == agency_id,
                Certification.product_id == product_id,
                current_certifications_clause(today),
            )
        )
    )


def user_certifications(user_id: int) -> list[Certification]:
    return list(
        db.session.scalars(
            sa.select(Certification)
            .where(Certification.user_id == user_id)
            .order_by(Certification.valid_until.desc())
        )
    )


def course_for_product(product_id: int) -> Course | None:
    return db.session.scalar(
        sa.select(Course)
        .where(Course.product_id == product_id, Course.published.is_(True))
        .order_by(Course.id)
    )


def notify_expiring(today: date | None = None) -> int:
    """Tell each user whose certification ends within 30 days (once per validity period), and the
    agency owner(s): valid through today + 30 is notified, today + 31 is not yet. Certifications
    of retired products are not notified. Safe to run every day; returns the number notified."""
    today = today or today_shanghai()
    horizon = today + timedelta(days=scoring.EXPIRY_NOTICE_DAYS)
    rows = db.session.scalars(
        sa.select(Certification)
        .where(
            Certification.product_id.in_(active_product_ids()),
            Certification.valid_until >= today,
            Certification.valid_until <= horizon,
            sa.or_(
                Certification.expiry_notified_for.is_(None),
                Certification.expiry_notified_for != Certification.valid_until,
            ),
        )
        .order_by(Certification.id)
    ).all()
    count = 0
    for cert in rows:
        if not scoring.needs_expiry_notice(cert.valid_until, today, cert.expiry_notified_for):
            continue
        course = course_for_product(cert.product_id)
        link = f"/enablement/training/{course.id}" if course else "/enablement/training"
        params = {"product": cert.product.code, "date": cert.valid_until.isoformat(), "user": cert.user.name}
        if cert.user.is_enabled:
            notify(cert.user, "enablement.certification_expiring", params, link)
        owners = db.session.scalars(
            sa.select(User).where(
                User.agency_id == cert.agency_id,
                User.role == "agency_owner",
                User.is_enabled.is_(True),
                User.id != cert.user_id,
            )
        ).all()
        for owner in owners:
            notify(owner, "enablement.certification_expiring_owner", params, link)
        cert.expiry_notified_for = cert.valid_until
        audit.record("certification.expiry_notified", cert, after={"valid_until": cert.valid_until})
        count += 1
    db.session.flush()
    return count


def sale_certification_problem(agency_id: int, product_id: int, today: date | None = None):
    """None when the agency may sell the product, else (course or None) it must pass first."""
    if not requires_certification(product_id):
        return None
    if agency_certified_for(agency_id, product_id, today):
        return None
    return ("missing", course_for_product(product_id))


# --- satisfaction surveys ------------------------------------------------------------------------


def survey_max_age_days() -> int:
    return int(current_app.config.get("ENABLEMENT_SURVEY_DAYS", DEFAULT_SURVEY_DAYS))


def survey_token(invitation: SurveyInvitation) -> str:
    return make_signed_token(SURVEY_PURPOSE, {"i": invitation.id, "n": invitation.nonce})


def survey_path(invitation: SurveyInvitation) -> str:
    return f"/survey/{survey_token(invitation)}"


def create_survey(
    *,
    contact_mobile: str,
    contact_name: str = "",
    agency_id: int | None = None,
    product_id: int | None = None,
    customer_id: int | None = None,
    lead_id: int | None = None,
    sold_by: SoldBy = SoldBy.AGENCY,
    account_manager_id: int | None = None,
    send: bool = True,
    now: datetime | None = None,
) -> SurveyInvitation:
    """Make a one-time survey invitation and (by default) send its link by SMS."""
    from portal.enablement.sms import gateway

    now = now or utcnow()
    invitation = SurveyInvitation(
        nonce=secrets.token_hex(16),
        lead_id=lead_id,
        sold_by=SoldBy(sold_by),
        account_manager_id=account_manager_id,
        agency_id=agency_id,
        product_id=product_id,
        customer_id=customer_id,
        contact_name=(contact_name or "")[:128],
        contact_mobile=contact_mobile,
        sent_at=now,
        expires_at=now + timedelta(days=survey_max_age_days()),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        "survey.invite",
        invitation,
        after={
            "lead_id": lead_id,
            "agency_id": agency_id,
            "product_id": product_id,
            "sold_by": SoldBy(sold_by).value,
            "mobile": contact_mobile,
        },
    )
    if send:
        url = current_app.config["PORTAL_BASE_URL"].rstrip("/") + survey_path(invitation)
        with force_locale("zh_Hans_CN"):
            text = gettext(
                "Thank you for choosing us. Please rate our service (1 minute, link valid "
                "%(days)d days): %(url)s",
                days=survey_max_age_days(),
                url=url,
            )
        gateway().send(contact_mobile, text)
    return invitation


def invite_for_won_lead(lead) -> SurveyInvitation | None:
    """Called when a lead becomes won: one survey per lead, to its customer contact. A referral
    lead is surveyed too, marked `sold_by=account_manager` (the account manager made the sale):
    its answer counts for the product and not for the referring agency's score."""
    kind = getattr(lead, "kind", None)
    kind = getattr(kind, "value", kind)
    if kind not in (None, "sale", "referral"):
        return None
    mobile = (getattr(lead, "contact_mobile", None) or "").strip()
    if not mobile:
        return None
    exists = db.session.scalar(sa.select(SurveyInvitation.id).where(SurveyInvitation.lead_id == lead.id))
    if exists:
        return None
    return create_survey(
        contact_mobile=mobile,
        contact_name=getattr(lead, "contact_name", "") or "",
        agency_id=getattr(lead, "agency_id", None),
        product_id=getattr(lead, "product_id", None),
        customer_id=getattr(lead, "customer_id", None),
        lead_id=lead.id,
        sold_by=SoldBy.ACCOUNT_MANAGER if kind == "referral" else SoldBy.AGENCY,
        account_manager_id=getattr(lead, "account_manager_id", None) if kind == "referral" else None,
    )


def open_survey(token: str, now: datetime | None = None) -> tuple[str, SurveyInvitation | None]:
    """('ok', invitation) for a usable link, else ('invalid'|'expired'|'used', invitation or None)."""
    now = now or utcnow()
    payload = read_signed_token(SURVEY_PURPOSE, token, max_age=survey_max_age_days() * 86400)
    if payload is None:
        # a well-signed but old token reads as expired, a forged one as invalid
        old = read_signed_token(SURVEY_PURPOSE, token, max_age=10 * 365 * 86400)
        return ("expired" if old is not None else "invalid"), None
    if not isinstance(payload, dict):
        return "invalid", None
    invitation = db.session.get(SurveyInvitation, payload.get("i"))
    if invitation is None or not secrets.compare_digest(str(invitation.nonce), str(payload.get("n", ""))):
        return "invalid", None
    if invitation.answered_at is not None:
        return "used", invitation
    if invitation.expires_at <= now:
        return "expired", invitation
    return "ok", invitation


def answer_survey(
    invitation: SurveyInvitation,
    scores: dict[str, int],
    comment: str = "",
    language: str = "zh",
    now: datetime | None = None,
) -> SurveyResponse:
    """Store the answer once. The UPDATE … WHERE answered_at IS NULL and the unique invitation
    id make a second (or concurrent) answer fail."""
    now = now or utcnow()
    for dim in SURVEY_DIMENSIONS:
        if int(scores.get(dim, 0)) not in range(1, 6):
            raise OperationError("score_range")
    claimed = db.session.execute(
        sa.update(SurveyInvitation)
        .where(SurveyInvitation.id == invitation.id, SurveyInvitation.answered_at.is_(None))
        .values(answered_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise OperationError("survey_used")
    db.session.refresh(invitation)
    response = SurveyResponse(
        invitation_id=invitation.id,
        agency_id=invitation.agency_id,
        product_id=invitation.product_id,
        customer_id=invitation.customer_id,
        sold_by=invitation.sold_by,
        account_manager_id=invitation.account_manager_id,
        comment=(comment or "").strip()[:4000],
        language=language,
        created_at=now,
        **{f"score_{d}": int(scores[d]) for d in SURVEY_DIMENSIONS},
    )
    db.session.add(response)
    db.session.flush()
    audit.record(
        "survey.answer",
        response,
        after={"invitation_id": invitation.id, **{d: int(scores[d]) for d in SURVEY_DIMENSIONS}},
    )
    return response


def agency_score_clause():
    """The answers that count toward an agency's satisfaction: about sales the agency made
    itself (not the account manager's sales on leads it referred)."""
    return SurveyResponse.sold_by == SoldBy.AGENCY


def satisfaction_rollup(group_column, clause=None, since: datetime | None = None) -> list[dict]:
    """Per value of `group_column` (SurveyResponse.agency_id or .product_id): responses and the
    average of each dimension and of all five. Per agency only the agency's own sales count;
    per product every answer counts."""
    stmt = sa.select(SurveyResponse)
    if group_column.key == "agency_id":
        stmt = stmt.where(agency_score_clause())
    if clause is not None:
        stmt = stmt.where(clause)
    if since is not None:
        stmt = stmt.where(SurveyResponse.created_at >= since)
    groups: dict = {}
    for response in db.session.scalars(stmt):
        groups.setdefault(getattr(response, group_column.key), []).append(response)
    rows = []
    for key, responses in groups.items():
        row = {
            "key": key,
            "responses": len(responses),
            "overall": scoring.average(s for r in responses for s in r.scores()),
        }
        for dim in SURVEY_DIMENSIONS:
            row[dim] = scoring.average(getattr(r, f"score_{dim}") for r in responses)
        rows.append(row)
    return rows


# --- complaints ----------------------------------------------------------------------------------

COMPLAINT_FIELDS = ["agency_id", "category", "severity", "status", "customer_id", "lead_id"]


def _check_staff_reach(user: User | None, region_id: int | None, code: str) -> None:
    """A channel manager acts only within its regions (admins, the CLI and the demo anywhere)."""
    if user is not None and user.role == Role.CHANNEL_MANAGER and region_id not in user.region_ids:
        raise OperationError(code)


def record_complaint(
    agency_id: int,
    category: ComplaintCategory,
    severity: ComplaintSeverity,
    description: str,
    *,
    customer_id: int | None = None,
    lead_id: int | None = None,
    created_by: User | None = None,
) -> Complaint:
    """Record a complaint against an agency and tell its owner(s). A linked lead must be one of
    that agency's leads ("complaint_lead_other_agency" otherwise, also for an unknown number);
    a linked customer may be any group customer (an agency also sells without a registered
    lead), but with a lead it must be the lead's customer, and without one it is taken from the
    lead."""
    from portal.leads.models import Lead
    from portal.partners.models import Agency

    agency = db.session.get(Agency, agency_id)
    if agency is None:
        raise OperationError("complaint_agency_unknown")
    _check_staff_reach(created_by, agency.region_id, "complaint_agency_outside_regions")
    if lead_id is not None:
        lead = db.session.get(Lead, lead_id)
        if lead is None or lead.agency_id != agency.id:
            raise OperationError("complaint_lead_other_agency")
        if customer_id is None:
            customer_id = lead.customer_id
        elif customer_id != lead.customer_id:
            raise OperationError("complaint_customer_not_lead")
    complaint = Complaint(
        agency_id=agency_id,
        category=ComplaintCategory(category),
        severity=ComplaintSeverity(severity),
        description=description.strip(),
        customer_id=customer_id,
        lead_id=lead_id,
        status=ComplaintStatus.OPEN,
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(complaint)
    db.session.flush()
    audit.record("complaint.record", complaint, after=audit.snapshot(complaint, COMPLAINT_FIELDS))
    link = f"/enablement/complaints/{complaint.id}"
    for user in db.session.scalars(
        sa.select(User).where(
            User.agency_id == agency_id, User.role == "agency_owner", User.is_enabled.is_(True)
        )
    ):
        notify(user, "enablement.complaint_recorded", {"id": complaint.id}, link)
    return complaint


def _complaint_desk(complaint: Complaint) -> list[User]:
    """Who hears of an agency's answer: the staff user who recorded the complaint and the
    channel managers of the agency's region (each once, enabled users only)."""
    people: dict[int, User] = {}
    author = complaint.created_by
    if author is not None and author.is_enabled and author.is_staff:
        people[author.id] = author
    region_id = complaint.agency.region_id if complaint.agency else None
    if region_id is not None:
        managers = db.session.scalars(
            sa.select(User).where(
                User.role == Role.CHANNEL_MANAGER,
                User.is_enabled.is_(True),
                User.regions.any(id=region_id),
            )
        )
        for manager in managers:
            people.setdefault(manager.id, manager)
    return list(people.values())


def respond_to_complaint(complaint: Complaint, user: User, text: str) -> Complaint:
    """The agency answers (or updates its answer); the complaint's author and the region's
    channel managers are notified."""
    if complaint.status == ComplaintStatus.RESOLVED:
        raise OperationError("complaint_resolved")
    before = {"status": complaint.status, "agency_response": complaint.agency_response}
    complaint.agency_response = text.strip()
    complaint.responded_at = utcnow()
    complaint.responded_by_id = user.id
    complaint.status = ComplaintStatus.ANSWERED
    db.session.flush()
    audit.record(
        "complaint.respond",
        complaint,
        before=before,
        after={"status": complaint.status, "agency_response": complaint.agency_response},
    )
    link = f"/enablement/staff/complaints/{complaint.id}"
    params = {"id": complaint.id, "agency": complaint.agency.code if complaint.agency else ""}
    for person in _complaint_desk(complaint):
        notify(person, "enablement.complaint_answered", params, link)
    return complaint


def resolve_complaint(complaint: Complaint, user: User, resolution: str) -> Complaint:
    """Staff close the complaint with its resolution; the agency owner(s) are notified."""
    if complaint.status == ComplaintStatus.RESOLVED:
        raise OperationError("complaint_resolved")
    before = {"status": complaint.status, "resolution": complaint.resolution}
    complaint.resolution = resolution.strip()
    complaint.resolved_at = utcnow()
    complaint.resolved_by_id = user.id
    complaint.status = ComplaintStatus.RESOLVED
    db.session.flush()
    audit.record(
        "complaint.resolve",
        complaint,
        before=before,
        after={"status": complaint.status, "resolution": complaint.resolution},
    )
    link = f"/enablement/complaints/{complaint.id}"
    for owner in db.session.scalars(
        sa.select(User).where(
            User.agency_id == complaint.agency_id,
            User.role == Role.AGENCY_OWNER,
            User.is_enabled.is_(True),
        )
    ):
        notify(owner, "enablement.complaint_resolved", {"id": complaint.id}, link)
    return complaint


# --- announcements -------------------------------------------------------------------------------


def post_announcement(
    title: str,
    body: str,
    *,
    region_id: int | None = None,
    grade: str | None = None,
    created_by: User | None = None,
) -> Announcement:
    """Publish a notice to all agencies, or to one region and/or grade. A channel manager may
    only address one of its own regions ("notice_region_scope"); admins may address all."""
    _check_staff_reach(created_by, region_id, "notice_region_scope")
    notice = Announcement(
        title=title.strip(),
        body=body.strip(),
        region_id=region_id,
        grade=grade or None,
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(notice)
    db.session.flush()
    audit.record(
        "announcement.post",
        notice,
        after={"title": notice.title, "region_id": region_id, "grade": notice.grade},
    )
    return notice


def _reaches(notice: Announcement, agency, today: date) -> bool:
    if notice.region_id is not None and notice.region_id != agency.region_id:
        return False
    if notice.grade:
        grade = agency.grade_on(today)
        if grade is None or getattr(grade, "value", grade) != notice.grade:
            return False
    return True


def announcements_for(user: User, today: date | None = None) -> list[tuple[Announcement, bool]]:
    """(notice, read) for every notice that reaches the user's agency, newest first."""
    agency = user.agency
    if agency is None:
        return []
    today = today or today_shanghai()
    notices = db.session.scalars(
        sa.select(Announcement)
        .where(sa.or_(Announcement.region_id.is_(None), Announcement.region_id == agency.region_id))
        .order_by(Announcement.published_at.desc(), Announcement.id.desc())
    ).all()
    read = set(
        db.session.scalars(
            sa.select(AnnouncementRead.announcement_id).where(AnnouncementRead.user_id == user.id)
        )
    )
    return [(n, n.id in read) for n in notices if _reaches(n, agency, today)]


def announcement_for(user: User, announcement_id: int) -> Announcement | None:
    for notice, _read in announcements_for(user):
        if notice.id == announcement_id:
            return notice
    return None


def mark_read(notice: Announcement, user: User) -> None:
    exists = db.session.scalar(
        sa.select(AnnouncementRead.id).where(
            AnnouncementRead.announcement_id == notice.id, AnnouncementRead.user_id == user.id
        )
    )
    if exists is None:
        db.session.add(AnnouncementRead(announcement_id=notice.id, user_id=user.id))
        db.session.flush()


# --- quality signals (scorecard) -----------------------------------------------------------------


def coverage_population(agency_id: int):
    """The users certification coverage is measured over: enabled users of the agency (owner or
    sales, both may register leads) who have joined, i.e. set a password. Invited users who
    never signed up and disabled users are left out."""
    return sa.select(User.id).where(
        User.agency_id == agency_id,
        User.role.in_(list(AGENCY_ROLES)),
        User.is_enabled.is_(True),
        User.password_hash.is_not(None),
    )


def quality_signals(agency, today: date | None = None) -> dict:
    """What enablement contributes to the agency scorecard (keys of portal.partners.scorecard):
    `satisfaction_avg` (all five dimensions of the last 365 days' answers about the agency's
    own sales; None without answers), `complaint_count_90d` (complaints recorded in the last 90
    days), `certification_coverage` (share of the coverage population holding a current
    certification for any product; None while no course is published), plus detail keys the
    quality pages show."""
    today = today or today_shanghai()
    year_ago = utcnow() - timedelta(days=365)
    ninety = utcnow() - timedelta(days=90)
    responses = db.session.scalars(
        sa.select(SurveyResponse).where(
            SurveyResponse.agency_id == agency.id,
            agency_score_clause(),
            SurveyResponse.created_at >= year_ago,
        )
    ).all()
    complaints = db.session.scalars(sa.select(Complaint).where(Complaint.agency_id == agency.id)).all()
    population = coverage_population(agency.id)
    users = db.session.scalar(sa.select(sa.func.count()).select_from(population.subquery())) or 0
    certified_users = (
        db.session.scalar(
            sa.select(sa.func.count(sa.distinct(Certification.user_id))).where(
                Certification.agency_id == agency.id,
                Certification.valid_until >= today,
                Certification.user_id.in_(population),
            )
        )
        or 0
    )
    any_course = (
        db.session.scalar(sa.select(sa.func.count()).select_from(Course).where(Course.published.is_(True)))
        or 0
    )
    required = db.session.scalars(
        sa.select(ProductTraining.product_id).where(
            ProductTraining.requires_certification.is_(True),
            ProductTraining.product_id.in_(active_product_ids()),
        )
    ).all()
    covered = [pid for pid in required if agency_certified_for(agency.id, pid, today)]
    return {
        "satisfaction_avg": scoring.average(s for r in responses for s in r.scores()),
        "satisfaction_responses": len(responses),
        "satisfaction_dimensions": {
            dim: scoring.average(getattr(r, f"score_{dim}") for r in responses) for dim in SURVEY_DIMENSIONS
        },
        "complaint_count_90d": sum(1 for c in complaints if c.created_at >= ninety),
        "complaints_open": sum(1 for c in complaints if c.status != ComplaintStatus.RESOLVED),
        "complaints_awaiting_answer": sum(1 for c in complaints if c.status == ComplaintStatus.OPEN),
        "complaints_resolved": sum(1 for c in complaints if c.status == ComplaintStatus.RESOLVED),
        "complaints_high_open": sum(
            1
            for c in complaints
            if c.status != ComplaintStatus.RESOLVED and c.severity == ComplaintSeverity.HIGH
        ),
        "certification_coverage": scoring.coverage(certified_users, users) if any_course else None,
        "certified_users": certified_users,
        "agency_users": users,
        "certified_products": len(covered),
        "certification_required_products": len(required),
    }
