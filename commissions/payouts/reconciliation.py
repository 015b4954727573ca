"""Reconciliation of a period (SPEC §6): basis vs lines per product, lines vs statements vs payouts
per agency, and Stripe's own transfers of the period (`transfer_group`) against ours.

Pure reading: nothing here changes state. `close_guard(period)` turns the result into the reasons
a period may not close yet (registered into the engine's CLOSE_GUARDS by `rules.py`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
import stripe

from commissions.payouts import ledger
from commissions.payouts import operations as ops
from commissions.payouts.i18n import _
from commissions.payouts.models import Payout, PayoutCarry, PayoutStatus, Rail
from commissions.payouts.stripe_client import stripe_enabled
from portal.core.db import db
from portal.core.money import format_fen
from portal.partners.models import Agency


@dataclass
class Mismatch:
    kind: str  # basis | lines | payouts | stripe | unpaid | pending
    message: str
    link: str | None = None


@dataclass
class AgencyRow:
    agency_id: int
    code: str
    statement_id: int | None
    lines_fen: int
    earned_fen: int | None
    payable_fen: int
    paid_fen: int
    status: str
    settlement: str  # paid | carried | unpaid | nothing due


@dataclass
class ProductRow:
    product: str
    lines: int
    basis_fen: int
    source_fen: int | None
    amount_fen: int


@dataclass
class Reconciliation:
    period: str
    agencies: list = field(default_factory=list)
    products: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)
    stripe_checked: bool = False
    stripe_transfers: list = field(default_factory=list)  # dicts: id, amount, destination, known
    totals: dict = field(default_factory=dict)

    @property
    def agrees(self) -> bool:
        return not self.mismatches


def _int(value) -> int:
    return int(value or 0)


def _line_amount(line) -> int:
    return _int(getattr(line, "amount_fen", 0))


def _line_agency(line):
    return getattr(line, "agency_id", None)


def _line_product(line) -> str:
    for attr in ("product_code", "product"):
        value = getattr(line, attr, None)
        if isinstance(value, str):
            return value
        if value is not None and getattr(value, "code", None):
            return value.code
    activation = getattr(line, "activation", None)
    if activation is not None:
        return _line_product(activation)
    return "-"


def _line_basis(line) -> int:
    return _int(getattr(line, "basis_fen", None) or getattr(line, "basis_amount_fen", None))


def reconcile(period: str, with_stripe: bool = True) -> Reconciliation:
    result = Reconciliation(period)
    statements = ledger.statements_for_period(period)
    lines = ledger.lines_for_period(period)
    payouts = list(db.session.scalars(sa.select(Payout).where(Payout.period == period).order_by(Payout.id)))
    carries = {c.statement_id: c for c in db.session.scalars(
        sa.select(PayoutCarry).where(PayoutCarry.period == period))}
    agency_ids = {s.agency_id for s in statements} | {_line_agency(x) for x in lines} | {p.agency_id for p in payouts}
    agency_ids.discard(None)
    agencies = {a.id: a for a in db.session.scalars(sa.select(Agency).where(Agency.id.in_(agency_ids)))} \
        if agency_ids else {}
    link_period = f"/payouts/{period}"

    _basis_vs_lines(result, period, lines)

    # --- lines vs statements vs payouts, per agency ---------------------------------------------
    lines_by_agency: dict = defaultdict(int)
    for line in lines:
        lines_by_agency[_line_agency(line)] += _line_amount(line)
    statement_by_agency = {s.agency_id: s for s in statements}
    paid_by_statement: dict = defaultdict(int)
    for payout in payouts:
        if payout.status == PayoutStatus.PAID:
            paid_by_statement[payout.statement_id] += payout.amount_fen
        elif payout.status == PayoutStatus.REVERSED:
            paid_by_statement[payout.statement_id] += payout.amount_fen - payout.reversed_fen
    for agency_id in sorted(agency_ids, key=lambda i: (agencies[i].code or "") if i in agencies else ""):
        agency = agencies.get(agency_id)
        code = (agency.code or agency.name) if agency else str(agency_id)
        st = statement_by_agency.get(agency_id)
        earned = _int(getattr(st, "earned_fen", None)) if st is not None and hasattr(st, "earned_fen") else None
        payable = ledger.payable_fen(st) if st is not None else 0
        paid = paid_by_statement.get(st.id, 0) if st is not None else 0
        status = ledger.status(st) if st is not None else "-"
        agency_link = f"/payouts/agency/{agency_id}"
        if st is None:
            if lines_by_agency.get(agency_id):
                result.mismatches.append(Mismatch("lines", _(
                    "%(agency)s has lines of %(amount)s but no statement.",
                    agency=code, amount=format_fen(lines_by_agency[agency_id])), agency_link))
            settlement = "-"
        else:
            if earned is not None and earned != lines_by_agency.get(agency_id, 0):
                result.mismatches.append(Mismatch("lines", _(
                    "%(agency)s: the statement earns %(earned)s but its lines sum to %(lines)s.",
                    agency=code, earned=format_fen(earned), lines=format_fen(lines_by_agency.get(agency_id, 0))),
                    agency_link))
            settlement = _settlement(st, payable, paid, carries, result, code, link_period)
        result.agencies.append(AgencyRow(agency_id, code, st.id if st is not None else None,
                                         lines_by_agency.get(agency_id, 0), earned, payable, paid, status,
                                         settlement))

    for payout in payouts:
        if payout.status == PayoutStatus.PENDING:
            agency = agencies.get(payout.agency_id)
            what = _("waiting for the bank reference") if payout.rail == Rail.BANK else _(
                "the Stripe transfer is not confirmed yet (run the payout again)")
            result.mismatches.append(Mismatch("pending", _(
                "Payout %(id)s of %(agency)s (%(amount)s) is pending: %(what)s.", id=payout.id,
                agency=(agency.code if agency else payout.agency_id), amount=format_fen(payout.amount_fen),
                what=what), f"{link_period}#payout-{payout.id}"))

    if with_stripe and stripe_enabled():
        _stripe_vs_ours(result, period, payouts, agencies)

    result.totals = {
        "lines_fen": sum(lines_by_agency.values()),
        "earned_fen": sum(r.earned_fen or 0 for r in result.agencies),
        "payable_fen": sum(r.payable_fen for r in result.agencies),
        "paid_fen": sum(r.paid_fen for r in result.agencies),
        "carried_fen": sum(c.amount_fen for c in carries.values()),
    }
    return result


def _settlement(st, payable, paid, carries, result, code, link_period) -> str:
    status = ledger.status(st)
    link = f"{link_period}#statement-{st.id}"
    if payable <= 0:
        return "nothing due"
    if st.id in carries:
        if paid:
            result.mismatches.append(Mismatch("payouts", _(
                "%(agency)s: the statement is carried but %(paid)s was paid.", agency=code,
                paid=format_fen(paid)), link))
        return "carried"
    if status == "paid":
        if paid != payable:
            result.mismatches.append(Mismatch("payouts", _(
                "%(agency)s: the statement is paid (%(payable)s) but the payouts total %(paid)s.",
                agency=code, payable=format_fen(payable), paid=format_fen(paid)), link))
        return "paid"
    if paid:
        result.mismatches.append(Mismatch("payouts", _(
            "%(agency)s: %(paid)s was paid on a statement that is not marked paid.", agency=code,
            paid=format_fen(paid)), link))
    result.mismatches.append(Mismatch("unpaid", _(
        "%(agency)s: the payable %(payable)s is neither paid nor carried (statement %(status)s).",
        agency=code, payable=format_fen(payable), status=_status_label(status)), link))
    return "unpaid"


def _status_label(status: str) -> str:
    return {"draft": _("draft"), "published": _("published"), "approved": _("approved"),
            "paid": _("paid")}.get(status, status)


def _basis_vs_lines(result: Reconciliation, period: str, lines) -> None:
    """Per product: the lines' basis against the source records (activations, billing) they cite."""
    from commissions.payouts import basis

    rows, mismatches = basis.compare(period, lines)
    result.products.extend(rows)
    result.mismatches.extend(mismatches)


