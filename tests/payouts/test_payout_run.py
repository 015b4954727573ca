"""The payout run: right amounts to the right accounts, exactly once under re-runs, retries,
dropped connections and crashes; bank rail for agencies without a usable Stripe account;
suspended agencies are not paid."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from commissions.models import Statement, StatementStatus
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutStatus, Rail
from portal.core.db import db
from portal.core.models import AuditLog, Notification
from portal.partners.models import AgencyStatus

PERIOD = "2026-10"


def _run(client, period=PERIOD):
    response = client.post(f"/payouts/{period}/run", headers={"Accept-Language": "en"}, follow_redirects=True)
    assert response.status_code == 200
    return response


def _payouts():
    return list(db.session.scalars(sa.select(Payout).order_by(Payout.id)))


def test_run_pays_the_right_amounts_to_the_right_accounts(client, finance, fake, ledger):
    a1, owner1 = ledger.stripe_agency(fake)
    a2, _owner2 = ledger.stripe_agency(fake)
    a3, _owner3 = ledger.bank_agency()
    s1 = ledger.statement(a1, PERIOD, 123_456)
    s2 = ledger.statement(a2, PERIOD, 20_001)
    s3 = ledger.statement(a3, PERIOD, 50_000)
    ledger.statement(ledger.make.agency(), PERIOD, 0, earned_fen=5_000)  # held: nothing payable
    ledger.statement(ledger.stripe_agency(fake)[0], PERIOD, 9_999, status="published")  # not approved

    response = _run(client)
    assert b"2 paid by Stripe, 1 waiting for bank transfer" in response.data

    transfers = sorted(fake.transfers.values(), key=lambda t: t["amount"])
    assert [(t["destination"], t["amount"], t["currency"], t["transfer_group"]) for t in transfers] == [
        (a2.stripe_account_id, 20_001, "cny", PERIOD), (a1.stripe_account_id, 123_456, "cny", PERIOD)]
    assert {t["metadata"]["statement_id"] for t in transfers} == {str(s1.id), str(s2.id)}
    posts = fake.requests_to("POST", "/v1/transfers")
    assert sorted(r.idempotency_key for r in posts) == sorted([f"payout-{s1.id}-1", f"payout-{s2.id}-1"])
    # Stripe was asked for the account before each transfer
    paths = [(r.method, r.path) for r in fake.requests]
    for agency in (a1, a2):
        retrieve = paths.index(("GET", f"/v1/accounts/{agency.stripe_account_id}"))
        transfer = next(i for i, r in enumerate(fake.requests)
                        if r.path == "/v1/transfers" and r.params.get("destination") == agency.stripe_account_id)
        assert retrieve < transfer

    db.session.expire_all()
    assert (s1.status, s1.paid_reference) == (StatementStatus.PAID, transfers[1]["id"])
    assert s2.status == StatementStatus.PAID
    assert s3.status == StatementStatus.APPROVED  # waits for the bank
    bank = db.session.scalar(sa.select(Payout).where(Payout.statement_id == s3.id))
    assert (bank.rail, bank.status, bank.amount_fen) == (Rail.BANK, PayoutStatus.PENDING, 50_000)
    stripe_payout = db.session.scalar(sa.select(Payout).where(Payout.statement_id == s1.id))
    assert (stripe_payout.status, stripe_payout.stripe_transfer_id) == (PayoutStatus.PAID, transfers[1]["id"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == owner1.id, Notification.kind == "payouts.paid")) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "payouts.paid")) == 2


def test_the_same_run_twice_pays_nothing_twice(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    bank_agency, _ = ledger.bank_agency()
    ledger.statement(agency, PERIOD, 10_000)
    ledger.statement(bank_agency, PERIOD, 30_000)
    _run(client)
    response = _run(client)  # a second run, a double click
    assert b"0 paid by Stripe, 0 waiting for bank transfer" in response.data
    assert b"2 already paid or in progress" in response.data
    assert fake.transfer_count() == 1
    assert len(fake.requests_to("POST", "/v1/transfers")) == 1
    assert len(_payouts()) == 2


def test_connection_dropped_after_the_transfer_was_stored_is_replayed_once(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    statement = ledger.statement(agency, PERIOD, 77_700)
    fake.drop_after_store(1)  # Stripe stores the transfer, the answer never arrives
    _run(client)
    assert fake.transfer_count() == 1
    posts = fake.requests_to("POST", "/v1/transfers")
    assert [r.outcome for r in posts] == ["ok+dropped", "replayed"]  # the SDK's retry, same key
    assert len({r.idempotency_key for r in posts}) == 1
    db.session.expire_all()
    assert statement.status == StatementStatus.PAID
    assert _payouts()[0].stripe_transfer_id == next(iter(fake.transfers))


def test_every_retry_dropped_leaves_the_payout_pending_and_the_next_run_replays(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    statement = ledger.statement(agency, PERIOD, 15_000)
    fake.drop_after_store(3)  # the call and both retries lose their answer
    response = _run(client)
    assert b"1 to retry" in response.data
    payout = _payouts()[0]
    assert payout.status == PayoutStatus.PENDING and "APIConnectionError" in payout.error
    assert fake.transfer_count() == 1  # the money moved; the portal keeps the pending row

    _run(client)
    db.session.expire_all()
    assert fake.transfer_count() == 1
    assert payout.status == PayoutStatus.PAID and payout.stripe_transfer_id == next(iter(fake.transfers))
    assert statement.status == StatementStatus.PAID
    assert {r.idempotency_key for r in fake.requests_to("POST", "/v1/transfers")} == {f"payout-{statement.id}-1"}
    assert len(_payouts()) == 1


def test_a_crash_between_recording_and_the_call_is_completed_by_the_next_run(app, fake, ledger, monkeypatch):
    agency, _ = ledger.stripe_agency(fake)
    statement = ledger.statement(agency, PERIOD, 42_000)
    original = ops._send_transfer

    def crash(*_args, **_kw):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ops, "_send_transfer", crash)
    with pytest.raises(RuntimeError):
        ops.run_payouts(PERIOD)
    pending = _payouts()
    assert [(p.status, p.idempotency_key) for p in pending] == [(PayoutStatus.PENDING, f"payout-{statement.id}-1")]
    assert fake.transfer_count() == 0

    monkeypatch.setattr(ops, "_send_transfer", original)
    report = ops.run_payouts(PERIOD)
    assert len(report.paid_stripe) == 1 and fake.transfer_count() == 1
    report = ops.run_payouts(PERIOD)
    assert report.paid_stripe == [] and report.already == 1 and fake.transfer_count() == 1


def test_server_errors_then_success(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    ledger.statement(agency, PERIOD, 5_000_00)
    fake.fail_next(2, 500, path="/v1/transfers")
    _run(client)
    outcomes = [r.outcome for r in fake.requests_to("POST", "/v1/transfers")]
    assert outcomes == ["fault:500", "fault:500", "ok"]
    assert fake.transfer_count() == 1
    assert _payouts()[0].status == PayoutStatus.PAID


def test_rate_limited_transfer_stays_pending_and_is_paid_by_the_next_run(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    ledger.statement(agency, PERIOD, 8_800)
    fake.fail_next(1, 429, path="/v1/transfers")
    response = _run(client)
    assert b"1 to retry" in response.data
    assert _payouts()[0].status == PayoutStatus.PENDING and fake.transfer_count() == 0
    _run(client)
    db.session.expire_all()
    assert _payouts()[0].status == PayoutStatus.PAID and fake.transfer_count() == 1


def test_a_refused_transfer_fails_and_a_later_run_tries_again_with_a_new_key(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    statement = ledger.statement(agency, PERIOD, 1_000_00)
    fake.platform_available = 10  # insufficient balance: Stripe answers 400
    response = _run(client)
    assert b"1 failed" in response.data
    assert _payouts()[0].status == PayoutStatus.FAILED and "insufficient funds" in _payouts()[0].error
    fake.platform_available = 10_000_000
    _run(client)
    payouts = _payouts()
    assert [(p.generation, p.status) for p in payouts] == [(1, PayoutStatus.FAILED), (2, PayoutStatus.PAID)]
    assert payouts[1].idempotency_key == f"payout-{statement.id}-2"
    assert fake.transfer_count() == 1


def test_suspended_agency_is_not_paid(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake, status=AgencyStatus.SUSPENDED)
    statement = ledger.statement(agency, PERIOD, 10_000)
    response = _run(client)
    assert b"1 held" in response.data
    assert fake.transfer_count() == 0 and fake.requests_to("POST", "/v1/transfers") == []
    assert _payouts() == []
    db.session.expire_all()
    assert statement.status == StatementStatus.APPROVED
    page = client.get(f"/payouts/{PERIOD}", headers={"Accept-Language": "en"})
    assert b"Payouts are held while the agency is suspended." in page.data


def test_account_that_cannot_receive_transfers_goes_to_the_bank_rail(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake, payouts_enabled=False, transfers="inactive",
                                     currently_due=["external_account"])
    ops.save_bank_details(agency, "Acme", "ICBC Shenzhen", "62220000111122223333")
    ledger.statement(agency, PERIOD, 10_000)
    _run(client)
    assert fake.transfer_count() == 0
    payout = _payouts()[0]
    assert (payout.rail, payout.status) == (Rail.BANK, PayoutStatus.PENDING)
    state = ops.account_for(agency.id)
    assert state.payouts_enabled is False and state.currently_due == ["external_account"]


def test_without_stripe_key_everything_goes_to_the_bank_and_the_page_says_so(client, finance, stripe_off, ledger,
                                                                               make):
    agency, _ = ledger.bank_agency()
    agency.stripe_account_id = "acct_would_be_ignored"
    ledger.statement(agency, PERIOD, 10_000)
    page = client.get(f"/payouts/{PERIOD}", headers={"Accept-Language": "en"})
    assert b"Stripe payouts are switched off" in page.data
    _run(client)
    assert _payouts()[0].rail == Rail.BANK


def test_the_database_refuses_a_second_live_payout_for_a_statement(app_ctx, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    statement = ledger.statement(agency, PERIOD, 10_000)
    db.session.add(Payout(statement_id=statement.id, agency_id=agency.id, period=PERIOD, rail=Rail.BANK,
                          status=PayoutStatus.PENDING, generation=1, amount_fen=10_000))
    db.session.flush()
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        db.session.add(Payout(statement_id=statement.id, agency_id=agency.id, period=PERIOD, rail=Rail.STRIPE,
                              status=PayoutStatus.PENDING, generation=2, amount_fen=10_000))
        db.session.flush()


def test_cli_run_is_the_same_as_the_button_and_may_run_again(app, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    ledger.statement(agency, PERIOD, 12_345)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["payouts", "run", PERIOD])
    assert result.exit_code == 0, result.output
    assert "1 paid by Stripe (¥123.45)" in result.output
    result = runner.invoke(args=["payouts", "run", PERIOD])
    assert result.exit_code == 0 and "0 paid by Stripe" in result.output and "1 already paid" in result.output
    assert fake.transfer_count() == 1
    assert runner.invoke(args=["payouts", "run", "2026-13"]).exit_code == 2
    assert db.session.scalar(sa.select(Statement.status).where(Statement.agency_id == agency.id)) == \
        StatementStatus.PAID
