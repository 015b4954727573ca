"""`/stripe/webhook`: signatures over the raw body, each event once, and the state changes."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from commissions.models import StatementStatus
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutStatus, WebhookEvent
from portal.core.db import db
from portal.core.models import AuditLog, Notification, Role
from tests.payouts.stripe_fake import CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET, sign_event

PERIOD = "2026-10"


def _post(client, body: bytes, header: str | None):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    return client.post("/stripe/webhook", data=body, headers=headers)


def _count(model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _paid_statement(client, fake, ledger, make):
    agency, owner = ledger.stripe_agency(fake)
    statement = ledger.statement(agency, PERIOD, 66_600)
    report = ops.run_payouts(PERIOD)
    assert len(report.paid_stripe) == 1
    payout = db.session.scalar(sa.select(Payout).where(Payout.statement_id == statement.id))
    return agency, owner, statement, payout


def test_bad_signatures_get_400_and_change_nothing(client, fake, ledger, make):
    _agency, _owner, statement, payout = _paid_statement(client, fake, ledger, make)
    transfer = fake.transfers[payout.stripe_transfer_id] | {"reversed": True, "amount_reversed": 66_600}
    event = fake.event("transfer.reversed", transfer)
    body, header = sign_event(event, WEBHOOK_SECRET)
    notes_before = _count(Notification)
    cases = [
        (body, None),                                            # no signature
        (body, sign_event(event, "whsec_someone_else")[1]),      # another secret
        (body.replace(b"66600", b"66601"), header),              # body changed after signing
        (body, sign_event(event, WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)[1]),  # too old
        (body, "t=1,v1=deadbeef"),                               # garbage
    ]
    for raw, sig in cases:
        response = _post(client, raw, sig)
        assert response.status_code == 400, sig
        assert response.get_json()["error"]["code"] == "bad_signature"
    db.session.expire_all()
    assert _count(WebhookEvent) == 0
    assert payout.status == PayoutStatus.PAID and statement.status == StatementStatus.PAID
    assert _count(Notification) == notes_before


def test_transfer_reversed_turns_the_statement_unpaid_and_notifies(client, fake, ledger, make):
    _agency, owner, statement, payout = _paid_statement(client, fake, ledger, make)
    finance = make.user(Role.FINANCE)
    reversal = fake._reverse(payout.stripe_transfer_id, {})[1]
    assert reversal["amount"] == 66_600
    event = fake.event("transfer.reversed", fake.transfers[payout.stripe_transfer_id])
    body, header = sign_event(event, WEBHOOK_SECRET)

    response = _post(client, body, header)
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "processed": True, "outcome": "statement unpaid"}
    db.session.expire_all()
    assert (payout.status, payout.reversed_fen) == (PayoutStatus.REVERSED, 66_600)
    assert statement.status == StatementStatus.APPROVED
    assert payout.stripe_transfer_id in statement.unpaid_reason
    owner_notes = db.session.scalars(sa.select(Notification).where(Notification.user_id == owner.id,
                                                                    Notification.kind == "payouts.reversed")).all()
    assert len(owner_notes) == 1 and owner_notes[0].params["period"] == PERIOD
    assert _count(Notification, Notification.user_id == finance.id,
                  Notification.kind == "payouts.reversed_finance") == 1
    assert _count(AuditLog, AuditLog.action == "payouts.reversed") == 1

    # the same event again (Stripe retries deliveries): acknowledged, nothing changes
    again = _post(client, body, sign_event(event, WEBHOOK_SECRET)[1])
    assert again.status_code == 200 and again.get_json()["processed"] is False
    assert again.get_json()["outcome"] == "duplicate"
    assert _count(Notification, Notification.kind == "payouts.reversed") == 1
    assert _count(WebhookEvent) == 1

    # the agency sees why its statement is unpaid
    from tests.conftest import PortalTestClient  # noqa: F401 - same client class

    with client.session_transaction() as session:
        session["_user_id"] = owner.get_id()
        session["_fresh"] = True
    page = client.get("/payouts/mine", headers={"Accept-Language": "en"})
    assert b"The Stripe transfer was reversed; finance will pay it again." in page.data

    # the next payout run pays the statement again, with a new key
    report = ops.run_payouts(PERIOD)
    assert len(report.paid_stripe) == 1 and fake.transfer_count() == 2
    assert fake.requests_to("POST", "/v1/transfers")[-1].idempotency_key == f"payout-{statement.id}-2"


def test_account_updated_from_the_connect_endpoint_updates_state_and_notifies(client, fake, ledger):
    agency, owner = ledger.stripe_agency(fake, payouts_enabled=False, transfers="inactive",
                                         currently_due=["external_account"], disabled_reason="requirements.past_due")
    ops.refresh_account(agency)
    account = fake.complete_onboarding(agency.stripe_account_id)
    event = fake.event("account.updated", account, account=agency.stripe_account_id)
    assert _post(client, b"{}", sign_event(event, CONNECT_WEBHOOK_SECRET)[1]).status_code == 400
    response = _post(client, *sign_event(event, CONNECT_WEBHOOK_SECRET))
    assert response.status_code == 200 and response.get_json()["outcome"] == "account updated"
    state = ops.account_for(agency.id)
    db.session.refresh(state)
    assert (state.payouts_enabled, state.transfers_capability, state.currently_due, state.disabled_reason) == \
        (True, "active", [], None)
    assert state.last_event_id == event["id"]
    assert _count(Notification, Notification.user_id == owner.id, Notification.kind == "payouts.account_ready") == 1

    # Stripe asks for more later: the owner is told what
    account["payouts_enabled"] = False
    account["requirements"]["currently_due"] = ["individual.verification.document"]
    event2 = fake.event("account.updated", account, account=agency.stripe_account_id)
    assert _post(client, *sign_event(event2, CONNECT_WEBHOOK_SECRET)).status_code == 200
    note = db.session.scalars(sa.select(Notification).where(Notification.kind == "payouts.account_needs")).one()
    assert note.params["requirements"] == "individual.verification.document"


def test_payout_paid_and_failed_on_the_connected_account(client, fake, ledger, make):
    agency, owner = ledger.stripe_agency(fake)
    finance = make.user(Role.FINANCE)
    paid = fake.event("payout.paid", {"id": "po_1", "object": "payout", "amount": 50_000, "currency": "cny",
                                      "status": "paid"}, account=agency.stripe_account_id)
    assert _post(client, *sign_event(paid, CONNECT_WEBHOOK_SECRET)).get_json()["outcome"] == "payout paid"
    assert ops.account_for(agency.id).last_payout_status == "paid"
    failed = fake.event("payout.failed", {"id": "po_2", "object": "payout", "amount": 50_000, "currency": "cny",
                                          "status": "failed", "failure_code": "account_closed",
                                          "failure_message": "The bank account has been closed."},
                        account=agency.stripe_account_id)
    assert _post(client, *sign_event(failed, CONNECT_WEBHOOK_SECRET)).get_json()["outcome"] == "payout failed"
    db.session.expire_all()
    assert ops.account_for(agency.id).last_payout_status == "failed"
    owner_kinds = set(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == owner.id)))
    assert {"payouts.bank_payout_paid", "payouts.bank_payout_failed"} <= owner_kinds
    note = db.session.scalars(sa.select(Notification).where(Notification.user_id == finance.id)).one()
    assert note.kind == "payouts.bank_payout_failed_finance"
    assert note.params["reason"] == "The bank account has been closed."


def test_unknown_events_are_acknowledged_and_ignored(client, fake):
    event = fake.event("charge.succeeded", {"id": "ch_1", "object": "charge"})
    response = _post(client, *sign_event(event, WEBHOOK_SECRET))
    assert response.status_code == 200 and response.get_json()["outcome"] == "ignored"
    assert db.session.scalar(sa.select(WebhookEvent.outcome)) == "ignored"


def test_webhook_needs_no_csrf_token_and_only_accepts_post(client, fake, app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    event = fake.event("balance.available", {"object": "balance"})
    assert _post(client, *sign_event(json.dumps(event), WEBHOOK_SECRET)).status_code == 200
    assert client.get("/stripe/webhook").status_code == 405