def _stripe_vs_ours(result: Reconciliation, period: str, payouts, agencies) -> None:
    try:
        listed = ops.list_period_transfers(period)
    except stripe.StripeError as exc:
        result.mismatches.append(Mismatch("stripe", _(
            "Stripe's list of transfers could not be read: %(error)s", error=exc.user_message or str(exc))))
        return
    result.stripe_checked = True
    ours = {p.stripe_transfer_id: p for p in payouts if p.rail == Rail.STRIPE and p.stripe_transfer_id}
    seen = set()
    for transfer in listed:
        tid = transfer.get("id")
        seen.add(tid)
        payout = ours.get(tid)
        result.stripe_transfers.append({"id": tid, "amount": _int(transfer.get("amount")),
                                        "reversed": _int(transfer.get("amount_reversed")),
                                        "destination": transfer.get("destination"), "known": payout is not None,
                                        "payout_id": payout.id if payout else None})
        if payout is None:
            result.mismatches.append(Mismatch("stripe", _(
                "Stripe transfer %(id)s (%(amount)s to %(destination)s) is not known to the portal.",
                id=tid, amount=format_fen(_int(transfer.get("amount"))),
                destination=transfer.get("destination") or "-"), f"/payouts/{period}/reconciliation#stripe"))
            continue
        if _int(transfer.get("amount")) != payout.amount_fen or transfer.get("destination") != payout.stripe_account_id:
            result.mismatches.append(Mismatch("stripe", _(
                "Stripe transfer %(id)s is %(amount)s to %(destination)s; "
                "the portal recorded %(ours)s to %(our_dest)s.",
                id=tid, amount=format_fen(_int(transfer.get("amount"))), destination=transfer.get("destination"),
                ours=format_fen(payout.amount_fen), our_dest=payout.stripe_account_id),
                f"/payouts/{period}#payout-{payout.id}"))
        if _int(transfer.get("amount_reversed")) != payout.reversed_fen:
            result.mismatches.append(Mismatch("stripe", _(
                "Stripe transfer %(id)s has %(stripe)s reversed; the portal recorded %(ours)s.", id=tid,
                stripe=format_fen(_int(transfer.get("amount_reversed"))), ours=format_fen(payout.reversed_fen)),
                f"/payouts/{period}#payout-{payout.id}"))
    for tid, payout in ours.items():
        if tid not in seen:
            agency = agencies.get(payout.agency_id)
            result.mismatches.append(Mismatch("stripe", _(
                "The portal's transfer %(id)s (%(amount)s to %(agency)s) is missing from Stripe's list.",
                id=tid, amount=format_fen(payout.amount_fen), agency=agency.code if agency else payout.agency_id),
                f"/payouts/{period}#payout-{payout.id}"))


