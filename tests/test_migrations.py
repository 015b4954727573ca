"""Migration hygiene: one head; upgrade from empty works (on the database of this run:
SQLite, or PostgreSQL with TEST_DATABASE_URL); the migrated schema equals the models'."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from portal.app import create_app
from portal.config import PROJECT_ROOT
from portal.core.db import db
from tests.conftest import config_for_tests, fresh_database

MIGRATIONS = PROJECT_ROOT / "portal" / "migrations"


def test_exactly_one_head():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, heads


def _normalise(diffs):
    """Drop differences that are only how a dialect reflects equal things."""
    kept = []
    for diff in diffs:
        if isinstance(diff, list):  # modify_* entries come as lists of tuples
            diff = [d for d in diff if d[0] not in {"modify_comment"}]
            if not diff:
                continue
        kept.append(diff)
    return kept


def _describe(diff) -> str:
    if isinstance(diff, list):
        return "; ".join(_describe(d) for d in diff)
    op, *rest = diff
    names = []
    for item in rest:
        name = getattr(item, "name", None) or (item if isinstance(item, str) else None)
        if name:
            names.append(str(name))
    return f"{op} {' '.join(names)}"


def test_upgrade_from_empty_matches_the_models(tmp_root):
    with fresh_database(tmp_root) as url:
        os.environ["PORTAL_INSTANCE_PATH"] = str(tmp_root / "migration-instance")
        app = create_app(config_for_tests(url, tmp_root / "migration-instance"))
        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                diffs = _normalise(compare_metadata(context, db.metadata))
            summary = [_describe(d) for d in diffs]
            assert summary == [], "models and migrations differ (run `make migration`)"
            # the audit log's append-only trigger is installed by the migrations
            with db.engine.connect() as connection:
                if connection.dialect.name == "sqlite":
                    names = connection.execute(sa.text(
                        "SELECT name FROM sqlite_master WHERE type='trigger'")).scalars().all()
                    assert "audit_log_no_update" in names
                else:
                    names = connection.execute(sa.text(
                        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars().all()
                    assert "audit_log_no_update" in names
            downgrade(directory=str(MIGRATIONS), revision="base")
            with db.engine.connect() as connection:
                remaining = set(sa.inspect(connection).get_table_names()) - {"alembic_version"}
            assert remaining == set()
            db.engine.dispose()
