"""/api/v1: token scoping, products and leads with keyset pages, POST /leads 201/200/409 and its
answer shape, JSON errors for bad input (never a 500), the OpenAPI document."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from portal.api.auth import create_token, hash_token
from portal.api.models import ApiToken
from portal.core.db import db
from portal.leads import operations as ops
from portal.leads.models import Lead
from portal.partners.models import AgencyStatus
from tests.factories import make_uscc, next_seq


def bearer(text):
    return {"Authorization": f"Bearer {text}", "Accept-Language": "en"}


@pytest.fixture
def tokens(world):
    _row, agency = create_token("agency", "crm", agency=world.agency)
    _row, rival = create_token("agency", "crm", agency=world.rival)
    _row, integration = create_token("integration", "boss")
    return {"agency": agency, "rival": rival, "integration": integration}


def body(world, customer=None, products=None, **extra):
    payload = {
        "customer": {"uscc": customer.uscc if customer else make_uscc(800000 + next_seq()), "name": "API Co"},
        "contact": {"name": "王芳", "mobile": "13700137000"},
        "products": products or [world.low.code],
        "expected_lines": 5,
        "expected_monthly_revenue": "880.00",
        "notes": "via API",
    }
    payload.update(extra)
    return payload


def test_token_is_hashed_at_rest(world, tokens):
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["agency"])))
    assert row is not None and row.agency_id == world.agency.id
    assert tokens["agency"] not in {row.token_hash, row.prefix} and tokens["agency"].startswith(row.prefix)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer " + "x" * 300])
def test_missing_or_unknown_token_is_401_json(client, header):
    response = client.get("/api/v1/leads", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_revoked_token_is_401(client, world, tokens):
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["agency"])))
    row.revoked_at = row.created_at
    db.session.flush()
    assert client.get("/api/v1/products", headers=bearer(tokens["agency"])).status_code == 401


def test_integration_token_cannot_register_or_read_leads(client, world, tokens):
    response = client.post("/api/v1/leads", json=body(world), headers=bearer(tokens["integration"]))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/leads", headers=bearer(tokens["integration"])).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Lead)) == 0


def test_agency_token_cannot_read_another_agencys_lead(client, world, tokens):
    (theirs,) = world.register(agency=world.rival, customer=world.customer()).created
    (mine,) = world.register(customer=world.customer()).created
    response = client.get(f"/api/v1/leads/{theirs.id}", headers=bearer(tokens["agency"]))
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": "No such lead."}}
    listed = client.get("/api/v1/leads", headers=bearer(tokens["agency"])).get_json()
    assert [item["id"] for item in listed["items"]] == [mine.id]
    ok = client.get(f"/api/v1/leads/{mine.id}", headers=bearer(tokens["agency"])).get_json()
    assert {k: ok[k] for k in ("id", "product", "kind", "status", "customer", "protected_until")} == {
        "id": mine.id,
        "product": world.low.code,
        "kind": "sale",
        "status": "submitted",
        "customer": {"uscc": mine.customer.uscc, "name": mine.customer.name},
        "protected_until": None,
    }


def test_post_leads_201_then_200_then_409_for_the_other_agency(client, world, tokens):
    customer = world.customer()
    created = client.post(
        "/api/v1/leads",
        json=body(world, customer, [world.low.code, world.high.code]),
        headers=bearer(tokens["agency"]),
    )
    assert created.status_code == 201, created.get_json()
    answer = created.get_json()
    assert answer["rejected"] == []
    assert [
        (lead["product"], lead["kind"], lead["status"], lead["protected_until"]) for lead in answer["leads"]
    ] == [(world.low.code, "sale", "submitted", None), (world.high.code, "referral", "routed", None)]
    assert set(answer["leads"][0]) == {"id", "product", "kind", "status", "protected_until"}

    again = client.post(
        "/api/v1/leads", json=body(world, customer, [world.low.code]), headers=bearer(tokens["agency"])
    )
    assert again.status_code == 200
    assert again.get_json()["leads"][0]["id"] == answer["leads"][0]["id"]

    conflict = client.post(
        "/api/v1/leads", json=body(world, customer, [world.low.code]), headers=bearer(tokens["rival"])
    )
    assert conflict.status_code == 409
    data = conflict.get_json()
    assert data["error"]["code"] == "conflict"
    assert data["leads"] == []
    assert data["rejected"] == [
        {
            "product": world.low.code,
            "code": "conflict",
            "protected_until": None,
            "message": "Already registered by another partner; under review.",
        }
    ]
    assert world.agency.name not in conflict.get_data(as_text=True)


def test_api_needs_no_csrf_token_with_csrf_on(client, app, world, tokens, monkeypatch):
    """Production runs with CSRF on; bearer-token calls carry no CSRF token and must still work,
    while the HTML forms keep refusing a POST without one."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    created = client.post(
        "/api/v1/leads", json=body(world, world.customer(), [world.low.code]), headers=bearer(tokens["agency"])
    )
    assert created.status_code == 201, created.get_json()
    ingest = client.post("/api/v1/billing", json=[], headers=bearer(tokens["integration"]))
    assert ingest.status_code == 422 and ingest.get_json()["error"]["code"] == "empty_batch"
    assert client.post("/login", data={"email": "x@example.com", "password": "y"}).status_code == 400


