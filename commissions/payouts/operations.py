"""Payout operations: Connect onboarding, the payout run, the bank rail, carries.

Operations flush and audit and never commit — except `run_payouts`, which *must* commit each
Stripe payout row before calling Stripe and again after it (a crash between the two leaves a
`pending` row that the next run resumes: it adopts the transfer Stripe already made, found in
Stripe's list by `metadata.payout_id`, or replays the same request with the same idempotency key)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
import stripe

from commissions.payouts import ledger
from commissions.payouts.i18n import _
from commissions.payouts.models import Payout, PayoutAccount, PayoutCarry, PayoutStatus, Rail
from commissions.payouts.stripe_client import CURRENCY, as_dict, get_client, stripe_enabled
from portal.core.audit import record, snapshot
from portal.core.db import db, utcnow
from portal.core.models import Role, User
from portal.core.notify import notify
from portal.partners.models import Agency, AgencyStatus

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = ["stripe_account_id", "payouts_enabled", "details_submitted", "transfers_capability",
                  "currently_due", "disabled_reason"]
PAYOUT_FIELDS = ["status", "amount_fen", "stripe_transfer_id", "bank_reference", "reversed_fen", "error"]
RETRYABLE = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


class PayoutError(ValueError):
    """A payout action that cannot be done (shown to the user)."""


# --- accounts ---------------------------------------------------------------------------------------

def account_for(agency_id: int, create: bool = False) -> PayoutAccount | None:
    row = db.session.scalar(sa.select(PayoutAccount).where(PayoutAccount.agency_id == agency_id))
    if row is None and create:
        try:
            with db.session.begin_nested():  # another request may create it at the same moment
                row = PayoutAccount(agency_id=agency_id, currently_due=[])
                db.session.add(row)
                db.session.flush()
        except sa.exc.IntegrityError:
            row = db.session.scalar(sa.select(PayoutAccount).where(PayoutAccount.agency_id == agency_id))
    return row


def connected_account_id(agency: Agency) -> str | None:
    """The agency's Stripe connected account (Agency.stripe_account_id, or our own copy)."""
    return agency.stripe_account_id or None


def apply_account_state(agency_id: int, account, event_id: str | None = None) -> tuple[PayoutAccount, bool]:
    """Store what Stripe says of the account; returns the row and whether anything changed."""
    data = as_dict(account)
    row = account_for(agency_id, create=True)
    before = snapshot(row, ACCOUNT_FIELDS)
    requirements = data.get("requirements") or {}
    row.stripe_account_id = data.get("id") or row.stripe_account_id
    row.payouts_enabled = bool(data.get("payouts_enabled"))
    row.details_submitted = bool(data.get("details_submitted"))
    row.transfers_capability = (data.get("capabilities") or {}).get("transfers")
    row.currently_due = list(requirements.get("currently_due") or [])
    row.disabled_reason = requirements.get("disabled_reason")
    row.stripe_checked_at = utcnow()
    if event_id:
        row.last_event_id = event_id
    after = snapshot(row, ACCOUNT_FIELDS)
    changed = before != after
    if changed:
        record("payouts.stripe_account_updated", row, before=before, after=after)
    db.session.flush()
    return row, changed


def ensure_connected_account(agency: Agency, owner: User) -> str:
    """The agency's Express account id, creating the account at Stripe the first time."""
    account_id = connected_account_id(agency)
    if account_id:
        return account_id
    account = get_client().v1.accounts.create(
        params={
            "controller": {
                "stripe_dashboard": {"type": "express"},
                "fees": {"payer": "application"},
                "losses": {"payments": "application"},
                "requirement_collection": "stripe",
            },
            "capabilities": {"transfers": {"requested": True}},
            "email": owner.email,
            "business_profile": {"name": agency.name},
            "metadata": {"agency_id": str(agency.id), "agency_code": agency.code or ""},
        },
        options={"idempotency_key": f"connect-account-agency-{agency.id}"},
    )
    agency.stripe_account_id = account.id
    apply_account_state(agency.id, account)
    record("payouts.stripe_account_created", agency, after={"stripe_account_id": account.id})
    return account.id


