"""Demo data of commissions: the plan of `commissions/data/demo_plan.toml`, a few activations and
billing months of the demo agencies (unless the ingest demo provided them), two computed and
published periods (2026-09, 2026-10: no data lies before them, so finance can close them in order)
and an open dispute on one line."""

from __future__ import annotations

import importlib
from pathlib import Path

import sqlalchemy as sa

from portal.core.db import db

PLAN_FILE = Path(__file__).resolve().parent / "data" / "demo_plan.toml"

# order, agency code (agent_code), product, quantity, one-time fee (yuan), activated, terminated
ACTIVATIONS = [
    ("DEMO-CM-0001", "AGGZ0001", "GRP-SMS", 50, "0", "2026-09-01T10:30:00", None),
    ("DEMO-CM-0002", "AGGZ0001", "QXT", 2, "0", "2026-09-03T09:00:00", None),
    ("DEMO-CM-0003", "AGGZ0001", "GRP-PBX", 1, "500.00", "2026-09-20T15:00:00", None),
    ("DEMO-CM-0004", "AGGZ0001", "VPMN", 20, "0", "2026-09-25T11:00:00", "2026-10-15T17:00:00"),
    ("DEMO-CM-0005", "AGGZ0001", "GRP-MMS", 10, "0", "2026-11-05T10:00:00", None),
    ("DEMO-CM-0006", "AGGZ0001", "ENT-MAIL", 30, "0", "2026-11-10T14:00:00", None),
    ("DEMO-CM-0011", "AGSZ0001", "SN-SMS", 10, "0", "2026-09-15T10:00:00", None),
    ("DEMO-CM-0012", "AGSZ0001", "GRP-CRBT", 100, "0", "2026-10-08T10:00:00", None),
    ("DEMO-CM-0013", "AGSZ0001", "GRP-SMS", 5, "0", "2026-11-02T10:00:00", None),
    ("DEMO-CM-0091", "AGXX9999", "GRP-SMS", 3, "0", "2026-10-10T10:00:00", None),   # unknown agent code
    ("DEMO-CM-0092", "AGGZ0001", "ENT-INFO", 1, "3000.00", "2026-10-12T10:00:00", None),  # agent code on high
]
# order, period, billed = paid (yuan)
BILLING = [
    ("DEMO-CM-0001", "2026-09", "4000.00"),
    ("DEMO-CM-0001", "2026-10", "4000.00"),
    ("DEMO-CM-0002", "2026-09", "400.00"), ("DEMO-CM-0002", "2026-10", "400.00"),
    ("DEMO-CM-0003", "2026-10", "1280.00"),
    ("DEMO-CM-0004", "2026-09", "200.00"), ("DEMO-CM-0004", "2026-10", "100.00"),
    ("DEMO-CM-0011", "2026-09", "30.00"), ("DEMO-CM-0011", "2026-10", "30.00"),
    ("DEMO-CM-0012", "2026-10", "500.00"),
]


def _optional(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if name == exc.name or name.startswith(f"{exc.name}."):
            return None
        raise


def _activations(ctx) -> int:
    from commissions.ingest.models import Activation, BillingRecord
    from portal.core.money import yuan_to_fen
    from portal.core.time import parse_iso_timestamp, shanghai_date

    existing = set(db.session.scalars(sa.select(Activation.order_id).where(Activation.order_id.like("DEMO-CM-%"))))
    usccs = list(ctx.customers) or ["91440101MA5CYQ0X1A"]
    names = {uscc: getattr(c, "name", "Demo customer") for uscc, c in ctx.customers.items()}
    added = 0
    for i, (order, agent, product, qty, fee, activated, terminated) in enumerate(ACTIVATIONS):
        if order in existing:
            continue
        at = parse_iso_timestamp(activated)
        end = parse_iso_timestamp(terminated) if terminated else None
        uscc = usccs[(i + 3) % len(usccs)]
        product_row = ctx.products.get(product)
        monthly = product_row.monthly_price_fen if product_row is not None else 0
        db.session.add(Activation(order_id=order, uscc=uscc, customer_name=names.get(uscc, "Demo customer"),
                                  product_code=product, agent_code=agent, quantity=qty,
                                  monthly_fee_fen=monthly * qty, one_time_fee_fen=yuan_to_fen(fee),
                                  activated_at=at, activation_date=shanghai_date(at), terminated_at=end,
                                  termination_date=shanghai_date(end) if end else None))
        added += 1
    db.session.flush()
    have = {(o, p) for o, p in db.session.execute(sa.select(BillingRecord.order_id, BillingRecord.period)
                                                   .where(BillingRecord.order_id.like("DEMO-CM-%")))}
    for order, period, paid in BILLING:
        if (order, period) not in have:
            db.session.add(BillingRecord(order_id=order, period=period, billed_fen=yuan_to_fen(paid),
                                         paid_fen=yuan_to_fen(paid)))
    db.session.flush()
    return added


def load(ctx) -> None:
    from commissions.disputes import open_dispute
    from commissions.engine import run_period
    from commissions.models import Component, Line, Statement
    from commissions.plans import load_toml
    from commissions.statements import publish_period
    from portal.core.models import User

    ingest_demo = _optional("commissions.ingest.demo")
    if ingest_demo is not None and hasattr(ingest_demo, "load"):
        ingest_demo.load(ctx)
    report = load_toml(PLAN_FILE.read_bytes())
    added = _activations(ctx)
    figures = []
    for period in ("2026-09", "2026-10"):
        result = run_period(period)
        publish_period(period)
        figures.append(f"{period}: {result['lines']} lines, {result['statements']} statements")
    owner = db.session.scalar(sa.select(User).where(User.email == "owner@agency1.demo.local"))
    agency = ctx.agencies.get("AGGZ0001")
    disputed = None
    if agency is not None:
        line = db.session.scalar(sa.select(Line).where(
            Line.period == "2026-10", Line.agency_id == agency.id, Line.component == Component.SHARE,
            Line.order_id == "DEMO-CM-0003"))
        statement = db.session.scalar(sa.select(Statement).where(Statement.period == "2026-10",
                                                                 Statement.agency_id == agency.id))
        if line is not None and statement is not None:
            disputed = open_dispute(line, "The customer paid ¥1,380.00 in October, not ¥1,280.00.", owner)
    ctx.summary.append(
        f"commissions: plan ({report.rules_created} rules, {report.multipliers_saved} multipliers), "
        f"{added} activations, periods {'; '.join(figures)}"
        + (f", dispute #{disputed.id}" if disputed else ""))
