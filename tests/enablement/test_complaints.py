"""Complaints: recorded by staff, seen and answered by the agency only, resolved by staff."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import Notification, Role
from portal.enablement import operations as ops
from portal.enablement.models import Complaint, ComplaintStatus

EN = {"Accept-Language": "en"}


def test_complaint_lifecycle_and_visibility(client, make, login):
    region = make.region("GZ")
    agency, other = make.agency(region=region), make.agency(region=region)
    owner = make.user(Role.AGENCY_OWNER, agency=agency)
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    stranger = make.user(Role.AGENCY_OWNER, agency=other)
    manager = make.user(Role.CHANNEL_MANAGER, regions=[region])
    customer = make.customer()

    login(manager)
    response = client.post(
        "/enablement/staff/complaints/new",
        data={
            "agency_id": str(agency.id),
            "category": "delay",
            "severity": "high",
            "customer_uscc": customer.uscc,
            "lead_id": "",
            "description": "Activation took three weeks.",
        },
    )
    assert response.status_code == 302
    complaint = db.session.scalar(sa.select(Complaint))
    assert complaint.agency_id == agency.id and complaint.customer_id == customer.id
    assert complaint.status == ComplaintStatus.OPEN
    assert (
        db.session.scalar(
            sa.select(Notification.user_id).where(Notification.kind == "enablement.complaint_recorded")
        )
        == owner.id
    )

    # the agency's sales user sees and answers it
    login(sales)
    listing = client.get("/enablement/complaints", headers=EN).get_data(as_text=True)
    assert f"#{complaint.id}" in listing
    assert "Activation took three weeks." in client.get(f"/enablement/complaints/{complaint.id}").get_data(
        as_text=True
    )
    client.post(f"/enablement/complaints/{complaint.id}", data={"response": "We apologised and fixed it."})
    assert complaint.status == ComplaintStatus.ANSWERED and complaint.responded_by_id == sales.id

    # another agency: not in its list, 404 on the row, cannot answer
    login(stranger)
    assert f"#{complaint.id}" not in client.get("/enablement/complaints").get_data(as_text=True)
    assert client.get(f"/enablement/complaints/{complaint.id}").status_code == 404
    assert client.post(f"/enablement/complaints/{complaint.id}", data={"response": "x"}).status_code == 404
    assert complaint.agency_response == "We apologised and fixed it."

    # a channel manager of another region does not reach it either
    login(make.user(Role.CHANNEL_MANAGER, regions=[make.region("SZ")]))
    assert client.get(f"/enablement/staff/complaints/{complaint.id}").status_code == 404

    # the region's channel manager resolves it; the owner is told
    login(manager)
    client.post(f"/enablement/staff/complaints/{complaint.id}", data={"resolution": "Customer compensated."})
    assert complaint.status == ComplaintStatus.RESOLVED and complaint.resolved_by_id == manager.id
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.kind == "enablement.complaint_resolved", Notification.user_id == owner.id)
        )
        == 1
    )
    login(owner)
    page = client.get(f"/enablement/complaints/{complaint.id}", headers=EN).get_data(as_text=True)
    assert "Customer compensated." in page and "Send answer" not in page

    signals = ops.quality_signals(agency)
    assert signals["complaint_count_90d"] == 1 and signals["complaints_open"] == 0


def test_channel_manager_cannot_record_against_an_agency_outside_its_regions(client, make, login):
    far = make.agency(region=make.region("SZ"))
    login(make.user(Role.CHANNEL_MANAGER, regions=[make.region("GZ")]))
    response = client.post(
        "/enablement/staff/complaints/new",
        headers=EN,
        data={"agency_id": str(far.id), "category": "other", "severity": "low", "description": "x"},
    )
    assert response.status_code == 200 and "Choose an agency." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Complaint)) == 0


def test_unknown_customer_code_is_reported(client, make, login):
    agency = make.agency()
    login(make.user(Role.ADMIN))
    response = client.post(
        "/enablement/staff/complaints/new",
        headers=EN,
        data={
            "agency_id": str(agency.id),
            "category": "billing",
            "severity": "medium",
            "customer_uscc": "91440101MA0000000X",
            "description": "Overcharged.",
        },
    )
    assert "No group customer has this code." in response.get_data(as_text=True)


def test_agency_users_cannot_use_the_staff_complaint_desk(client, make, login):
    agency = make.agency()
    complaint = ops.record_complaint(agency.id, "service", "low", "Rude on the phone.")
    login(make.user(Role.AGENCY_OWNER, agency=agency))
    assert client.get("/enablement/staff/complaints").status_code == 403
    assert (
        client.post(f"/enablement/staff/complaints/{complaint.id}", data={"resolution": "x"}).status_code
        == 403
    )
    assert complaint.status == ComplaintStatus.OPEN
