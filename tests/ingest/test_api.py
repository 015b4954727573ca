"""POST /api/v1/activations and /api/v1/billing: integration tokens, batch limit, same checks."""

from __future__ import annotations

import sqlalchemy as sa

from commissions.ingest.models import Activation, BillingRecord, ImportRun
from commissions.ingest.parsing import ACTIVATION_COLUMNS, BILLING_COLUMNS
from portal.api.auth import create_token
from portal.core.db import db
from tests.ingest.conftest import activation, billing


def rec(columns, row):
    return dict(zip(columns, row, strict=True))


def act(order_id, **kw):
    return rec(ACTIVATION_COLUMNS, activation(order_id, **kw))


def auth(text):
    return {"Authorization": f"Bearer {text}"}


def integration(make):
    _row, text = create_token("integration", "boss")
    return auth(text)


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_activations_and_billing_batches(client, make, catalog):
    headers = integration(make)
    body = [act("API-1"), act("API-2", monthly_fee=80.5, quantity=2, terminated_at=None)]
    response = client.post("/api/v1/activations", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert (report["applied"], report["read"], report["inserted"], report["rejected"]) == (True, 2, 2, 0)
    assert db.session.scalar(sa.select(Activation.monthly_fee_fen).where(Activation.order_id == "API-2")) == 8050
    # idempotent
    again = client.post("/api/v1/activations", json=body, headers=headers).get_json()
    assert (again["inserted"], again["unchanged"]) == (0, 2)
    bills = [rec(BILLING_COLUMNS, billing("API-1", "2026-10", "100.00", "90.00"))]
    response = client.post("/api/v1/billing", json=bills, headers=headers)
    assert response.status_code == 200 and response.get_json()["inserted"] == 1
    bills[0]["paid_amount"] = "100.00"
    assert client.post("/api/v1/billing", json=bills, headers=headers).get_json()["updated"] == 1
    assert db.session.scalar(sa.select(BillingRecord.paid_fen)) == 10000
    assert db.session.scalars(sa.select(ImportRun.source).order_by(ImportRun.id.desc())).first().value == "api"


def test_json_numbers_are_exact_decimals(client, make, catalog):
    headers = integration(make)
    client.post("/api/v1/activations", json=[act("API-D")], headers=headers)
    data = '[{"order_id": "API-D", "period": "2026-10", "billed_amount": 0.29, "paid_amount": 0.29}]'
    response = client.post("/api/v1/billing", data=data, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 200
    assert db.session.scalar(sa.select(BillingRecord.billed_fen)) == 29  # float(0.29)*100 would be 28.999…


def test_rejected_records_store_nothing_unless_skip_bad(client, make, catalog):
    headers = integration(make)
    body = [act("API-G"), act("API-B", product_code="NOPE"), "not an object"]
    response = client.post("/api/v1/activations", json=body, headers=headers)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["error"]["code"] == "rejected_records"
    assert [(r["line"], r["code"]) for r in payload["report"]["rejections"]] == [(2, "unknown_product"),
                                                                               (3, "not_an_object")]
    assert payload["report"]["rejections"][0]["reason"] == "unknown product NOPE"
    assert count(Activation) == 0
    response = client.post("/api/v1/activations?skip_bad=true", json=body, headers=headers)
    assert response.status_code == 200 and response.get_json()["inserted"] == 1
    assert count(Activation) == 1


def test_batch_limit_and_bad_bodies(client, make, catalog):
    headers = integration(make)
    too_many = [act(f"API-{i}") for i in range(1001)]
    response = client.post("/api/v1/activations", json=too_many, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "batch_too_large"
    assert count(Activation) == 0
    exactly = [act(f"API-{i}") for i in range(1000)]
    response = client.post("/api/v1/activations", json=exactly, headers=headers)
    assert response.status_code == 200 and response.get_json()["inserted"] == 1000
    for data in ("{not json", '{"order_id": "x"}', "null", "\"text\""):
        response = client.post("/api/v1/billing", data=data, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_request"
    assert client.post("/api/v1/billing", json=[], headers=headers).status_code == 422


def test_integration_token_required(client, make, catalog):
    body = [act("API-T")]
    response = client.post("/api/v1/activations", json=body)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    _row, agency_token = create_token("agency", "agency app", agency=make.agency())
    response = client.post("/api/v1/activations", json=body, headers=auth(agency_token))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    response = client.post("/api/v1/billing", json=[], headers=auth("pp_i_wrong"))
    assert response.status_code == 401
    assert count(Activation) == 0
