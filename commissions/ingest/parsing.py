"""Reading BOSS files row by row and checking each row on its own (no database).

Files are CSV (UTF-8, with or without BOM) or XLSX, told apart by their content (an XLSX file is
a ZIP archive: it starts with `PK\\x03\\x04`), and streamed: a 1,000,000-row file is never held in
memory. `iter_file_rows` yields `(line, [text, …])` with the line number a spreadsheet user sees
(the header is line 1). `check_activation` / `check_billing` turn the texts into typed values or
a `Rejection` (code + parameters, translated when shown).

Amounts are yuan with at most 2 decimals, converted to integer fen through `Decimal`; dates are
ISO 8601, Asia/Shanghai when they carry no offset."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, BinaryIO

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from portal.core.time import parse_iso_timestamp, shanghai_date
from portal.core.validators import normalise_uscc
from portal.core.validators import uscc_problem as _uscc_problem

uscc_problem = lru_cache(maxsize=200_000)(_uscc_problem)  # customers recur across orders

ACTIVATION_COLUMNS = ("order_id", "uscc", "customer_name", "product_code", "agent_code", "quantity",
                      "monthly_fee", "one_time_fee", "activated_at", "terminated_at")
BILLING_COLUMNS = ("order_id", "period", "billed_amount", "paid_amount")
COLUMNS = {"activations": ACTIVATION_COLUMNS, "billing": BILLING_COLUMNS}

MAX_ORDER_ID = 64
MAX_NAME = 200
MAX_AGENT_CODE = 16
MAX_YUAN = Decimal("100000000000")  # 10^11 yuan: beyond any real bill, far inside BIGINT fen
FEN = Decimal("0.01")
ZIP_MAGIC = b"PK\x03\x04"

# Why a row is rejected; parameters are filled in when shown (in the reader's language).
REASONS = {
    "columns": _l("expected %(expected)s fields, found %(found)s"),
    "required": _l("%(field)s is empty"),
    "too_long": _l("%(field)s is longer than %(max)s characters"),
    "bad_uscc": _l("invalid USCC %(value)s"),
    "unknown_product": _l("unknown product %(value)s"),
    "bad_quantity": _l("quantity must be a whole number of at least 1, not %(value)s"),
    "bad_amount": _l("bad amount in %(field)s: %(value)s"),
    "negative_amount": _l("negative amount in %(field)s: %(value)s"),
    "too_precise": _l("%(field)s has more than 2 decimals: %(value)s"),
    "too_large": _l("%(field)s is too large: %(value)s"),
    "bad_date": _l("bad date in %(field)s: %(value)s"),
    "terminated_before_activated": _l("terminated_at %(terminated)s is before activated_at %(activated)s"),
    "bad_period": _l("bad period %(value)s (expected YYYY-MM)"),
    "paid_exceeds_billed": _l("paid_amount %(paid)s exceeds billed_amount %(billed)s"),
    "not_an_object": _l("a record must be a JSON object"),
    "duplicate_conflict": _l("order %(order_id)s appears more than once in this file with different data "
                             "(lines %(lines)s)"),
    "immutable_changed": _l("differs from the stored order %(order_id)s in: %(fields)s "
                            "(only terminated_at may be added later)"),
    "termination_changed": _l("order %(order_id)s is already terminated at %(stored)s; a row cannot "
                              "change or remove the termination (the row says %(value)s)"),
    "unknown_order": _l("billing for an unknown order %(order_id)s (import its activation first)"),
    "before_activation": _l("period %(period)s is before the activation month %(month)s of order %(order_id)s"),
    "billed_changed": _l("billed_amount %(value)s differs from the stored %(stored)s for %(order_id)s "
                         "%(period)s (only paid_amount may change)"),
}


def reason_text(code: str, params: dict | None) -> str:
    template = REASONS.get(code)
    if template is None:
        return code
    try:
        return gettext(template._args[0] if hasattr(template, "_args") else str(template), **(params or {}))
    except (KeyError, ValueError, TypeError):
        return str(template)


@dataclass
class Rejection:
    code: str
    params: dict[str, Any] = field(default_factory=dict)


class IngestFileError(ValueError):
    """The file as a whole cannot be read (not a CSV/XLSX, wrong header, not UTF-8 …)."""

    MESSAGES = {
        "empty": _l("The file is empty."),
        "header": _l("The first row must be exactly: %(expected)s (found: %(found)s)."),
        "encoding": _l("The file is not UTF-8 text (line %(line)s)."),
        "xlsx": _l("The spreadsheet cannot be read: %(detail)s"),
        "csv": _l("The CSV file cannot be read at line %(line)s: %(detail)s"),
        "batch": _l("A batch holds at most %(max)s records (got %(found)s)."),
    }

    def __init__(self, code: str, **params):
        self.code = code
        self.params = params
        super().__init__(self.english())

    def english(self) -> str:
        template = self.MESSAGES[self.code]
        raw = template._args[0] if hasattr(template, "_args") else str(template)
        return raw % self.params if self.params else raw

    def text(self) -> str:
        template = self.MESSAGES[self.code]
        raw = template._args[0] if hasattr(template, "_args") else str(template)
        return gettext(raw, **self.params)


# --- reading files --------------------------------------------------------------------------

def is_xlsx(stream: BinaryIO) -> bool:
    position = stream.tell()
    head = stream.read(4)
    stream.seek(position)
    return head == ZIP_MAGIC


def _check_header(found: list[str], expected: tuple[str, ...]) -> None:
    cleaned = [str(c or "").strip().lstrip("\ufeff").strip() for c in found]
    while cleaned and cleaned[-1] == "":
        cleaned.pop()
    if [c.lower() for c in cleaned] != list(expected):
        raise IngestFileError("header", expected=",".join(expected), found=",".join(cleaned)[:300])


def iter_file_rows(stream: BinaryIO, kind: str,
                   on_progress: Callable[[float], None] | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield `(line, fields)` for each data row of a CSV or XLSX file (binary, seekable)."""
    expected = COLUMNS[kind]
    stream.seek(0, io.SEEK_END)
    size = stream.tell() or 1
    stream.seek(0)
    if is_xlsx(stream):
        yield from _iter_xlsx(stream, expected, on_progress)
    else:
        yield from _iter_csv(stream, expected, size, on_progress)


