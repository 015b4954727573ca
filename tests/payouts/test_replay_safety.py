"""Replaying a pending Stripe payout never pays twice, even once Stripe has forgotten the
idempotency key (it keeps keys 24 hours): the run first looks for the transfer in Stripe's list of
the period's transfers (`metadata.payout_id`) and adopts it. Before a replay it asks Stripe for the
account like before any transfer; an account that cannot receive transfers retires the pending
row (failed, with the reason) and sends the statement to the bank rail — only once Stripe's list
proved no transfer exists and no attempt can still be in flight. A changed request under the same
key (Stripe's IdempotencyError) leaves the payout pending, never failed and paid again."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import stripe

from commissions.models import StatementStatus
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutStatus, Rail
from commissions.payouts.stripe_client import get_client
from portal.core.db import db, utcnow
from portal.core.models import AuditLog
from portal.partners.models import AgencyStatus

PERIOD = "2026-10"
EN = {"Accept-Language": "en"}


def _run(client, period=PERIOD):
    response = client.post(f"/payouts/{period}/run", headers=EN, follow_redirects=True)
    assert response.status_code == 200
    return response


def _payouts():
    return list(db.session.scalars(sa.select(Payout).order_by(Payout.id)))


def _age(payout: Payout, **delta) -> None:
    """Pretend the payout's first and last attempts were `delta` ago."""
    when = utcnow() - timedelta(**delta)
    db.session.execute(sa.update(Payout).where(Payout.id == payout.id)
                       .values(created_at=when, updated_at=when))
    db.session.commit()
    db.session.expire_all()


def _pending_with_stored_transfer(client, fake, ledger, amount=66_600, **agency):
    """A payout whose transfer Stripe stored while every answer was lost: pending in the portal."""
    agency_row, _owner = ledger.stripe_agency(fake, **agency)
    statement = ledger.statement(agency_row, PERIOD, amount)
    fake.drop_after_store(3)  # the call and the SDK's two retries lose their answer
    response = _run(client)
    assert b"1 to retry" in response.data
    (payout,) = _payouts()
    assert payout.status == PayoutStatus.PENDING and fake.transfer_count() == 1
    return agency_row, statement, payout


def _pending_without_transfer(client, fake, ledger, amount=55_500, **agency):
    """A payout whose every attempt got a 500 (nothing stored at Stripe): pending in the portal."""
    agency_row, _owner = ledger.stripe_agency(fake, **agency)
    statement = ledger.statement(agency_row, PERIOD, amount)
    fake.fail_next(3, 500, path="/v1/transfers", method="POST")
    response = _run(client)
    assert b"1 to retry" in response.data
    (payout,) = _payouts()
    assert payout.status == PayoutStatus.PENDING and fake.transfer_count() == 0
    return agency_row, statement, payout


def _disable(fake, account_id: str) -> None:
    account = fake.accounts[account_id]
    account.update({"payouts_enabled": False})
    account["capabilities"]["transfers"] = "inactive"
    account["requirements"].update({"currently_due": ["external_account"],
                                    "disabled_reason": "requirements.past_due"})


# --- 1. Stripe forgot the key: the stored transfer is found and adopted ------------------------------

def test_a_stored_transfer_is_adopted_after_stripe_forgot_the_idempotency_key(client, finance, fake, ledger):
    agency, statement, payout = _pending_with_stored_transfer(client, fake, ledger)
    (stored,) = fake.transfers.values()
    assert stored["metadata"]["payout_id"] == str(payout.id)
    assert stored["metadata"]["statement_id"] == str(statement.id)
    assert stored["transfer_group"] == PERIOD

    fake.expire_idempotency_keys()  # two days later Stripe no longer knows the key
    _age(payout, days=2)
    posts = len(fake.requests_to("POST", "/v1/transfers"))
    response = _run(client)
    assert b"1 paid by Stripe" in response.data
    assert fake.transfer_count() == 1
    assert len(fake.requests_to("POST", "/v1/transfers")) == posts  # nothing sent again
    (listing,) = fake.requests_to("GET", "/v1/transfers")
    assert listing.params["transfer_group"] == PERIOD
    db.session.expire_all()
    assert (payout.status, payout.stripe_transfer_id) == (PayoutStatus.PAID, stored["id"])
    assert (statement.status, statement.paid_reference) == (StatementStatus.PAID, stored["id"])
    assert len(_payouts()) == 1

    # the danger was real: under the forgotten key the same request is now a new transfer at Stripe
    again = get_client().v1.transfers.create(params=ops._transfer_params(payout, agency.code),
                                             options={"idempotency_key": payout.idempotency_key})
    assert again.id != stored["id"] and fake.transfer_count() == 2


def test_adoption_reads_every_page_of_stripe_list(client, finance, fake, ledger):
    _agency, _statement, payout = _pending_with_stored_transfer(client, fake, ledger)
    other = fake.make_account()["id"]
    for n in range(130):  # newer transfers of the same group: ours is on the second page
        fake.add_transfer(destination=other, amount=100 + n, transfer_group=PERIOD,
                          metadata={"statement_id": "999999", "payout_id": str(900_000 + n)})
    fake.expire_idempotency_keys()
    _age(payout, days=2)
    _run(client)
    listings = fake.requests_to("GET", "/v1/transfers")
    assert len(listings) == 2 and listings[1].params.get("starting_after")
    db.session.expire_all()
    assert payout.status == PayoutStatus.PAID
    assert fake.transfer_count() == 131 and len(fake.requests_to("POST", "/v1/transfers")) == 3


