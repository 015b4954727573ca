"""Approval, protection, expiry at the Shanghai date boundary, extensions, referrals' lifecycle,
won/lost, hooks, CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import AuditLog, Notification
from portal.core.time import today_shanghai
from portal.leads import operations as ops
from portal.leads import rules
from portal.leads.models import ExtensionDecision, Lead, LeadStatus


def test_approval_starts_protection_for_the_configured_days(world, app, monkeypatch):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm, today=date(2026, 11, 22))
    assert lead.status == LeadStatus.APPROVED
    assert lead.protected_until == date(2027, 2, 20)  # 90 days after the approval day
    assert lead.decided_by_id == world.cm.id
    monkeypatch.setitem(app.config, "LEAD_PROTECTION_DAYS", 30)
    (other,) = world.register(customer=world.customer()).created
    ops.approve(other, world.cm, today=date(2026, 11, 22))
    assert other.protected_until == date(2026, 12, 22)
    note = db.session.scalar(
        sa.select(Notification).where(
            Notification.user_id == world.sales.id, Notification.kind == "lead.approved"
        )
    )
    assert note.params["until"] == "2027-02-20"
    audit = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "lead.approve", AuditLog.object_id == str(lead.id))
    )
    assert audit.before["status"] == "submitted" and audit.after["status"] == "approved"
    assert audit.after["protected_until"] == "2027-02-20"


def test_approve_twice_or_a_referral_is_refused(world):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm)
    with pytest.raises(ops.LeadError):
        ops.approve(lead, world.cm)
    (referral,) = world.register(customer=world.customer(), products=[world.high]).created
    with pytest.raises(ops.LeadError):
        ops.approve(referral, world.cm)


def test_reject_needs_a_reason_and_tells_the_agency(world):
    (lead,) = world.register(customer=world.customer()).created
    with pytest.raises(ops.LeadError):
        ops.reject(lead, world.cm, "  ")
    ops.reject(lead, world.cm, "customer unknown at this address")
    assert (lead.status, lead.reason) == (LeadStatus.REJECTED, "customer unknown at this address")
    assert db.session.scalar(
        sa.select(Notification).where(
            Notification.user_id == world.sales.id, Notification.kind == "lead.rejected"
        )
    )


def test_expiry_at_the_boundary_date(world):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm, today=date(2026, 1, 1))
    last_day = lead.protected_until
    assert ops.expire_protections(last_day) == []  # the last protected day is still protected
    assert lead.status == LeadStatus.APPROVED
    assert ops.expire_protections(last_day + timedelta(days=1)) == [lead]
    assert lead.status == LeadStatus.EXPIRED
    assert ops.expire_protections(last_day + timedelta(days=1)) == []  # idempotent
    assert [e.action for e in lead.events][-1] == "expire"


def test_expiry_uses_the_shanghai_calendar(world):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm, today=date(2026, 1, 1))
    lead.protected_until = date(2026, 3, 1)
    db.session.flush()
    # 2026-03-01 15:59 UTC is 23:59 in Shanghai: still the last protected day
    assert ops.expire_protections(today_shanghai(datetime(2026, 3, 1, 15, 59, tzinfo=UTC))) == []
    # 16:00 UTC is midnight in Shanghai, 2026-03-02: protection has ended, although UTC is still on 03-01
    assert ops.expire_protections(today_shanghai(datetime(2026, 3, 1, 16, 0, tzinfo=UTC))) == [lead]


def test_expire_command_is_idempotent(world, app):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm, today=date(2026, 1, 1))
    runner = app.test_cli_runner()
    day = (lead.protected_until + timedelta(days=1)).isoformat()
    first = runner.invoke(args=["leads", "expire", "--today", day])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("1 lead(s) expired")
    assert f"lead {lead.id}:" in first.output
    second = runner.invoke(args=["leads", "expire", "--today", day])
    assert second.exit_code == 0 and second.output.startswith("0 lead(s) expired")
    bad = runner.invoke(args=["leads", "expire", "--today", "tomorrow"])
    assert bad.exit_code != 0
    db.session.refresh(lead)
    assert lead.status == LeadStatus.EXPIRED


def test_extension_once_per_lead_and_decision(world):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm, today=date(2026, 1, 1))
    until = lead.protected_until
    ops.request_extension(lead, world.sales, "tender delayed")
    assert db.session.scalar(
        sa.select(Notification).where(
            Notification.user_id == world.cm.id, Notification.kind == "lead.extension_requested"
        )
    )
    with pytest.raises(ops.LeadError):
        ops.request_extension(lead, world.sales, "again")
    ops.decide_extension(lead, world.cm, grant=True)
    assert lead.extension_decision == ExtensionDecision.GRANTED
    assert lead.protected_until == until + timedelta(days=30)
    with pytest.raises(ops.LeadError):  # decided already, and still only once per lead
        ops.request_extension(lead, world.sales, "once more")


def test_extension_refusal_needs_a_reason(world):
    (lead,) = world.register(customer=world.customer()).created
    ops.approve(lead, world.cm)
    ops.request_extension(lead, world.sales, "tender delayed")
    with pytest.raises(ops.LeadError):
        ops.decide_extension(lead, world.cm, grant=False, reason="")
    ops.decide_extension(lead, world.cm, grant=False, reason="no evidence of progress")
    assert lead.extension_decision == ExtensionDecision.DENIED


def test_referral_lifecycle_accept_won_with_hook(world):
    seen = []
    rules.ON_LEAD_WON.append(seen.append)
    try:
        (lead,) = world.register(customer=world.customer(), products=[world.high]).created
        am = lead.account_manager
        other_am = world.am2 if am.id == world.am1.id else world.am1
        with pytest.raises(ops.LeadError):
            ops.accept(lead, other_am)
        ops.accept(lead, am)
        assert lead.status == LeadStatus.ACCEPTED
        ops.mark_won(lead, order_id="BOSS-0001")
        assert (lead.status, lead.order_id) == (LeadStatus.WON, "BOSS-0001")
        ops.mark_won(lead, order_id="BOSS-0001")  # again: nothing changes
    finally:
        rules.ON_LEAD_WON.remove(seen.append)
    assert seen == [lead]
    assert [e.action for e in lead.events] == ["submit", "route", "accept", "win"]


def test_mark_won_refuses_leads_that_never_held_a_claim(world):
    (lead,) = world.register(customer=world.customer()).created
    ops.reject(lead, world.cm, "no")
    with pytest.raises(ops.LeadError):
        ops.mark_won(lead)


def test_lost_needs_a_reason_and_the_right_account_manager(world):
    (lead,) = world.register(customer=world.customer(), products=[world.high]).created
    other_am = world.am2 if lead.account_manager_id == world.am1.id else world.am1
    with pytest.raises(ops.LeadError):
        ops.mark_lost(lead, lead.account_manager, "")
    with pytest.raises(ops.LeadError):
        ops.mark_lost(lead, other_am, "not mine")
    with pytest.raises(ops.LeadError):  # the agency does not close a referral
        ops.mark_lost(lead, world.sales, "gave up")
    ops.mark_lost(lead, lead.account_manager, "budget cut")
    assert (lead.status, lead.reason) == (LeadStatus.LOST, "budget cut")


def test_lead_count_is_one_per_product(world):
    other = world.make.product(scores=(1, 1, 1))
    result = world.register(customer=world.customer(), products=[world.low, other, world.low])
    assert len(result.created) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 2


def test_a_referral_is_won_by_hand_only_once_accepted(world):
    (lead,) = world.register(customer=world.customer(), products=[world.high]).created
    assert lead.status == LeadStatus.ROUTED
    with pytest.raises(ops.LeadError):
        ops.mark_won(lead, "ORD-HAND-1", lead.account_manager)
    ops.accept(lead, lead.account_manager)
    ops.mark_won(lead, "ORD-HAND-1", lead.account_manager)
    assert lead.status == LeadStatus.WON


def test_only_an_approved_sale_or_an_accepted_referral_is_won(world):
    """SPEC §4 lifecycles, for the engine (no user) as for a person."""
    (referral,) = world.register(customer=world.customer(), products=[world.high]).created
    with pytest.raises(ops.LeadError):
        ops.mark_won(referral, "ORD-ACT-1")  # routed, not accepted yet
    (sale,) = world.register(customer=world.customer()).created
    with pytest.raises(ops.LeadError):
        ops.mark_won(sale, "ORD-ACT-2")  # submitted, not approved
    ops.approve(sale, world.cm)
    ops.mark_won(sale, "ORD-ACT-2")
    assert (sale.status, sale.order_id) == (LeadStatus.WON, "ORD-ACT-2")