def _iter_csv(stream, expected, size, on_progress):
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        try:
            header = next(reader)
        except StopIteration:
            raise IngestFileError("empty") from None
        _check_header(header, expected)
        count = 0
        for fields in reader:
            count += 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            yield reader.line_num, fields
            if on_progress is not None and count % 20000 == 0:
                on_progress(min(1.0, stream.tell() / size))
    except UnicodeDecodeError:
        raise IngestFileError("encoding", line=reader.line_num + 1) from None
    except csv.Error as exc:
        raise IngestFileError("csv", line=reader.line_num, detail=str(exc)) from None
    finally:
        text.detach()


def _cell_text(value, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # A spreadsheet keeps numbers as binary doubles; the shortest repr is the typed value.
        return str(int(value)) if value.is_integer() and column not in ("monthly_fee", "one_time_fee",
                                                                         "billed_amount", "paid_amount") \
            else repr(value)
    if isinstance(value, datetime):
        if column == "period":
            return value.strftime("%Y-%m")
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.strftime("%Y-%m") if column == "period" else value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _iter_xlsx(stream, expected, on_progress):
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:
        raise IngestFileError("xlsx", detail=exc.__class__.__name__) from None
    try:
        sheet = workbook.worksheets[0]
        total = sheet.max_row or 0
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise IngestFileError("empty")
        _check_header(list(header), expected)
        width = len(expected)
        for index, values in enumerate(rows, start=2):
            values = list(values)
            while values and (values[-1] is None or values[-1] == "") and len(values) > width:
                values.pop()
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            columns = list(expected) + [""] * max(0, len(values) - width)
            yield index, [_cell_text(v, c) for v, c in zip(values, columns, strict=False)]
            if on_progress is not None and total and index % 20000 == 0:
                on_progress(min(1.0, index / total))
    finally:
        workbook.close()


# --- checking one row -----------------------------------------------------------------------

# ASCII digits only (Python's \d would accept other scripts' digits). The same patterns are used
# in SQL by the PostgreSQL fast path (operations._Stage.fast_billing_load).
# At most 11 integer digits: below MAX_YUAN (10^11 yuan), the bound the slow path enforces too.
# The characters str.strip() removes (str.isspace): set-based checks in SQL, whose trim removes only
# spaces, treat a text that begins or ends with one of the others as wrong and leave it to Python.
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
              "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
AMOUNT_INTEGER_DIGITS = 11
AMOUNT_DECIMALS = 2
AMOUNT_PATTERN = rf"[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}(\.[0-9]{{1,{AMOUNT_DECIMALS}}})?"
PERIOD_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])"
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)
_PERIOD_RE = re.compile(PERIOD_PATTERN)
_INT_RE = re.compile(r"[0-9]{1,9}")


