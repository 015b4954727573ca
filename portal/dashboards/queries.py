"""The figures of each role's dashboard, scoped like the lists they link to. Aggregates only:
one grouped query per figure, never a query per row."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from commissions.ingest.models import Activation
from commissions.models import (
    Attribution,
    AttributionKind,
    Dispute,
    DisputeStatus,
    Line,
    Period,
    Statement,
    StatementStatus,
)
from commissions.payouts.models import Payout
from portal.core.db import db
from portal.core.models import AuditLog, Role, User
from portal.leads.models import Lead, LeadKind, LeadStatus
from portal.leads.views import EXPIRING_DAYS
from portal.partners.models import Agency, AgencyStatus
from portal.partners.operations import count_applications_waiting
from portal.partners.scorecard import compute as compute_scorecard


def _agency_region_clause(user):
    return Agency.region_id.in_(list(user.region_ids) or [-1])


def lead_counts_by_status(agency_id: int) -> dict[LeadStatus, int]:
    rows = db.session.execute(
        sa.select(Lead.status, sa.func.count()).where(Lead.agency_id == agency_id).group_by(Lead.status)
    ).all()
    return {LeadStatus(status): count for status, count in rows}


def leads_expiring(agency_id: int, today: date, days: int = EXPIRING_DAYS) -> int:
    """Counted exactly as the lead list's `?expiring=1` filter that the figure links to."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Lead).where(
            Lead.agency_id == agency_id, Lead.status == LeadStatus.APPROVED,
            Lead.protected_until <= today + timedelta(days=days))
    ) or 0


# The statements an agency owner may open (commissions.statement answers 404 for the others).
VISIBLE_STATEMENTS = (StatementStatus.PUBLISHED, StatementStatus.APPROVED, StatementStatus.PAID)


def earnings_by_month(agency_id: int, months: int = 12) -> list[tuple[str, int]]:
    """Earned per period from the agency's published (or later) statements, oldest first."""
    rows = db.session.execute(
        sa.select(Statement.period, Statement.earned_fen).where(
            Statement.agency_id == agency_id, Statement.status.in_(VISIBLE_STATEMENTS))
        .order_by(Statement.period.desc()).limit(months)
    ).all()
    return list(reversed([(period, earned) for period, earned in rows]))


def open_disputes_of_agency(agency_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Dispute).where(
        Dispute.agency_id == agency_id, Dispute.status == DisputeStatus.OPEN)) or 0


def channel_figures(user) -> dict:
    in_regions = _agency_region_clause(user)
    applications = count_applications_waiting(user)
    leads_to_review = db.session.scalar(
        sa.select(sa.func.count()).select_from(Lead).join(Agency, Agency.id == Lead.agency_id).where(
            in_regions, Lead.status == LeadStatus.SUBMITTED, Lead.kind == LeadKind.SALE)) or 0
    by_state = dict(db.session.execute(
        sa.select(Agency.status, sa.func.count()).where(in_regions).group_by(Agency.status)).all())
    exceptions = db.session.scalar(
        sa.select(sa.func.count()).select_from(Attribution).where(
            Attribution.kind == AttributionKind.EXCEPTION, Attribution.resolved_at.is_(None),
            sa.or_(Attribution.agency_id.is_(None), Attribution.agency_id.in_(
                sa.select(Agency.id).where(in_regions))))) or 0
    return {"applications": applications, "leads_to_review": leads_to_review,
            "agencies_by_state": {AgencyStatus(k): v for k, v in by_state.items()}, "exceptions": exceptions}


def agencies_by_grade(user, today: date) -> dict[str, int]:
    agencies = db.session.scalars(sa.select(Agency).where(
        _agency_region_clause(user), Agency.status.in_([AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED]))).all()
    counts: dict[str, int] = {}
    for agency in agencies:
        grade = agency.grade_on(today)
        key = grade.value if grade else "none"
        counts[key] = counts.get(key, 0) + 1
    return counts


def agency_signals(user, today: date, limit: int = 12) -> list[tuple[Agency, object, object]]:
    """(agency, conversion rate, early-churn share) of the region's active agencies."""
    agencies = db.session.scalars(sa.select(Agency).where(
        _agency_region_clause(user), Agency.status == AgencyStatus.ACTIVE).order_by(Agency.code).limit(limit)).all()
    signals = []
    for agency in agencies:
        card = compute_scorecard(agency, today)
        signals.append((agency, card.value("conversion_rate"), card.value("early_churn_share")))
    return signals


def finance_figures(payout_period_count: int = 3) -> dict:
    """Periods, the latest period's totals, payouts by state for the latest periods that have
    payouts (`payouts`: [(period, [(status, count, total fen)])], newest first) and open disputes."""
    periods = db.session.scalars(sa.select(Period).order_by(Period.period.desc()).limit(6)).all()
    latest = periods[0].period if periods else None
    by_component = {}
    by_product = []
    if latest:
        by_component = dict(db.session.execute(
            sa.select(Line.component, sa.func.sum(Line.amount_fen)).where(Line.period == latest)
            .group_by(Line.component)).all())
        by_product = db.session.execute(
            sa.select(Activation.product_code, sa.func.sum(Line.amount_fen))
            .join(Activation, Activation.order_id == Line.order_id)
            .where(Line.period == latest).group_by(Activation.product_code)
            .order_by(sa.func.sum(Line.amount_fen).desc()).limit(8)).all()
    payout_periods = db.session.scalars(
        sa.select(Payout.period).distinct().order_by(Payout.period.desc()).limit(payout_period_count)).all()
    by_period: dict[str, list] = {p: [] for p in payout_periods}
    if payout_periods:
        for period, status, count, total in db.session.execute(
                sa.select(Payout.period, Payout.status, sa.func.count(),
                          sa.func.coalesce(sa.func.sum(Payout.amount_fen), 0))
                .where(Payout.period.in_(payout_periods)).group_by(Payout.period, Payout.status)
                .order_by(Payout.period.desc(), Payout.status)).all():
            by_period[period].append((status, count, total))
    disputes = db.session.scalar(sa.select(sa.func.count()).select_from(Dispute).where(
        Dispute.status == DisputeStatus.OPEN)) or 0
    return {"periods": list(reversed(periods)), "latest": latest, "by_component": by_component,
            "by_product": by_product, "payouts": list(by_period.items()), "open_disputes": disputes}


def account_manager_figures(user) -> dict:
    rows = dict(db.session.execute(
        sa.select(Lead.status, sa.func.count()).where(
            Lead.account_manager_id == user.id, Lead.kind == LeadKind.REFERRAL,
            Lead.status.in_([LeadStatus.ROUTED, LeadStatus.ACCEPTED])).group_by(Lead.status)).all())
    from catalog.models import Customer

    customers = db.session.scalar(sa.select(sa.func.count()).select_from(Customer).where(
        Customer.account_manager_id == user.id)) or 0
    return {"to_accept": rows.get(LeadStatus.ROUTED, 0), "to_close": rows.get(LeadStatus.ACCEPTED, 0),
            "customers": customers}


def admin_figures() -> dict:
    users_by_role = dict(db.session.execute(
        sa.select(User.role, sa.func.count()).where(User.is_enabled.is_(True)).group_by(User.role)).all())
    recent = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(8)).all()
    return {"users_by_role": {Role(k): v for k, v in users_by_role.items()}, "recent": recent}
