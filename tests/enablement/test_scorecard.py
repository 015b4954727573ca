"""Enablement's quality signals in the agency scorecard (portal.partners.scorecard)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from portal.core.db import db
from portal.core.models import Role
from portal.core.time import today_shanghai
from portal.enablement import operations as ops
from portal.enablement import rules
from portal.partners import scorecard
from tests.enablement.conftest import PDF


def test_scorecard_shows_satisfaction_complaints_and_certification(make, en):
    assert rules.scorecard_source in scorecard.SCORECARD_SOURCES
    owner = make.user(Role.AGENCY_OWNER)
    sales = make.user(Role.AGENCY_SALES, agency=owner.agency)
    agency = owner.agency
    today = today_shanghai()
    card = scorecard.compute(agency, today)
    assert card.value("satisfaction_avg") is None
    assert card.value("complaint_count_90d") == 0
    assert card.value("certification_coverage") is None  # no course published anywhere yet

    course = en.course(requires=True)
    ops.certify(sales, course.product_id, today, course.id)
    invitation = ops.create_survey(contact_mobile="13800000001", agency_id=agency.id, send=False)
    ops.answer_survey(invitation, {"product": 5, "agent": 4, "channel": 4, "promotion": 3, "relationship": 5})
    ops.record_complaint(agency.id, "delay", "high", "Slow activation.")
    card = scorecard.compute(agency, today)
    assert card.value("satisfaction_avg") == Decimal("4.20")
    assert card.value("complaint_count_90d") == 1
    assert card.value("certification_coverage") == Decimal("0.50")  # one of two users
    checks = {(c.grade.value, c.key): c.met for c in card.checks}
    assert checks[("gold", "satisfaction_avg")] is False and checks[("silver", "satisfaction_avg")] is True


def test_course_attachments_follow_the_course(client, make, login, en):
    course = en.course()
    page = ops.add_course_page(course, "Slides", "", PDF, "slides.pdf")
    draft = en.course(published=False)
    draft_page = ops.add_course_page(draft, "Draft slides", "", PDF, "draft.pdf")
    login(make.user(Role.AGENCY_SALES))
    response = client.get(f"/enablement/training/{course.id}/pages/{page.id}/file")
    assert response.status_code == 200 and response.data == PDF
    assert client.get(f"/enablement/training/{draft.id}/pages/{draft_page.id}/file").status_code == 404
    assert client.get(f"/enablement/training/{draft.id}/pages/{page.id}/file").status_code == 404
    login(make.user(Role.CHANNEL_MANAGER))
    assert client.get(f"/enablement/training/{draft.id}/pages/{draft_page.id}/file").status_code == 200
    login(make.user(Role.FINANCE))
    assert client.get(f"/enablement/training/{course.id}/pages/{page.id}/file").status_code == 403


def test_certification_coverage_counts_enabled_agency_users_who_have_joined(make, en):
    """Coverage = users holding a current certification / enabled owner and sales users of the
    agency who set a password. Invited users who never joined and disabled users are left out,
    on both sides of the fraction."""
    owner = make.user(Role.AGENCY_OWNER)
    agency = owner.agency
    sales = make.user(Role.AGENCY_SALES, agency=agency)
    invited = make.user(Role.AGENCY_SALES, agency=agency, password=None)
    leaver = make.user(Role.AGENCY_SALES, agency=agency)
    today = today_shanghai()
    course = en.course(requires=True)
    for user in (sales, invited, leaver):
        ops.certify(user, course.product_id, today, course.id)
    leaver.is_enabled = False
    db.session.flush()
    assert invited.password_hash is None

    signals = ops.quality_signals(agency, today)
    assert (signals["certified_users"], signals["agency_users"]) == (1, 2)  # sales / owner + sales
    assert signals["certification_coverage"] == Decimal("0.50")
    assert scorecard.compute(agency, today).value("certification_coverage") == Decimal("0.50")
    ops.certify(owner, course.product_id, today, course.id)  # owners sell too and count once certified
    assert ops.quality_signals(agency, today)["certification_coverage"] == Decimal("1.00")
    # an expired certification does not count
    [owner_cert] = ops.user_certifications(owner.id)
    owner_cert.valid_until = today - timedelta(days=1)
    db.session.flush()
    assert ops.quality_signals(agency, today)["certification_coverage"] == Decimal("0.50")
