"""Reconciliation of a period and the close guard: refused with reasons, then allowed."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from commissions.ingest.models import Activation, BillingRecord
from commissions.models import Component, Line, Period, PeriodStatus
from commissions.payouts import operations as ops
from commissions.payouts.reconciliation import reconcile
from portal.core.db import db

PERIOD = "2026-09"


def _kinds(result):
    return sorted(m.kind for m in result.mismatches)


def test_a_transfer_the_portal_does_not_know_and_a_missing_one(app_ctx, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    other, _ = ledger.stripe_agency(fake)
    ledger.statement(agency, PERIOD, 10_000)
    ledger.statement(other, PERIOD, 20_000)
    ops.run_payouts(PERIOD)
    assert reconcile(PERIOD).agrees

    stray = fake.add_transfer(destination=other.stripe_account_id, amount=999, transfer_group=PERIOD)
    result = reconcile(PERIOD)
    assert result.stripe_checked and _kinds(result) == ["stripe"]
    assert stray["id"] in result.mismatches[0].message and "not known to the portal" in result.mismatches[0].message

    del fake.transfers[stray["id"]]
    ours = next(iter(fake.transfers))
    del fake.transfers[ours]  # Stripe no longer lists one of ours
    result = reconcile(PERIOD)
    assert len(result.mismatches) == 1
    assert ours in result.mismatches[0].message and "missing from Stripe" in result.mismatches[0].message
    assert result.mismatches[0].link.startswith(f"/payouts/{PERIOD}#payout-")


def test_lines_statements_and_payouts_per_agency(app_ctx, fake, ledger):
    agency, _ = ledger.bank_agency()
    statement = ledger.statement(agency, PERIOD, 10_000)
    db.session.add(Line(period=PERIOD, source_period=PERIOD, agency_id=agency.id, component=Component.ADJUSTMENT,
                        accrual_date=date(2026, 9, 30), amount_fen=1, computed=False, note="late"))
    db.session.flush()
    result = reconcile(PERIOD)
    messages = " ".join(m.message for m in result.mismatches)
    assert "earns ¥100.00 but its lines sum to ¥100.01" in messages
    assert "neither paid nor carried" in messages
    assert result.totals["lines_fen"] == 10_001 and result.totals["payable_fen"] == 10_000
    assert any(m.link == f"/payouts/{PERIOD}#statement-{statement.id}" for m in result.mismatches)


def test_basis_of_lines_against_boss_data(app_ctx, ledger, stripe_off):
    agency, _ = ledger.bank_agency()
    ledger.period(PERIOD)
    db.session.add(Activation(order_id="ORD-1", uscc="91440101MA0000001X", customer_name="C", product_code="GRP-SMS",
                              agent_code=agency.code, quantity=3, monthly_fee_fen=10_000, one_time_fee_fen=5_000,
                              activated_at=datetime(2026, 9, 1, tzinfo=UTC), activation_date=date(2026, 9, 1)))
    db.session.add(BillingRecord(order_id="ORD-1", period=PERIOD, billed_fen=30_000, paid_fen=30_000))
    db.session.add(Line(period=PERIOD, source_period=PERIOD, agency_id=agency.id, component=Component.ONE_OFF,
                        order_id="ORD-1", accrual_date=date(2026, 9, 1), basis_fen=5_000, quantity=3,
                        amount_fen=9_000))
    db.session.add(Line(period=PERIOD, source_period=PERIOD, agency_id=agency.id, component=Component.SHARE,
                        order_id="ORD-1", accrual_date=date(2026, 9, 30), basis_fen=31_000, amount_fen=2_480))
    db.session.flush()
    result = reconcile(PERIOD)
    basis = [m for m in result.mismatches if m.kind == "basis"]
    assert len(basis) == 1 and "¥310.00" in basis[0].message and "¥300.00" in basis[0].message
    (row,) = result.products
    assert (row.product, row.lines, row.basis_fen, row.source_fen, row.amount_fen) == \
        ("GRP-SMS", 2, 36_000, 35_000, 11_480)


def test_period_close_is_refused_with_reasons_then_allowed(client, finance, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    bank_agency, _ = ledger.bank_agency()
    carried_agency, _ = ledger.bank_agency()
    ledger.statement(agency, PERIOD, 10_000)
    ledger.statement(bank_agency, PERIOD, 20_000)
    carried = ledger.statement(carried_agency, PERIOD, 30_000)
    en = {"Accept-Language": "en"}

    response = client.post(f"/payouts/{PERIOD}/close", headers=en, follow_redirects=True)
    assert b"cannot be closed yet" in response.data and b"neither paid nor carried" in response.data
    assert db.session.scalar(sa.select(Period.status).where(Period.period == PERIOD)) == PeriodStatus.OPEN

    client.post(f"/payouts/{PERIOD}/run", headers=en)
    response = client.post(f"/payouts/{PERIOD}/close", headers=en, follow_redirects=True)
    assert b"waiting for the bank reference" in response.data

    bank_payout = ops.bank_payouts(PERIOD)
    assert len(bank_payout) == 2
    for payout in bank_payout:
        if payout.statement_id == carried.id:
            client.post(f"/payouts/payout/{payout.id}/cancel", headers=en)
        else:
            client.post(f"/payouts/payout/{payout.id}/bank-reference", data={"ref-reference": "CMB20261001-77"},
                        headers=en)
    assert client.post(f"/payouts/statement/{carried.id}/carry", data={"carry-reason": ""}, headers=en,
                       follow_redirects=True).data.count(b"Give the reason") == 1
    client.post(f"/payouts/statement/{carried.id}/carry", data={"carry-reason": "Bank account being changed"},
                headers=en)

    page = client.get(f"/payouts/{PERIOD}/reconciliation", headers=en)
    assert b"Everything agrees" in page.data, page.data.decode()[:3000]
    response = client.post(f"/payouts/{PERIOD}/close", headers=en, follow_redirects=True)
    assert b"Period 2026-09 is closed." in response.data
    assert db.session.scalar(sa.select(Period.status).where(Period.period == PERIOD)) == PeriodStatus.CLOSED


def test_cli_reconcile_exit_code(app, fake, ledger):
    agency, _ = ledger.stripe_agency(fake)
    ledger.statement(agency, PERIOD, 10_000)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["payouts", "reconcile", PERIOD])
    assert result.exit_code == 1 and "[unpaid]" in result.output
    ops.run_payouts(PERIOD)
    result = runner.invoke(args=["payouts", "reconcile", PERIOD])
    assert result.exit_code == 0 and "everything agrees" in result.output and "stripe checked: yes" in result.output