def test_a_transfer_made_for_the_statement_without_the_payout_id_is_adopted(client, finance, fake, ledger):
    agency, statement, payout = _pending_without_transfer(client, fake, ledger)
    # meanwhile someone paid it at Stripe by hand, naming the statement only
    manual = fake.add_transfer(destination=agency.stripe_account_id, amount=payout.amount_fen,
                               transfer_group=PERIOD, metadata={"statement_id": str(statement.id)})
    fake.add_transfer(destination=agency.stripe_account_id, amount=1, transfer_group=PERIOD,
                      metadata={"statement_id": str(statement.id)})  # another amount: not this payout's
    _age(payout, days=2)
    _run(client)
    db.session.expire_all()
    assert (payout.status, payout.stripe_transfer_id) == (PayoutStatus.PAID, manual["id"])
    assert fake.transfer_count() == 2 and len(fake.requests_to("POST", "/v1/transfers")) == 3


def test_a_transfer_with_the_payout_id_but_another_amount_is_not_adopted_nor_paid_again(client, finance, fake,
                                                                                         ledger):
    agency, _statement, payout = _pending_without_transfer(client, fake, ledger)
    fake.add_transfer(destination=agency.stripe_account_id, amount=payout.amount_fen + 1,
                      transfer_group=PERIOD, metadata={"payout_id": str(payout.id)})
    response = _run(client)
    assert b"1 to retry" in response.data and b"do not match it" in response.data
    db.session.expire_all()
    assert payout.status == PayoutStatus.PENDING and payout.stripe_transfer_id is None
    assert fake.transfer_count() == 1 and len(fake.requests_to("POST", "/v1/transfers")) == 3


def test_an_old_pending_payout_is_not_replayed_while_stripe_list_cannot_be_read(client, finance, fake,
                                                                                 ledger):
    _agency, _statement, payout = _pending_with_stored_transfer(client, fake, ledger)
    fake.expire_idempotency_keys()
    _age(payout, days=2)
    fake.fail_next(3, 500, path="/v1/transfers", method="GET")
    response = _run(client)
    assert b"1 to retry" in response.data and b"too old to rely on its idempotency key" in response.data
    assert len(fake.requests_to("POST", "/v1/transfers")) == 3 and fake.transfer_count() == 1
    db.session.expire_all()
    assert payout.status == PayoutStatus.PENDING

    _run(client)  # Stripe answers again: the transfer is found
    db.session.expire_all()
    assert payout.status == PayoutStatus.PAID and fake.transfer_count() == 1


def test_a_young_pending_payout_is_replayed_under_its_key_while_the_list_cannot_be_read(client, finance, fake,
                                                                                       ledger):
    _agency, _statement, payout = _pending_with_stored_transfer(client, fake, ledger)
    fake.fail_next(3, 500, path="/v1/transfers", method="GET")
    _run(client)
    assert fake.requests_to("POST", "/v1/transfers")[-1].outcome == "replayed"
    db.session.expire_all()
    assert payout.status == PayoutStatus.PAID and fake.transfer_count() == 1


# --- 2. the account is checked before a replay too ---------------------------------------------------

def test_a_replay_asks_stripe_for_the_account_before_the_transfer(client, finance, fake, ledger):
    agency, _statement, payout = _pending_without_transfer(client, fake, ledger)
    first = len(fake.requests)
    _run(client)
    calls = [(r.method, r.path) for r in fake.requests[first:]]
    assert calls == [("GET", "/v1/transfers"), ("GET", f"/v1/accounts/{agency.stripe_account_id}"),
                     ("POST", "/v1/transfers")]
    assert fake.requests[-1].idempotency_key == payout.idempotency_key
    db.session.expire_all()
    assert payout.status == PayoutStatus.PAID and fake.transfer_count() == 1


