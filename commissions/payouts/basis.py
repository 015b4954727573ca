"""Basis vs lines per product: the amounts the commission lines were computed on, against the
activations and billing records (BOSS) they cite."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from commissions.payouts import ledger
from commissions.payouts.i18n import _
from portal.core.db import db
from portal.core.money import format_fen


def _value(x):
    return getattr(x, "value", x)


def compare(period: str, lines) -> tuple[list, list]:
    from commissions.payouts.reconciliation import Mismatch, ProductRow

    ingest = ledger.ingest_models()
    mismatches: list = []
    if ingest is None:
        return [], []
    Activation, BillingRecord = ingest.Activation, ingest.BillingRecord
    order_ids = {getattr(line, "order_id", None) for line in lines} - {None}
    activations = {a.order_id: a for a in db.session.scalars(
        sa.select(Activation).where(Activation.order_id.in_(order_ids)))} if order_ids else {}
    billing = {}
    if order_ids:
        for b in db.session.scalars(sa.select(BillingRecord).where(BillingRecord.order_id.in_(order_ids))):
            billing[(b.order_id, b.period)] = b
    agg = defaultdict(lambda: {"lines": 0, "basis": 0, "source": 0, "amount": 0})
    link = f"/payouts/{period}/reconciliation#products"
    for line in lines:
        component = str(_value(getattr(line, "component", "")) or "")
        order_id = getattr(line, "order_id", None)
        if component == "adjustment" or order_id is None:
            product = _("(adjustments)")
            a = agg[product]
            a["lines"] += 1
            a["amount"] += int(line.amount_fen or 0)
            continue
        activation = activations.get(order_id)
        product = activation.product_code if activation else "-"
        a = agg[product]
        a["lines"] += 1
        a["amount"] += int(line.amount_fen or 0)
        basis = int(getattr(line, "basis_fen", 0) or 0)
        a["basis"] += basis
        if activation is None:
            mismatches.append(Mismatch("basis", _(
                "Line %(id)s cites order %(order)s, which is not among the activations.",
                id=line.id, order=order_id), link))
            continue
        if component == "share":
            source_period = getattr(line, "source_period", None) or period
            source_period = ledger.period_key(source_period)
            record = billing.get((order_id, source_period))
            source = int(record.paid_fen) if record else 0
            a["source"] += source
            if record is None or source != basis:
                mismatches.append(Mismatch("basis", _(
                    "%(product)s order %(order)s: the share line's basis is %(basis)s but BOSS billing "
                    "for %(period)s shows %(source)s paid.", product=product, order=order_id,
                    basis=format_fen(basis), period=source_period, source=format_fen(source)), link))
        elif component == "one_off":
            source = int(activation.one_time_fee_fen or 0)
            a["source"] += source
            quantity = getattr(line, "quantity", None)
            if source != basis or (quantity is not None and quantity != activation.quantity):
                mismatches.append(Mismatch("basis", _(
                    "%(product)s order %(order)s: the one-off line counts %(qty)s × with a one-time fee of "
                    "%(basis)s, but the activation has %(aqty)s × and %(source)s.", product=product, order=order_id,
                    qty=quantity, basis=format_fen(basis), aqty=activation.quantity, source=format_fen(source)),
                    link))
        elif component == "clawback" and activation.termination_date is None:
            a["source"] += basis
            mismatches.append(Mismatch("basis", _(
                "%(product)s order %(order)s: a clawback line exists but the activation is not terminated.",
                product=product, order=order_id), link))
        else:
            a["source"] += basis
    adjustments = _("(adjustments)")
    rows_list = [ProductRow(product, v["lines"], v["basis"], None if product == adjustments else v["source"],
                            v["amount"]) for product, v in sorted(agg.items())]
    return rows_list, mismatches
