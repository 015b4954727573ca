"""Smaller guarantees: the CLI prints money exactly, approving a period asks for its open disputes
once, the export's basis of a one-off line."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from commissions.disputes import open_dispute
from commissions.engine import run_period
from commissions.exports import export
from commissions.models import Component, Line, Statement, StatementStatus
from commissions.statements import approve_period, publish_period
from portal.core.db import db


def test_the_run_command_prints_the_total_exactly(app, monkeypatch):
    import commissions.engine

    total = 2**53 + 1  # fen: a float cannot hold it (through a float it prints …409.94)
    monkeypatch.setattr(commissions.engine, "run_period", lambda period, progress=None: {
        "lines": 3, "statements": 1, "total_fen": total, "seconds": 0.5, "late": False})
    result = app.test_cli_runner().invoke(args=["commissions", "run", "2026-09"])
    assert result.exit_code == 0, result.output
    assert "total ¥90,071,992,547,409.93 in 0.50 s" in result.output


def test_approving_a_period_reads_its_open_disputes_in_one_query(cb, make):
    from portal.core.models import Role

    agency, product, _rule = cb.setup(min_payout_fen=0)
    agencies = [agency] + [make.agency(approved_on=agency.approved_on) for _ in range(4)]
    for a in agencies:
        cb.activation(product, a)
    run_period("2026-09")
    publish_period("2026-09")
    disputed = agencies[2]
    line = db.session.scalar(sa.select(Line).where(Line.agency_id == disputed.id, Line.component == Component.ONE_OFF))
    open_dispute(line, "wrong quantity", make.user(Role.AGENCY_OWNER, agency=disputed))
    seen = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "commission_disputes" in statement:
            seen.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        approved, skipped = approve_period("2026-09")
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert (approved, [s.agency_id for s in skipped]) == (4, [disputed.id])
    assert len(seen) == 1
    states = dict(db.session.execute(sa.select(Statement.agency_id, Statement.status)).all())
    assert states[disputed.id] == StatementStatus.PUBLISHED
    assert {states[a.id] for a in agencies if a is not disputed} == {StatementStatus.APPROVED}


def test_the_basis_amount_of_a_one_off_export_row_is_the_one_time_fee(cb):
    agency, product, _rule = cb.setup(one_off_per_unit="30.00", one_off_rate="0.05")
    cb.activation(product, agency, quantity=3, one_time_fee_fen=20000, order_id="ORD-FEE")
    run_period("2026-09")
    buffer = io.BytesIO()
    export("lines", "2026-09", "csv", buffer)
    (row,) = [r for r in csv.DictReader(io.StringIO(buffer.getvalue().decode("utf-8"))) if r["order_id"] == "ORD-FEE"]
    # (3 × 30.00 + 200.00 × 0.05) × 1.00: basis_amount is the one-time fee, rate the one-off rate
    assert (row["component"], row["basis_amount"], row["rate"], row["multiplier"], row["amount"]) == \
        ("one_off", "200.00", "0.05", "1", "100.00")
