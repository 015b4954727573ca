"""Two payout runs at the same moment (two workers, a double click on two tabs) on a database with
real commits: one transfer, one payout row."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from stripe._http_client import HTTPClient

from commissions.models import Statement, StatementStatus
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutStatus
from portal.core.db import db
from tests.factories import Builder
from tests.payouts.conftest import LedgerBuilder
from tests.payouts.stripe_fake import API_KEY

PERIOD = "2026-08"


class _NoSharedLock(dict):
    """Each run gets a lock of its own, as separate worker processes would."""

    def setdefault(self, key, default=None):
        return threading.Lock()


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_concurrent_runs_pay_each_statement_once(isolated_app, stripe_server, monkeypatch, processes):
    if processes:
        monkeypatch.setattr(ops, "_RUN_LOCKS", _NoSharedLock())
    stripe_server.reset()
    monkeypatch.setitem(isolated_app.config, "STRIPE_API_KEY", API_KEY)
    monkeypatch.setitem(isolated_app.config, "STRIPE_API_BASE", stripe_server.url)
    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0.01)
    with isolated_app.app_context():
        ledger = LedgerBuilder(Builder())
        statements = []
        for amount in (10_000, 20_000, 30_000):
            agency, _owner = ledger.stripe_agency(stripe_server)
            statements.append(ledger.statement(agency, PERIOD, amount).id)
        db.session.commit()
        db.session.remove()

    barrier = threading.Barrier(4)
    errors = []

    def run():
        with isolated_app.app_context():
            try:
                barrier.wait()
                ops.run_payouts(PERIOD)
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    with isolated_app.app_context():
        assert stripe_server.transfer_count(PERIOD) == 3
        assert sorted(t["amount"] for t in stripe_server.transfers.values()) == [10_000, 20_000, 30_000]
        payouts = db.session.scalars(sa.select(Payout)).all()
        assert len(payouts) == 3 and {p.status for p in payouts} == {PayoutStatus.PAID}
        assert set(db.session.scalars(sa.select(Statement.status).where(Statement.id.in_(statements)))) == \
            {StatementStatus.PAID}
        db.session.remove()
