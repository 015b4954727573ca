"""Exports of a period's lines and statements (SPEC §5.5) in CSV or XLSX, safe against spreadsheet
formula injection: a text cell starting with = + - @ tab or CR is prefixed with a quote; numbers
(also negative ones) stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import sqlalchemy as sa

from commissions.calculation import u_to_mult, u_to_rate
from commissions.models import Line, Statement
from portal.core.db import db
from portal.core.money import fen_to_yuan
from portal.partners.models import Agency

LINE_COLUMNS = ["period", "agency_code", "order_id", "component", "source_period", "basis_amount", "rate",
                "multiplier", "amount", "rule_version"]
STATEMENT_COLUMNS = ["period", "agency_code", "opening", "earned", "available", "payable", "carried", "status"]
FORMATS = ("csv", "xlsx")
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A cell value that no spreadsheet evaluates as a formula."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal):
        return value
    text = str(value)
    if text.startswith(_DANGEROUS):
        return "'" + text
    return text


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent notation (0.08, 1.2, 10)."""
    return Decimal(f"{value.normalize():f}")


def _rate(units):
    return "" if units is None else _plain(u_to_rate(units))


def line_rows(period: str, chunk: int = 50_000):
    """The period's lines as export rows, streamed in id order."""
    last = 0
    while True:
        rows = db.session.execute(
            sa.select(Line.id, Line.period, Agency.code, Line.order_id, Line.component, Line.source_period,
                      Line.basis_fen, Line.rate_u, Line.multiplier_u, Line.amount_fen, Line.rule_version)
            .join(Agency, Agency.id == Line.agency_id)
            .where(Line.period == period, Line.id > last).order_by(Line.id).limit(chunk)).all()
        if not rows:
            return
        for r in rows:
            yield [r.period, r.code, r.order_id, r.component.value if hasattr(r.component, "value") else r.component,
                   r.source_period, "" if r.basis_fen is None else fen_to_yuan(r.basis_fen), _rate(r.rate_u),
                   "" if r.multiplier_u is None else _plain(u_to_mult(r.multiplier_u)),
                   fen_to_yuan(r.amount_fen), r.rule_version]
        last = rows[-1].id


def statement_rows(period: str):
    rows = db.session.execute(
        sa.select(Statement.period, Agency.code, Statement.opening_fen, Statement.earned_fen, Statement.available_fen,
                  Statement.payable_fen, Statement.carried_fen, Statement.status)
        .join(Agency, Agency.id == Statement.agency_id).where(Statement.period == period).order_by(Agency.code))
    for r in rows:
        yield [r.period, r.code, fen_to_yuan(r.opening_fen), fen_to_yuan(r.earned_fen), fen_to_yuan(r.available_fen),
               fen_to_yuan(r.payable_fen), fen_to_yuan(r.carried_fen),
               r.status.value if hasattr(r.status, "value") else r.status]


def write_csv(columns, rows, stream) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        n += 1
    return n


def write_xlsx(columns, rows, stream, title: str = "export") -> int:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(columns)
    n = 0
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
        n += 1
    book.save(stream)
    return n


def export(kind: str, period: str, fmt: str, stream) -> int:
    """Write the export to a binary stream; returns the number of data rows."""
    columns, rows = (LINE_COLUMNS, line_rows(period)) if kind == "lines" else (STATEMENT_COLUMNS,
                                                                               statement_rows(period))
    if fmt == "xlsx":
        return write_xlsx(columns, rows, stream, title=f"{kind} {period}")
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    try:
        return write_csv(columns, rows, text)
    finally:
        text.flush()
        text.detach()
