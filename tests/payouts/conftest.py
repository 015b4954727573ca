"""Payout test fixtures: the Stripe fake over real HTTP, and builders for statements.

The statements are built through the commission engine's own models (`commissions.models`),
the way its run leaves them: a period that was run, adjustment lines, and a statement."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from stripe._http_client import HTTPClient

from commissions.models import Component, Line, Period, PeriodStatus, Statement, StatementStatus
from commissions.payouts import operations as ops
from portal.core.db import db, utcnow
from portal.core.models import Role
from portal.partners.models import AgencyStatus
from tests.payouts.stripe_fake import API_KEY, CONNECT_WEBHOOK_SECRET, WEBHOOK_SECRET, StripeFake


@pytest.fixture(scope="session")
def stripe_server():
    server = StripeFake().start()
    yield server
    server.stop()


@pytest.fixture
def fake(app, stripe_server, monkeypatch):
    """The Stripe fake, empty, with the app pointed at it (STRIPE_API_BASE = its URL)."""
    stripe_server.reset()
    monkeypatch.setitem(app.config, "STRIPE_API_KEY", API_KEY)
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", stripe_server.url)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setitem(app.config, "STRIPE_CONNECT_WEBHOOK_SECRET", CONNECT_WEBHOOK_SECRET)
    # the SDK's retry back-off (0.5 s and more) shortened; the retries themselves are real
    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0.01)
    return stripe_server


@pytest.fixture
def stripe_off(app, monkeypatch):
    monkeypatch.setitem(app.config, "STRIPE_API_KEY", None)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setitem(app.config, "STRIPE_CONNECT_WEBHOOK_SECRET", CONNECT_WEBHOOK_SECRET)


class LedgerBuilder:
    def __init__(self, make):
        self.make = make

    def period(self, key: str) -> Period:
        row = db.session.scalar(sa.select(Period).where(Period.period == key))
        if row is None:
            row = Period(period=key, status=PeriodStatus.OPEN, runs=1, last_run_at=utcnow())
            db.session.add(row)
            db.session.flush()
        return row

    def statement(self, agency, key: str, payable_fen: int, status: str = "approved",
                  earned_fen: int | None = None) -> Statement:
        self.period(key)
        earned = payable_fen if earned_fen is None else earned_fen
        year, month = map(int, key.split("-"))
        if earned:
            db.session.add(Line(period=key, source_period=key, agency_id=agency.id, component=Component.ADJUSTMENT,
                                accrual_date=date(year, month, 15), amount_fen=earned, computed=False,
                                note="test"))
        statement = Statement(period=key, agency_id=agency.id, opening_fen=0, earned_fen=earned,
                              available_fen=earned, payable_fen=payable_fen, carried_fen=earned - payable_fen,
                              line_count=1 if earned else 0, status=StatementStatus(status))
        db.session.add(statement)
        db.session.flush()
        return statement

    def stripe_agency(self, fake, status: AgencyStatus = AgencyStatus.ACTIVE, **account):
        agency = self.make.agency(status=status)
        owner = self.make.user(Role.AGENCY_OWNER, agency=agency)
        agency.stripe_account_id = fake.make_account(**account)["id"]
        db.session.flush()
        return agency, owner

    def bank_agency(self, name: str | None = None, status: AgencyStatus = AgencyStatus.ACTIVE):
        agency = self.make.agency(status=status, **({"name": name} if name else {}))
        owner = self.make.user(Role.AGENCY_OWNER, agency=agency)
        ops.save_bank_details(agency, "深圳示例科技有限公司", "招商银行深圳分行", "6225 8800 1234 5678")
        return agency, owner


@pytest.fixture
def ledger(make):
    return LedgerBuilder(make)


@pytest.fixture
def finance(make, login, client):
    user = make.user(Role.FINANCE)
    login(user)
    return user


from tests.browser.conftest import (  # noqa: E402,F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
    sign_in,
)