def account_link_url(agency: Agency, refresh_url: str, return_url: str) -> str:
    """A fresh onboarding link (they are single-use and expire within minutes)."""
    link = get_client().v1.account_links.create(params={
        "account": connected_account_id(agency), "refresh_url": refresh_url, "return_url": return_url,
        "type": "account_onboarding",
    })
    return link.url


def refresh_account(agency: Agency) -> PayoutAccount | None:
    """Ask Stripe for the agency's account and store its state."""
    account_id = connected_account_id(agency)
    if not account_id or not stripe_enabled():
        return account_for(agency.id)
    account = get_client().v1.accounts.retrieve(account_id)
    row, _changed = apply_account_state(agency.id, account)
    return row


def save_bank_details(agency: Agency, account_name: str, bank_name: str, account_number: str) -> PayoutAccount:
    row = account_for(agency.id, create=True)
    fields = ["bank_account_name", "bank_name", "bank_account_number"]
    before = snapshot(row, fields)
    row.bank_account_name = account_name.strip()
    row.bank_name = bank_name.strip()
    row.bank_account_number = "".join(account_number.split())
    record("payouts.bank_details_saved", row, before=before, after=snapshot(row, fields))
    db.session.flush()
    return row


def has_payout_account(agency: Agency) -> bool:
    """For the statement engine: can this agency be paid at all (usable Stripe account or bank details)?"""
    return have_payout_accounts([agency.id])[agency.id]


def have_payout_accounts(agency_ids: list[int]) -> dict[int, bool]:
    """`has_payout_account` for many agencies in one query (the statements of a period)."""
    found = dict.fromkeys(agency_ids, False)
    use_stripe = stripe_enabled()
    for start in range(0, len(agency_ids), 5000):
        for row in db.session.scalars(sa.select(PayoutAccount).where(
                PayoutAccount.agency_id.in_(agency_ids[start:start + 5000]))):
            found[row.agency_id] = bool((use_stripe and row.stripe_usable) or row.has_bank_details)
    return found


# --- payouts: queries -------------------------------------------------------------------------------

def payouts_of_statement(statement_id: int) -> list[Payout]:
    return list(db.session.scalars(
        sa.select(Payout).where(Payout.statement_id == statement_id).order_by(Payout.generation)))


def live_payout(statement_id: int) -> Payout | None:
    return db.session.scalar(sa.select(Payout).where(
        Payout.statement_id == statement_id, Payout.status.in_([PayoutStatus.PENDING, PayoutStatus.PAID])))


def amount_due(statement) -> int:
    """What is still owed on a statement: the payable amount less what reversed payouts kept."""
    kept = sum(p.amount_fen - p.reversed_fen for p in payouts_of_statement(statement.id)
               if p.status == PayoutStatus.REVERSED)
    return ledger.payable_fen(statement) - kept


def carry_of(statement_id: int) -> PayoutCarry | None:
    return db.session.scalar(sa.select(PayoutCarry).where(PayoutCarry.statement_id == statement_id))


# --- the payout run ---------------------------------------------------------------------------------

# Stripe keeps an idempotency key's answer for at least 24 hours. Within this much of a payout's first
# attempt a replay under its key is trusted even when Stripe's list of transfers cannot be read.
IDEMPOTENCY_TRUST_SECONDS = 3600
# An attempt that started less than this long ago may still be in flight in another process (the
# client gives up after 20 s × 3 tries): such a pending payout is never retired.
IN_FLIGHT_SECONDS = 300


