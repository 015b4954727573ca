"""Test fixtures: one fresh database per test run, one transaction per test.

`TEST_DATABASE_URL` (a PostgreSQL server URL) makes the run use a new database on that server,
dropped at the end; without it an SQLite file in a temporary directory is used. Each test runs
inside an outer transaction with SAVEPOINTs and is rolled back (SQLAlchemy's "joining a session
into an external transaction"). Tests that need real commits from several connections use
`isolated_app`, which gets a database of its own.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient
from flask_babel import refresh as babel_refresh
from flask_sqlalchemy.session import Session as FlaskSession

from portal.app import create_app
from portal.core.db import db
from tests import factories


class ConnectionBoundSession(FlaskSession):
    """Flask-SQLAlchemy's session picks the engine itself; in tests it must use our connection."""

    def get_bind(self, *args, **kwargs):
        return self.bind


class PortalTestClient(FlaskClient):
    """Requests made while a test holds an app context reuse that context's `g`; forget the
    signed-in user between requests, as separate requests in production would."""

    def open(self, *args, **kwargs):
        if has_app_context():
            g.pop("_login_user", None)
            babel_refresh()  # the language is chosen per request
        return super().open(*args, **kwargs)


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgres://", "postgresql"))


def _pg_url(url: str) -> sa.URL:
    url = url.replace("postgres://", "postgresql://", 1)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.make_url(url)


@contextmanager
def fresh_database(tmp_dir: Path):
    """A new, empty database URL; dropped afterwards."""
    if ON_POSTGRES:
        server = _pg_url(TEST_DATABASE_URL)
        name = f"portal_test_{os.getpid()}_{secrets.token_hex(4)}"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        path = tmp_dir / f"portal-{secrets.token_hex(4)}.sqlite3"
        yield f"sqlite:///{path}"


def config_for_tests(database_url: str, instance: Path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 8 * 1024,
        "PORTAL_DATA_DIR": str(instance / "data"),
        "SERVER_NAME": None,
    }


def make_test_app(database_url: str, instance: Path, **overrides):
    os.environ["PORTAL_INSTANCE_PATH"] = str(instance)
    app = create_app(config_for_tests(database_url, instance) | overrides)
    app.test_client_class = PortalTestClient
    with app.app_context():
        db.create_all()
    return app


@pytest.fixture(scope="session")
def tmp_root():
    with tempfile.TemporaryDirectory(prefix="portal-tests-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def app(tmp_root):
    with fresh_database(tmp_root) as url:
        application = make_test_app(url, tmp_root / "instance")
        yield application
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


# Fixtures that serve or use an app with its own database (their sessions must not be replaced).
SERVER_FIXTURES = {"isolated_app", "live_server", "fuzz_server", "portal"}


@pytest.fixture(autouse=True)
def _transaction(request, app):
    """Run each test in an outer transaction rolled back at the end."""
    if SERVER_FIXTURES.intersection(request.fixturenames) or request.node.get_closest_marker("real_database"):
        yield  # a served app commits for real in its own database; `db.session` must stay unbound
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {"bind": connection, "join_transaction_mode": "create_savepoint", "class_": ConnectionBoundSession}
        )
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            if outer.is_active:
                outer.rollback()
            connection.close()


@pytest.fixture
def isolated_app(tmp_root):
    """An app on a database of its own, for tests that commit from several connections."""
    with fresh_database(tmp_root) as url:
        application = make_test_app(url, tmp_root / f"instance-{secrets.token_hex(3)}")
        yield application
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def make(app_ctx):
    """Builders for test data: `make.user(role)`, `make.agency()`, `make.product()` …"""
    return factories.Builder()


@pytest.fixture
def login(client):
    """`login(user)` signs the test client in as `user` (skipping password and TOTP)."""

    def _login(user, test_client=None):
        test_client = test_client or client
        with test_client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return test_client

    return _login


def requires_postgres(reason: str = "needs PostgreSQL (set TEST_DATABASE_URL)"):
    return pytest.mark.skipif(not ON_POSTGRES, reason=reason)


# --- browser tests: a screenshot of every open page when a test fails (kept as CI artefacts) ---

FAILURE_SHOTS = Path(__file__).resolve().parent.parent / "test-results" / "failures"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pages = []
    for value in getattr(item, "funcargs", {}).values():
        if type(value).__name__ == "Page":
            pages.append(value)
        elif type(value).__name__ in ("Browser", "BrowserContext"):
            contexts = value.contexts if type(value).__name__ == "Browser" else [value]
            pages += [p for context in contexts for p in context.pages]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.nodeid)[-150:]
    for i, page in enumerate(dict.fromkeys(pages)):
        try:
            FAILURE_SHOTS.mkdir(parents=True, exist_ok=True)
            path = FAILURE_SHOTS / f"{safe}-{i}.png"
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("failure screenshot", f"{path} ({page.url})"))
        except Exception as exc:  # a closed page must not hide the real failure
            report.sections.append(("failure screenshot", f"not taken: {exc}"))
