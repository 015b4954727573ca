"""Demo data of the payout feature: bank details for demo agencies, so that finance can pay the
demo period by bank transfer in the UI; and, when `portal demo` runs with `STRIPE_API_KEY` set
(e.g. against the Stripe fake, docs/payouts.md), a Stripe Connect account for AGSZ0001 created
through the API, so that finance pays that agency through Stripe. Without a key the Stripe rail is
off and says so.

The commission demo may have computed its periods before these bank details existed; its
statements then say "no payout account". Such periods (open, nothing approved or paid yet) are
computed again here, and published again when they were published."""

from __future__ import annotations

import logging

import requests
import sqlalchemy as sa
import stripe
from flask import current_app

from commissions.payouts import ledger
from commissions.payouts import operations as ops
from commissions.payouts.stripe_client import stripe_enabled
from portal.core.db import db
from portal.core.models import Role, User

log = logging.getLogger(__name__)

BANK_DETAILS = {
    # agency code: (account name, bank and branch, account number)
    "AGGZ0001": ("广州云帆通信服务有限公司", "中国工商银行广州天河支行", "3602000109200012345"),
    "AGSZ0001": ("深圳鹏程信息技术有限公司", "招商银行深圳科技园支行", "755912345610801"),
}
STRIPE_AGENCY = "AGSZ0001"  # paid through Stripe when the demo is loaded with a Stripe key


def load(ctx) -> None:
    for code, (name, bank, number) in BANK_DETAILS.items():
        agency = ctx.agencies.get(code)
        if agency is None:
            continue
        ops.save_bank_details(agency, name, bank, number)
    db.session.flush()
    stripe_note = _connect_stripe(ctx)
    _recompute_held_periods()
    ctx.summary.append("payouts: bank details for " + ", ".join(sorted(BANK_DETAILS)) + "; " + stripe_note)


def _connect_stripe(ctx) -> str:
    """With a Stripe key: STRIPE_AGENCY's Express account, created through the API like the owner's
    "Connect" button does. Against the Stripe fake (its onboarding page is served at the API address)
    the onboarding is completed by visiting the account link, as the owner's browser would; against
    Stripe itself the owner completes it on Stripe's pages (Payouts → Payout account)."""
    if not stripe_enabled():
        return "Stripe off (no STRIPE_API_KEY): every demo payout is by bank transfer"
    agency = ctx.agencies.get(STRIPE_AGENCY)
    if agency is None:
        return "Stripe: no demo agency to connect"
    owner = db.session.scalar(sa.select(User).where(
        User.agency_id == agency.id, User.role == Role.AGENCY_OWNER).order_by(User.id))
    if owner is None:
        return "Stripe: the demo agency has no owner"
    try:
        account_id = ops.ensure_connected_account(agency, owner)
        onboarded = _complete_fake_onboarding(agency)
        row = ops.refresh_account(agency)
    except (stripe.StripeError, requests.RequestException) as exc:
        log.warning("demo: Stripe account for %s not set up: %s", STRIPE_AGENCY, exc)
        return f"Stripe not reachable ({exc}): {STRIPE_AGENCY} is paid by bank transfer"
    if row is not None and row.stripe_usable:
        return f"{STRIPE_AGENCY} has Stripe account {account_id}, ready for transfers"
    how = "" if onboarded else " (its owner completes onboarding under Payouts → Payout account)"
    return f"{STRIPE_AGENCY} has Stripe account {account_id}, not yet able to receive transfers{how}"


def _complete_fake_onboarding(agency) -> bool:
    """Visit a fresh account link when it is served by the API address itself (the Stripe fake)."""
    base = (current_app.config.get("STRIPE_API_BASE") or "").rstrip("/")
    portal = (current_app.config.get("PORTAL_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    url = ops.account_link_url(agency, refresh_url=f"{portal}/payouts/account/refresh",
                               return_url=f"{portal}/payouts/account/return")
    if not base or not url.startswith(base + "/"):
        return False
    response = requests.get(url, allow_redirects=False, timeout=10)
    response.raise_for_status()
    return True


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
    except Exception as exc:  # demo data must load even if the engine refuses
        log.warning("demo: periods not recomputed: %s", exc)
