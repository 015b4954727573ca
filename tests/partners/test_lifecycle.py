"""Agency lifecycle (active ⇄ suspended, → terminated), lead-registration rule, sign-in, grades."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import AuditLog, Notification, Role
from portal.core.time import today_shanghai
from portal.partners import operations as ops
from portal.partners.models import AgencyStatus, Grade
from portal.partners.rules import GRADE_CHANGE_GUARDS, agency_may_register_leads, register_grade_change_guard
from tests.factories import PASSWORD


@pytest.fixture
def active(make, gz):
    return make.agency(region=gz, grade=Grade.SILVER, grade_from=date(2026, 1, 1))


def test_only_active_agencies_may_register_leads(make, gz):
    assert agency_may_register_leads(make.agency(region=gz, status=AgencyStatus.ACTIVE))
    for status in (
        AgencyStatus.SUSPENDED,
        AgencyStatus.PENDING,
        AgencyStatus.REJECTED,
        AgencyStatus.TERMINATED,
    ):
        assert not agency_may_register_leads(make.agency(region=gz, status=status))
    assert not agency_may_register_leads(None)


def test_suspend_and_reactivate_with_reasons(client, login, make, active, channel_gz):
    owner = make.user(Role.AGENCY_OWNER, agency=active)
    login(channel_gz)
    assert client.post(f"/agencies/{active.id}/status/suspend", data={"status-reason": ""}).status_code == 200
    db.session.refresh(active)
    assert active.status == AgencyStatus.ACTIVE  # a reason is required
    assert (
        client.post(f"/agencies/{active.id}/status/suspend", data={"status-reason": "complaints"}).status_code
        == 302
    )
    db.session.refresh(active)
    assert active.status == AgencyStatus.SUSPENDED and active.status_reason == "complaints"
    assert not agency_may_register_leads(active)
    # a suspended agency's users still sign in and read
    agency_client = client.application.test_client()
    assert agency_client.post("/login", data={"email": owner.email, "password": PASSWORD}).status_code == 302
    page = agency_client.get("/my-agency", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "complaints" in page and "cannot register leads" in page

    assert (
        client.post(
            f"/agencies/{active.id}/status/reactivate", data={"status-reason": "resolved"}
        ).status_code
        == 302
    )
    db.session.refresh(active)
    assert active.status == AgencyStatus.ACTIVE and agency_may_register_leads(active)
    actions = [
        a.action
        for a in db.session.scalars(
            sa.select(AuditLog)
            .where(AuditLog.object_type == "agencies", AuditLog.object_id == str(active.id))
            .order_by(AuditLog.id)
        )
    ]
    assert actions == ["agency.suspend", "agency.reactivate"]
    kinds = [
        n.kind for n in db.session.scalars(sa.select(Notification).where(Notification.user_id == owner.id))
    ]
    assert kinds == ["partners.agency_suspended", "partners.agency_reactivated"]


def test_terminated_agency_cannot_sign_in(client, login, make, active, channel_gz):
    owner = make.user(Role.AGENCY_OWNER, agency=active)
    agency_client = client.application.test_client()
    assert agency_client.post("/login", data={"email": owner.email, "password": PASSWORD}).status_code == 302
    assert agency_client.get("/my-agency").status_code == 200
    login(channel_gz)
    client.post(f"/agencies/{active.id}/status/terminate", data={"status-reason": "contract ended"})
    db.session.refresh(active)
    assert active.status == AgencyStatus.TERMINATED
    # the open session ends, and a new sign-in is refused
    assert agency_client.get("/my-agency").status_code == 302
    fresh = client.application.test_client()
    response = fresh.post(
        "/login", data={"email": owner.email, "password": PASSWORD}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200
    assert fresh.get("/account").status_code == 302


def test_impossible_transitions_are_refused(make, gz):
    pending = make.agency(region=gz, status=AgencyStatus.PENDING, grade=None)
    with pytest.raises(ops.OperationError):
        ops.change_status(pending, AgencyStatus.SUSPENDED, "x")
    terminated = make.agency(region=gz, status=AgencyStatus.TERMINATED)
    with pytest.raises(ops.OperationError):
        ops.change_status(terminated, AgencyStatus.ACTIVE, "x")


def test_grade_change_from_a_chosen_date_keeps_history(client, login, make, active, channel_gz):
    owner = make.user(Role.AGENCY_OWNER, agency=active)
    login(channel_gz)
    start = today_shanghai() + timedelta(days=10)
    response = client.post(
        f"/agencies/{active.id}/grade",
        data={
            "grade-grade": "gold",
            "grade-effective_from": start.isoformat(),
            "grade-reason": "great quarter",
        },
    )
    assert response.status_code == 302
    db.session.refresh(active)
    assert [(g.grade, g.effective_from) for g in active.grades] == [
        (Grade.SILVER, date(2026, 1, 1)),
        (Grade.GOLD, start),
    ]
    assert active.grade_on(start - timedelta(days=1)) == Grade.SILVER
    assert active.grade_on(start) == Grade.GOLD
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "agency.grade_change"))
    assert db.session.scalar(
        sa.select(Notification).where(
            Notification.user_id == owner.id, Notification.kind == "partners.grade_changed.gold"
        )
    )


def test_grade_change_guards_refuse_closed_dates(client, login, make, active, channel_gz):
    closed_until = date(2026, 6, 30)

    def closed_period_guard(agency, effective_from):
        if effective_from <= closed_until:
            return "The period 2026-06 is closed."
        return None

    register_grade_change_guard(closed_period_guard)
    try:
        login(channel_gz)
        response = client.post(
            f"/agencies/{active.id}/grade",
            follow_redirects=True,
            data={"grade-grade": "bronze", "grade-effective_from": "2026-06-15"},
        )
        assert "The period 2026-06 is closed." in response.get_data(as_text=True)
        db.session.refresh(active)
        assert len(active.grades) == 1
        assert (
            client.post(
                f"/agencies/{active.id}/grade",
                data={"grade-grade": "bronze", "grade-effective_from": "2026-07-01"},
            ).status_code
            == 302
        )
        db.session.refresh(active)
        assert active.grade_on(date(2026, 7, 1)) == Grade.BRONZE
    finally:
        GRADE_CHANGE_GUARDS.remove(closed_period_guard)