def test_conflict_after_approval_carries_the_protection_date(client, world, tokens):
    customer = world.customer()
    (lead,) = world.register(customer=customer).created
    ops.approve(lead, world.cm, today=date(2026, 11, 1))
    conflict = client.post("/api/v1/leads", json=body(world, customer), headers=bearer(tokens["rival"]))
    assert conflict.status_code == 409
    assert conflict.get_json()["rejected"][0]["protected_until"] == "2027-01-30"
    mine = client.get(f"/api/v1/leads/{lead.id}", headers=bearer(tokens["agency"])).get_json()
    assert (mine["status"], mine["protected_until"]) == ("approved", "2027-01-30")


def test_suspended_agency_is_refused_by_the_api(client, world, tokens):
    world.agency.status = AgencyStatus.SUSPENDED
    db.session.flush()
    response = client.post("/api/v1/leads", json=body(world), headers=bearer(tokens["agency"]))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "agency_inactive"
    assert client.get("/api/v1/leads", headers=bearer(tokens["agency"])).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "text",
        {},
        {"customer": "x"},
        {
            "customer": {"uscc": "91440101MA0000000X", "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": ["X"],
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "123"},
            "products": ["X"],
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": [],
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": ["NOPE"],
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": [1, None],
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": ["P"],
            "expected_monthly_revenue": "NaN",
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": ["P"],
            "expected_monthly_revenue": "1.234",
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": ["P"],
            "expected_lines": -3,
        },
        {
            "customer": {"uscc": make_uscc(1), "name": "x"},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": ["P"],
            "extra": True,
        },
        {
            "customer": {"uscc": make_uscc(1234567), "name": ""},
            "contact": {"name": "a", "mobile": "13800138000"},
            "products": ["P"],
        },
    ],
)
def test_bad_input_is_a_json_4xx(client, world, tokens, payload):
    response = client.post("/api/v1/leads", json=payload, headers=bearer(tokens["agency"]))
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert set(response.get_json()["error"]) >= {"code", "message"}


def test_malformed_json_and_bad_queries(client, world, tokens):
    headers = bearer(tokens["agency"]) | {"Content-Type": "application/json"}
    response = client.post("/api/v1/leads", data=b"{not json", headers=headers)
    assert 400 <= response.status_code < 500 and "error" in response.get_json()
    for url in [
        "/api/v1/leads?cursor=%%%",
        "/api/v1/leads?cursor=bm9wZQ",
        "/api/v1/leads?limit=0",
        "/api/v1/leads?limit=abc",
        "/api/v1/leads?status=nope",
        "/api/v1/products?cursor=%FF%FE",
        "/api/v1/leads/abc",
        "/api/v1/leads/99999999999999999999",
        "/api/v1/leads?cursor=bDo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
    ]:
        response = client.get(url, headers=bearer(tokens["agency"]))
        assert 400 <= response.status_code < 500, url
        assert "error" in response.get_json(), url


