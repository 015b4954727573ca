"""The statement engine asks "can this agency be paid?" for all the agencies of a period at once:
the batched answer is the one agency-by-agency asking gives, Stripe on and off."""

from __future__ import annotations

import pytest

from commissions import statements as st
from commissions.payouts import operations as ops
from commissions.payouts.models import PayoutAccount
from portal.core.db import db
from tests.perf.test_query_counts import count_queries


@pytest.mark.parametrize("stripe_key", [None, "sk_test_batched"])
def test_batched_payout_account_check_agrees_with_the_single_one(app, ledger, make, monkeypatch, stripe_key):
    monkeypatch.setitem(app.config, "STRIPE_API_KEY", stripe_key)
    bank, _owner = ledger.bank_agency()
    usable, ready_but_off, nothing = make.agency(), make.agency(), make.agency()
    db.session.add_all([
        PayoutAccount(agency_id=usable.id, stripe_account_id="acct_usable", payouts_enabled=True,
                      transfers_capability="active", currently_due=[]),
        PayoutAccount(agency_id=ready_but_off.id, stripe_account_id="acct_pending", payouts_enabled=False,
                      transfers_capability="inactive", currently_due=["external_account"]),
    ])
    db.session.flush()
    agencies = [bank, usable, ready_but_off, nothing]

    with count_queries() as statements:
        batched = st.payout_accounts(agencies)
    assert len(statements) == 1, statements  # one query for every agency, not one each
    one_by_one = {agency.id: ops.has_payout_account(agency) for agency in agencies}
    assert batched == one_by_one
    assert batched == {bank.id: True, usable.id: stripe_key is not None, ready_but_off.id: False, nothing.id: False}
    assert ops.have_payout_accounts([]) == {}
