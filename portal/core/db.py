"""The SQLAlchemy base, the Flask-SQLAlchemy handle and engine-level settings."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, MappedAsDataclass  # noqa: F401 - re-exported for models

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp that is always stored and returned as aware UTC.

    PostgreSQL keeps `timestamptz`; SQLite keeps naive UTC text, re-tagged as UTC on load.
    A naive value on the way in is a programming error and is refused.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def is_sqlite(bind) -> bool:
    return bind.dialect.name == "sqlite"


WROTE = "portal.wrote"  # on a connection's info: a statement of its transaction may have written


def _may_write(statement: str) -> bool:
    """False only for what cannot write: a plain SELECT (or SQLite's BEGIN). Anything else — DML,
    SAVEPOINT, SET, a WITH that may hide an UPDATE — counts as a write."""
    head = statement.lstrip()[:6].upper()
    return head != "SELECT" and head != "BEGIN"


def track_writes(engine: sa.Engine) -> None:
    """Mark a connection's transaction that ran anything but SELECTs (see `end_read_only`)."""

    @event.listens_for(engine, "begin")
    def _forget(conn):
        conn.info.pop(WROTE, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _note(conn, cursor, statement, parameters, context, executemany):
        if executemany or _may_write(statement):
            conn.info[WROTE] = True


def end_read_only(session) -> bool:
    """Commit the session's transaction when it only read; True when it did.

    A request that reads and ends would otherwise end with ROLLBACK, and psycopg forgets every
    prepared statement of its connection on ROLLBACK (a rollback may undo the DDL a statement
    relies on). Statements are prepared on their fifth use on a connection, so with a ROLLBACK
    closing every page none ever was: PostgreSQL planned each query of each page again. A COMMIT
    of a transaction that only read changes nothing and keeps them. A transaction that wrote, or
    holds changes not yet flushed, is left alone: it ends with ROLLBACK as before."""
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return False
    if session.get_nested_transaction() is not None:
        return False
    if session.connection().info.get(WROTE):
        return False
    session.commit()
    return True


def configure_engine(engine: sa.Engine) -> None:
    """Every engine: which transactions wrote (`track_writes`). SQLite: real transactions with
    SAVEPOINT support, foreign keys, WAL, a busy timeout."""
    track_writes(engine)
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN")


def lock_for_update(stmt, bind=None):
    """`SELECT … FOR UPDATE` where the database has row locks (SQLite locks the whole file)."""
    return stmt.with_for_update()
