"""Importing activations and billing: validate, stage, classify and apply — set-based.

One import (file, API batch or demo rows) goes through these steps inside a SAVEPOINT:

1. rows are read one at a time and checked on their own (`parsing.check_*`); good rows are
   streamed into a temporary staging table — PostgreSQL `COPY` (psycopg 3), batched
   `executemany` on SQLite — bad rows are set aside with their line number and reason;
2. one SQL pass classifies every staged row against the stored data: insert, update (an added
   termination, a changed paid amount), unchanged, or rejected (a duplicate in the file with
   different data, a changed immutable field, billing for an unknown order …);
3. whole-or-nothing: if any row is rejected and the caller did not pass `skip_bad`, or on a dry
   run (preview), the SAVEPOINT is rolled back and nothing is stored; otherwise one
   `INSERT … SELECT` and one `UPDATE … FROM` apply the good rows (imports are serialised by an
   advisory lock; a row written meanwhile by something else makes the unique constraint fail
   the whole import, which then stores nothing).

Never a query per row. The `ImportRun` passed in receives the report (counts, rejections) and
an audit record is written; the caller commits. Every rejected row is kept (`ImportRejection`):
they are spooled to a temporary file while the import runs — the SAVEPOINT of a refused import
or a preview is rolled back, the report must survive it — and bulk-loaded after it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from catalog.models import Product
from commissions.ingest import parsing
from commissions.ingest.models import ImportKind, ImportRejection, ImportRun, ImportSource, ImportStatus
from portal.core.audit import record
from portal.core.db import db, utcnow
from portal.core.money import format_fen
from portal.core.time import format_datetime_local

INLINE_REJECTIONS = 1_000  # repeated in ImportRun.rejections (pages, CLI, API); all are ImportRejection rows
REJECTION_BATCH = 5_000
SQLITE_BATCH = 5_000
LOCK_KEY = 0x1A9E57  # pg_advisory_xact_lock key shared by all imports
API_MAX_RECORDS = 1_000

ProgressFn = Callable[[float, str | None], None]

ACCEPT_VERDICTS = ("insert", "update", "unchanged", "dup_same")


class ImportRefused(RuntimeError):
    pass


_TIMINGS = bool(os.environ.get("INGEST_TIMINGS"))  # benchmarks: time every SQL step
_TIMINGS_LOG: list[tuple[str, float]] = []


class _NoFastPath(Exception):
    pass


# --- helpers ----------------------------------------------------------------------------------

def _sqlite_ts(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime stores for an aware UTC timestamp."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _as_utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _local(value) -> str:
    return format_datetime_local(_as_utc(value), "%Y-%m-%d %H:%M:%S") if value is not None else "—"


def _yuan(fen) -> str:
    return format_fen(int(fen), symbol="")


class _Rejections:
    """Every rejected row, spooled to a temporary file (one JSON array a line) so that neither a
    million rejections in memory nor the rollback of the import's SAVEPOINT loses any."""

    def __init__(self):
        self.count = 0
        self._spool = None

    def add(self, line: int, order_id: str, code: str, params: dict) -> None:
        if self._spool is None:
            # the spool outlives this call (add() … __iter__); close(), in import_file's finally, closes it
            self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._spool.write(json.dumps([int(line), order_id or "", code, params or {}], ensure_ascii=False,
                                     default=str))
        self._spool.write("\n")
        self.count += 1

    def __iter__(self) -> Iterator[list[Any]]:
        if self._spool is None:
            return
        self._spool.flush()
        self._spool.seek(0)
        for text in self._spool:
            yield json.loads(text)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def _store_rejections(run: ImportRun, rejections: _Rejections) -> None:
    """Replace the run's stored rejections by these (a preview's by the apply's), in batches —
    COPY on PostgreSQL — then repeat the first INLINE_REJECTIONS on the run."""
    table = ImportRejection.__table__
    db.session.execute(sa.delete(table).where(table.c.run_id == run.id))
    connection = db.session.connection()
    pg = connection.dialect.name == "postgresql"
    batch: list[list[Any]] = []

    def flush_batch():
        if not batch:
            return
        if pg:
            raw = connection.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(
                    "COPY import_rejections (run_id, line, order_id, code, params) FROM STDIN") as copy:
                for line, order_id, code, params in batch:
                    copy.write_row([run.id, line, order_id or None, code, json.dumps(params, ensure_ascii=False)])
        else:
            db.session.execute(sa.insert(table), [
                {"run_id": run.id, "line": line, "order_id": order_id or None, "code": code, "params": params}
                for line, order_id, code, params in batch])
        batch.clear()

    for item in rejections:
        batch.append(item)
        if len(batch) >= REJECTION_BATCH:
            flush_batch()
    flush_batch()
    run.rejections = [[r.line, r.order_id or "", r.code, r.params or {}] for r in db.session.execute(
        sa.select(table.c.line, table.c.order_id, table.c.code, table.c.params)
        .where(table.c.run_id == run.id).order_by(table.c.line, table.c.id).limit(INLINE_REJECTIONS))]


