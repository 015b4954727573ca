"""Review by channel managers: approve, reject, more-information rounds, region scope, codes."""

from __future__ import annotations

import io
from datetime import date

import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import AuditLog, Notification, OutboxMessage, Role
from portal.core.time import today_shanghai
from portal.partners import operations as ops
from portal.partners.models import AgencyStatus, Grade, RoundOutcome
from tests.factories import PASSWORD
from tests.partners.conftest import owner_of, pdf_bytes


def audit_actions(agency):
    return [
        a.action
        for a in db.session.scalars(
            sa.select(AuditLog)
            .where(AuditLog.object_type == "agencies", AuditLog.object_id == str(agency.id))
            .order_by(AuditLog.id)
        )
    ]


def kinds_of(user):
    return [
        n.kind
        for n in db.session.scalars(
            sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    ]


def test_applications_list_shows_waiting_ones_of_own_region(client, login, apply, channel_gz, sz):
    mine = apply()
    other = apply(region=sz)
    login(channel_gz)
    body = client.get("/agencies/applications", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert mine.name in body and other.name not in body


def test_approve_issues_code_grade_and_notifies(client, login, make, gz, apply, channel_gz):
    make.agency(code="AGGZ0007", region=gz)  # an existing (imported) code is never reissued
    agency = apply()
    login(channel_gz)
    page = client.get(f"/agencies/{agency.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Review round 1" in page
    response = client.post(
        f"/agencies/{agency.id}/approve", data={"approve-grade": "silver", "approve-note": "ok"}
    )
    assert response.status_code == 302
    db.session.refresh(agency)
    assert agency.status == AgencyStatus.ACTIVE and agency.code == "AGGZ0008"
    assert agency.grade_on(today_shanghai()) == Grade.SILVER and agency.approved_on == today_shanghai()
    assert (
        agency.rounds[-1].outcome == RoundOutcome.APPROVED
        and agency.rounds[-1].decided_by_id == channel_gz.id
    )
    assert "agency.approve" in audit_actions(agency)
    owner = owner_of(agency)
    assert "partners.application_approved" in kinds_of(owner)
    owner_client = client.application.test_client()
    login(owner, owner_client)
    notes = owner_client.get("/notifications").get_data(as_text=True)
    assert f"was approved. Your agency code is {agency.code}." in notes
    assert "We received the agency application of" in notes
    mails = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.recipient == owner.email)).all()
    assert any("AGGZ0008" in m.body for m in mails)
    # a second decision is refused
    again = client.post(
        f"/agencies/{agency.id}/approve",
        data={"approve-grade": "gold"},
        follow_redirects=True,
        headers={"Accept-Language": "en"},
    )
    assert "not waiting for a decision" in again.get_data(as_text=True)
    db.session.refresh(agency)
    assert agency.code == "AGGZ0008"


def test_codes_follow_the_region_sequence(make, gz, apply, channel_gz):
    codes = [
        ops.approve_application(apply(), Grade.BRONZE, channel_gz, date(2026, 3, 1)).code for _ in range(3)
    ]
    assert codes == ["AGGZ0001", "AGGZ0002", "AGGZ0003"]


def test_reject_with_reason(client, login, apply, channel_gz):
    agency = apply()
    login(channel_gz)
    empty = client.post(f"/agencies/{agency.id}/reject", data={"reject-reason": ""})
    assert empty.status_code == 200
    db.session.refresh(agency)
    assert agency.status == AgencyStatus.PENDING
    assert (
        client.post(
            f"/agencies/{agency.id}/reject", data={"reject-reason": "Scope does not cover telecom"}
        ).status_code
        == 302
    )
    db.session.refresh(agency)
    assert agency.status == AgencyStatus.REJECTED and agency.status_reason == "Scope does not cover telecom"
    assert agency.code is None
    assert "agency.reject" in audit_actions(agency)
    owner = owner_of(agency)
    assert "partners.application_rejected" in kinds_of(owner)
    # the applicant still signs in and reads the reason
    applicant = client.application.test_client()
    applicant.post("/login", data={"email": owner.email, "password": PASSWORD})
    assert "Scope does not cover telecom" in applicant.get("/my-agency").get_data(as_text=True)


def test_more_information_round_trip_keeps_history(client, login, apply, channel_gz, make):
    agency = apply()
    owner = owner_of(agency)
    login(channel_gz)
    assert (
        client.post(
            f"/agencies/{agency.id}/request-information", data={"info-note": "Upload a legible licence"}
        ).status_code
        == 302
    )
    db.session.refresh(agency)
    assert agency.status == AgencyStatus.PENDING and agency.awaiting_applicant
    assert "partners.application_info_requested" in kinds_of(owner)
    # the reviewer cannot approve while waiting for the applicant
    client.post(f"/agencies/{agency.id}/approve", data={"approve-grade": "gold"})
    db.session.refresh(agency)
    assert agency.status == AgencyStatus.PENDING

    applicant = client.application.test_client()
    applicant.post("/login", data={"email": owner.email, "password": PASSWORD})
    page = applicant.get("/my-agency").get_data(as_text=True)
    assert "Upload a legible licence" in page
    form = applicant.get("/my-agency/application").get_data(as_text=True)
    assert agency.uscc in form  # pre-filled
    response = applicant.post(
        "/my-agency/application",
        content_type="multipart/form-data",
        data={
            "name": agency.name + " (new)",
            "uscc": agency.uscc,
            "legal_representative": "王五",
            "contact_name": "赵六",
            "mobile": "13912345678",
            "region_id": str(agency.region_id),
            "address": "新地址",
            "business_scope": "通信产品销售",
            "licence": (io.BytesIO(pdf_bytes()), "licence-v2.pdf"),
        },
    )
    assert response.status_code == 302
    db.session.refresh(agency)
    assert [r.number for r in agency.rounds] == [1, 2]
    assert agency.rounds[0].outcome == RoundOutcome.INFO_REQUESTED
    assert agency.rounds[0].note == "Upload a legible licence"
    assert agency.rounds[0].data["licence_filename"] == "licence.pdf"
    assert agency.rounds[1].data["licence_filename"] == "licence-v2.pdf"
    assert agency.rounds[1].data["name"].endswith("(new)") and agency.rounds[1].outcome is None
    assert "partners.application_resubmitted" in kinds_of(channel_gz)
    # the applicant cannot resubmit again while the round is under review
    assert applicant.get("/my-agency/application").status_code == 302

    client.post(f"/agencies/{agency.id}/approve", data={"approve-grade": "gold"})
    db.session.refresh(agency)
    assert agency.status == AgencyStatus.ACTIVE
    assert audit_actions(agency) == [
        "agency.apply",
        "agency.request_information",
        "agency.resubmit",
        "agency.approve",
    ]
    page = client.get(f"/agencies/{agency.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Round 1" in page and "Round 2" in page and "Upload a legible licence" in page


def test_channel_manager_of_another_region_gets_404(client, login, make, apply, sz):
    agency = apply()
    other = make.user(Role.CHANNEL_MANAGER, regions=[sz])
    login(other)
    assert client.get(f"/agencies/{agency.id}").status_code == 404
    assert client.post(f"/agencies/{agency.id}/approve", data={"approve-grade": "gold"}).status_code == 404
    assert client.post(f"/agencies/{agency.id}/reject", data={"reject-reason": "x"}).status_code == 404
    assert client.get(f"/agencies/{agency.id}/licence").status_code == 404
    db.session.refresh(agency)
    assert agency.status == AgencyStatus.PENDING


def test_only_channel_managers_decide(client, login, make, apply):
    agency = apply()
    for role in (Role.ADMIN, Role.FINANCE, Role.ACCOUNT_MANAGER, Role.AGENCY_OWNER):
        login(make.user(role))
        assert (
            client.post(f"/agencies/{agency.id}/approve", data={"approve-grade": "gold"}).status_code == 403
        )
    login(make.user(Role.ADMIN))
    assert client.get(f"/agencies/{agency.id}").status_code == 200  # admins read