def parse_amount(column: str, raw: str) -> int | Rejection:
    """Yuan text → integer fen (exact, via Decimal)."""
    text = raw.strip()
    if _AMOUNT_RE.fullmatch(text):
        return int(Decimal(text) * 100)
    if not text:
        return Rejection("required", {"field": column})
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return Rejection("bad_amount", {"field": column, "value": text[:40]})
    if not amount.is_finite() or "e" in text.lower():
        return Rejection("bad_amount", {"field": column, "value": text[:40]})
    if amount < 0:
        return Rejection("negative_amount", {"field": column, "value": text[:40]})
    if amount >= MAX_YUAN:
        return Rejection("too_large", {"field": column, "value": text[:40]})
    if amount != amount.quantize(FEN) or ("." in text and len(text.rsplit(".", 1)[1]) > 2):
        return Rejection("too_precise", {"field": column, "value": text[:40]})
    return Rejection("bad_amount", {"field": column, "value": text[:40]})


_UTC_PLUS_8 = timedelta(hours=8)
# Exactly "YYYY-MM-DDTHH:MM:SS" (or a space for the T) and nothing else: no offset, no "Z", no
# fraction. Other 19-character texts such as "2026-01-31T20:00+00" carry an offset and must not
# be read as Shanghai time.
_LOCAL_SECONDS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}")


def _timestamp(column: str, raw: str) -> datetime | Rejection:
    text = raw.strip()
    try:
        if len(text) == 19 and text[:4] >= "1992" and _LOCAL_SECONDS_RE.fullmatch(text):
            # The common case, "YYYY-MM-DDTHH:MM:SS" in Shanghai time: UTC+8 without daylight
            # saving since 1992, so no time-zone database lookup per row.
            return datetime.fromisoformat(text).replace(tzinfo=UTC) - _UTC_PLUS_8
        return parse_iso_timestamp(text)
    except (ValueError, TypeError, OverflowError):
        return Rejection("bad_date", {"field": column, "value": text[:40]})


def _text(column: str, raw: str, max_length: int, required: bool = True) -> str | Rejection:
    text = raw.strip()
    if not text and required:
        return Rejection("required", {"field": column})
    if len(text) > max_length:
        return Rejection("too_long", {"field": column, "max": max_length})
    return text


@dataclass(frozen=True, slots=True)
class ActivationRow:
    order_id: str
    uscc: str
    customer_name: str
    product_code: str
    agent_code: str | None
    quantity: int
    monthly_fee_fen: int
    one_time_fee_fen: int
    activated_at: datetime
    activation_date: date
    terminated_at: datetime | None
    termination_date: date | None

    def digest(self) -> int:
        return hash((self.uscc, self.customer_name, self.product_code, self.agent_code, self.quantity,
                     self.monthly_fee_fen, self.one_time_fee_fen, self.activated_at, self.terminated_at))


def _local_date(value: datetime) -> date:
    """The Shanghai calendar date of a UTC timestamp (fixed UTC+8 since 1992)."""
    if value.year >= 1992:
        return (value + _UTC_PLUS_8).date()
    return shanghai_date(value)


