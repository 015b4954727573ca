"""Attribution judges "active on the activation date" from the agency's status history (SPEC
§5.2), set-based; and it marks leads won only where SPEC §4's lead lifecycle allows it."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from commissions.attribution import attribute_pending
from commissions.engine import run_period
from commissions.models import Attribution, AttributionKind, Component, ExceptionReason, Line
from portal.core.db import db
from portal.core.models import Role
from portal.partners import operations as partner_ops
from portal.partners.models import AgencyStatus


def on(monkeypatch, day):
    monkeypatch.setattr(partner_ops, "today_shanghai", lambda *a, **k: day)


def attribution_of(activation):
    return db.session.scalar(sa.select(Attribution).where(Attribution.activation_id == activation.id))


def test_sales_activated_while_suspended_earn_nothing_and_are_listed_for_finance(cb, make, client, login,
                                                                                  monkeypatch):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    on(monkeypatch, date(2026, 9, 10))
    partner_ops.change_status(agency, AgencyStatus.SUSPENDED, "unpaid deposit")
    on(monkeypatch, date(2026, 9, 20))
    partner_ops.change_status(agency, AgencyStatus.ACTIVE, "deposit paid")
    assert agency.status == AgencyStatus.ACTIVE  # today's status says nothing about September 10–19
    acts = {day: cb.activation(product, agency, activated=f"2026-09-{day:02d}T10:00:00", order_id=f"SUSP-{day}")
            for day in (9, 10, 15, 19, 20, 25)}
    run_period("2026-09")
    earned = sorted(ln.order_id
                    for ln in db.session.scalars(sa.select(Line).where(Line.component == Component.ONE_OFF)))
    assert earned == ["SUSP-20", "SUSP-25", "SUSP-9"]
    for day in (10, 15, 19):
        a = attribution_of(acts[day])
        assert (a.kind, a.reason, a.agency_id) == (AttributionKind.EXCEPTION, ExceptionReason.INACTIVE_AGENT,
                                                   agency.id)
    login(make.user(Role.FINANCE))
    page = client.get("/commissions/exceptions", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    for order in ("SUSP-10", "SUSP-15", "SUSP-19"):
        assert order in page.text
    assert "SUSP-9" not in page.text and "SUSP-20" not in page.text
    assert "Agency not active on the activation date" in page.text


def test_an_agency_approved_through_the_application_earns_only_from_its_approval(cb, make, monkeypatch):
    _agency, product, _rule = cb.setup(min_payout_fen=0)
    from portal.partners.models import ApplicationRound, Grade

    other = make.agency(approved_on=None, status=AgencyStatus.PENDING, grade=None)
    partner_ops.record_status_change(other, AgencyStatus.PENDING, "application", effective_from=date(2026, 9, 1))
    other.rounds.append(ApplicationRound(number=1, data={}))
    db.session.flush()
    partner_ops.approve_application(other, Grade.SILVER, make.user(Role.CHANNEL_MANAGER), date(2026, 9, 15))
    before = cb.activation(product, other, activated="2026-09-14T10:00:00")
    after = cb.activation(product, other, activated="2026-09-15T10:00:00")
    attribute_pending()
    assert attribution_of(before).reason == ExceptionReason.INACTIVE_AGENT
    assert (attribution_of(after).kind, attribution_of(after).agency_id) == (AttributionKind.SALE, other.id)
    assert [(h.status, h.effective_from) for h in other.status_history] == \
        [(AgencyStatus.PENDING, date(2026, 9, 1)), (AgencyStatus.ACTIVE, date(2026, 9, 15))]


def test_terminated_agency_earns_for_sales_before_the_termination(cb, monkeypatch):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    on(monkeypatch, date(2026, 9, 16))
    partner_ops.change_status(agency, AgencyStatus.TERMINATED, "contract ended")
    early = cb.activation(product, agency, activated="2026-09-15T10:00:00")
    late = cb.activation(product, agency, activated="2026-09-16T10:00:00")
    attribute_pending()
    assert attribution_of(early).kind == AttributionKind.SALE
    assert attribution_of(late).reason == ExceptionReason.INACTIVE_AGENT


def test_a_status_change_without_history_still_counts(cb, monkeypatch):
    """A writer that keeps no history (an import) changed the status after the last entry: the
    current status holds from the day of that change."""
    from datetime import UTC, datetime

    agency, product, _rule = cb.setup(min_payout_fen=0)
    on(monkeypatch, date(2026, 9, 1))
    partner_ops.change_status(agency, AgencyStatus.SUSPENDED, "check")
    on(monkeypatch, date(2026, 9, 5))
    partner_ops.change_status(agency, AgencyStatus.ACTIVE, "ok")
    agency.status = AgencyStatus.SUSPENDED                                  # e.g. `portal agencies import`
    agency.status_changed_at = datetime(2026, 9, 20, 2, 0, tzinfo=UTC)     # 10:00 on the 20th in Shanghai
    db.session.flush()
    acts = [cb.activation(product, agency, activated=f"2026-09-{d:02d}T10:00:00") for d in (3, 10, 21)]
    attribute_pending()
    assert [attribution_of(a).kind for a in acts] == [AttributionKind.EXCEPTION, AttributionKind.SALE,
                                                      AttributionKind.EXCEPTION]


def test_attribution_of_many_orders_reads_the_history_once(cb, monkeypatch):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    on(monkeypatch, date(2026, 9, 10))
    partner_ops.change_status(agency, AgencyStatus.SUSPENDED, "x")
    for i in range(30):
        cb.activation(product, agency, activated=f"2026-09-{1 + i % 28:02d}T10:00:00")
    statements = []

    def count(conn, cursor, statement, *args):
        if "agency_status_history" in statement:
            statements.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        attribute_pending()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1


# --- leads become won only as SPEC §4 allows ------------------------------------------------------

def _referral(make, agency, customer, product, status):
    from portal.core.time import parse_iso_timestamp
    from portal.leads.models import Lead, LeadKind

    lead = Lead(agency_id=agency.id, customer_id=customer.id, product_id=product.id, kind=LeadKind.REFERRAL,
                status=status, contact_name="x", contact_mobile="13800000000",
                approved_at=parse_iso_timestamp("2026-08-01T10:00:00"),
                routed_at=parse_iso_timestamp("2026-08-02T10:00:00"))
    db.session.add(lead)
    db.session.flush()
    return lead


@pytest.mark.parametrize(("status", "won"), [("routed", False), ("accepted", True)])
def test_a_referral_is_won_only_once_accepted(cb, make, status, won):
    from portal.leads.models import LeadStatus

    agency, _low, _rule = cb.setup()
    high = make.product(code=f"HI-{status}", scores=(5, 1, 1))
    cb.rule(high, one_off_per_unit="0", share_rate="0", referral_bounty="100.00")
    customer = make.customer()
    lead = _referral(make, agency, customer, high, LeadStatus(status))
    act = cb.activation(high, None, uscc=customer.uscc, agent_code="", activated="2026-09-05T10:00:00")
    attribute_pending()
    a = attribution_of(act)
    assert (a.kind, a.agency_id, a.lead_id) == (AttributionKind.REFERRAL, agency.id, lead.id)  # the bounty is earned
    db.session.refresh(lead)
    assert lead.status == (LeadStatus.WON if won else LeadStatus(status))


def test_an_expired_sale_lead_protects_its_sale_but_is_not_marked_won(cb, make):
    from commissions.attribution import may_become_won
    from portal.core.time import parse_iso_timestamp
    from portal.leads.models import Lead, LeadKind, LeadStatus

    agency, product, _rule = cb.setup()
    customer = make.customer()
    lead = Lead(agency_id=agency.id, customer_id=customer.id, product_id=product.id, kind=LeadKind.SALE,
                status=LeadStatus.EXPIRED, contact_name="x", contact_mobile="13800000000",
                approved_at=parse_iso_timestamp("2026-06-01T10:00:00"), protected_until=date(2026, 8, 30))
    db.session.add(lead)
    db.session.flush()
    act = cb.activation(product, None, uscc=customer.uscc, agent_code="", activated="2026-08-20T10:00:00")
    attribute_pending()
    a = attribution_of(act)
    assert (a.kind, a.agency_id, a.lead_id) == (AttributionKind.SALE, agency.id, lead.id)
    db.session.refresh(lead)
    assert lead.status == LeadStatus.EXPIRED and not may_become_won(lead)
