"""Complaints: recorded by staff, seen and answered by the agency only, resolved by staff."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from catalog.models import Product
from portal.core.db import db
from portal.core.models import Notification, OutboxMessage, Role
from portal.core.operations import OperationError
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


def _lead_of(agency, user, customer_uscc=None, mobile="13912345678"):
    from portal.leads import operations as lead_ops
    from tests.factories import make_uscc

    product = Product(
        code=f"CP-{agency.id}-{mobile[-4:]}",
        name_zh="产品",
        name_en="Product",
        category="messaging",
        monthly_price_fen=100,
        one_time_price_fen=0,
        module_complexity=1,
        market_exclusivity=1,
        training_requirement=1,
    )
    db.session.add(product)
    db.session.flush()
    result = lead_ops.register_leads(
        agency,
        user,
        customer_uscc or make_uscc(),
        "Pearl River Logistics",
        "Wang Fang",
        mobile,
        [product.code],
        5,
        "100.00",
    )
    return result.created[0]


def _post_complaint(client, agency, **fields):
    data = {
        "agency_id": str(agency.id),
        "category": "misselling",
        "severity": "medium",
        "customer_uscc": "",
        "lead_id": "",
        "description": "Promised a discount that does not exist.",
    } | fields
    return client.post("/enablement/staff/complaints/new", headers=EN, data=data)


def test_a_linked_lead_must_be_one_of_the_agencys_leads(client, make, login):
    region = make.region("GZ")
    agency, other = make.agency(region=region), make.agency(region=region)
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    other_sales = make.user(Role.AGENCY_SALES, agency=other)
    own_lead = _lead_of(agency, sales, mobile="13900000011")
    foreign_lead = _lead_of(other, other_sales, mobile="13900000012")
    login(make.user(Role.CHANNEL_MANAGER, regions=[region]))

    # another agency's lead, and a number that is no lead at all, are refused on the form
    for lead_id in (foreign_lead.id, foreign_lead.id + own_lead.id + 1000):
        refused = _post_complaint(client, agency, lead_id=str(lead_id))
        assert refused.status_code == 200
        assert "This lead number is not a lead of the chosen agency." in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Complaint)) == 0

    # a customer other than the lead's customer is refused as well
    stranger = make.customer()
    mismatch = _post_complaint(client, agency, lead_id=str(own_lead.id), customer_uscc=stranger.uscc)
    assert "The customer is not the customer of the linked lead." in mismatch.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Complaint)) == 0

    # the agency's own lead is accepted; the customer comes from the lead
    accepted = _post_complaint(client, agency, lead_id=str(own_lead.id))
    assert accepted.status_code == 302
    complaint = db.session.scalar(sa.select(Complaint))
    assert complaint.lead_id == own_lead.id and complaint.lead is own_lead
    assert complaint.customer_id == own_lead.customer_id
    page = client.get(f"/enablement/staff/complaints/{complaint.id}", headers=EN).get_data(as_text=True)
    assert f'href="/leads/{own_lead.id}"' in page

    # without a lead any group customer may be named (an agency also sells without a lead)
    assert _post_complaint(client, agency, customer_uscc=stranger.uscc).status_code == 302

    # the operation itself refuses another agency's lead (CLI, demo, any caller)
    with pytest.raises(OperationError, match="complaint_lead_other_agency"):
        ops.record_complaint(agency.id, "service", "low", "x", lead_id=foreign_lead.id)


def test_the_lead_link_is_a_foreign_key():
    column = Complaint.__table__.c.lead_id
    assert [fk.target_fullname for fk in column.foreign_keys] == ["leads.id"]


def test_a_channel_manager_cannot_record_outside_its_regions_in_the_operation(make):
    far = make.agency(region=make.region("SZ"))
    manager = make.user(Role.CHANNEL_MANAGER, regions=[make.region("GZ")])
    with pytest.raises(OperationError, match="complaint_agency_outside_regions"):
        ops.record_complaint(far.id, "other", "low", "x", created_by=manager)


def test_the_agencys_answer_notifies_the_author_and_the_regions_channel_managers(client, make, login):
    gz, sz = make.region("GZ"), make.region("SZ")
    agency = make.agency(region=gz)
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    admin = make.user(Role.ADMIN)
    manager = make.user(Role.CHANNEL_MANAGER, regions=[gz])
    far_manager = make.user(Role.CHANNEL_MANAGER, regions=[sz])
    complaint = ops.record_complaint(agency.id, "delay", "high", "Slow.", created_by=admin)

    login(sales)
    response = client.post(
        f"/enablement/complaints/{complaint.id}",
        data={"response": "We called the customer."},
        headers=EN,
        follow_redirects=True,
    )
    assert "Your answer was sent to the channel manager." in response.get_data(as_text=True)
    told = db.session.execute(
        sa.select(Notification.user_id, Notification.link).where(
            Notification.kind == "enablement.complaint_answered"
        )
    ).all()
    link = f"/enablement/staff/complaints/{complaint.id}"
    assert sorted(told) == sorted([(admin.id, link), (manager.id, link)])
    assert all(user_id != far_manager.id for user_id, _ in told)
    mail = db.session.scalar(
        sa.select(OutboxMessage).where(
            OutboxMessage.channel == "email", OutboxMessage.recipient == manager.email
        )
    )
    assert mail is not None and agency.code in mail.body

    # a manager who recorded it and manages the region is told once
    second = ops.record_complaint(agency.id, "service", "low", "Rude.", created_by=manager)
    ops.respond_to_complaint(second, sales, "Sorry.")
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(
                Notification.kind == "enablement.complaint_answered",
                Notification.user_id == manager.id,
                Notification.link == f"/enablement/staff/complaints/{second.id}",
            )
        )
        == 1
    )
