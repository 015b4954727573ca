"""How a request's transaction ends: COMMIT when it only read (so that PostgreSQL keeps the
connection's prepared statements, which psycopg drops on every ROLLBACK), ROLLBACK whenever it
may have written and did not commit — even when the view answered normally."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import abort

from portal.core.db import db
from portal.core.models import Region
from portal.core.permissions import public
from tests.conftest import ON_POSTGRES


@pytest.fixture
def served(isolated_app):
    """The isolated app with a few routes that write without committing, and counters of how
    the request transactions ended."""
    app = isolated_app

    @public
    def flush_then_404():
        db.session.add(Region(code="T1", name_zh="区域", name_en="flushed then 404"))
        db.session.flush()
        abort(404)

    @public
    def core_update_then_400():
        db.session.execute(sa.update(Region).where(Region.code == "SZ").values(name_en="changed by Core"))
        return "refused", 400

    @public
    def text_update_then_200():
        db.session.execute(sa.text("UPDATE regions SET name_en = 'changed by text' WHERE code = 'SZ'"))
        return "ok"

    @public
    def pending_add_then_200():
        db.session.add(Region(code="T2", name_zh="区域", name_en="never flushed"))
        return "ok"

    for view in (flush_then_404, core_update_then_400, text_update_then_200, pending_add_then_200):
        app.add_url_rule(f"/_test/{view.__name__}", view.__name__, view)

    ends = {"commit": 0, "rollback": 0}
    with app.app_context():
        db.session.add(Region(code="SZ", name_zh="深圳", name_en="Shenzhen"))
        db.session.commit()
        engine = db.engine
    sa.event.listen(engine, "commit", lambda conn: ends.__setitem__("commit", ends["commit"] + 1))
    sa.event.listen(engine, "rollback", lambda conn: ends.__setitem__("rollback", ends["rollback"] + 1))
    yield app, ends


def _region_names(app) -> dict:
    with app.app_context():
        names = dict(db.session.execute(sa.select(Region.code, Region.name_en)).all())
        db.session.rollback()
        return names


def test_a_page_that_only_read_ends_with_commit(served):
    app, ends = served
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    before = dict(ends)
    assert client.get("/healthz").status_code == 200
    assert ends["commit"] - before["commit"] == 1
    assert ends["rollback"] == before["rollback"]


@pytest.mark.parametrize(
    ("path", "status", "rollbacks"),
    [
        ("/_test/flush_then_404", 404, 1),
        ("/_test/core_update_then_400", 400, 1),
        ("/_test/text_update_then_200", 200, 1),
        ("/_test/pending_add_then_200", 200, 0),  # nothing reached the database: nothing to undo
    ],
)
def test_a_request_that_wrote_without_committing_is_rolled_back(served, path, status, rollbacks):
    app, ends = served
    client = app.test_client()
    before = dict(ends)
    assert client.get(path).status_code == status
    assert ends["commit"] == before["commit"]
    assert ends["rollback"] - before["rollback"] == rollbacks
    assert _region_names(app) == {"SZ": "Shenzhen"}


@pytest.mark.skipif(not ON_POSTGRES, reason="prepared statements are PostgreSQL's")
def test_repeated_pages_reuse_prepared_statements(served):
    app, _ends = served
    client = app.test_client()
    for _ in range(8):  # psycopg prepares a statement on its fifth use on a connection
        assert client.get("/healthz").status_code == 200
    with app.app_context():
        # The pool hands back the connection the requests used (the only one it holds).
        assert db.engine.pool.checkedin() == 1
        prepared = db.session.scalars(sa.text("SELECT statement FROM pg_prepared_statements")).all()
        db.session.rollback()
    assert prepared, "no statement of the page was prepared: its transactions ended with ROLLBACK"