def iter_rejections(run: ImportRun, chunk: int = 10_000) -> Iterator[tuple[int, str, str, dict]]:
    """Every rejected row of the run, by line (streamed in chunks)."""
    table = ImportRejection.__table__
    last = None
    while True:
        stmt = (sa.select(table.c.id, table.c.line, table.c.order_id, table.c.code, table.c.params)
                .where(table.c.run_id == run.id).order_by(table.c.line, table.c.id).limit(chunk))
        if last is not None:
            stmt = stmt.where(sa.or_(table.c.line > last[0], sa.and_(table.c.line == last[0], table.c.id > last[1])))
        rows = db.session.execute(stmt).all()
        if not rows:
            return
        for r in rows:
            yield r.line, r.order_id or "", r.code, r.params or {}
        last = (rows[-1].line, rows[-1].id)


REJECTION_COLUMNS = ("line", "order_id", "code", "reason")


def rejection_csv_chunks(run: ImportRun, english: bool = False, rows: int = 5_000) -> Iterator[str]:
    """All rejected rows of the run as CSV text (line, order_id, code, reason — the reason in the
    current language, or English), in chunks of `rows` rows; cells are safe against spreadsheet
    formula injection."""
    from commissions.exports import safe_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REJECTION_COLUMNS)
    for n, (line, order_id, code, params) in enumerate(iter_rejections(run), start=1):
        writer.writerow([line, safe_cell(order_id), code, safe_cell(rejection_text(code, params, english=english))])
        if n % rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_rejections_csv(run: ImportRun, stream, english: bool = False) -> int:
    """Every rejected row of the run as CSV into a text stream; returns the number of rows."""
    for text in rejection_csv_chunks(run, english=english):
        stream.write(text)
    return run.rejected


# --- staging ----------------------------------------------------------------------------------

_STAGE_COLUMNS = {
    ImportKind.ACTIVATIONS: [
        ("line", "integer"), ("order_id", "varchar(64)"), ("uscc", "varchar(18)"),
        ("customer_name", "varchar(200)"), ("product_code", "varchar(32)"), ("agent_code", "varchar(16)"),
        ("quantity", "integer"), ("monthly_fee_fen", "bigint"), ("one_time_fee_fen", "bigint"),
        ("activated_at", "timestamptz"), ("activation_date", "date"), ("terminated_at", "timestamptz"),
        ("termination_date", "date"), ("digest", "bigint"),
    ],
    ImportKind.BILLING: [
        ("line", "integer"), ("order_id", "varchar(64)"), ("period", "varchar(7)"), ("billed_fen", "bigint"),
        ("paid_fen", "bigint"),
    ],
}


