"""Stripe webhook events: verified against the raw body, processed once per event id."""

from __future__ import annotations

import json
import logging

import sqlalchemy as sa
import stripe

from commissions.payouts import ledger
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutAccount, PayoutStatus, WebhookEvent
from portal.core.audit import record, snapshot
from portal.core.db import db, utcnow
from portal.partners.models import Agency

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300


class BadSignature(ValueError):
    pass


def verify(payload: bytes, header: str | None, secrets: list[str]) -> dict:
    """The event if `header` signs `payload` with one of `secrets`; BadSignature otherwise."""
    if not header:
        raise BadSignature("missing Stripe-Signature")
    for secret in secrets:
        if not secret:
            continue
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError:
            continue
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise BadSignature("body is not JSON") from exc
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise BadSignature("not an event")
        return event
    raise BadSignature("no secret matches the signature")


def process(event: dict) -> tuple[bool, str]:
    """Apply an event once. Returns (newly processed, outcome). Flushes; the caller commits."""
    obj = (event.get("data") or {}).get("object") or {}
    seen = WebhookEvent(event_id=str(event["id"])[:80], type=str(event["type"])[:80],
                        account=event.get("account"), object_id=str(obj.get("id") or "")[:80] or None)
    try:
        with db.session.begin_nested():
            db.session.add(seen)
            db.session.flush()
    except sa.exc.IntegrityError:
        return False, "duplicate"
    handler = HANDLERS.get(event["type"])
    outcome = handler(event, obj) if handler else "ignored"
    seen.outcome = outcome[:200]
    db.session.flush()
    return True, outcome


def _payout_for_transfer(transfer_id: str | None) -> Payout | None:
    if not transfer_id:
        return None
    return db.session.scalar(sa.select(Payout).where(Payout.stripe_transfer_id == transfer_id))


def on_transfer_reversed(event: dict, transfer: dict) -> str:
    payout = _payout_for_transfer(transfer.get("id"))
    if payout is None:
        return "unknown transfer"
    reversed_fen = int(transfer.get("amount_reversed") or 0)
    if payout.status == PayoutStatus.REVERSED and payout.reversed_fen == reversed_fen:
        return "already reversed"
    before = snapshot(payout, ops.PAYOUT_FIELDS)
    payout.status = PayoutStatus.REVERSED
    payout.reversed_fen = reversed_fen
    payout.completed_at = utcnow()
    record("payouts.reversed", payout, before=before, after=snapshot(payout, ops.PAYOUT_FIELDS))
    statement = ledger.get_statement(payout.statement_id)
    reason = f"Stripe transfer {payout.stripe_transfer_id} reversed ({ops._money(reversed_fen)})"
    if statement is not None and ledger.status(statement) == "paid":
        ledger.mark_unpaid(statement, reason)
    params = {"period": payout.period, "amount": ops._money(reversed_fen), "reference": payout.stripe_transfer_id}
    ops._notify_owners(payout.agency_id, "payouts.reversed", params)
    ops._notify_finance("payouts.reversed_finance",
                        {**params, "agency": _agency_code(payout.agency_id)}, f"/payouts/{payout.period}")
    return "statement unpaid"


def _agency_code(agency_id: int) -> str:
    agency = db.session.get(Agency, agency_id)
    return (agency.code or agency.name) if agency else str(agency_id)


def _agency_for_account(account_id: str | None) -> Agency | None:
    if not account_id:
        return None
    agency = None
    if hasattr(Agency, "stripe_account_id"):
        agency = db.session.scalar(sa.select(Agency).where(Agency.stripe_account_id == account_id))
    if agency is None:
        row = db.session.scalar(sa.select(PayoutAccount).where(PayoutAccount.stripe_account_id == account_id))
        agency = db.session.get(Agency, row.agency_id) if row else None
    return agency


def on_account_updated(event: dict, account: dict) -> str:
    agency = _agency_for_account(account.get("id") or event.get("account"))
    if agency is None:
        return "unknown account"
    row = ops.account_for(agency.id)
    was_enabled = bool(row and row.stripe_usable)
    row, changed = ops.apply_account_state(agency.id, account, event_id=event["id"])
    if changed:
        if row.stripe_usable and not was_enabled:
            ops._notify_owners(agency.id, "payouts.account_ready", {}, "/payouts/account")
        elif not row.stripe_usable:
            ops._notify_owners(agency.id, "payouts.account_needs",
                               {"requirements": ", ".join(row.currently_due) or (row.disabled_reason or "-")},
                               "/payouts/account")
    return "account updated" if changed else "account unchanged"


def _on_payout(event: dict, payout: dict, paid: bool) -> str:
    agency = _agency_for_account(event.get("account"))
    if agency is None:
        return "unknown account"
    row = ops.account_for(agency.id, create=True)
    before = snapshot(row, ["last_payout_status"])
    row.last_payout_status = str(payout.get("status") or ("paid" if paid else "failed"))[:32]
    row.last_payout_at = utcnow()
    row.last_event_id = event["id"]
    record("payouts.stripe_payout_" + ("paid" if paid else "failed"), row, before=before,
           after={"last_payout_status": row.last_payout_status, "payout": payout.get("id"),
                  "amount": payout.get("amount")})
    params = {"amount": ops._money(int(payout.get("amount") or 0)),
              "reason": payout.get("failure_message") or payout.get("failure_code") or "-"}
    if paid:
        ops._notify_owners(agency.id, "payouts.bank_payout_paid", params, "/payouts/mine")
    else:
        ops._notify_owners(agency.id, "payouts.bank_payout_failed", params, "/payouts/account")
        ops._notify_finance("payouts.bank_payout_failed_finance", {**params, "agency": agency.code or agency.name},
                            f"/payouts/agency/{agency.id}")
    db.session.flush()
    return "payout " + ("paid" if paid else "failed")


HANDLERS = {
    "transfer.reversed": on_transfer_reversed,
    "account.updated": on_account_updated,
    "payout.paid": lambda event, obj: _on_payout(event, obj, True),
    "payout.failed": lambda event, obj: _on_payout(event, obj, False),
}
