"""Imported at start-up: the notification texts of commissions and the hooks it registers into
other features (each guarded: those features may not be installed).

- catalog.earnings: "what you earn" on the product page (rule in force × the agency's multiplier);
- portal.partners.rules.GRADE_CHANGE_GUARDS: no grade change dated inside a closed period;
- portal.partners.scorecard: activations and revenue in the last 90 days, early churn, open disputes;
- commissions.jobs: the background job "commissions.run".
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from commissions.i18n import gettext as _
from portal.core.notify import register_notification

register_notification("commissions.statement_published",
                      _l("Your commission statement for %(period)s is published."))
register_notification("commissions.dispute_opened",
                      _l("A commission line of %(period)s (order %(order)s) was disputed."))
register_notification("commissions.dispute_accepted",
                      _l("Your dispute about order %(order)s (%(period)s) was accepted: %(reason)s"))
register_notification("commissions.dispute_rejected",
                      _l("Your dispute about order %(order)s (%(period)s) was rejected: %(reason)s"))


def earnings_preview(product, agency, on_date: date) -> dict | None:
    from commissions.calculation import u_to_rate
    from commissions.plans import multiplier_on, rule_in_force
    from commissions.statements import grade_label
    from portal.core.money import round_fen

    rule = rule_in_force(product.id, on_date)
    if rule is None:
        return None
    grade = agency.grade_on(on_date) if agency is not None else None
    grade_value = grade.value if grade is not None else None
    multiplier, _known = multiplier_on(grade_value, on_date)

    def fen(amount_fen: int) -> int:
        return int(round_fen(Decimal(amount_fen) * multiplier))

    answer = {"rule": rule.version, "grade": grade_value,
              "lines": [(_("Grade multiplier"),
                         f"× {multiplier.quantize(Decimal('0.01'))} ({grade_label(grade_value)})")]}
    if rule.one_off_per_unit_fen:
        answer["one_off_fen"] = fen(rule.one_off_per_unit_fen)
    if rule.one_off_rate_u:
        rate = u_to_rate(rule.one_off_rate_u) * multiplier * 100
        answer["lines"].append((_("On the one-time fee"), f"{rate.normalize():f}%"))
    if rule.share_rate_u and rule.share_months:
        answer["revenue_share_rate"] = u_to_rate(rule.share_rate_u) * multiplier
        answer["revenue_share_months"] = rule.share_months
    if rule.referral_bounty_fen:
        answer["referral_bounty_fen"] = fen(rule.referral_bounty_fen)
    if rule.clawback_days:
        answer["lines"].append((_("Clawback"), _("if terminated within %(days)s days", days=rule.clawback_days)))
    return answer


def grade_change_guard(agency, effective_from: date):
    from commissions.periods import last_closed_day

    closed = last_closed_day()
    if closed is not None and effective_from <= closed:
        return _("Commission periods are closed until %(day)s: a grade change must start after it.",
                  day=closed.isoformat())
    return None


def scorecard_metrics(agency, today: date) -> dict:
    import sqlalchemy as sa

    from commissions.ingest.models import Activation, BillingRecord
    from commissions.models import Attribution, AttributionKind, CommissionRule, Dispute, DisputeStatus
    from portal.core.db import db

    since = today - timedelta(days=90)
    mine = sa.select(Attribution.activation_id).where(Attribution.agency_id == agency.id,
                                                      Attribution.kind == AttributionKind.SALE)
    activations = db.session.scalar(sa.select(sa.func.count()).select_from(Activation).where(
        Activation.id.in_(mine), Activation.activation_date > since, Activation.activation_date <= today))
    first = f"{since.year:04d}-{since.month:02d}"
    orders = sa.select(Attribution.order_id).where(Attribution.agency_id == agency.id,
                                                   Attribution.kind == AttributionKind.SALE)
    revenue = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(BillingRecord.paid_fen), 0)).where(
        BillingRecord.order_id.in_(orders), BillingRecord.period >= first))
    # early churn: terminated within the clawback window of the rule in force, of the last 90 days' activations
    rows = db.session.execute(
        sa.select(Activation.activation_date, Activation.termination_date, CommissionRule.clawback_days)
        .join(Attribution, Attribution.activation_id == Activation.id)
        .join(CommissionRule, sa.and_(CommissionRule.product_id == Attribution.product_id,
                                      CommissionRule.effective_from <= Activation.activation_date,
                                      sa.or_(CommissionRule.effective_to.is_(None),
                                             CommissionRule.effective_to >= Activation.activation_date)))
        .where(Attribution.agency_id == agency.id, Attribution.kind == AttributionKind.SALE,
               Activation.activation_date > since, Activation.activation_date <= today)).all()
    churned = sum(1 for a, t, days in rows if t is not None and (t - a).days < days)
    disputes = db.session.scalar(sa.select(sa.func.count()).select_from(Dispute).where(
        Dispute.agency_id == agency.id, Dispute.status == DisputeStatus.OPEN))
    return {"activations_90d": int(activations or 0), "revenue_90d_fen": int(revenue or 0),
            "early_churn_share": (Decimal(churned) / Decimal(len(rows))).quantize(Decimal("0.0001")) if rows else None,
            "open_disputes": int(disputes or 0)}


def _run_job(job, params, progress):
    from commissions.engine import run_period

    result = run_period(params["period"], progress=progress)
    return result | {"url": f"/commissions/periods/{params['period']}"}


def _register() -> None:
    try:
        from catalog.earnings import register_earnings_provider
    except ImportError:  # pragma: no cover - catalog without the earnings panel
        pass
    else:
        register_earnings_provider(earnings_preview)
    try:
        from portal.partners.rules import register_grade_change_guard
    except ImportError:  # pragma: no cover
        pass
    else:
        register_grade_change_guard(grade_change_guard)
    try:
        from portal.partners.scorecard import register_scorecard_source
    except ImportError:  # pragma: no cover
        pass
    else:
        register_scorecard_source(scorecard_metrics)
    try:
        from commissions.jobs import register_job
    except ImportError:  # pragma: no cover
        pass
    else:
        register_job("commissions.run", _run_job)


_register()
