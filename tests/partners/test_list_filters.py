"""The lists behind the dashboards' numbers take the filters those numbers link with."""

from __future__ import annotations

from datetime import timedelta

from portal.core.models import Role
from portal.core.time import today_shanghai
from portal.partners.models import AgencyGrade, AgencyStatus, Grade


def _codes(html: str, agencies) -> set:
    return {a.code for a in agencies if f">{a.name}<" in html}


def test_agencies_by_the_grade_in_effect_today(client, login, make):
    region = make.region("GF")
    gold = make.agency(region=region, grade=Grade.GOLD, name="Gold one")
    silver = make.agency(region=region, grade=Grade.SILVER, name="Silver one")
    # silver today, gold from tomorrow: counts as silver
    later = make.agency(region=region, grade=Grade.SILVER, name="Gold tomorrow")
    later.grades.append(AgencyGrade(grade=Grade.GOLD, effective_from=today_shanghai() + timedelta(days=1)))
    ungraded = make.agency(region=region, grade=None, name="No grade")
    pending = make.agency(region=region, grade=None, status=AgencyStatus.PENDING, name="Still pending")
    everyone = [gold, silver, later, ungraded, pending]
    login(make.user(Role.CHANNEL_MANAGER, regions=[region]))

    def listed(**args):
        return client.get("/agencies", query_string=args, headers={"Accept-Language": "en"}).get_data(as_text=True)

    assert _codes(listed(grade="gold"), everyone) == {gold.code}
    assert _codes(listed(grade="silver"), everyone) == {silver.code, later.code}
    assert _codes(listed(grade="none"), everyone) == {ungraded.code}  # a pending applicant is not "ungraded"
    assert _codes(listed(), everyone) == {a.code for a in everyone}
    assert _codes(listed(grade="platinum"), everyone) == {a.code for a in everyone}  # unknown: no filter