@dataclass
class RunReport:
    period: str
    paid_stripe: list = field(default_factory=list)  # (statement_id, agency_code, amount_fen, transfer id)
    to_bank: list = field(default_factory=list)  # (statement_id, agency_code, amount_fen, why)
    held: list = field(default_factory=list)  # (statement_id, agency_code, amount_fen, why)
    failed: list = field(default_factory=list)  # (statement_id, agency_code, amount_fen, error)
    pending: list = field(default_factory=list)  # left pending: retried by the next run
    already: int = 0
    adopted: int = 0  # of paid_stripe: transfers found at Stripe for a pending payout (not made again)
    transfers: StripeTransfers | None = field(default=None, repr=False)

    @property
    def total_stripe_fen(self) -> int:
        return sum(item[2] for item in self.paid_stripe)

    def stripe_transfers(self) -> StripeTransfers:
        if self.transfers is None:
            self.transfers = StripeTransfers(self.period)
        return self.transfers

    def lines(self) -> list[str]:
        from portal.core.money import format_fen

        adopted = f", {self.adopted} of them found already made at Stripe" if self.adopted else ""
        out = [f"period {self.period}: {len(self.paid_stripe)} paid by Stripe "
               f"({format_fen(self.total_stripe_fen)}{adopted}), {len(self.to_bank)} for bank transfer, "
               f"{len(self.held)} held, {len(self.failed)} failed, {len(self.pending)} pending, "
               f"{self.already} already paid or in progress"]
        for label, items in (("stripe", self.paid_stripe), ("bank", self.to_bank), ("held", self.held),
                             ("failed", self.failed), ("pending", self.pending)):
            for statement_id, code, amount, note in items:
                out.append(f"  {label:7} statement {statement_id} {code} {format_fen(amount)} {note or ''}")
        return out


def list_period_transfers(period: str) -> list[dict]:
    """Stripe's own transfers with `transfer_group` = period (every page)."""
    return [as_dict(t) for t in get_client().v1.transfers.list(
        params={"transfer_group": period, "limit": 100}).auto_paging_iter()]


class StripeTransfers:
    """A period's transfers at Stripe, read once per run (when a pending payout is met), indexed by
    the metadata the portal puts on every transfer (`payout_id`, `statement_id`)."""

    def __init__(self, period: str):
        self.period = period
        self.loaded = False
        self.error: str | None = None
        self.by_payout: dict[str, list[dict]] = {}
        self.by_statement: dict[str, list[dict]] = {}

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        try:
            listed = list_period_transfers(self.period)
        except stripe.StripeError as exc:
            self.error = f"{type(exc).__name__}: {exc.user_message or exc}"
            log.warning("transfers.list(transfer_group=%s) failed: %s", self.period, exc)
            return
        for transfer in listed:
            metadata = transfer.get("metadata") or {}
            if metadata.get("payout_id"):
                self.by_payout.setdefault(str(metadata["payout_id"]), []).append(transfer)
            elif metadata.get("statement_id"):
                self.by_statement.setdefault(str(metadata["statement_id"]), []).append(transfer)

    def find(self, payout: Payout) -> tuple[dict | None, str | None]:
        """(the transfer Stripe already made for `payout`, None) — or (None, why none can be adopted
        although something looks like it) — or (None, None): Stripe made none (when `error` is None)."""
        self.load()
        if self.error:
            return None, None
        mine = self.by_payout.get(str(payout.id), [])
        if mine:
            transfer = mine[0]
            if len(mine) > 1 or not _same_transfer(payout, transfer):
                ids = ", ".join(t.get("id") or "?" for t in mine)
                return None, (f"Stripe has transfer(s) {ids} carrying this payout's id that do not match it "
                              f"({_money(payout.amount_fen)} to {payout.stripe_account_id}); not paid again, "
                              "check them at Stripe")
            return transfer, None
        # a transfer made without the payout id (e.g. by hand) for this statement, not known to the portal
        candidates = [t for t in self.by_statement.get(str(payout.statement_id), [])
                      if _same_transfer(payout, t)]
        known = set(db.session.scalars(sa.select(Payout.stripe_transfer_id).where(
            Payout.stripe_transfer_id.in_([t.get("id") for t in candidates] or [""]))))
        candidates = [t for t in candidates if t.get("id") not in known]
        if len(candidates) > 1:
            ids = ", ".join(t.get("id") for t in candidates)
            return None, (f"Stripe has several transfers for statement {payout.statement_id} ({ids}); "
                          "not paid again, check them at Stripe")
        return (candidates[0], None) if candidates else (None, None)


