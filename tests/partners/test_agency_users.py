"""Agency users: invitations, deactivation, ownership transfer; sales users see no money;
licence files only for the agency itself and the staff who may see it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import AuditLog, OutboxMessage, Role, User
from portal.partners.models import AgencyStatus
from tests.factories import PASSWORD
from tests.partners.conftest import form_data, post_application

NEW_PASSWORD = "another-long-password"


@pytest.fixture
def agency(make, gz):
    return make.agency(region=gz)


@pytest.fixture
def owner(make, agency):
    return make.user(Role.AGENCY_OWNER, agency=agency)


def invitation_path(email: str) -> str:
    mail = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.recipient == email).order_by(OutboxMessage.id.desc())
    ).first()
    return re.search(r"https?://[^/\s]+(/invitation/\S+)", mail.body).group(1)


def test_owner_invites_a_sales_user_who_sets_a_password(client, login, owner, agency):
    login(owner)
    response = client.post("/my-agency/users", data={"name": "Sales One", "email": "Sales1@Example.test"})
    assert response.status_code == 302
    invited = db.session.scalar(sa.select(User).where(User.email == "sales1@example.test"))
    assert (
        invited.role == Role.AGENCY_SALES and invited.agency_id == agency.id and invited.password_hash is None
    )
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "agency.invite"))

    path = invitation_path("sales1@example.test")
    guest = client.application.test_client()
    assert guest.get(path).status_code == 200
    assert guest.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert (
        guest.post("/login", data={"email": "sales1@example.test", "password": NEW_PASSWORD}).status_code
        == 302
    )
    assert guest.get("/my-agency").status_code == 200
    # the link works once
    other = client.application.test_client()
    assert other.get(path).headers["Location"].endswith("/login")


def test_forged_or_expired_invitation_is_refused(client, app, login, owner, agency):
    login(owner)
    client.post("/my-agency/users", data={"name": "Sales Two", "email": "sales2@example.test"})
    path = invitation_path("sales2@example.test")
    guest = app.test_client()
    assert guest.get(path[:-3] + "xyz").status_code == 302
    app.config["INVITATION_MAX_AGE"] = -1
    try:
        assert guest.get(path).status_code == 302
        guest.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    finally:
        app.config["INVITATION_MAX_AGE"] = 7 * 24 * 3600
    invited = db.session.scalar(sa.select(User).where(User.email == "sales2@example.test"))
    assert invited.password_hash is None


def test_owner_sends_a_new_invitation_when_the_first_expired(client, app, login, owner, agency, monkeypatch):
    import time

    import itsdangerous.timed

    from portal.partners import operations as ops

    eight_days_ago = time.time() - 8 * 24 * 3600
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: eight_days_ago)
    ops.invite_user(agency, "late@example.test", "Late Joiner", owner)  # the link was made 8 days ago
    monkeypatch.undo()
    login(owner)
    expired = invitation_path("late@example.test")
    guest = app.test_client()
    assert guest.get(expired).status_code == 302  # too old
    invited = db.session.scalar(sa.select(User).where(User.email == "late@example.test"))
    members = client.get("/my-agency/users", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"/my-agency/users/{invited.id}/resend" in members

    response = client.post(f"/my-agency/users/{invited.id}/resend", headers={"Accept-Language": "en"},
                           follow_redirects=True)
    assert "A new invitation was sent to late@example.test" in response.get_data(as_text=True)
    fresh = invitation_path("late@example.test")
    assert fresh != expired and guest.get(fresh).status_code == 200
    assert guest.post(fresh, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "agency.invite_resend"))
    # once joined, no new invitation
    db.session.refresh(invited)
    again = client.post(f"/my-agency/users/{invited.id}/resend", headers={"Accept-Language": "en"},
                        follow_redirects=True)
    assert "has not chosen a password yet" in again.get_data(as_text=True)


def test_an_owner_cannot_resend_another_agencys_invitation(client, login, owner, make, gz):
    other = make.user(Role.AGENCY_SALES, agency=make.agency(region=gz), password=None)
    login(owner)
    assert client.post(f"/my-agency/users/{other.id}/resend").status_code == 404


def test_invitation_to_an_existing_email_is_refused(client, login, owner, make):
    other = make.user(Role.FINANCE)
    login(owner)
    body = client.post(
        "/my-agency/users", data={"name": "X", "email": other.email}, headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    assert "already exists" in body


def test_pending_agency_cannot_invite(client, login, make, gz):
    pending = make.agency(region=gz, status=AgencyStatus.PENDING, grade=None)
    applicant = make.user(Role.AGENCY_OWNER, agency=pending)
    login(applicant)
    client.post("/my-agency/users", data={"name": "X", "email": "x@example.test"})
    assert db.session.scalar(sa.select(User).where(User.email == "x@example.test")) is None


def test_owner_deactivates_and_reactivates_a_sales_user(client, login, make, owner, agency):
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    login(owner)
    assert client.post(f"/my-agency/users/{sales.id}/deactivate").status_code == 302
    db.session.refresh(sales)
    assert not sales.is_enabled
    refused = client.application.test_client()
    refused.post("/login", data={"email": sales.email, "password": PASSWORD})
    assert refused.get("/my-agency").status_code == 302
    assert client.post(f"/my-agency/users/{sales.id}/reactivate").status_code == 302
    db.session.refresh(sales)
    assert sales.is_enabled


def test_owner_cannot_touch_users_of_another_agency(client, login, make, owner, gz):
    stranger = make.user(Role.AGENCY_SALES, agency=make.agency(region=gz))
    login(owner)
    assert client.post(f"/my-agency/users/{stranger.id}/deactivate").status_code == 404
    db.session.refresh(stranger)
    assert stranger.is_enabled


def test_ownership_transfer(client, login, make, owner, agency):
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    login(owner)
    assert client.post("/my-agency/transfer", data={"new_owner": str(sales.id)}).status_code == 302
    db.session.refresh(sales)
    db.session.refresh(owner)
    assert sales.role == Role.AGENCY_OWNER and owner.role == Role.AGENCY_SALES
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "agency.ownership_transfer"))
    # the former owner has lost the owner pages
    assert client.get("/my-agency/users").status_code == 403


def test_sales_user_gets_403_on_owner_pages_and_sees_no_money(client, login, make, owner, agency):
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    login(sales)
    for path in (
        "/my-agency/users",
        "/my-agency/application",
        f"/agencies/{agency.id}",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post("/my-agency/transfer", data={"new_owner": str(sales.id)}).status_code == 403
    assert client.post(f"/my-agency/users/{owner.id}/deactivate").status_code == 403
    page = client.get("/my-agency").get_data(as_text=True)
    assert "¥" not in page
    # the statement and payout pages of the commission features refuse sales users as well
    url_map = client.application.url_map
    money = [
        r
        for r in url_map.iter_rules()
        if r.endpoint.split(".")[0] in {"commissions", "payouts"} and not r.arguments and "GET" in r.methods
    ]
    if "commissions.statements" in client.application.view_functions:
        assert any(r.endpoint == "commissions.statements" for r in money)
    for rule in money:
        assert client.get(rule.rule).status_code == 403, rule.rule


def test_agency_cannot_download_another_agencys_licence(client, login, make, gz):
    first, second = form_data(gz), form_data(gz)
    post_application(client, first)
    post_application(client, second)
    a_owner = db.session.scalar(sa.select(User).where(User.email == first["email"]))
    b_owner = db.session.scalar(sa.select(User).where(User.email == second["email"]))
    login(a_owner)
    own = client.get(f"/agencies/{a_owner.agency_id}/licence")
    assert own.status_code == 200 and own.data.startswith(b"%PDF")
    assert own.headers["Content-Type"] == "application/pdf"
    assert "attachment" in own.headers["Content-Disposition"]
    assert client.get(f"/agencies/{b_owner.agency_id}/licence").status_code == 404
    # the agency's sales users read their own licence, not another agency's
    a_sales = make.user(Role.AGENCY_SALES, agency=a_owner.agency)
    login(a_sales)
    assert client.get(f"/agencies/{a_owner.agency_id}/licence").status_code == 200
    assert client.get(f"/agencies/{b_owner.agency_id}/licence").status_code == 404


def test_licence_for_staff_in_scope_only(client, login, make, gz, sz):
    data = form_data(gz)
    post_application(client, data)
    agency_id = db.session.scalar(sa.select(User.agency_id).where(User.email == data["email"]))
    login(make.user(Role.CHANNEL_MANAGER, regions=[gz]))
    assert client.get(f"/agencies/{agency_id}/licence").status_code == 200
    login(make.user(Role.CHANNEL_MANAGER, regions=[sz]))
    assert client.get(f"/agencies/{agency_id}/licence").status_code == 404
    login(make.user(Role.ADMIN))
    assert client.get(f"/agencies/{agency_id}/licence").status_code == 200
    login(make.user(Role.ACCOUNT_MANAGER))
    assert client.get(f"/agencies/{agency_id}/licence").status_code == 403


def test_licence_is_not_served_as_a_static_file(client, app, gz):
    data = form_data(gz)
    post_application(client, data)
    from portal.partners.models import Agency

    stored = db.session.scalar(sa.select(Agency.licence_file).where(Agency.uscc == data["uscc"]))
    assert client.get(f"/static/{stored}").status_code == 404
    assert client.get(f"/static/licences/{stored}").status_code == 404