def check_activation(fields: list[str], products: set[str]) -> ActivationRow | Rejection:
    if len(fields) != len(ACTIVATION_COLUMNS):
        return Rejection("columns", {"expected": len(ACTIVATION_COLUMNS), "found": len(fields)})
    (order_id, uscc, name, product, agent, quantity, monthly, one_time, activated, terminated) = fields
    values: list[Any] = [
        _text("order_id", order_id, MAX_ORDER_ID),
        None,
        _text("customer_name", name, MAX_NAME),
        _text("product_code", product, 32),
        _text("agent_code", agent, MAX_AGENT_CODE, required=False),
    ]
    for value in values:
        if isinstance(value, Rejection):
            return value
    code = normalise_uscc(uscc)
    if not code:
        return Rejection("required", {"field": "uscc"})
    if uscc_problem(code) is not None:
        return Rejection("bad_uscc", {"value": code[:30]})
    if values[3] not in products:
        return Rejection("unknown_product", {"value": values[3]})
    qty_text = quantity.strip()
    if not _INT_RE.fullmatch(qty_text) or int(qty_text) < 1:
        return Rejection("bad_quantity", {"value": qty_text[:20]})
    monthly_fen = parse_amount("monthly_fee", monthly)
    if isinstance(monthly_fen, Rejection):
        return monthly_fen
    one_time_fen = parse_amount("one_time_fee", one_time)
    if isinstance(one_time_fen, Rejection):
        return one_time_fen
    if not activated.strip():
        return Rejection("required", {"field": "activated_at"})
    activated_at = _timestamp("activated_at", activated)
    if isinstance(activated_at, Rejection):
        return activated_at
    terminated_at = None
    if terminated.strip():
        terminated_at = _timestamp("terminated_at", terminated)
        if isinstance(terminated_at, Rejection):
            return terminated_at
        if terminated_at < activated_at:
            return Rejection("terminated_before_activated",
                             {"terminated": terminated.strip()[:40], "activated": activated.strip()[:40]})
    return ActivationRow(
        order_id=values[0], uscc=code, customer_name=values[2], product_code=values[3],
        agent_code=values[4] or None, quantity=int(qty_text), monthly_fee_fen=monthly_fen,
        one_time_fee_fen=one_time_fen, activated_at=activated_at, activation_date=_local_date(activated_at),
        terminated_at=terminated_at,
        termination_date=_local_date(terminated_at) if terminated_at is not None else None,
    )


def check_billing(fields: list[str]) -> tuple[str, str, int, int] | Rejection:
    """`(order_id, period, billed_fen, paid_fen)` or a Rejection."""
    if len(fields) != len(BILLING_COLUMNS):
        return Rejection("columns", {"expected": len(BILLING_COLUMNS), "found": len(fields)})
    order_id = fields[0].strip()
    if not order_id:
        return Rejection("required", {"field": "order_id"})
    if len(order_id) > MAX_ORDER_ID:
        return Rejection("too_long", {"field": "order_id", "max": MAX_ORDER_ID})
    period = fields[1].strip()
    if not _PERIOD_RE.fullmatch(period):
        return Rejection("bad_period", {"value": period[:20]})
    billed = parse_amount("billed_amount", fields[2])
    if isinstance(billed, Rejection):
        return billed
    paid = parse_amount("paid_amount", fields[3])
    if isinstance(paid, Rejection):
        return paid
    if paid > billed:
        return Rejection("paid_exceeds_billed", {"paid": fields[3].strip(), "billed": fields[2].strip()})
    return order_id, period, billed, paid


def record_fields(record: Any, kind: str) -> list[str] | Rejection:
    """A JSON record of the API → the texts of a file row (numbers kept exact as Decimal)."""
    if not isinstance(record, dict):
        return Rejection("not_an_object")
    out = []
    for column in COLUMNS[kind]:
        value = record.get(column)
        if value is None:
            out.append("")
        elif isinstance(value, (bool, int, Decimal)):
            out.append(str(value))
        else:
            out.append(str(value))
    return out
