"""Announcements to all agencies or by region and grade; unread on the home page; mark read."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import Role
from portal.core.operations import OperationError
from portal.enablement import operations as ops
from portal.enablement.models import Announcement
from portal.partners.models import Grade

EN = {"Accept-Language": "en"}


def test_notices_reach_the_chosen_agencies_and_are_marked_read(client, make, login):
    gz, sz = make.region("GZ"), make.region("SZ")
    gold_gz = make.agency(region=gz, grade=Grade.GOLD, grade_from=date(2020, 1, 1))
    silver_sz = make.agency(region=sz, grade=Grade.SILVER, grade_from=date(2020, 1, 1))
    everyone = ops.post_announcement("Policy change for all", "Body A")
    gz_only = ops.post_announcement("Guangzhou promotion", "Body B", region_id=gz.id)
    gold_only = ops.post_announcement("Gold partners meeting", "Body C", grade="gold")
    silver_gz = ops.post_announcement("Silver in GZ", "Body D", region_id=gz.id, grade="silver")

    user = make.user(Role.AGENCY_SALES, agency=gold_gz)
    titles = [n.title for n, _read in ops.announcements_for(user)]
    assert set(titles) == {everyone.title, gz_only.title, gold_only.title}
    other = make.user(Role.AGENCY_OWNER, agency=silver_sz)
    assert [n.title for n, _read in ops.announcements_for(other)] == [everyone.title]

    login(user)
    page = client.get("/enablement/notices", headers=EN).get_data(as_text=True)
    assert "Guangzhou promotion" in page and "Silver in GZ" not in page
    assert client.post(f"/enablement/notices/{silver_gz.id}/read").status_code == 404
    assert client.post(f"/enablement/notices/{gz_only.id}/read").status_code == 302
    assert dict((n.id, read) for n, read in ops.announcements_for(user))[gz_only.id] is True
    # reading twice is harmless
    assert client.post(f"/enablement/notices/{gz_only.id}/read").status_code == 302
    home = client.get("/", headers=EN)
    assert home.status_code == 200
    html = home.get_data(as_text=True)
    assert 'data-testid="notices-panel"' in html and "2 unread" in html and "Policy change for all" in html
    assert "Guangzhou promotion" not in html


def test_staff_post_notices_by_region(client, make, login):
    gz = make.region("GZ")
    manager = make.user(Role.CHANNEL_MANAGER, regions=[gz])
    login(manager)
    response = client.post(
        "/enablement/staff/notices/new",
        data={"title": "New product", "body": "QXT is here", "region_id": str(gz.id), "grade": ""},
    )
    assert response.status_code == 302
    agency_user = make.user(Role.AGENCY_SALES, agency=make.agency(region=gz))
    assert [n.title for n, _ in ops.announcements_for(agency_user)] == ["New product"]
    far = make.region("SZ")
    refused = client.post(
        "/enablement/staff/notices/new",
        headers=EN,
        data={"title": "x", "body": "y", "region_id": str(far.id), "grade": ""},
    )
    assert refused.status_code == 200 and "Not a valid choice" in refused.get_data(as_text=True)
    login(agency_user)
    assert client.post("/enablement/staff/notices/new", data={"title": "x", "body": "y"}).status_code == 403


def test_a_channel_manager_may_only_address_its_own_regions(client, make, login):
    gz, sz = make.region("GZ"), make.region("SZ")
    manager = make.user(Role.CHANNEL_MANAGER, regions=[gz])
    login(manager)
    form = client.get("/enablement/staff/notices/new", headers=EN).get_data(as_text=True)
    assert "All regions" not in form and 'value="0"' not in form
    assert f'value="{gz.id}"' in form and f'value="{sz.id}"' not in form
    for region_id in ("0", "", str(sz.id)):
        refused = client.post(
            "/enablement/staff/notices/new",
            headers=EN,
            data={"title": "To everyone", "body": "x", "region_id": region_id, "grade": ""},
        )
        assert refused.status_code == 200, region_id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Announcement)) == 0
    # the operation refuses it too, whoever calls it
    with pytest.raises(OperationError, match="notice_region_scope"):
        ops.post_announcement("To everyone", "x", created_by=manager)
    with pytest.raises(OperationError, match="notice_region_scope"):
        ops.post_announcement("To Shenzhen", "x", region_id=sz.id, grade="gold", created_by=manager)
    assert ops.post_announcement("To Guangzhou", "x", region_id=gz.id, created_by=manager).region_id == gz.id


def test_an_admin_may_address_all_agencies(client, make, login):
    gz, sz = make.region("GZ"), make.region("SZ")
    login(make.user(Role.ADMIN))
    form = client.get("/enablement/staff/notices/new", headers=EN).get_data(as_text=True)
    assert "All regions" in form and f'value="{sz.id}"' in form
    response = client.post(
        "/enablement/staff/notices/new",
        data={"title": "Policy for all", "body": "x", "region_id": "0", "grade": ""},
    )
    assert response.status_code == 302
    notice = db.session.scalar(sa.select(Announcement))
    assert notice.region_id is None
    for region in (gz, sz):
        user = make.user(Role.AGENCY_SALES, agency=make.agency(region=region))
        assert [n.title for n, _ in ops.announcements_for(user)] == ["Policy for all"]