def _same_transfer(payout: Payout, transfer: dict) -> bool:
    return (int(transfer.get("amount") or 0) == payout.amount_fen
            and transfer.get("destination") == payout.stripe_account_id
            and str(transfer.get("currency") or "").lower() == payout.currency.lower())


def idempotency_key(statement_id: int, generation: int) -> str:
    return f"payout-{statement_id}-{generation}"


def _transfer_params(payout: Payout, agency_code: str) -> dict:
    """Derived from the stored row (and the agency's code, fixed at its approval), so a replay sends
    exactly the same request. `metadata.payout_id` lets a later run find the transfer in Stripe's
    list when Stripe no longer remembers the idempotency key."""
    return {
        "amount": payout.amount_fen,
        "currency": payout.currency,
        "destination": payout.stripe_account_id,
        "transfer_group": payout.period,
        "description": f"Commission {payout.period} {agency_code}",
        "metadata": {"statement_id": str(payout.statement_id), "payout_id": str(payout.id),
                     "agency_code": agency_code, "period": payout.period},
    }


def run_payouts(period: str, actor_user_id: int | None = None) -> RunReport:
    """Pay every approved payable statement of `period` exactly once. Safe to run again.

    Commits: each Stripe payout row before the transfer call and again after it."""
    if not ledger.valid_period(period):
        raise PayoutError(_("Not a period: %(period)s", period=period))
    report = RunReport(period)
    with _RUN_LOCKS.setdefault(period, threading.Lock()):  # runs of one process take turns
        statement_ids = [s.id for s in ledger.statements_for_period(period) if ledger.is_payable(s)]
        db.session.commit()
        for statement_id in statement_ids:
            _pay_with_retries(statement_id, period, report, actor_user_id)
    return report


_RUN_LOCKS: dict[str, threading.Lock] = {}
LOCK_RETRIES = 5


def _pay_with_retries(statement_id: int, period: str, report: RunReport, actor_user_id: int | None) -> None:
    """A database busy with another run (SQLite's writer lock) only delays a statement: its work is
    rolled back and done again, which finds the committed pending row and replays its key."""
    for attempt in range(LOCK_RETRIES):
        try:
            statement = ledger.get_statement(statement_id)
            _pay_statement(statement, period, report, actor_user_id)
            return
        except sa.exc.OperationalError:
            db.session.rollback()
            if attempt == LOCK_RETRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
        except Exception:
            db.session.rollback()
            raise


