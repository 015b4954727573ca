"""Verbs on agencies: apply, review, lifecycle, grades and agency users.

Every function flushes and writes the audit record; the caller (request or CLI) commits once.
Texts of refusals are lazy strings (shown in the reader's language by the caller)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from portal.core import audit
from portal.core import operations as core_ops
from portal.core.db import db, utcnow
from portal.core.models import Region, Role, User
from portal.core.notify import notify, queue_email
from portal.core.operations import OperationError
from portal.core.permissions import scoped
from portal.core.security import make_signed_token, read_signed_token
from portal.core.time import today_shanghai
from portal.core.validators import normalise_mobile, normalise_uscc
from portal.partners.licences import CheckedLicence, store_licence
from portal.partners.models import (
    LIVE_STATUSES,
    Agency,
    AgencyCodeCounter,
    AgencyGrade,
    AgencyStatus,
    AgencyStatusChange,
    ApplicationRound,
    Grade,
    RoundOutcome,
)
from portal.partners.rules import grade_change_problem

AGREEMENT_VERSION = "2026-01"
INVITE_PURPOSE = "agency-invite"

MY_AGENCY_LINK = "/my-agency"


def staff_link(agency: Agency) -> str:
    return f"/agencies/{agency.id}"


@dataclass
class ApplicationData:
    """The company details of an application (SPEC §3), as the applicant typed them."""

    name: str
    uscc: str
    legal_representative: str
    contact_name: str
    mobile: str
    email: str
    region_id: int
    address: str
    business_scope: str

    def normalised(self) -> ApplicationData:
        return ApplicationData(
            name=self.name.strip(),
            uscc=normalise_uscc(self.uscc),
            legal_representative=self.legal_representative.strip(),
            contact_name=self.contact_name.strip(),
            mobile=normalise_mobile(self.mobile),
            email=core_ops.normalise_email(self.email),
            region_id=int(self.region_id),
            address=self.address.strip(),
            business_scope=self.business_scope.strip(),
        )


class FieldError(OperationError):
    """A refusal that belongs to one field of the form (`field` is the form field's name)."""

    def __init__(self, field: str, message):
        super().__init__(message)
        self.field = field


DUPLICATE_USCC = _l("An application or agency with this unified social credit code already exists.")


def live_agency_with_uscc(uscc: str, exclude_id: int | None = None) -> Agency | None:
    stmt = sa.select(Agency).where(Agency.uscc == normalise_uscc(uscc), Agency.status.in_(LIVE_STATUSES))
    if exclude_id is not None:
        stmt = stmt.where(Agency.id != exclude_id)
    return db.session.scalars(stmt.limit(1)).first()


def _flush_agency(agency: Agency) -> None:
    """Flush inside a savepoint: the live-USCC unique index may refuse the row (a race)."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise FieldError("uscc", DUPLICATE_USCC) from exc


def _apply_data(agency: Agency, data: ApplicationData, licence: CheckedLicence | None) -> None:
    agency.name = data.name
    agency.uscc = data.uscc
    agency.legal_representative = data.legal_representative
    agency.contact_name = data.contact_name
    agency.mobile = data.mobile
    agency.email = data.email
    agency.region_id = data.region_id
    agency.address = data.address
    agency.business_scope = data.business_scope
    if licence is not None:
        agency.licence_file = store_licence(licence)
        agency.licence_filename = licence.filename
        agency.licence_mime = licence.mime


def _round_data(agency: Agency) -> dict:
    return {
        "name": agency.name,
        "uscc": agency.uscc,
        "legal_representative": agency.legal_representative,
        "contact_name": agency.contact_name,
        "mobile": agency.mobile,
        "email": agency.email,
        "region": agency.region.code if agency.region else None,
        "address": agency.address,
        "business_scope": agency.business_scope,
        "licence_filename": agency.licence_filename,
        "licence_file": agency.licence_file,
        "agreement_version": agency.agreement_version,
    }


def channel_managers_of(region_id: int) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.role == Role.CHANNEL_MANAGER,
                User.is_enabled.is_(True),
                User.regions.any(Region.id == region_id),
            )
            .order_by(User.id)
        )
    )


def owners_of(agency: Agency) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.agency_id == agency.id, User.role == Role.AGENCY_OWNER, User.is_enabled.is_(True))
            .order_by(User.id)
        )
    )


def _lock(agency: Agency) -> Agency:
    """Reload the agency row locked FOR UPDATE (two reviewers cannot decide the same round)."""
    return (
        db.session.execute(
            sa.select(Agency)
            .where(Agency.id == agency.id)
            .with_for_update(of=Agency)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .one()
    )


# --- applying ------------------------------------------------------------------------------------


def record_status_change(
    agency: Agency,
    status: AgencyStatus,
    reason: str | None = None,
    user: User | None = None,
    effective_from: date | None = None,
) -> AgencyStatusChange:
    """Append `status` to the agency's status history, in effect from `effective_from` (default:
    today in Shanghai). Every change of `Agency.status` goes through here, so that attribution can
    tell the status on any past day (SPEC §5.2 "active on the activation date")."""
    entry = AgencyStatusChange(
        status=AgencyStatus(status),
        effective_from=effective_from or today_shanghai(),
        changed_by_id=getattr(user, "id", None),
        reason=reason or None,
    )
    agency.status_history.append(entry)
    return entry


def submit_application(
    data: ApplicationData, licence: CheckedLicence, password: str, locale: str | None = None
) -> Agency:
    """A new pending agency with its owner user and the first application round.

    One live application or agency per USCC (checked here, and by a partial unique index)."""
    data = data.normalised()
    if live_agency_with_uscc(data.uscc) is not None:
        raise FieldError("uscc", DUPLICATE_USCC)
    if core_ops.get_user_by_email(data.email) is not None:
        raise FieldError("email", _l("A user with this e-mail address already exists. Sign in instead."))
    if db.session.get(Region, data.region_id) is None:
        raise FieldError("region_id", _l("Choose a region."))
    agency = Agency(
        status=AgencyStatus.PENDING, agreement_version=AGREEMENT_VERSION, agreement_accepted_at=utcnow()
    )
    _apply_data(agency, data, licence)
    record_status_change(agency, AgencyStatus.PENDING, "application")
    db.session.add(agency)
    _flush_agency(agency)
    owner = core_ops.create_user(
        data.email, data.contact_name, Role.AGENCY_OWNER, password, agency_id=agency.id, locale=locale
    )
    db.session.refresh(agency)
    agency.rounds.append(ApplicationRound(number=1, data=_round_data(agency)))
    db.session.flush()
    audit.record(
        "agency.apply", agency, after=_round_data(agency) | {"status": agency.status, "owner": owner.email}
    )
    notify(owner, "partners.application_received", {"name": agency.name}, MY_AGENCY_LINK)
    for manager in channel_managers_of(agency.region_id):
        notify(
            manager,
            "partners.application_submitted",
            {"name": agency.name, "region": agency.region.code},
            staff_link(agency),
        )
    return agency


def resubmit_application(agency: Agency, data: ApplicationData, licence: CheckedLicence | None) -> Agency:
    """The applicant's answer to a request for more information: the next round."""
    agency = _lock(agency)
    if not agency.awaiting_applicant:
        raise OperationError(_l("This application cannot be changed now."))
    data = data.normalised()
    data.email = agency.email or data.email  # the e-mail is the applicant's sign-in; it stays
    if live_agency_with_uscc(data.uscc, exclude_id=agency.id) is not None:
        raise FieldError("uscc", DUPLICATE_USCC)
    before = _round_data(agency)
    _apply_data(agency, data, licence)
    _flush_agency(agency)
    db.session.refresh(agency)
    number = agency.latest_round.number + 1
    agency.rounds.append(ApplicationRound(number=number, data=_round_data(agency)))
    db.session.flush()
    audit.record("agency.resubmit", agency, before=before, after=_round_data(agency) | {"round": number})
    for manager in channel_managers_of(agency.region_id):
        notify(
            manager,
            "partners.application_resubmitted",
            {"name": agency.name, "round": number},
            staff_link(agency),
        )
    return agency


