"""The public application form: validation, storage of the licence, confirmation, sign-in."""

from __future__ import annotations

import io
from pathlib import Path

import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import AuditLog, Notification, OutboxMessage, Role, User
from portal.partners.licences import MAX_LICENCE_BYTES
from portal.partners.models import Agency, AgencyStatus
from portal.partners.operations import AGREEMENT_VERSION
from tests.factories import PASSWORD
from tests.partners.conftest import PNG_1PX, form_data, post_application


def agencies_with(uscc):
    return db.session.scalars(sa.select(Agency).where(Agency.uscc == uscc)).all()


def test_form_is_public_in_both_languages(client, gz):
    en = client.get("/apply", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Apply as an agency" in en and "Unified social credit code" in en
    zh = client.get("/apply", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "统一社会信用代码" in zh and "营业执照" in zh


def test_valid_application_creates_pending_agency_owner_round_and_mail(client, app, gz, channel_gz):
    data = form_data(gz)
    response = post_application(client, data)
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")

    [agency] = agencies_with(data["uscc"])
    assert agency.status == AgencyStatus.PENDING and agency.code is None
    assert agency.agreement_version == AGREEMENT_VERSION and agency.agreement_accepted_at is not None
    assert agency.mobile == "13812345678" and agency.region_id == gz.id
    assert [r.number for r in agency.rounds] == [1] and agency.rounds[0].outcome is None
    # licence: stored in the data dir under a random name, not the uploaded one
    stored = Path(app.config["PORTAL_DATA_DIR"]) / "licences" / agency.licence_file
    assert stored.read_bytes().startswith(b"%PDF") and agency.licence_file != "licence.pdf"
    assert agency.licence_filename == "licence.pdf" and agency.licence_mime == "application/pdf"
    owner = db.session.scalar(sa.select(User).where(User.email == data["email"]))
    assert owner.role == Role.AGENCY_OWNER and owner.agency_id == agency.id
    # audit, confirmation e-mail, notifications of the applicant and of the region's channel manager
    assert db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "agency.apply", AuditLog.object_id == str(agency.id))
    )
    mail = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.recipient == data["email"])).all()
    assert len(mail) == 1 and agency.name in mail[0].body
    kinds = {(n.user_id, n.kind) for n in db.session.scalars(sa.select(Notification))}
    assert (owner.id, "partners.application_received") in kinds
    assert (channel_gz.id, "partners.application_submitted") in kinds


def test_applicant_signs_in_and_sees_the_state(client, gz):
    """The applicant's language at the time of applying is kept for the page and the e-mails."""
    data = form_data(gz)
    post_application(client, data, lang="zh-CN")
    mail = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.recipient == data["email"]))
    assert "我们已收到" in mail.body
    response = client.post("/login", data={"email": data["email"], "password": PASSWORD})
    assert response.status_code == 302
    page = client.get("/my-agency", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "正在等待所在区域的渠道经理审核" in page
    en = form_data(gz)
    post_application(client.application.test_client(), en, lang="en")
    other = client.application.test_client()
    other.post("/login", data={"email": en["email"], "password": PASSWORD})
    assert "waiting for review by a channel manager" in other.get("/my-agency").get_data(as_text=True)


def _refused(client, data, message, field_hint=None):
    response = post_application(client, data)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert message in body, body[:3000]
    assert not agencies_with(data["uscc"].strip().upper())
    return body


def test_bad_uscc_check_character(client, gz):
    data = form_data(gz)
    good = data["uscc"]
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    data["uscc"] = wrong
    _refused(client, data, "its check character does not match")


def test_bad_uscc_characters_and_length(client, gz):
    data = form_data(gz, uscc="91440101MA5CYQ0XIO")
    _refused(client, data, "only digits and the letters")
    data = form_data(gz, uscc="9144010")
    _refused(client, data, "has 18 characters")


def test_bad_uscc_message_in_chinese(client, gz):
    data = form_data(gz)
    data["uscc"] = data["uscc"][:17] + ("0" if data["uscc"][17] != "0" else "1")
    body = post_application(client, data, lang="zh-CN").get_data(as_text=True)
    assert "校验位不符" in body


def test_bad_mobile(client, gz):
    for mobile in ("12812345678", "1381234567", "138123456789", "abc"):
        _refused(client, form_data(gz, mobile=mobile), "Enter a mainland mobile number")
    assert post_application(client, form_data(gz, mobile="+86 138 1234 5678")).status_code == 302


def test_oversized_licence(client, gz):
    big = b"%PDF-1.4\n" + b"0" * MAX_LICENCE_BYTES
    _refused(client, form_data(gz, licence=(io.BytesIO(big), "big.pdf")), "larger than 5 MB")


def test_disguised_licence_is_refused_by_content(client, gz):
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
    _refused(client, form_data(gz, licence=(io.BytesIO(exe), "licence.pdf")), "must be a PDF, JPEG or PNG")
    html = b"<html><script>alert(1)</script></html>"
    _refused(client, form_data(gz, licence=(io.BytesIO(html), "licence.png")), "must be a PDF, JPEG or PNG")


def test_missing_licence(client, gz):
    data = form_data(gz)
    del data["licence"]
    _refused(client, data, "Attach the business licence")


def test_png_licence_is_accepted_whatever_its_name(client, gz):
    data = form_data(gz, licence=(io.BytesIO(PNG_1PX), "scan.pdf"))
    assert post_application(client, data).status_code == 302
    [agency] = agencies_with(data["uscc"])
    assert agency.licence_mime == "image/png" and agency.licence_file.endswith(".png")


def test_agreement_and_password_policy(client, gz):
    data = form_data(gz)
    del data["accept_agreement"]
    _refused(client, data, "Accept the agency agreement")
    _refused(client, form_data(gz, password="short", confirm="short"), "at least 10 characters")


def test_duplicate_uscc_of_a_live_application_or_agency(client, make, gz):
    first = form_data(gz)
    assert post_application(client, first).status_code == 302
    again = form_data(gz, uscc=first["uscc"])
    body = post_application(client, again).get_data(as_text=True)
    assert "already exists" in body
    assert len(agencies_with(first["uscc"])) == 1
    active = make.agency(region=gz)
    body = post_application(client, form_data(gz, uscc=active.uscc)).get_data(as_text=True)
    assert "already exists" in body


def test_a_rejected_or_terminated_uscc_may_apply_again(client, make, gz):
    rejected = make.agency(region=gz, status=AgencyStatus.REJECTED, grade=None)
    assert post_application(client, form_data(gz, uscc=rejected.uscc)).status_code == 302
    terminated = make.agency(region=gz, status=AgencyStatus.TERMINATED)
    assert post_application(client, form_data(gz, uscc=terminated.uscc)).status_code == 302


def test_database_refuses_a_second_live_agency_per_uscc(make, gz):
    import pytest
    from sqlalchemy.exc import IntegrityError

    first = make.agency(region=gz)
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(Agency(name="dup", uscc=first.uscc, region_id=gz.id, status=AgencyStatus.PENDING))
        db.session.flush()


def test_signed_in_users_are_sent_home(client, make, login):
    login(make.user(Role.AGENCY_OWNER))
    assert client.get("/apply").status_code == 302
