"""Every route × every role (and anonymous).

The URL map is walked at collection time, so a new route is tested automatically; a view that
declares no access rule fails the build. For each declared rule the test checks over HTTP that
roles outside it get 403, anonymous users are sent to sign in (401 for the API), and allowed
roles are neither refused nor crash."""

from __future__ import annotations

import os
import tempfile

import pytest

from portal.app import create_app
from portal.core.models import Role
from portal.core.permissions import PUBLIC, SIGNED_IN, TOKEN, declared_access

# Framework endpoints that serve files or documents, not portal views.
FRAMEWORK_ENDPOINTS = {"static", "bootstrap.static", "api-docs.openapi_json"}
SAMPLE_VALUES = {"integer": "999999", "default": "ZZ-NOPE", "string": "ZZ-NOPE", "path": "ZZ-NOPE", "uuid":
                 "00000000-0000-0000-0000-000000000000"}
NAMED_SAMPLES = {"period": "2099-01", "locale": "en", "lang": "en"}
ROLES = [None, *Role]


def _collect():
    tmp = tempfile.mkdtemp(prefix="portal-matrix-")
    os.environ.setdefault("PORTAL_INSTANCE_PATH", tmp)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/x.sqlite3"})
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FRAMEWORK_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        access = declared_access(view)
        if access is None and hasattr(view, "view_class"):
            access = declared_access(view.view_class)
        methods = sorted(m for m in rule.methods if m not in {"HEAD", "OPTIONS"})
        for method in methods:
            rules.append((rule, method, access))
    return rules


RULES = _collect()


def _url(rule) -> str:
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__.lower().replace("converter", "")
        values[arg] = NAMED_SAMPLES.get(arg) or SAMPLE_VALUES.get(converter, SAMPLE_VALUES["default"])
    return rule.build(values, append_unknown=False)[1]


@pytest.mark.parametrize(("rule", "method", "access"), RULES, ids=[f"{m} {r.rule}" for r, m, _ in RULES])
def test_every_route_declares_access(rule, method, access):
    assert access is not None, f"{rule.endpoint} ({rule.rule}) declares no access rule"


@pytest.fixture
def role_users(make):
    agency = make.agency()
    users = {}
    for role in Role:
        users[role] = make.user(role, agency=agency if role.is_agency else None)
    return users


def _allowed(access, role) -> bool:
    if access in (PUBLIC, TOKEN):
        return True
    if role is None:
        return False
    if access == SIGNED_IN:
        return True
    return role in access


@pytest.mark.parametrize(("rule", "method", "access"), RULES, ids=[f"{m} {r.rule}" for r, m, _ in RULES])
def test_route_against_every_role(app, role_users, rule, method, access):
    if access is None:
        pytest.fail(f"{rule.endpoint} declares no access rule")
    url = _url(rule)
    for role in ROLES:
        client = app.test_client()
        if role is not None:
            user = role_users[role]
            with client.session_transaction() as session:
                session["_user_id"] = user.get_id()
                session["_fresh"] = True
        response = client.open(url, method=method, data={}, headers={"Accept-Language": "en"})
        label = f"{method} {url} as {role.value if role else 'anonymous'}"
        assert response.status_code < 500, f"{label}: {response.status_code}"
        if access == TOKEN:
            assert response.status_code in (400, 401, 403, 404, 405, 409, 422) or url.endswith("openapi.json"), label
            continue
        if _allowed(access, role):
            assert response.status_code != 403, f"{label}: refused although allowed"
        elif role is None:
            assert response.status_code in (302, 401), f"{label}: anonymous not sent to sign in"
            if response.status_code == 302:
                assert "/login" in response.headers["Location"], label
        else:
            assert response.status_code == 403, f"{label}: expected 403, got {response.status_code}"