class _Stage:
    """A temporary staging table and the SQL that classifies and applies its rows."""

    def __init__(self, kind: ImportKind):
        self.kind = kind
        self.conn = db.session.connection()
        self.dialect = self.conn.dialect.name
        self.pg = self.dialect == "postgresql"
        suffix = secrets.token_hex(4)
        self.stage = f"ingest_stage_{suffix}"
        self.dups = f"ingest_dups_{suffix}"
        self.classified = f"ingest_cls_{suffix}"
        self.raw = f"ingest_raw_{suffix}"
        self.columns = [c for c, _t in _STAGE_COLUMNS[kind]]
        self.periods: list[str] | None = None  # billing: the periods of the staged rows, when known
        self.counted: dict[str, int] = {}

    def sql(self, text: str, params: dict | None = None):
        if not _TIMINGS:
            return self.conn.execute(sa.text(text), params or {})
        started = time.perf_counter()
        result = self.conn.execute(sa.text(text), params or {})
        _TIMINGS_LOG.append((" ".join(text.split())[:60], round(time.perf_counter() - started, 3)))
        return result

    def now_param(self):
        now = utcnow()
        return now if self.pg else _sqlite_ts(now)

    def create(self) -> None:
        if self.pg:
            self.sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")
            # Hash joins and aggregates over a million staged rows stay in memory (server side).
            self.sql("SET LOCAL work_mem = '256MB'")
        defs = ", ".join(f"{c} {t if self.pg or t != 'timestamptz' else 'text'}"
                         for c, t in _STAGE_COLUMNS[self.kind])
        self.sql(f"CREATE TEMP TABLE {self.stage} ({defs})")

    def drop(self) -> None:
        for name in (self.classified, self.dups, self.stage, self.raw):
            self.sql(f"DROP TABLE IF EXISTS {name}")

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[tuple], None]]:
        raw = self.conn.connection.driver_connection
        cols = ", ".join(self.columns)
        if self.pg:
            with raw.cursor() as cursor, cursor.copy(f"COPY {self.stage} ({cols}) FROM STDIN") as copy:
                yield copy.write_row
            return
        batch: list[tuple] = []
        insert = f"INSERT INTO {self.stage} ({cols}) VALUES ({', '.join('?' for _ in self.columns)})"
        cursor = raw.cursor()
        activations = self.kind == ImportKind.ACTIVATIONS

        def write(row: tuple) -> None:
            if activations:
                row = (*row[:9], _sqlite_ts(row[9]), row[10].isoformat(), _sqlite_ts(row[11]),
                       row[12].isoformat() if row[12] else None, row[13])
            batch.append(row)
            if len(batch) >= SQLITE_BATCH:
                cursor.executemany(insert, batch)
                batch.clear()

        try:
            yield write
            if batch:
                cursor.executemany(insert, batch)
        finally:
            cursor.close()

    def fast_billing_load(self, stream, rejections: _Rejections, report) -> int | None:
        """Billing CSV without quotes: the rows go into a raw text table with no Python work per
        row — PostgreSQL: the file's bytes into `COPY … (FORMAT csv)`; SQLite: `executemany` of what
        csv reads, in one transaction — and are checked and converted there in one set-based pass
        (`billing_checked`). Only the rows SQL finds wrong are checked again in Python, for the
        precise reason. Returns the rows read, or None when the file needs the careful row-by-row
        path (quoted fields, a structural error such as a wrong field count or a blank line, bad
        UTF-8 …): then nothing of it was kept."""
        stream.seek(0, 2)
        size = stream.tell() or 1
        stream.seek(0)
        if parsing.is_xlsx(stream):
            return None
        first = stream.readline()
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        try:
            header = next(csv.reader([first.decode("utf-8")]))
            parsing._check_header(header, parsing.BILLING_COLUMNS)
        except (UnicodeDecodeError, StopIteration, parsing.IngestFileError, csv.Error):
            return None
        copy_started = time.perf_counter()
        read = self._copy_raw(stream, size, report) if self.pg else self._insert_raw(stream, size, report)
        if read is None:
            return None
        if _TIMINGS:
            _TIMINGS_LOG.append(("load raw file", round(time.perf_counter() - copy_started, 3)))
        line = "line" if self.pg else "n + 1"  # SQLite: the rowid, 1 for the first row after the header
        self.sql(f"DROP TABLE {self.stage}")
        staged = self.sql(f"CREATE TEMP TABLE {self.stage} AS {self.billing_checked(line)}",
                          self.check_params).rowcount  # PostgreSQL: the command tag's count
        if staged is None or staged < 0:  # SQLite does not count CREATE TABLE … AS
            staged = int(self.sql(f"SELECT count(*) FROM {self.stage}").scalar())
        if staged == read:  # (rows Python accepts after all may have other periods)
            self.periods = [v for k, v in self.check_params.items() if k.startswith("period_")]
        if staged == read:
            report(70, None)
            return read
        # The few rows SQL finds wrong get Python's precise reason (or, when only Python's wider
        # notion of white space makes them good, are staged as Python reads them).
        late = []
        result = self.conn.execute(sa.text(
            f"SELECT {line} AS line, order_id, period, billed, paid FROM {self.raw} "
            f"WHERE {line} NOT IN (SELECT line FROM {self.stage}) ORDER BY 1"
        ).execution_options(stream_results=True, yield_per=5000))
        for line_no, *fields in result:
            fields = ["" if f is None else f for f in fields]
            row = parsing.check_billing(fields)
            if isinstance(row, parsing.Rejection):
                rejections.add(line_no, fields[0].strip()[:64], row.code, row.params)
            else:
                late.append((line_no, *row))
        if late:
            with self.writer() as write:
                for row in late:
                    write(row)
        report(70, None)
        return read

    def _copy_raw(self, stream, size: int, report) -> int | None:
        """PostgreSQL: the rest of the file's bytes into the raw table by COPY (FORMAT csv). Returns
        the rows loaded (COPY counts them: no count(*) scan afterwards), or None: no fast path."""
        import psycopg

        raw = self.conn.connection.driver_connection
        raw.execute("SAVEPOINT ingest_fast_path")  # on the driver: the COPY's failure is the driver's
        try:
            self.sql(f"CREATE TEMP TABLE {self.raw} (line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), "
                     "order_id text, period text, billed text, paid text)")
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY {self.raw} (order_id, period, billed, paid) FROM STDIN (FORMAT csv)") as copy:
                    while chunk := stream.read(1 << 20):
                        if b'"' in chunk or b"\\." in chunk:
                            raise _NoFastPath
                        copy.write(chunk)
                        report(2 + 60 * stream.tell() / size, None)
                loaded = cursor.rowcount
        except (_NoFastPath, psycopg.Error):
            raw.execute("ROLLBACK TO SAVEPOINT ingest_fast_path")
            raw.execute("RELEASE SAVEPOINT ingest_fast_path")
            return None
        raw.execute("RELEASE SAVEPOINT ingest_fast_path")
        return loaded

    def _insert_raw(self, stream, size: int, report) -> int | None:
        """SQLite: the rest of the file as csv reads it, straight into `executemany` (its rowid is the
        line number less one); returns the rows inserted. Any row that is not exactly four fields (a
        blank line, a wrong field count), a quote, bad UTF-8 or a csv error: None, and the raw table
        is dropped."""

        class Chunks(io.RawIOBase):
            def readable(self):
                return True

            def readinto(self, buffer):
                chunk = stream.read(len(buffer))
                if b'"' in chunk:
                    raise _NoFastPath
                buffer[:len(chunk)] = chunk
                report(2 + 60 * stream.tell() / size, None)
                return len(chunk)

        self.sql(f"CREATE TEMP TABLE {self.raw} (n INTEGER PRIMARY KEY, order_id TEXT, period TEXT, billed TEXT, "
                 "paid TEXT)")
        text = io.TextIOWrapper(io.BufferedReader(Chunks(), 1 << 20), encoding="utf-8", newline="")
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(f"INSERT INTO {self.raw} (order_id, period, billed, paid) VALUES (?, ?, ?, ?)",
                               csv.reader(text))
        except (_NoFastPath, UnicodeDecodeError, csv.Error, sqlite3.ProgrammingError):
            cursor.close()
            self.sql(f"DROP TABLE {self.raw}")
            return None
        loaded = cursor.rowcount
        cursor.close()
        return loaded

    def fen(self, x: str) -> str:
        """A checked amount text (`amount_ok`) → integer fen, exactly int(Decimal(x) * 100): the
        digits without the point, times 100, 10 or 1 for 0, 1 or 2 decimals."""
        position = "strpos" if self.pg else "instr"
        return (f"(CAST(replace({x}, '.', '') AS BIGINT) * CASE WHEN {position}({x}, '.') = 0 THEN 100 "
                f"WHEN length({x}) - {position}({x}, '.') = 1 THEN 10 ELSE 1 END)")

    def amount_ok(self, x: str) -> str:
        """`x` fully matches AMOUNT_PATTERN (1–11 digits, then optionally a point and 1–2 digits):
        PostgreSQL with one simple regular expression and the lengths (the counted one costs half as
        much again), SQLite (which has none) with GLOB patterns."""
        digits, decimals = parsing.AMOUNT_INTEGER_DIGITS, parsing.AMOUNT_DECIMALS
        if self.pg:
            return (f"({x} ~ '^[0-9]+(\\.[0-9]{{1,{decimals}}})?$' AND CASE strpos({x}, '.') WHEN 0 "
                    f"THEN length({x}) <= {digits} ELSE strpos({x}, '.') <= {digits + 1} END)")
        fractions = " OR ".join(f"{x} GLOB '[0-9]*.{'[0-9]' * n}'" for n in range(1, decimals + 1))
        return (f"(({x} GLOB '[0-9]*' AND {x} NOT GLOB '*[^0-9]*' AND length({x}) <= {digits}) OR "
                f"({x} NOT GLOB '*[^0-9.]*' AND ({fractions}) AND {x} NOT GLOB '*.*.*' "
                f"AND instr({x}, '.') <= {digits + 1}))")

    def billing_checked(self, line: str) -> str:
        """The rows of the raw table that pass `parsing.check_billing` as they are, converted — the
        SQL form of it, without white space handling: a field with white space around it (which
        Python strips) is left to Python, like every row this finds wrong. The period is one of the
        file's distinct period texts that match PERIOD_PATTERN (checked in Python, bound by
        `check_params`); the amounts are checked and converted once each (the subquery is not
        flattened), then paid ≤ billed."""
        periods = [value for (value,) in self.sql(f"SELECT DISTINCT period FROM {self.raw} LIMIT 10001")]
        valid_periods = [v for v in periods if v is not None and parsing._PERIOD_RE.fullmatch(v)]
        self.check_params = {f"period_{i}": value for i, value in enumerate(valid_periods)}
        if len(periods) > 10_000:  # not a billing file of a few months: every row to Python
            period_ok = "1 = 0"
            self.check_params = {}
        else:
            period_ok = f"period IN ({', '.join(':' + k for k in self.check_params) or 'NULL'})"
        self.check_params["ws"] = parsing.WHITESPACE
        trim, fence = ("btrim", "OFFSET 0") if self.pg else ("trim", "LIMIT -1")
        amounts = (f"SELECT {line} AS line, order_id, period, "
                   f"CASE WHEN {self.amount_ok('billed')} THEN {self.fen('billed')} END AS billed_fen, "
                   f"CASE WHEN {self.amount_ok('paid')} THEN {self.fen('paid')} END AS paid_fen FROM {self.raw}")
        return (f"SELECT line, order_id, period, billed_fen, paid_fen FROM ({amounts} {fence}) r "
                f"WHERE order_id <> '' AND length(order_id) <= {parsing.MAX_ORDER_ID} "
                f"AND {trim}(order_id, :ws) = order_id AND {period_ok} AND paid_fen <= billed_fen")

    def nse(self, a: str, b: str) -> str:
        """Null-safe equality."""
        return f"{a} IS NOT DISTINCT FROM {b}" if self.pg else f"{a} IS {b}"

    def classify(self) -> None:
        if self.pg:
            self.sql(f"ANALYZE {self.stage}")
        if self.kind == ImportKind.ACTIVATIONS:
            self.sql(f"""CREATE TEMP TABLE {self.dups} AS
                SELECT order_id, MIN(line) AS first_line, COUNT(DISTINCT digest) AS variants
                FROM {self.stage} GROUP BY order_id HAVING COUNT(*) > 1""")
            same = " AND ".join([
                "a.uscc = s.uscc", "a.customer_name = s.customer_name", "a.product_code = s.product_code",
                self.nse("a.agent_code", "s.agent_code"), "a.quantity = s.quantity",
                "a.monthly_fee_fen = s.monthly_fee_fen", "a.one_time_fee_fen = s.one_time_fee_fen",
                "a.activated_at = s.activated_at"])
            self.sql(f"""CREATE TEMP TABLE {self.classified} AS
                SELECT s.*, a.id AS target_id,
                  CASE WHEN d.variants > 1 THEN 'duplicate_conflict'
                       WHEN d.order_id IS NOT NULL AND s.line <> d.first_line THEN 'dup_same'
                       WHEN a.id IS NULL THEN 'insert'
                       WHEN NOT ({same}) THEN 'immutable_changed'
                       WHEN {self.nse('a.terminated_at', 's.terminated_at')} THEN 'unchanged'
                       WHEN a.terminated_at IS NULL THEN 'update'
                       ELSE 'termination_changed' END AS verdict
                FROM {self.stage} s
                LEFT JOIN {self.dups} d ON d.order_id = s.order_id
                LEFT JOIN activations a ON a.order_id = s.order_id""")
        else:
            # the file's months (the fast path knows a superset of them already)
            found = self.periods if self.periods is not None else \
                [value for (value,) in self.sql(f"SELECT DISTINCT period FROM {self.stage}")]
            # a file of one month: first the orders that occur twice (a lighter grouping, usually none),
            # then the details of those only
            repeated = (f"WHERE order_id IN (SELECT order_id FROM {self.stage} GROUP BY order_id HAVING COUNT(*) > 1)"
                        if len(found) <= 1 else "")
            self.sql(f"""CREATE TEMP TABLE {self.dups} AS
                SELECT order_id, period, MIN(line) AS first_line,
                  CASE WHEN MIN(billed_fen) <> MAX(billed_fen) OR MIN(paid_fen) <> MAX(paid_fen) THEN 2 ELSE 1 END
                    AS variants
                FROM {self.stage} {repeated} GROUP BY order_id, period HAVING COUNT(*) > 1""")
            month = "to_char(a.activation_date, 'YYYY-MM')" if self.pg else "substr(a.activation_date, 1, 7)"
            # the stored billing of the file's months only (a new month: none, and no scan of the others)
            params = {f"period_{i}": value for i, value in enumerate(found)}
            periods = ", ".join(f":{name}" for name in params) or "NULL"
            # no duplicates (the usual file): no join with the empty table (the planner would hash the
            # whole stage to probe it)
            dups = self.sql(f"SELECT 1 FROM {self.dups} LIMIT 1").first() is not None
            dup_cases = ("""WHEN d.variants > 1 THEN 'duplicate_conflict'
                       WHEN d.order_id IS NOT NULL AND s.line <> d.first_line THEN 'dup_same'""" if dups else "")
            dup_join = f"LEFT JOIN {self.dups} d ON d.order_id = s.order_id AND d.period = s.period" if dups else ""
            # no stored billing for the file's months yet (a new month, the usual file): no join with
            # billing_records at all (probing an empty hash for a million rows costs 0.6 s)
            stored = self.sql(f"SELECT 1 FROM billing_records WHERE period IN ({periods}) LIMIT 1",
                              params).first() is not None
            stored_cases = ("""WHEN b.order_id IS NULL THEN 'insert'
                       WHEN b.billed_fen <> s.billed_fen THEN 'billed_changed'
                       WHEN b.paid_fen = s.paid_fen THEN 'unchanged'
                       ELSE 'update'""" if stored else "ELSE 'insert'")
            stored_join = (f"""LEFT JOIN billing_records b ON b.order_id = s.order_id AND b.period = s.period
                     AND b.period IN ({periods})""" if stored else "")
            self.sql(f"""CREATE TEMP TABLE {self.classified} AS
                SELECT s.line, s.order_id, s.period, s.billed_fen, s.paid_fen,
                  CASE {dup_cases}
                       WHEN a.id IS NULL THEN 'unknown_order'
                       WHEN s.period < {month} THEN 'before_activation'
                       {stored_cases} END AS verdict
                FROM {self.stage} s
                {dup_join}
                LEFT JOIN activations a ON a.order_id = s.order_id
                {stored_join}""", params)

    def counts(self) -> dict[str, int]:
        rows = self.sql(f"SELECT verdict, COUNT(*) FROM {self.classified} GROUP BY verdict").all()
        self.counted = {verdict: int(n) for verdict, n in rows}
        return dict(self.counted)

    def _stream(self, text: str):
        """Rows of a query, fetched in batches (a server-side cursor on PostgreSQL)."""
        return self.conn.execute(sa.text(text).execution_options(stream_results=True, yield_per=5000))

    def rejected_rows(self, rejections: _Rejections) -> None:
        """Every row the classification rejected, with its reason's parameters, streamed into
        `rejections`. Duplicates with different data are read by order so that each row can name
        the other lines of its order (the first 20)."""
        accepted = ", ".join(f"'{v}'" for v in ACCEPT_VERDICTS)
        others = f"c.verdict NOT IN ({accepted}, 'duplicate_conflict')"
        if self.kind == ImportKind.ACTIVATIONS:
            for group in self._duplicate_groups(f"""SELECT c.line, c.order_id FROM {self.classified} c
                    WHERE c.verdict = 'duplicate_conflict' ORDER BY c.order_id, c.line""", width=1):
                lines_text = ", ".join(str(x[0]) for x in group[:20])
                for line, order_id in group:
                    rejections.add(line, order_id, "duplicate_conflict", {"order_id": order_id, "lines": lines_text})
            fields = ["uscc", "customer_name", "product_code", "agent_code", "quantity", "monthly_fee_fen",
                      "one_time_fee_fen", "activated_at"]
            n = len(fields)
            for row in self._stream(f"""SELECT c.line, c.order_id, c.verdict, c.terminated_at, a.terminated_at,
                    {', '.join('c.' + f for f in fields)}, {', '.join('a.' + f for f in fields)}
                FROM {self.classified} c LEFT JOIN activations a ON a.id = c.target_id
                WHERE {others}"""):
                line, order_id, verdict, new_term, old_term = row[:5]
                mine, stored = row[5:5 + n], row[5 + n:5 + 2 * n]
                if verdict == "immutable_changed":
                    changed = [f for f, x, y in zip(fields, mine, stored, strict=True) if _differs(x, y)]
                    params = {"order_id": order_id, "fields": ", ".join(_public_name(f) for f in changed)}
                else:  # termination_changed
                    params = {"order_id": order_id, "stored": _local(old_term), "value": _local(new_term)}
                rejections.add(line, order_id, verdict, params)
        else:
            for group in self._duplicate_groups(f"""SELECT c.line, c.order_id, c.period FROM {self.classified} c
                    WHERE c.verdict = 'duplicate_conflict' ORDER BY c.order_id, c.period, c.line""", width=2):
                lines_text = ", ".join(str(x[0]) for x in group[:20])
                for line, order_id, period in group:
                    rejections.add(line, order_id, "duplicate_conflict",
                                   {"order_id": order_id, "period": period, "lines": lines_text})
            month = "to_char(a.activation_date, 'YYYY-MM')" if self.pg else "substr(a.activation_date, 1, 7)"
            for line, order_id, verdict, period, billed, stored_billed, month_value in self._stream(
                    f"""SELECT c.line, c.order_id, c.verdict, c.period, c.billed_fen, b.billed_fen, {month}
                FROM {self.classified} c
                LEFT JOIN billing_records b ON b.period = c.period AND b.order_id = c.order_id
                LEFT JOIN activations a ON a.order_id = c.order_id
                WHERE {others}"""):
                params: dict[str, Any] = {"order_id": order_id, "period": period}
                if verdict == "before_activation":
                    params["month"] = month_value
                elif verdict == "billed_changed":
                    params.update(value=_yuan(billed), stored=_yuan(stored_billed))
                rejections.add(line, order_id, verdict, params)

    def _duplicate_groups(self, text: str, width: int):
        """The rows of `text` (line, then `width` key columns, ordered by the key) in groups of one key."""
        group: list[tuple] = []
        for row in self._stream(text):
            row = tuple(row)
            if group and group[-1][1:1 + width] != row[1:1 + width]:
                yield group
                group = []
            group.append(row)
        if group:
            yield group

    def apply(self) -> tuple[int, int]:
        now = self.now_param()
        c = self.classified
        if self.kind == ImportKind.ACTIVATIONS:
            cols = ("order_id, uscc, customer_name, product_code, agent_code, quantity, monthly_fee_fen, "
                    "one_time_fee_fen, activated_at, activation_date, terminated_at, termination_date")
            inserted = self.sql(f"""INSERT INTO activations ({cols}, created_at, updated_at)
                SELECT {cols}, :now, :now FROM {c} WHERE verdict = 'insert'""", {"now": now}).rowcount
            updated = self.sql(f"""UPDATE activations SET terminated_at = c.terminated_at,
                    termination_date = c.termination_date, updated_at = :now
                FROM {c} c WHERE c.verdict = 'update' AND activations.id = c.target_id""", {"now": now}).rowcount
        else:
            # in the file's order: when it is sorted by order, as BOSS extracts are, the unique index is
            # filled in order — much faster than in the order of a hash join
            inserted = self.sql(f"""INSERT INTO billing_records (order_id, period, billed_fen, paid_fen,
                    created_at, updated_at)
                SELECT order_id, period, billed_fen, paid_fen, :now, :now FROM {c} WHERE verdict = 'insert'
                ORDER BY line""", {"now": now}).rowcount
            updated = 0 if not self.counted.get("update") else self.sql(
                f"""UPDATE billing_records SET paid_fen = c.paid_fen, updated_at = :now
                FROM {c} c WHERE c.verdict = 'update' AND billing_records.period = c.period
                  AND billing_records.order_id = c.order_id""", {"now": now}).rowcount
        return inserted, updated


