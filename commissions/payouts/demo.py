"""Demo data of the payout feature: bank details for demo agencies, so that finance can pay the
demo period by bank transfer in the UI (the demo runs without a Stripe key: the Stripe rail is
off and says so).

The commission demo may have computed its periods before these bank details existed; its
statements then say "no payout account". Such periods (open, nothing approved or paid yet) are
computed again here, and published again when they were published."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from commissions.payouts import ledger
from commissions.payouts import operations as ops
from portal.core.db import db

log = logging.getLogger(__name__)

BANK_DETAILS = {
    # agency code: (account name, bank and branch, account number)
    "AGGZ0001": ("广州云帆通信服务有限公司", "中国工商银行广州天河支行", "3602000109200012345"),
    "AGSZ0001": ("深圳鹏程信息技术有限公司", "招商银行深圳科技园支行", "755912345610801"),
}


def load(ctx) -> None:
    for code, (name, bank, number) in BANK_DETAILS.items():
        agency = ctx.agencies.get(code)
        if agency is None:
            continue
        ops.save_bank_details(agency, name, bank, number)
    db.session.flush()
    _recompute_held_periods()
    ctx.summary.append("payouts: bank details for " + ", ".join(sorted(BANK_DETAILS)))


def _recompute_held_periods() -> None:
    """Open periods whose statements were computed as 'no payout account' for an agency that now
    has one: run them, and every open period after them, again (the engine's own run), keeping
    their publication — all of them or none, so that openings and carries stay consistent."""
    cm = ledger.models()
    if cm is None or not hasattr(cm, "HoldReason"):
        return
    first = db.session.scalar(sa.select(sa.func.min(cm.Statement.period)).where(
        cm.Statement.hold_reason == cm.HoldReason.NO_PAYOUT_ACCOUNT))
    if first is None:
        return
    try:
        from commissions.engine import run_period, run_problems
        from commissions.statements import publish_period
    except ImportError:
        return
    periods = sorted(db.session.scalars(sa.select(cm.Period.period).where(
        cm.Period.period >= first, cm.Period.last_run_at.is_not(None))))
    problems = [p for period in periods for p in run_problems(period)]
    if problems:
        log.warning("demo: statements left as computed (%s)", "; ".join(problems))
        return
    try:
        with db.session.begin_nested():
            for period in periods:
                published = any(ledger.status(s) == "published" for s in ledger.statements_for_period(period))
                run_period(period)
                if published:
                    publish_period(period)
    except Exception as exc:  # noqa: BLE001 - demo data must load even if the engine refuses
        log.warning("demo: periods not recomputed: %s", exc)