def test_a_replay_to_a_disabled_account_is_held_then_goes_to_the_bank_rail(client, finance, fake, ledger):
    agency, statement, payout = _pending_without_transfer(client, fake, ledger)
    ops.save_bank_details(agency, "Acme", "ICBC Shenzhen", "62220000111122223333")
    db.session.commit()
    _disable(fake, agency.stripe_account_id)
    posts = len(fake.requests_to("POST", "/v1/transfers"))

    # the last attempt was moments ago (it could still be in flight elsewhere): kept pending, held
    response = _run(client)
    assert b"1 held" in response.data and b"Stripe account cannot receive transfers" in response.data
    db.session.expire_all()
    assert payout.status == PayoutStatus.PENDING and len(_payouts()) == 1
    state = ops.account_for(agency.id)
    assert (state.payouts_enabled, state.disabled_reason) == (False, "requirements.past_due")

    # later: Stripe's list shows no transfer for it, nothing in flight → retired, paid by bank instead
    _age(payout, minutes=10)
    response = _run(client)
    assert b"1 waiting for bank transfer" in response.data
    db.session.expire_all()
    old, new = _payouts()
    assert (old.status, old.rail, old.generation) == (PayoutStatus.FAILED, Rail.STRIPE, 1)
    assert "cannot receive transfers" in old.error and "Stripe made no transfer" in old.error
    assert (new.status, new.rail, new.generation, new.amount_fen) == (PayoutStatus.PENDING, Rail.BANK, 2,
                                                                      payout.amount_fen)
    assert len(fake.requests_to("POST", "/v1/transfers")) == posts and fake.transfer_count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "payouts.retired")) == 1
    assert statement.status == StatementStatus.APPROVED
    page = client.get(f"/payouts/{PERIOD}", headers=EN)
    assert f"payout-{old.id}".encode() in page.data and f"payout-{new.id}".encode() in page.data
    assert b"Stripe made no transfer for this payout" in page.data

    _run(client)  # and it stays that way
    assert len(_payouts()) == 2 and fake.transfer_count() == 0


def test_a_disabled_account_does_not_stop_adopting_a_transfer_that_was_made(client, finance, fake, ledger):
    agency, statement, payout = _pending_with_stored_transfer(client, fake, ledger)
    _disable(fake, agency.stripe_account_id)
    _age(payout, minutes=10)
    _run(client)
    db.session.expire_all()
    assert payout.status == PayoutStatus.PAID and statement.status == StatementStatus.PAID
    assert fake.transfer_count() == 1 and len(_payouts()) == 1


def test_a_replay_for_an_agency_suspended_meanwhile_is_retired_and_held(client, finance, fake, ledger):
    agency, statement, payout = _pending_without_transfer(client, fake, ledger)
    agency.status = AgencyStatus.SUSPENDED
    db.session.commit()
    _age(payout, minutes=10)
    response = _run(client)
    assert b"1 held" in response.data
    db.session.expire_all()
    (only,) = _payouts()
    assert only.status == PayoutStatus.FAILED and "agency suspended" in only.error
    assert fake.transfer_count() == 0 and statement.status == StatementStatus.APPROVED
    assert len(fake.requests_to("GET", f"/v1/accounts/{agency.stripe_account_id}")) == 1  # the first run only


def test_a_replay_when_the_account_cannot_be_checked_stays_pending(client, finance, fake, ledger):
    agency, _statement, payout = _pending_without_transfer(client, fake, ledger)
    fake.fail_next(3, 503, path=f"/v1/accounts/{agency.stripe_account_id}")
    response = _run(client)
    assert b"1 to retry" in response.data and b"the account could not be checked" in response.data
    db.session.expire_all()
    assert payout.status == PayoutStatus.PENDING and fake.transfer_count() == 0


# --- 4. a changed request under the same key ----------------------------------------------------------

def test_the_fake_refuses_a_changed_request_under_the_same_key(app_ctx, fake):
    account = fake.make_account()["id"]
    client = get_client()
    params = {"amount": 12_300, "currency": "cny", "destination": account, "transfer_group": PERIOD}
    first = client.v1.transfers.create(params=params, options={"idempotency_key": "same-key"})
    again = client.v1.transfers.create(params=params, options={"idempotency_key": "same-key"})
    assert again.id == first.id
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.transfers.create(params={**params, "amount": 12_301},
                                   options={"idempotency_key": "same-key"})
    assert raised.value.http_status == 400
    assert "same parameters" in str(raised.value)
    outcomes = [r.outcome for r in fake.requests_to("POST", "/v1/transfers")]
    assert outcomes == ["ok", "replayed", "error:idempotency"]
    assert fake.transfer_count() == 1


def test_an_idempotency_error_on_a_replay_keeps_the_payout_pending_and_pays_once(client, finance, fake,
                                                                                ledger, monkeypatch):
    _agency, statement, payout = _pending_with_stored_transfer(client, fake, ledger)
    original = ops._transfer_params

    def new_release(payout_row, agency_code):  # a deploy changed the transfer's text meanwhile
        return {**original(payout_row, agency_code), "description": f"Commission payment {payout_row.period}"}

    monkeypatch.setattr(ops, "_transfer_params", new_release)
    fake.fail_next(3, 500, path="/v1/transfers", method="GET")  # and Stripe's list cannot be read
    response = _run(client)
    assert b"1 to retry" in response.data and b"0 failed" in response.data
    assert fake.requests_to("POST", "/v1/transfers")[-1].outcome == "error:idempotency"
    db.session.expire_all()
    assert payout.status == PayoutStatus.PENDING and "IdempotencyError" in payout.error
    assert len(_payouts()) == 1 and fake.transfer_count() == 1

    _run(client)  # the list is readable again: the transfer the first request made is adopted
    _run(client)
    db.session.expire_all()
    assert payout.status == PayoutStatus.PAID and statement.status == StatementStatus.PAID
    assert payout.stripe_transfer_id == next(iter(fake.transfers))
    assert len(_payouts()) == 1 and fake.transfer_count() == 1
