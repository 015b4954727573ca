"""At most one live lead per customer and product under concurrent registrations (SPEC §4),
through real connections on PostgreSQL: many threads, two agencies, one customer and product."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from portal.api.auth import create_token
from portal.core.db import db
from portal.core.models import Role
from portal.leads.models import LIVE_STATUSES, Lead
from tests.conftest import requires_postgres
from tests.factories import Builder, make_uscc

THREADS = 24


def _fire(app, tokens, payload):
    """POST the same registration from every thread at once; returns the answers."""
    barrier = threading.Barrier(len(tokens))
    answers: list[tuple[str, int, dict]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(agency_code: str, token: str):
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/leads",
                json=payload,
                headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
            )
            with lock:
                answers.append((agency_code, response.status_code, response.get_json()))
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=pair) for pair in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(answers) == len(tokens)
    return answers


def _setup(app, known_customer: bool):
    with app.app_context():
        make = Builder()
        region = make.region("RC")
        make.user(Role.CHANNEL_MANAGER, regions=[region])
        first = make.agency(region=region)
        second = make.agency(region=region)
        product = make.product(scores=(1, 2, 3))
        uscc = make.customer(region=region).uscc if known_customer else make_uscc(4242424)
        tokens = []
        for i in range(THREADS):
            agency = first if i % 2 == 0 else second
            tokens.append((agency.code, create_token("agency", f"t{i}", agency=agency)[1]))
        db.session.commit()
        ids = {"first": first.code, "second": second.code, "product": product.code, "uscc": uscc}
        db.session.remove()
    return ids, tokens


def _check(app, ids, answers):
    statuses = Counter(status for _code, status, _body in answers)
    assert set(statuses) <= {200, 201, 409}, answers
    assert statuses[201] == 1, statuses
    winner = next(code for code, status, _body in answers if status == 201)
    winner_id = next(body["leads"][0]["id"] for _code, status, body in answers if status == 201)
    for code, status, body in answers:
        if code == winner:
            assert status in (200, 201) and body["leads"][0]["id"] == winner_id
        else:
            assert status == 409 and body["error"]["code"] == "conflict"
            assert body["rejected"][0]["message"] == "Already registered by another partner; under review."
    with app.app_context():
        live = db.session.scalars(sa.select(Lead).where(Lead.status.in_(LIVE_STATUSES))).all()
        assert [lead.id for lead in live] == [winner_id]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 1
        db.session.remove()


@requires_postgres()
@pytest.mark.parametrize("known_customer", [True, False], ids=["known-customer", "new-customer"])
def test_concurrent_registrations_leave_exactly_one_live_lead(isolated_app, known_customer):
    ids, tokens = _setup(isolated_app, known_customer)
    payload = {
        "customer": {"uscc": ids["uscc"], "name": "Race Group"},
        "contact": {"name": "Li", "mobile": "13800138000"},
        "products": [ids["product"]],
        "expected_lines": 1,
        "expected_monthly_revenue": "100",
    }
    answers = _fire(isolated_app, tokens, payload)
    _check(isolated_app, ids, answers)
