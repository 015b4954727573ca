"""Agency list scope, home panels, navigation, and the demo data of this package."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import Role
from portal.demo import DemoContext
from portal.partners.models import Agency, AgencyStatus, RoundOutcome


def test_agency_list_is_scoped_to_the_channel_managers_regions(client, login, make, gz, sz):
    mine = make.agency(region=gz, name="Mine GZ Ltd")
    theirs = make.agency(region=sz, name="Theirs SZ Ltd")
    login(make.user(Role.CHANNEL_MANAGER, regions=[gz]))
    body = client.get("/agencies").get_data(as_text=True)
    assert mine.name in body and theirs.name not in body
    assert client.get(f"/agencies/{theirs.id}").status_code == 404
    login(make.user(Role.FINANCE))
    body = client.get("/agencies?q=ltd").get_data(as_text=True)
    assert mine.name in body and theirs.name in body
    body = client.get("/agencies?status=suspended").get_data(as_text=True)
    assert mine.name not in body


def test_home_panels_and_navigation(client, login, make, gz, apply, channel_gz):
    apply()
    login(channel_gz)
    home = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-testid="applications-panel"' in home and "/agencies/applications" in home
    assert ">Applications<" in home and ">Agencies<" in home
    owner = make.user(Role.AGENCY_OWNER, agency=make.agency(region=gz))
    login(owner)
    home = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-testid="agency-panel"' in home
    assert ">My agency<" in home and 'href="/my-agency/users"' in home
    sales = make.user(Role.AGENCY_SALES, agency=owner.agency)
    login(sales)
    home = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">My agency<" in home and 'href="/my-agency/users"' not in home


def test_demo_has_agencies_in_every_state_and_an_application_to_review(make):
    from portal.core import demo as core_demo
    from portal.partners import demo as partners_demo

    ctx = DemoContext()
    core_demo.load(ctx)
    partners_demo.load(ctx)
    assert set(ctx.agencies) == {"AGGZ0001", "AGSZ0001"}
    gz1 = ctx.agencies["AGGZ0001"]
    assert gz1.status == AgencyStatus.ACTIVE and gz1.grades[-1].grade == "gold" and gz1.region.code == "GZ"
    assert ctx.agencies["AGSZ0001"].grades[-1].grade == "silver"
    assert ctx.users["owner@agency1.demo.local"].role == Role.AGENCY_OWNER
    assert ctx.users["sales@agency1.demo.local"].agency_id == gz1.id
    statuses = {a.status for a in db.session.scalars(sa.select(Agency))}
    assert statuses == set(AgencyStatus)
    waiting = [a for a in db.session.scalars(sa.select(Agency).where(Agency.status == AgencyStatus.PENDING))
               if a.awaiting_review]
    assert [a.region.code for a in waiting] == ["GZ"]
    more_info = [a for a in db.session.scalars(sa.select(Agency)) if a.awaiting_applicant]
    assert more_info and more_info[0].rounds[0].outcome == RoundOutcome.INFO_REQUESTED
    # loading again changes nothing
    partners_demo.load(DemoContext(regions=ctx.regions, users=ctx.users))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agency)) == 7