def _differs(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a != b
    if a is None or b is None:
        return a is not b
    if isinstance(a, (datetime, str)) or isinstance(b, (datetime, str)):
        return _as_utc(a) != _as_utc(b)
    return a != b


def _public_name(column: str) -> str:
    return {"monthly_fee_fen": "monthly_fee", "one_time_fee_fen": "one_time_fee"}.get(column, column)


# --- the import -------------------------------------------------------------------------------

def product_codes() -> set[str]:
    return set(db.session.scalars(sa.select(Product.code)))


def import_rows(run: ImportRun, rows: Callable[[], Iterable[tuple[int, list[str] | parsing.Rejection]]], *,
                skip_bad: bool = False, dry_run: bool = False, expected_rejected: int | None = None,
                progress: ProgressFn | None = None, csv_stream=None) -> ImportRun:
    """Run one import of the rows `rows()` yields (`(line, fields)`), filling `run` with the report.

    `csv_stream`: the file itself, for the PostgreSQL fast path of billing CSV files.

    `dry_run`: classify only (the preview). `skip_bad`: apply the good rows even if some are
    rejected (the CLI's --skip-bad, the UI's confirmation). `expected_rejected`: the count the
    user confirmed in the preview; more rejections now refuse the import."""
    kind = ImportKind(run.kind)
    started = time.perf_counter()
    report = progress or (lambda _p, _m=None: None)
    rejections = _Rejections()
    counts: dict[str, int] = {}
    read = 0
    inserted = updated = 0
    applied = False
    products = product_codes() if kind == ImportKind.ACTIVATIONS else set()
    savepoint = db.session.begin_nested()
    try:
        stage = _Stage(kind)
        stage.create()
        fast = None
        if csv_stream is not None and kind == ImportKind.BILLING:
            fast = stage.fast_billing_load(csv_stream, rejections, report)
        read = fast if fast is not None else _load_rows(stage, kind, rows(), rejections, products)
        report(82, None)
        stage.classify()
        counts = stage.counts()
        parse_rejected = rejections.count
        if any(v not in ACCEPT_VERDICTS for v in counts):
            stage.rejected_rows(rejections)
        rejections.count = parse_rejected + sum(n for v, n in counts.items() if v not in ACCEPT_VERDICTS)
        report(92, None)
        refused_reason = None
        if dry_run:
            refused_reason = None
        elif rejections.count and not skip_bad:
            refused_reason = "rejected rows"
        elif expected_rejected is not None and rejections.count > expected_rejected:
            refused_reason = "more rows rejected than in the preview"
        if not dry_run and refused_reason is None:
            inserted, updated = stage.apply()
            applied = True
        stage.drop()
        if applied:
            savepoint.commit()
        else:
            savepoint.rollback()
    except Exception:
        if savepoint.is_active:
            savepoint.rollback()
        raise

    run.rows_read = read
    run.inserted = inserted if applied else counts.get("insert", 0)
    run.updated = updated if applied else counts.get("update", 0)
    run.unchanged = counts.get("unchanged", 0) + counts.get("dup_same", 0)
    run.rejected = rejections.count
    try:
        _store_rejections(run, rejections)
    finally:
        rejections.close()
    run.skip_bad = skip_bad
    run.seconds = round(time.perf_counter() - started, 3)
    run.finished_at = utcnow()
    if dry_run:
        run.status = ImportStatus.PREVIEWED
        run.previewed_rejected = rejections.count
        run.message = None
    elif applied:
        run.status = ImportStatus.APPLIED
        run.message = None
    else:
        run.status = ImportStatus.REFUSED
        run.message = ("more rows were rejected than in the preview you confirmed; nothing was applied"
                       if rejections.count and skip_bad else
                       "rows were rejected; nothing was applied (use --skip-bad or confirm to apply the good rows)")
    db.session.flush()
    record(f"import.{kind.value}.{run.status.value}", run, after=summary(run))
    report(99, None)
    return run


def summary(run: ImportRun) -> dict[str, Any]:
    return {"kind": run.kind.value if hasattr(run.kind, "value") else run.kind, "filename": run.filename,
            "status": run.status.value, "read": run.rows_read, "inserted": run.inserted, "updated": run.updated,
            "unchanged": run.unchanged, "rejected": run.rejected, "skip_bad": run.skip_bad}


def report_dict(run: ImportRun, english: bool = True, limit: int | None = None) -> dict[str, Any]:
    """The report as JSON (API, job results)."""
    items = run.rejections or []
    if limit is not None:
        items = items[:limit]
    return {
        **summary(run),
        "id": run.id,
        "applied": run.status == ImportStatus.APPLIED,
        "message": run.message,
        "rejections": [
            {"line": line, "order_id": order_id, "code": code,
             "reason": rejection_text(code, params, english=english)}
            for line, order_id, code, params in items
        ],
    }


def rejection_text(code: str, params: dict | None, english: bool = False) -> str:
    if english:
        template = parsing.REASONS.get(code)
        if template is None:
            return code
        try:
            return template._args[0] % (params or {})
        except (KeyError, ValueError, TypeError):
            return template._args[0]
    return parsing.reason_text(code, params)


def _load_rows(stage: _Stage, kind: ImportKind, rows, rejections: _Rejections, products: set[str]) -> int:
    """The careful path: check each row in Python and stream the good ones into the stage."""
    check_activation, check_billing = parsing.check_activation, parsing.check_billing
    activations = kind == ImportKind.ACTIVATIONS
    read = 0
    with stage.writer() as write:
        for line, fields in rows:
            read += 1
            if isinstance(fields, parsing.Rejection):
                rejections.add(line, "", fields.code, fields.params)
                continue
            row = check_activation(fields, products) if activations else check_billing(fields)
            if isinstance(row, parsing.Rejection):
                rejections.add(line, (fields[0].strip() if fields else "")[:64], row.code, row.params)
            elif activations:
                write((line, row.order_id, row.uscc, row.customer_name, row.product_code, row.agent_code,
                       row.quantity, row.monthly_fee_fen, row.one_time_fee_fen, row.activated_at,
                       row.activation_date, row.terminated_at, row.termination_date, row.digest()))
            else:
                write((line, *row))
    return read


def new_run(kind: ImportKind | str, source: ImportSource | str, filename: str = "", user=None,
            stored_file: str | None = None, file_size: int | None = None) -> ImportRun:
    run = ImportRun(kind=ImportKind(kind), source=ImportSource(source), filename=(filename or "")[:255],
                    status=ImportStatus.UPLOADED, stored_file=stored_file, file_size=file_size,
                    created_by_id=getattr(user, "id", None), rejections=[])
    db.session.add(run)
    db.session.flush()
    return run


def import_file(run: ImportRun, path: str | Path, *, skip_bad: bool = False, dry_run: bool = False,
                expected_rejected: int | None = None, progress: ProgressFn | None = None) -> ImportRun:
    """Import a CSV or XLSX file from disk (streamed). A file that cannot be read raises
    `parsing.IngestFileError` after marking `run` failed (nothing applied)."""
    report = progress or (lambda _p, _m=None: None)
    with open(path, "rb") as stream:
        kind = run.kind.value if hasattr(run.kind, "value") else run.kind
        try:
            return import_rows(run, lambda: parsing.iter_file_rows(
                stream, kind, on_progress=lambda f: report(2 + 78 * f, None)),
                skip_bad=skip_bad, dry_run=dry_run, expected_rejected=expected_rejected,
                progress=progress, csv_stream=stream)
        except parsing.IngestFileError as exc:
            run.status = ImportStatus.FAILED
            run.message = exc.english()
            run.error = {"code": exc.code, "params": exc.params}
            run.finished_at = utcnow()
            db.session.flush()
            record(f"import.{run.kind.value}.failed", run, after=summary(run))
            raise


def import_records(run: ImportRun, records: list[Any], *, skip_bad: bool = False) -> ImportRun:
    """An API batch: JSON objects with the file's columns; `line` is the 1-based index."""
    kind = run.kind.value
    return import_rows(run, lambda: ((index, parsing.record_fields(rec, kind))
                                     for index, rec in enumerate(records, start=1)), skip_bad=skip_bad)


# --- stored uploads -------------------------------------------------------------------------

def uploads_dir() -> Path:
    path = Path(current_app.config["PORTAL_DATA_DIR"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_upload(stream, max_bytes: int | None = None) -> tuple[str, int]:
    """Copy an uploaded file into the data directory (outside the web root) under a random name."""
    name = secrets.token_hex(16)
    size = 0
    with open(uploads_dir() / name, "wb") as out:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            out.write(chunk)
    return name, size


def stored_path(run: ImportRun) -> Path:
    if not run.stored_file or not all(ch in "0123456789abcdef" for ch in run.stored_file):
        raise ImportRefused("no stored file")
    return uploads_dir() / run.stored_file


def discard(run: ImportRun) -> None:
    if run.status not in (ImportStatus.PREVIEWED, ImportStatus.UPLOADED, ImportStatus.REFUSED,
                          ImportStatus.FAILED):
        raise ImportRefused("only an import that was not applied can be discarded")
    before = run.status.value
    with contextlib.suppress(OSError, ImportRefused):
        stored_path(run).unlink()
    run.status = ImportStatus.DISCARDED
    run.stored_file = None
    db.session.flush()
    record(f"import.{run.kind.value}.discarded", run, before={"status": before}, after={"status": "discarded"})


# --- background jobs --------------------------------------------------------------------------

def _job_import(job, params, progress, dry_run: bool):
    from flask import url_for

    run = db.session.get(ImportRun, int(params["run_id"]))
    if run is None:
        raise ImportRefused("the import no longer exists")
    if run.status not in (ImportStatus.UPLOADED, ImportStatus.PREVIEWED):
        raise ImportRefused("this import was already applied or discarded")
    run.job_id = job.id
    # an IngestFileError: the run is marked failed; the report page explains; nothing was applied
    with contextlib.suppress(parsing.IngestFileError):
        import_file(run, stored_path(run), skip_bad=bool(params.get("skip_bad")), dry_run=dry_run,
                    expected_rejected=params.get("expected_rejected"), progress=progress)
    if run.status == ImportStatus.APPLIED:
        with contextlib.suppress(OSError, ImportRefused):
            stored_path(run).unlink()
        run.stored_file = None
    return {"run_id": run.id, "status": run.status.value, "url": url_for("ingest.show", run_id=run.id)}


def job_preview(job, params, progress):
    return _job_import(job, params, progress, dry_run=True)


def job_apply(job, params, progress):
    return _job_import(job, params, progress, dry_run=False)


def _register_jobs() -> None:
    from flask_babel import lazy_gettext as _l

    from commissions.jobs import register_job

    register_job("ingest.preview", job_preview, _l("Checking an import file"))
    register_job("ingest.apply", job_apply, _l("Applying an import file"))


_register_jobs()
