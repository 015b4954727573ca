"""The agency scorecard's lead metrics come from the agency's real leads (SPEC §3)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from portal.core.db import db
from portal.core.time import start_of_day_utc, today_shanghai
from portal.leads import operations as ops
from portal.partners import scorecard


def _leads(world, n, **kw):
    return [world.register(**kw).created[0] for _ in range(n)]


def test_leads_registered_approval_and_conversion(client, login, world):
    approved = _leads(world, 3)
    rejected = _leads(world, 1)
    pending = _leads(world, 1)
    referral = world.register(products=[world.high]).created[0]
    for lead in approved:
        ops.approve(lead, world.cm)
    ops.reject(rejected[0], world.cm, "duplicate of an offline order")
    ops.mark_won(approved[0], order_id="ORD-SC-1")
    ops.accept(referral, referral.account_manager)
    ops.mark_won(referral, order_id="ORD-SC-2")
    old = _leads(world, 1)[0]  # submitted 90 days ago: outside the window
    old.submitted_at = start_of_day_utc(today_shanghai() - timedelta(days=90))
    _leads(world, 2, agency=world.rival)  # another agency's leads never count
    db.session.flush()

    card = scorecard.compute(world.agency, today_shanghai())
    assert card.value("leads_registered_90d") == 6  # 3 approved + 1 rejected + 1 pending + 1 referral
    assert card.value("lead_approval_rate") == Decimal("0.7500")  # 3 approved of 4 decided sale leads
    assert card.value("conversion_rate") == Decimal("0.5000")  # 2 won of 3 approved + 1 routed referral
    assert pending[0].status.value == "submitted"

    login(world.cm)
    page = client.get(f"/agencies/{world.agency.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-metric="leads_registered_90d">6<' in page
    assert 'data-metric="lead_approval_rate">75.0%<' in page
    assert 'data-metric="conversion_rate">50.0%<' in page


def test_no_decided_leads_is_not_a_zero_rate(world):
    _leads(world, 2)
    card = scorecard.compute(world.agency, today_shanghai())
    assert card.value("leads_registered_90d") == 2
    assert card.value("lead_approval_rate") is None
    assert card.value("conversion_rate") is None
    fresh = scorecard.compute(world.rival, today_shanghai())
    assert fresh.value("leads_registered_90d") == 0
