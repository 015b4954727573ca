"""The single way to write the audit log."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from portal.core.context import Actor, current_actor
from portal.core.db import db
from portal.core.models import AuditLog


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(
    action: str,
    obj: Any = None,
    *,
    object_type: str | None = None,
    object_id: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    actor: Actor | None = None,
) -> AuditLog:
    """Append one audit record (who, when, what, before → after) to the current transaction.

    `obj` may be a model instance; its table name and primary key are taken from it. The record is
    written by the session's next flush (a query, a commit) with the other rows added by then; on
    PostgreSQL, records added with no query between them go to the database in one INSERT."""
    actor = actor or current_actor()
    if obj is not None:
        object_type = object_type or obj.__tablename__
        if object_id is None:
            object_id = getattr(obj, "id", None)
    entry = AuditLog(
        actor_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        object_type=object_type or "-",
        object_id=None if object_id is None else str(object_id),
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        ip=actor.ip,
        request_id=actor.request_id,
    )
    db.session.add(entry)
    return entry


def snapshot(obj: Any, fields: list[str]) -> dict:
    """The named attributes of `obj`, ready for `before=`/`after=`."""
    return {f: _jsonable(getattr(obj, f)) for f in fields}


# --- append-only enforcement in the database -------------------------------------------------

def append_only_statements(dialect_name: str) -> list[str]:
    """DDL that makes `audit_log` refuse UPDATE and DELETE. Used by the migration and create_all."""
    if dialect_name == "postgresql":
        return [
            """
            CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'audit_log is append-only';
            END;
            $$ LANGUAGE plpgsql
            """,
            "DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",
            """CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
               FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
        ]
    if dialect_name == "sqlite":
        return [
            "DROP TRIGGER IF EXISTS audit_log_no_update",
            "DROP TRIGGER IF EXISTS audit_log_no_delete",
            """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
            """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
               BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
        ]
    return []


@event.listens_for(AuditLog.__table__, "after_create")
def _install_append_only(target, connection, **_kw):
    for statement in append_only_statements(connection.dialect.name):
        connection.execute(sa.text(statement))