def _pay_statement(statement, period: str, report: RunReport, actor_user_id: int | None) -> None:
    agency = db.session.get(Agency, statement.agency_id)
    code = agency.code or str(agency.id)
    live = live_payout(statement.id)
    decided = None
    if live is not None and live.status == PayoutStatus.PENDING and live.rail == Rail.STRIPE:
        outcome = _resume_pending(live, agency, code, report)
        if outcome is None:
            return
        live, decided = None, outcome.rail  # retired: no transfer exists; the statement is paid afresh
    if live is not None or ledger.status(statement) == "paid":
        report.already += 1
        return
    if carry_of(statement.id) is not None:
        report.held.append((statement.id, code, ledger.payable_fen(statement), "carried"))
        return
    due = amount_due(statement)
    if due <= 0:
        report.already += 1
        return
    if agency.status != AgencyStatus.ACTIVE:
        report.held.append((statement.id, code, due, f"agency {agency.status.value}"))
        return
    rail, why = decided or _choose_rail(agency)
    generation = 1 + max((p.generation for p in payouts_of_statement(statement.id)), default=0)
    payout = Payout(statement_id=statement.id, agency_id=agency.id, period=period, rail=rail,
                    status=PayoutStatus.PENDING, generation=generation, amount_fen=due, currency=CURRENCY,
                    created_by_id=actor_user_id)
    if rail == Rail.STRIPE:
        payout.idempotency_key = idempotency_key(statement.id, generation)
        payout.stripe_account_id = connected_account_id(agency)
    try:
        with db.session.begin_nested():
            db.session.add(payout)
            db.session.flush()
    except sa.exc.IntegrityError:
        report.already += 1  # another run recorded it a moment ago
        return
    record("payouts.created", payout, after=snapshot(payout, ["statement_id", "rail", "amount_fen",
                                                              "idempotency_key", "stripe_account_id"]))
    db.session.commit()  # recorded BEFORE the call
    if rail == Rail.BANK:
        report.to_bank.append((statement.id, code, due, why))
        return
    _send_transfer(payout, code, report)


def _choose_rail(agency: Agency) -> tuple[Rail, str]:
    if not stripe_enabled():
        return Rail.BANK, "Stripe is off"
    account_id = connected_account_id(agency)
    if not account_id:
        return Rail.BANK, "no Stripe account"
    try:
        account = get_client().v1.accounts.retrieve(account_id)
    except stripe.StripeError as exc:
        log.warning("accounts.retrieve %s failed: %s", account_id, exc)
        return Rail.BANK, f"Stripe account not readable: {exc.user_message or exc}"
    row, _changed = apply_account_state(agency.id, account)
    if row.stripe_usable:
        return Rail.STRIPE, ""
    return Rail.BANK, "Stripe account cannot receive transfers"


def _account_can_receive(account) -> bool:
    data = as_dict(account)
    return bool(data.get("payouts_enabled")) and (data.get("capabilities") or {}).get("transfers") == "active"


def _age_seconds(moment) -> float:
    return (utcnow() - moment).total_seconds() if moment is not None else float("inf")


@dataclass
class _Retired:
    rail: tuple[Rail, str] | None  # the rail already decided for the agency's current account, if any