def close_guard(period) -> list[str]:
    """Reasons the period may not close (empty when the totals agree and all is paid or carried)."""
    key = ledger.period_key(period)
    return [m.message for m in reconcile(key).mismatches]


def unpaid_reason(statement) -> str | None:
    """Why a payable statement has not been paid (for the agency's view), or None."""
    if ledger.status(statement) == "paid" or ledger.payable_fen(statement) <= 0:
        return None
    carry = ops.carry_of(statement.id)
    if carry is not None:
        return _("Carried forward by finance: %(reason)s", reason=carry.reason)
    live = ops.live_payout(statement.id)
    if live is not None and live.status == PayoutStatus.PENDING:
        return _("Bank transfer in progress.") if live.rail == Rail.BANK else _("Stripe transfer in progress.")
    history = ops.payouts_of_statement(statement.id)
    if history and history[-1].status == PayoutStatus.REVERSED:
        return _("The Stripe transfer was reversed; finance will pay it again.")
    if history and history[-1].status == PayoutStatus.FAILED:
        return _("The last payment attempt failed: %(error)s", error=history[-1].error or "-")
    agency = db.session.get(Agency, statement.agency_id)
    if agency is not None and agency.status.value != "active":
        return _("Payouts are held while the agency is suspended.")
    if ledger.status(statement) != "approved":
        return _("Waiting for finance to approve the statement.")
    return _("Waiting for the next payout run.")
