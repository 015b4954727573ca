"""The demo with the Stripe fake: the fake runs standalone (`python -m tests.payouts.stripe_fake`)
and prints the environment for the portal; `portal demo` with that environment gives AGSZ0001 a
connected account made through the API, so finance pays AGSZ0001 through Stripe and AGGZ0001 by
bank."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
import stripe

from commissions.payouts import ledger
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutStatus, Rail
from portal.core.db import db
from portal.demo import load_demo
from portal.partners.models import Agency
from tests.payouts.stripe_fake import API_KEY, CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET

ROOT = Path(__file__).resolve().parents[2]


def test_the_fake_runs_standalone_and_prints_the_portal_environment():
    env = dict(os.environ, STRIPE_API_KEY="sk_test_from_env", STRIPE_WEBHOOK_SECRET="whsec_from_env")
    env.pop("STRIPE_CONNECT_WEBHOOK_SECRET", None)
    proc = subprocess.Popen([sys.executable, "-m", "tests.payouts.stripe_fake", "--port", "0"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline().strip() for _ in range(5)]
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines[1:])
        assert lines[0].startswith("Stripe fake listening on http://127.0.0.1:")
        assert exports["STRIPE_API_KEY"] == "sk_test_from_env"
        assert exports["STRIPE_WEBHOOK_SECRET"] == "whsec_from_env"
        assert exports["STRIPE_CONNECT_WEBHOOK_SECRET"] == CONNECT_WEBHOOK_SECRET
        base = exports["STRIPE_API_BASE"]
        client = stripe.StripeClient("sk_test_from_env", base_addresses={"api": base, "connect": base})
        account = client.v1.accounts.create(params={"controller": {"stripe_dashboard": {"type": "express"}}})
        assert client.v1.accounts.retrieve(account.id).id == account.id
        wrong = stripe.StripeClient(API_KEY, base_addresses={"api": base})
        try:
            wrong.v1.accounts.retrieve(account.id)
        except stripe.AuthenticationError:
            pass
        else:
            raise AssertionError("the fake accepted a key other than STRIPE_API_KEY")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_demo_loaded_with_the_fake_pays_agsz0001_through_stripe(isolated_app, stripe_server, monkeypatch):
    stripe_server.reset()
    for key, value in (("STRIPE_API_KEY", API_KEY), ("STRIPE_API_BASE", stripe_server.url),
                       ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
                       ("STRIPE_CONNECT_WEBHOOK_SECRET", CONNECT_WEBHOOK_SECRET),
                       ("PORTAL_BASE_URL", "http://127.0.0.1:8000")):
        monkeypatch.setitem(isolated_app.config, key, value)
    with isolated_app.app_context():
        summary = load_demo()
        assert any("AGSZ0001 has Stripe account acct_" in line and "ready for transfers" in line
                   for line in summary)
        sz = db.session.scalar(sa.select(Agency).where(Agency.code == "AGSZ0001"))
        gz = db.session.scalar(sa.select(Agency).where(Agency.code == "AGGZ0001"))
        assert sz.stripe_account_id in stripe_server.accounts and not gz.stripe_account_id
        (create,) = stripe_server.requests_to("POST", "/v1/accounts")
        assert "type" not in create.params
        assert create.params["controller"]["stripe_dashboard"] == {"type": "express"}
        (link,) = stripe_server.requests_to("POST", "/v1/account_links")
        assert link.params["return_url"] == "http://127.0.0.1:8000/payouts/account/return"
        assert ops.account_for(sz.id).stripe_usable

        # finance approves the demo periods and pays them: AGGZ0001's 2026-09 by bank, AGSZ0001's
        # 2026-10 through the fake (AGSZ0001's 2026-09 is below the minimum; AGGZ0001's 2026-10 is disputed)
        ledger.approve_period("2026-09")
        ledger.approve_period("2026-10")
        db.session.commit()
        september = ops.run_payouts("2026-09")
        october = ops.run_payouts("2026-10")
        assert [item[1] for item in september.to_bank] == ["AGGZ0001"] and september.paid_stripe == []
        assert [item[1] for item in october.paid_stripe] == ["AGSZ0001"] and october.to_bank == []
        (transfer,) = stripe_server.transfers.values()
        assert (transfer["destination"], transfer["transfer_group"]) == (sz.stripe_account_id, "2026-10")
        assert transfer["amount"] == october.paid_stripe[0][2] > 0
        rails = {(p.agency_id, p.period): (p.rail, p.status) for p in db.session.scalars(sa.select(Payout))}
        assert rails == {(gz.id, "2026-09"): (Rail.BANK, PayoutStatus.PENDING),
                         (sz.id, "2026-10"): (Rail.STRIPE, PayoutStatus.PAID)}
        db.session.remove()


def test_demo_without_a_key_says_the_stripe_rail_is_off(isolated_app):
    with isolated_app.app_context():
        summary = load_demo()
        assert any("Stripe off (no STRIPE_API_KEY)" in line for line in summary)
        assert not db.session.scalar(sa.select(Agency.stripe_account_id).where(Agency.code == "AGSZ0001"))
        db.session.remove()