def _resume_pending(payout: Payout, agency: Agency, code: str, report: RunReport) -> _Retired | None:
    """A pending Stripe payout met by a run (its call crashed, timed out or was refused with a
    retryable error). Returns None when it was dealt with, or `_Retired` when it was closed as
    failed because no transfer exists and none may be sent now (the statement is then paid afresh).

    1. Stripe's list of the period's transfers is searched for one this payout already made
       (`metadata.payout_id`): Stripe forgets idempotency keys after 24 h, so a replay alone could
       pay twice. Found → adopted. Not readable → replayed under the key only while it is young.
    2. Before the replay, like before any transfer, Stripe is asked for the account.
    3. An account that cannot receive transfers (or an agency no longer active) retires the row
       (failed, with the reason; its history stays) — but only when the list proved Stripe made no
       transfer for it and no attempt may still be in flight; otherwise it stays pending, held.

    A pending Stripe row is written only when an attempt starts or ends, so `updated_at` is the time
    of the last attempt (the in-flight check)."""
    item = (payout.statement_id, code, payout.amount_fen)
    transfers = report.stripe_transfers() if stripe_enabled() else None
    if transfers is None:
        report.pending.append((*item, "Stripe is off: this pending Stripe payout waits until it is on again"))
        return None
    transfer, problem = transfers.find(payout)
    if transfer is not None:
        _adopt(payout, transfer, code, report)
        return None
    if problem:
        report.pending.append((*item, problem))
        return None
    listed = transfers.error is None
    if not listed and _age_seconds(payout.created_at) > IDEMPOTENCY_TRUST_SECONDS:
        report.pending.append((*item, "not replayed: Stripe's list of transfers could not be read "
                                      f"({transfers.error}) and the first attempt is too old to rely on its "
                                      "idempotency key"))
        return None

    why = None
    current = payout.stripe_account_id == connected_account_id(agency)
    if agency.status != AgencyStatus.ACTIVE:
        why = f"agency {agency.status.value}"
    else:
        try:
            account = get_client().v1.accounts.retrieve(payout.stripe_account_id)
        except RETRYABLE as exc:
            report.pending.append((*item, f"the account could not be checked: {type(exc).__name__}: "
                                          f"{exc.user_message or exc}"))
            return None
        except stripe.StripeError as exc:  # e.g. the account no longer exists
            log.warning("accounts.retrieve %s failed: %s", payout.stripe_account_id, exc)
            why = f"Stripe account not readable: {exc.user_message or exc}"
        else:
            if current:
                row, _changed = apply_account_state(agency.id, account)
                usable = row.stripe_usable
            else:  # the agency connected another account since: its state is not this one's
                usable = _account_can_receive(account)
            if not usable:
                why = "Stripe account cannot receive transfers"
    if why is None:
        _send_transfer(payout, code, report)  # replay with the same key and the same request
        return None
    if not listed or _age_seconds(payout.updated_at) < IN_FLIGHT_SECONDS:
        db.session.commit()
        report.held.append((*item, f"{why}; the pending Stripe payout is kept and checked again by the "
                                   "next run"))
        return None
    before = snapshot(payout, PAYOUT_FIELDS)
    payout.status = PayoutStatus.FAILED
    payout.error = f"not sent: {why}; Stripe made no transfer for this payout"[:2000]
    payout.completed_at = utcnow()
    record("payouts.retired", payout, before=before, after=snapshot(payout, PAYOUT_FIELDS))
    db.session.commit()
    decided = (Rail.BANK, why) if current and agency.status == AgencyStatus.ACTIVE else None
    return _Retired(decided)


def _adopt(payout: Payout, transfer: dict, agency_code: str, report: RunReport) -> None:
    """Record a transfer Stripe already made for this pending payout instead of making another."""
    statement = ledger.get_statement(payout.statement_id)
    before = snapshot(payout, PAYOUT_FIELDS)
    payout.status = PayoutStatus.PAID
    payout.stripe_transfer_id = transfer["id"]
    payout.error = None
    payout.completed_at = utcnow()
    record("payouts.paid", payout, before=before,
           after={**snapshot(payout, PAYOUT_FIELDS), "found_at_stripe": True})
    _mark_statement_paid(payout, statement, transfer["id"])
    params = {"period": payout.period, "amount": _money(payout.amount_fen), "reference": transfer["id"]}
    _notify_owners(payout.agency_id, "payouts.paid", params)
    if int(transfer.get("amount_reversed") or 0):  # reversed meanwhile: its webhook found no payout then
        from commissions.payouts import webhooks

        webhooks.on_transfer_reversed({}, transfer)
    db.session.commit()
    report.adopted += 1
    report.paid_stripe.append((payout.statement_id, agency_code, payout.amount_fen, transfer["id"]))