# --- review --------------------------------------------------------------------------------------


def _highest_issued_seq(region: Region) -> int:
    prefix = f"AG{region.code}"
    codes = db.session.scalars(sa.select(Agency.code).where(Agency.code.startswith(prefix)))
    seqs = [
        int(c[len(prefix) :]) for c in codes if c and len(c) == len(prefix) + 4 and c[len(prefix) :].isdigit()
    ]
    return max(seqs, default=0)


def _locked_counter(region: Region) -> AgencyCodeCounter:
    stmt = (
        sa.select(AgencyCodeCounter)
        .where(AgencyCodeCounter.region_id == region.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    counter = db.session.execute(stmt).scalar_one_or_none()
    if counter is None:
        try:
            with db.session.begin_nested():
                db.session.add(AgencyCodeCounter(region_id=region.id, last_seq=_highest_issued_seq(region)))
        except IntegrityError:
            pass  # another transaction created it first; its row is locked below
        counter = db.session.execute(stmt).scalar_one()
    return counter


def allocate_agency_code(region: Region) -> str:
    """The next free code `AG` + region code + 4 digits. The region's counter row is locked FOR
    UPDATE until the transaction ends, so concurrent approvals get different codes; codes taken
    otherwise (imports) are skipped."""
    counter = _locked_counter(region)
    while True:
        counter.last_seq += 1
        if counter.last_seq > 9999:
            raise OperationError(_l("The agency codes of this region are exhausted."))
        code = f"AG{region.code}{counter.last_seq:04d}"
        if db.session.scalar(sa.select(sa.func.count()).select_from(Agency).where(Agency.code == code)) == 0:
            break
    db.session.flush()
    return code


def _decide_round(agency: Agency, outcome: RoundOutcome, reviewer: User | None, note: str | None):
    last = agency.latest_round
    last.outcome = outcome
    last.note = note
    last.decided_at = utcnow()
    last.decided_by_id = reviewer.id if reviewer else None


def _require_reviewable(agency: Agency) -> None:
    if not agency.awaiting_review:
        raise OperationError(_l("This application is not waiting for a decision."))


def approve_application(
    agency: Agency, grade: Grade, reviewer: User | None, today: date, note: str | None = None
) -> Agency:
    """Approve: the agency becomes active with `grade` from `today` and gets its agency code."""
    agency = _lock(agency)
    _require_reviewable(agency)
    grade = Grade(grade)
    agency.code = allocate_agency_code(agency.region)
    agency.status = AgencyStatus.ACTIVE
    agency.approved_on = today
    agency.status_reason = None
    agency.status_changed_at = utcnow()
    record_status_change(agency, AgencyStatus.ACTIVE, note or None, reviewer, effective_from=today)
    agency.grades.append(
        AgencyGrade(
            grade=grade,
            effective_from=today,
            created_by_id=reviewer.id if reviewer else None,
            reason=note or None,
        )
    )
    _decide_round(agency, RoundOutcome.APPROVED, reviewer, note or None)
    db.session.flush()
    audit.record(
        "agency.approve",
        agency,
        before={"status": AgencyStatus.PENDING},
        after={
            "status": agency.status,
            "code": agency.code,
            "grade": grade,
            "round": agency.latest_round.number,
            "note": note,
        },
    )
    for owner in owners_of(agency):
        notify(
            owner, "partners.application_approved", {"name": agency.name, "code": agency.code}, MY_AGENCY_LINK
        )
    return agency


def reject_application(agency: Agency, reason: str, reviewer: User | None) -> Agency:
    reason = (reason or "").strip()
    if not reason:
        raise OperationError(_l("Give the reason."))
    agency = _lock(agency)
    _require_reviewable(agency)
    agency.status = AgencyStatus.REJECTED
    agency.status_reason = reason
    agency.status_changed_at = utcnow()
    record_status_change(agency, AgencyStatus.REJECTED, reason, reviewer)
    _decide_round(agency, RoundOutcome.REJECTED, reviewer, reason)
    db.session.flush()
    audit.record(
        "agency.reject",
        agency,
        before={"status": AgencyStatus.PENDING},
        after={"status": agency.status, "reason": reason, "round": agency.latest_round.number},
    )
    for owner in owners_of(agency):
        notify(
            owner, "partners.application_rejected", {"name": agency.name, "reason": reason}, MY_AGENCY_LINK
        )
    return agency


def request_information(agency: Agency, note: str, reviewer: User | None) -> Agency:
    note = (note or "").strip()
    if not note:
        raise OperationError(_l("Say what is missing."))
    agency = _lock(agency)
    _require_reviewable(agency)
    _decide_round(agency, RoundOutcome.INFO_REQUESTED, reviewer, note)
    db.session.flush()
    audit.record(
        "agency.request_information", agency, after={"note": note, "round": agency.latest_round.number}
    )
    for owner in owners_of(agency):
        notify(
            owner, "partners.application_info_requested", {"name": agency.name, "note": note}, MY_AGENCY_LINK
        )
    return agency


# --- lifecycle -----------------------------------------------------------------------------------

TRANSITIONS = {
    (AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED): "partners.agency_suspended",
    (AgencyStatus.SUSPENDED, AgencyStatus.ACTIVE): "partners.agency_reactivated",
    (AgencyStatus.ACTIVE, AgencyStatus.TERMINATED): "partners.agency_terminated",
    (AgencyStatus.SUSPENDED, AgencyStatus.TERMINATED): "partners.agency_terminated",
}


def change_status(
    agency: Agency, new_status: AgencyStatus, reason: str, user: User | None = None
) -> Agency:
    """active ⇄ suspended, active/suspended → terminated; always with a reason. The change is in
    effect from today (Shanghai) and is kept in the agency's status history."""
    reason = (reason or "").strip()
    if not reason:
        raise OperationError(_l("Give the reason."))
    agency = _lock(agency)
    new_status = AgencyStatus(new_status)
    kind = TRANSITIONS.get((agency.status, new_status))
    if kind is None:
        raise OperationError(_l("This change of status is not possible."))
    before = {"status": agency.status, "reason": agency.status_reason}
    agency.status = new_status
    agency.status_reason = reason
    agency.status_changed_at = utcnow()
    record_status_change(agency, new_status, reason, user)
    db.session.flush()
    action = {
        AgencyStatus.SUSPENDED: "agency.suspend",
        AgencyStatus.ACTIVE: "agency.reactivate",
        AgencyStatus.TERMINATED: "agency.terminate",
    }[new_status]
    audit.record(action, agency, before=before, after={"status": new_status, "reason": reason})
    for owner in owners_of(agency):
        notify(
            owner, kind, {"name": agency.name, "code": agency.code or "", "reason": reason}, MY_AGENCY_LINK
        )
    return agency


def change_grade(
    agency: Agency, grade: Grade, effective_from: date, user: User | None, reason: str | None = None
) -> AgencyGrade:
    """The agency has `grade` from `effective_from` on. Guards registered by other features
    (GRADE_CHANGE_GUARDS) may refuse the date, e.g. inside a closed commission period."""
    grade = Grade(grade)
    agency = _lock(agency)
    if agency.status not in (AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED):
        raise OperationError(_l("Only active or suspended agencies have a grade to change."))
    problem = grade_change_problem(agency, effective_from)
    if problem:
        raise OperationError(problem)
    before = agency.grade_on(effective_from)
    entry = next((g for g in agency.grades if g.effective_from == effective_from), None)
    if entry is not None and entry.grade == grade:
        raise OperationError(_l("The agency already has this grade from that date."))
    if entry is None:
        entry = AgencyGrade(effective_from=effective_from)
        agency.grades.append(entry)
    entry.grade = grade
    entry.reason = (reason or "").strip() or None
    entry.created_by_id = user.id if user else None
    entry.created_at = utcnow()
    db.session.flush()
    audit.record(
        "agency.grade_change",
        agency,
        before={"grade": before, "effective_from": effective_from},
        after={"grade": grade, "effective_from": effective_from, "reason": entry.reason},
    )
    for owner in owners_of(agency):
        notify(
            owner,
            f"partners.grade_changed.{grade.value}",
            {"name": agency.name, "date": effective_from.isoformat()},
            MY_AGENCY_LINK,
        )
    return entry


# --- agency users --------------------------------------------------------------------------------


def invitation_link(user: User) -> str:
    token = make_signed_token(INVITE_PURPOSE, {"u": user.id})
    return current_app.config["PORTAL_BASE_URL"].rstrip("/") + f"/invitation/{token}"


def send_invitation(user: User, agency: Agency, inviter_name: str) -> None:
    with force_locale(user.locale or "zh_Hans_CN"):
        subject = gettext("Invitation to the agent portal of %(name)s", name=agency.name)
        body = (
            gettext(
                "%(inviter)s invites you to work for %(name)s in the agent portal. Open this link within "
                "7 days to choose your password:",
                inviter=inviter_name,
                name=agency.name,
            )
            + "\n\n"
            + invitation_link(user)
        )
    queue_email(user.email, subject, body)


def invite_user(
    agency: Agency, email: str, name: str, inviter: User | None, locale: str | None = None
) -> User:
    """A new sales user of `agency`, without password until the invitation is accepted."""
    if agency.status not in (AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED):
        raise OperationError(_l("Users can be invited once the agency is approved."))
    email = core_ops.normalise_email(email)
    if core_ops.get_user_by_email(email) is not None:
        raise OperationError(_l("A user with this e-mail address already exists."))
    user = core_ops.create_user(
        email, name.strip(), Role.AGENCY_SALES, None, agency_id=agency.id, locale=locale
    )
    audit.record(
        "agency.invite",
        agency,
        after={"email": email, "user_id": user.id, "by": inviter.email if inviter else None},
    )
    send_invitation(user, agency, inviter.name if inviter else agency.name)
    return user


def resend_invitation(agency: Agency, user: User, inviter: User | None) -> None:
    """A fresh invitation link (valid 7 days from now) for a user of `agency` who has not joined yet:
    the way out when the first link expired or was lost."""
    if user.agency_id != agency.id or user.password_hash or not user.is_enabled:
        raise OperationError(_l("Only an invited user who has not chosen a password yet gets a new invitation."))
    if agency.status not in (AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED):
        raise OperationError(_l("Users can be invited once the agency is approved."))
    audit.record("agency.invite_resend", agency,
                 after={"email": user.email, "user_id": user.id, "by": inviter.email if inviter else None})
    send_invitation(user, agency, inviter.name if inviter else agency.name)


def user_for_invitation(token: str) -> User | None:
    """The invited user a valid, unexpired, unused invitation token names, else None."""
    payload = read_signed_token(INVITE_PURPOSE, token, current_app.config["INVITATION_MAX_AGE"])
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None
    user = db.session.get(User, payload["u"])
    if user is None or user.password_hash or not user.is_enabled or not user.is_agency_user:
        return None
    if user.agency is None or user.agency.status not in (AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED):
        return None
    return user


def accept_invitation(user: User, password: str) -> None:
    core_ops.set_password(user, password)
    audit.record("agency.invitation_accepted", user.agency, after={"email": user.email})
    for owner in owners_of(user.agency):
        notify(
            owner,
            "partners.invitation_accepted",
            {"email": user.email, "name": user.agency.name},
            "/my-agency/users",
            email=False,
        )


def _member(agency: Agency, user_id: int) -> User | None:
    return db.session.scalar(sa.select(User).where(User.id == user_id, User.agency_id == agency.id))


def set_member_enabled(agency: Agency, user: User, enabled: bool, actor: User) -> None:
    """The owner deactivates (or reactivates) a sales user of the same agency."""
    if user.agency_id != agency.id or user.role != Role.AGENCY_SALES:
        raise OperationError(_l("Only sales users of your agency can be changed here."))
    if user.id == actor.id:
        raise OperationError(_l("You cannot deactivate yourself."))
    if user.is_enabled != enabled:
        core_ops.set_enabled(user, enabled)


def transfer_ownership(agency: Agency, owner: User, new_owner: User) -> None:
    """`new_owner` (an active sales user who has set a password) becomes the owner; the former
    owner becomes a sales user."""
    if owner.agency_id != agency.id or owner.role != Role.AGENCY_OWNER:
        raise OperationError(_l("Only the owner can transfer the agency."))
    if (
        new_owner.agency_id != agency.id
        or new_owner.role != Role.AGENCY_SALES
        or not new_owner.is_enabled
        or not new_owner.password_hash
    ):
        raise OperationError(
            _l("Choose an active sales user of your agency who has accepted the invitation.")
        )
    owner.role = Role.AGENCY_SALES
    new_owner.role = Role.AGENCY_OWNER
    db.session.flush()
    audit.record(
        "agency.ownership_transfer", agency, before={"owner": owner.email}, after={"owner": new_owner.email}
    )
    notify(new_owner, "partners.ownership_received", {"name": agency.name}, MY_AGENCY_LINK)


def application_data_of(agency: Agency) -> dict:
    """The agency's current application fields, for pre-filling the resubmission form."""
    return asdict(
        ApplicationData(
            name=agency.name,
            uscc=agency.uscc,
            legal_representative=agency.legal_representative or "",
            contact_name=agency.contact_name or "",
            mobile=agency.mobile or "",
            email=agency.email or "",
            region_id=agency.region_id,
            address=agency.address or "",
            business_scope=agency.business_scope or "",
        )
    )


def _open_round():
    return sa.exists().where(ApplicationRound.agency_id == Agency.id, ApplicationRound.outcome.is_(None))


def applications_waiting(user):
    """`select(Agency)`: the applications waiting for `user`'s decision — pending agencies in their
    scope with an open round (not those whose applicant was asked for more information)."""
    return scoped(Agency, user).where(Agency.status == AgencyStatus.PENDING, _open_round())


def applications_with_applicant(user):
    """`select(Agency)`: pending applications in `user`'s scope waiting on the applicant (asked for
    more information, no open round)."""
    return scoped(Agency, user).where(Agency.status == AgencyStatus.PENDING, ~_open_round())


def count_applications_waiting(user) -> int:
    """What the review queue lists first, as the home panel and the dashboard count it."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(applications_waiting(user).subquery())) or 0
