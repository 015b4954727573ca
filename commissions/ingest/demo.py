"""Demo activations and billing (2026-09 … 2026-11), loaded through the real import pipeline so
that the Imports page shows their reports: one applied activations file, one applied billing
file, and one billing file refused for a bad row (nothing of it stored).

Includes a termination inside the clawback window (DEMO-IN-0004, 20 days after activation) and an
activation with an unknown agent code (DEMO-IN-0091). `commissions.demo` calls `load(ctx)` first."""

from __future__ import annotations

import sqlalchemy as sa

from commissions.ingest import operations as ops
from commissions.ingest.models import ImportRun, ImportSource
from portal.core.db import db

# order, agent code, product, quantity, monthly fee, one-time fee, activated (Shanghai), terminated
ACTIVATIONS = [
    ("DEMO-IN-0001", "AGGZ0001", "GRP-SMS", 20, "1600.00", "0.00", "2026-09-08T10:00:00", ""),
    ("DEMO-IN-0002", "AGGZ0001", "ENT-MAIL", 40, "2000.00", "0.00", "2026-09-21T14:30:00", ""),
    ("DEMO-IN-0003", "AGSZ0001", "GRP-SMS", 8, "640.00", "0.00", "2026-10-09T09:15:00", ""),
    ("DEMO-IN-0004", "AGSZ0001", "ENT-MAIL", 15, "750.00", "0.00", "2026-10-12T11:00:00", "2026-11-01T16:00:00"),
    ("DEMO-IN-0005", "AGGZ0001", "GRP-MMS", 5, "500.00", "0.00", "2026-11-03T10:20:00", ""),
    ("DEMO-IN-0006", "", "GRP-ACCESS", 1, "2000.00", "5000.00", "2026-10-20T15:00:00", ""),
    ("DEMO-IN-0091", "AGXX9999", "GRP-SMS", 3, "240.00", "0.00", "2026-10-15T10:00:00", ""),
]
# order, period, billed, paid
BILLING = [
    ("DEMO-IN-0001", "2026-09", "1600.00", "1600.00"), ("DEMO-IN-0001", "2026-10", "1600.00", "1600.00"),
    ("DEMO-IN-0001", "2026-11", "1600.00", "1200.00"),
    ("DEMO-IN-0002", "2026-09", "2000.00", "2000.00"), ("DEMO-IN-0002", "2026-10", "2000.00", "2000.00"),
    ("DEMO-IN-0002", "2026-11", "2000.00", "2000.00"),
    ("DEMO-IN-0003", "2026-10", "640.00", "640.00"), ("DEMO-IN-0003", "2026-11", "640.00", "640.00"),
    ("DEMO-IN-0004", "2026-10", "750.00", "750.00"),
    ("DEMO-IN-0005", "2026-11", "500.00", "500.00"),
    ("DEMO-IN-0006", "2026-10", "2000.00", "2000.00"), ("DEMO-IN-0006", "2026-11", "2000.00", "2000.00"),
    ("DEMO-IN-0091", "2026-10", "240.00", "240.00"), ("DEMO-IN-0091", "2026-11", "240.00", "240.00"),
]
REFUSED_BILLING = [("DEMO-IN-0003", "2026-12", "640.00", "640.00"), ("DEMO-IN-9999", "2026-12", "10.00", "10.00")]


def _customers(ctx) -> list[tuple[str, str]]:
    found = [(uscc, getattr(c, "name", "") or "Demo customer") for uscc, c in ctx.customers.items()]
    return found or [("91440101MA5CYQ0X1A", "广州示范集团客户")]


def load(ctx) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(ImportRun).where(
            ImportRun.source == ImportSource.DEMO)):
        return
    known = set(ops.product_codes())
    customers = _customers(ctx)
    rows = []
    for i, (order, agent, product, qty, monthly, one_time, activated, terminated) in enumerate(ACTIVATIONS):
        if product not in known:
            continue
        uscc, name = customers[i % len(customers)]
        rows.append([order, uscc, name, product, agent, str(qty), monthly, one_time, activated, terminated])
    run = ops.new_run("activations", ImportSource.DEMO, filename="demo-activations.csv")
    ops.import_rows(run, lambda: enumerate(rows, start=2))
    orders = {r[0] for r in rows}
    bills = [list(b) for b in BILLING if b[0] in orders]
    run_b = ops.new_run("billing", ImportSource.DEMO, filename="demo-billing-2026-09-11.csv")
    ops.import_rows(run_b, lambda: enumerate(bills, start=2))
    refused = ops.new_run("billing", ImportSource.DEMO, filename="demo-billing-2026-12-draft.csv")
    ops.import_rows(refused, lambda: enumerate([list(b) for b in REFUSED_BILLING], start=2))
    ctx.extra["ingest.orders"] = sorted(orders)
    ctx.summary.append(f"ingest: {run.inserted} activations, {run_b.inserted} billing records "
                       f"(and one refused billing file: {refused.rejected} bad row)")