def _send_transfer(payout: Payout, agency_code: str, report: RunReport) -> None:
    payout.attempts += 1
    db.session.commit()  # the attempt is on record (updated_at) before the call: see IN_FLIGHT_SECONDS
    item = (payout.statement_id, agency_code, payout.amount_fen)
    try:
        transfer = get_client().v1.transfers.create(
            params=_transfer_params(payout, agency_code), options={"idempotency_key": payout.idempotency_key})
    except RETRYABLE as exc:
        payout.error = f"{type(exc).__name__}: {exc.user_message or exc}"[:2000]
        db.session.commit()
        report.pending.append((*item, payout.error))
        return
    except stripe.IdempotencyError as exc:
        # The key was used with a different request: the first one may have moved the money. Never
        # failed (a new generation would pay again): it stays pending; the next run looks for its
        # transfer in Stripe's list, and once Stripe forgets the key a replay is a new request.
        payout.error = f"{type(exc).__name__}: {exc.user_message or exc}"[:2000]
        db.session.commit()
        report.pending.append((*item, payout.error))
        return
    except stripe.StripeError as exc:
        before = snapshot(payout, PAYOUT_FIELDS)
        payout.status = PayoutStatus.FAILED
        payout.error = f"{type(exc).__name__}: {exc.user_message or exc}"[:2000]
        payout.completed_at = utcnow()
        record("payouts.failed", payout, before=before, after=snapshot(payout, PAYOUT_FIELDS))
        db.session.commit()
        report.failed.append((*item, payout.error))
        return
    statement = ledger.get_statement(payout.statement_id)
    before = snapshot(payout, PAYOUT_FIELDS)
    payout.status = PayoutStatus.PAID
    payout.stripe_transfer_id = transfer.id
    payout.error = None
    payout.completed_at = utcnow()
    record("payouts.paid", payout, before=before, after=snapshot(payout, PAYOUT_FIELDS))
    _mark_statement_paid(payout, statement, transfer.id)
    _notify_owners(payout.agency_id, "payouts.paid",
                   {"period": payout.period, "amount": _money(payout.amount_fen), "reference": transfer.id})
    db.session.commit()
    report.paid_stripe.append((*item, transfer.id))


def _mark_statement_paid(payout: Payout, statement, reference: str) -> None:
    """The money moved: the payout stays paid even if the statement refuses (it is then listed by
    reconciliation as paid money on a statement not marked paid)."""
    if statement is None:
        return
    try:
        ledger.mark_paid(statement, reference)
    except ledger.LedgerError as exc:
        log.error("statement %s not marked paid after payout %s: %s", statement.id, payout.id, exc)
        payout.error = f"statement not marked paid: {exc}"[:2000]


# --- bank rail --------------------------------------------------------------------------------------

def bank_reference_code(payout: Payout) -> str:
    """Our payment reference printed on the bank file (the remittance text)."""
    return f"PAY{payout.period.replace('-', '')}-{payout.id:06d}"


def bank_payouts(period: str, status: PayoutStatus = PayoutStatus.PENDING) -> list[Payout]:
    return list(db.session.scalars(sa.select(Payout).where(
        Payout.period == period, Payout.rail == Rail.BANK, Payout.status == status).order_by(Payout.id)))


def record_bank_reference(payout: Payout, reference: str) -> Payout:
    reference = (reference or "").strip()
    if not reference:
        raise PayoutError(_("Enter the bank's reference."))
    if payout.rail != Rail.BANK or payout.status != PayoutStatus.PENDING:
        raise PayoutError(_("This payout is not waiting for a bank transfer."))
    before = snapshot(payout, PAYOUT_FIELDS)
    payout.status = PayoutStatus.PAID
    payout.bank_reference = reference[:128]
    payout.completed_at = utcnow()
    record("payouts.bank_paid", payout, before=before, after=snapshot(payout, PAYOUT_FIELDS))
    _mark_statement_paid(payout, ledger.get_statement(payout.statement_id), reference)
    _notify_owners(payout.agency_id, "payouts.paid",
                   {"period": payout.period, "amount": _money(payout.amount_fen), "reference": reference})
    db.session.flush()
    return payout


def cancel_bank_payout(payout: Payout, reason: str) -> Payout:
    """Withdraw a pending bank payout (e.g. the agency connected Stripe meanwhile)."""
    if payout.rail != Rail.BANK or payout.status != PayoutStatus.PENDING:
        raise PayoutError(_("This payout is not waiting for a bank transfer."))
    before = snapshot(payout, PAYOUT_FIELDS)
    payout.status = PayoutStatus.FAILED
    payout.error = reason or "cancelled"
    payout.completed_at = utcnow()
    record("payouts.bank_cancelled", payout, before=before, after=snapshot(payout, PAYOUT_FIELDS))
    db.session.flush()
    return payout