def test_products_keyset_pages(client, world, tokens):
    for _ in range(3):
        world.make.product()
    seen, url = [], "/api/v1/products?limit=2"
    while url:
        page = client.get(url, headers=bearer(tokens["agency"])).get_json()
        assert len(page["items"]) <= 2
        seen += [p["code"] for p in page["items"]]
        url = f"/api/v1/products?limit=2&cursor={page['next']}" if page["next"] else None
    assert seen == sorted(seen) and len(seen) == len(set(seen)) >= 5
    item = next(
        p
        for p in client.get("/api/v1/products?limit=200", headers=bearer(tokens["agency"])).get_json()[
            "items"
        ]
        if p["code"] == world.high.code
    )
    assert item["tier"] == "high" and item["monthly_price"] == "100.00"


def test_leads_keyset_pages_and_filters(client, world, tokens):
    made = [world.register(customer=world.customer()).created[0] for _ in range(5)]
    ids, url = [], "/api/v1/leads?limit=2"
    while url:
        page = client.get(url, headers=bearer(tokens["agency"])).get_json()
        ids += [item["id"] for item in page["items"]]
        url = f"/api/v1/leads?limit=2&cursor={page['next']}" if page["next"] else None
    assert ids == sorted((lead.id for lead in made), reverse=True)
    ops.approve(made[0], world.cm)
    approved = client.get("/api/v1/leads?status=approved", headers=bearer(tokens["agency"])).get_json()
    assert [item["id"] for item in approved["items"]] == [made[0].id]


def test_last_used_is_recorded(client, world, tokens):
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(tokens["agency"])))
    assert row.last_used_at is None
    client.get("/api/v1/products", headers=bearer(tokens["agency"]))
    db.session.refresh(row)
    assert row.last_used_at is not None


LEAD_PATHS = ("/api/v1/products", "/api/v1/leads", "/api/v1/leads/{lead_id}")


def test_openapi_document_validates(client):
    """The whole document (every area's endpoints) is valid OpenAPI 3."""
    validate(client.get("/api/v1/openapi.json").get_json())


def test_openapi_describes_the_lead_endpoints(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    # this area's part on its own, so that a problem elsewhere does not hide one here
    validate(document | {"paths": {p: document["paths"][p] for p in LEAD_PATHS}})
    assert document["openapi"].startswith("3.")
    for path, methods in {
        "/api/v1/products": {"get"},
        "/api/v1/leads": {"get", "post"},
        "/api/v1/leads/{lead_id}": {"get"},
    }.items():
        assert methods <= set(document["paths"][path])
    post = document["paths"]["/api/v1/leads"]["post"]
    assert {"201", "200", "409", "401", "403", "422"} <= set(post["responses"])
    schema = document["components"]["schemas"]["LeadCreate"]
    assert {"customer", "contact", "products"} <= set(schema["required"])
    assert "bearerAuth" in document["components"]["securitySchemes"]


def test_tokens_cli_prints_the_token_once(app, world):
    from portal.core.models import Notification

    runner = app.test_cli_runner()
    result = runner.invoke(args=["tokens", "create", "--agency", world.agency.code])
    assert result.exit_code == 0, result.output
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == world.owner.id))
    assert note.kind == "api.token_created"  # the agency's owner hears of it
    text = result.stdout.strip()
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(text)))
    assert row is not None and row.kind.value == "agency" and row.agency_id == world.agency.id
    integration = runner.invoke(args=["tokens", "create", "--integration", "BOSS nightly"])
    assert integration.exit_code == 0
    row = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(integration.stdout.strip()))
    )
    assert row.kind.value == "integration" and row.name == "BOSS nightly" and row.agency_id is None
    assert runner.invoke(args=["tokens", "create", "--agency", "NOPE"]).exit_code != 0
    assert runner.invoke(args=["tokens", "create"]).exit_code != 0
    listing = runner.invoke(args=["tokens", "list"])
    assert text not in listing.output and row.prefix in listing.output
    revoked = runner.invoke(args=["tokens", "revoke", row.prefix])
    assert revoked.exit_code == 0 and row.revoked_at is not None