@dataclass
class ConfirmationReport:
    paid: list = field(default_factory=list)  # (line, our reference, bank reference)
    already: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (line, message)


def import_bank_confirmation(rows: list[dict]) -> ConfirmationReport:
    """Rows of the bank's confirmation file: `reference` (ours), `bank_reference`, `amount` (yuan)."""
    from portal.core.money import MoneyError, yuan_to_fen

    report = ConfirmationReport()
    for number, row in enumerate(rows, start=2):
        ours = (row.get("reference") or "").strip()
        bank_ref = (row.get("bank_reference") or "").strip()
        payout = _payout_by_reference(ours)
        if payout is None:
            report.rejected.append((number, _("unknown reference %(ref)s", ref=ours or "-")))
            continue
        try:
            amount = yuan_to_fen(row.get("amount") or "")
        except MoneyError:
            report.rejected.append((number, _("not an amount: %(value)s", value=row.get("amount") or "")))
            continue
        if amount != payout.amount_fen:
            report.rejected.append((number, _("amount %(got)s differs from the payout's %(want)s",
                                              got=_money(amount), want=_money(payout.amount_fen))))
            continue
        if payout.status == PayoutStatus.PAID:
            report.already.append((number, ours, payout.bank_reference))
            continue
        if not bank_ref:
            report.rejected.append((number, _("the bank reference is missing")))
            continue
        try:
            record_bank_reference(payout, bank_ref)
        except PayoutError as exc:
            report.rejected.append((number, str(exc)))
            continue
        report.paid.append((number, ours, bank_ref))
    return report


def _payout_by_reference(reference: str) -> Payout | None:
    try:
        _prefix, number = reference.split("-", 1)
        payout = db.session.get(Payout, int(number))
    except (ValueError, TypeError):
        return None
    if payout is None or payout.rail != Rail.BANK or bank_reference_code(payout) != reference:
        return None
    return payout


# --- carries ----------------------------------------------------------------------------------------

def carry_statement(statement, reason: str, actor_user_id: int | None = None) -> PayoutCarry:
    reason = (reason or "").strip()
    if not reason:
        raise PayoutError(_("Give the reason for carrying the statement."))
    if live_payout(statement.id) is not None:
        raise PayoutError(_("This statement already has a payout."))
    if carry_of(statement.id) is not None:
        raise PayoutError(_("This statement is already carried."))
    carry = PayoutCarry(statement_id=statement.id, agency_id=statement.agency_id,
                        period=ledger.statement_period_key(statement), amount_fen=ledger.payable_fen(statement),
                        reason=reason, created_by_id=actor_user_id)
    db.session.add(carry)
    db.session.flush()
    record("payouts.carried", carry, after=snapshot(carry, ["statement_id", "amount_fen", "reason"]))
    _notify_owners(statement.agency_id, "payouts.carried",
                   {"period": carry.period, "amount": _money(carry.amount_fen), "reason": reason})
    return carry


# --- notifications ----------------------------------------------------------------------------------

def _money(fen: int) -> str:
    from portal.core.money import format_fen

    return format_fen(fen)


def agency_owners(agency_id: int) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(
        User.agency_id == agency_id, User.role == Role.AGENCY_OWNER, User.is_enabled.is_(True))))


def finance_users() -> list[User]:
    return list(db.session.scalars(sa.select(User).where(User.role == Role.FINANCE, User.is_enabled.is_(True))))


def _notify_owners(agency_id: int, kind: str, params: dict, link: str = "/payouts/mine") -> None:
    for user in agency_owners(agency_id):
        notify(user, kind, params, link)


def _notify_finance(kind: str, params: dict, link: str) -> None:
    for user in finance_users():
        notify(user, kind, params, link)
