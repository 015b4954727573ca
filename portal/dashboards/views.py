"""Dashboards: panels on each role's home page (charts drawn on the server as SVG)."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_babel import gettext as _
from flask_babel import lazy_pgettext as _p

from portal.core.models import Role
from portal.core.money import format_fen
from portal.core.nav import register_home_panel
from portal.core.time import today_shanghai
from portal.dashboards import queries
from portal.dashboards.svg import Bar, bar_chart
from portal.leads.models import LeadStatus
from portal.partners.models import AgencyStatus

bp = Blueprint("dashboards", __name__)

LEAD_STATES = [LeadStatus.SUBMITTED, LeadStatus.APPROVED, LeadStatus.ROUTED, LeadStatus.ACCEPTED,
               LeadStatus.WON, LeadStatus.LOST, LeadStatus.EXPIRED, LeadStatus.REJECTED]
LEAD_STATE_LABELS = {
    LeadStatus.SUBMITTED: _p("dashboard", "Submitted"),
    LeadStatus.APPROVED: _p("dashboard", "Protected"),
    LeadStatus.ROUTED: _p("dashboard", "Routed"),
    LeadStatus.ACCEPTED: _p("dashboard", "Accepted"),
    LeadStatus.WON: _p("dashboard", "Won"),
    LeadStatus.LOST: _p("dashboard", "Lost"),
    LeadStatus.EXPIRED: _p("dashboard", "Expired"),
    LeadStatus.REJECTED: _p("dashboard", "Rejected"),
}
AGENCY_STATE_LABELS = {
    AgencyStatus.PENDING: _p("dashboard", "Applying"),
    AgencyStatus.ACTIVE: _p("dashboard", "Active"),
    AgencyStatus.SUSPENDED: _p("dashboard", "Suspended"),
    AgencyStatus.REJECTED: _p("dashboard", "Rejected"),
    AgencyStatus.TERMINATED: _p("dashboard", "Terminated"),
}
GRADE_LABELS = {
    "gold": _p("dashboard", "Gold"),
    "silver": _p("dashboard", "Silver"),
    "bronze": _p("dashboard", "Bronze"),
    "none": _p("dashboard", "No grade"),
}
COMPONENT_LABELS = {
    "one_off": _p("dashboard", "One-off"),
    "share": _p("dashboard", "Revenue share"),
    "referral": _p("dashboard", "Referral"),
    "clawback": _p("dashboard", "Clawback"),
    "adjustment": _p("dashboard", "Adjustment"),
}
PAYOUT_LABELS = {
    "pending": _p("dashboard", "Pending"),
    "paid": _p("dashboard", "Paid"),
    "failed": _p("dashboard", "Failed"),
    "reversed": _p("dashboard", "Reversed"),
}

def _agency_context(user) -> dict:
    agency = user.agency
    if agency is None:
        return {"dashboard": None}
    today = today_shanghai()
    counts = queries.lead_counts_by_status(agency.id)
    bars = [Bar(str(LEAD_STATE_LABELS[s]), counts.get(s, 0), url_for("leads.index", status=s.value))
            for s in LEAD_STATES]
    context = {
        "dashboard": True,
        "lead_chart": bar_chart(bars, _("Leads by state")),
        "lead_total": sum(counts.values()),
        "expiring": queries.leads_expiring(agency.id, today),
        "submitted": counts.get(LeadStatus.SUBMITTED, 0),
        "agency_active": agency.status == AgencyStatus.ACTIVE,
        "show_money": user.role == Role.AGENCY_OWNER,
    }
    if context["show_money"]:
        months = queries.earnings_by_month(agency.id)
        context["earnings_chart"] = bar_chart(
            [Bar(period, fen / 100, url_for("commissions.statement", period=period), format_fen(fen))
             for period, fen in months],
            _("Earned by month"))
        context["earned_months"] = len(months)
        context["open_disputes"] = queries.open_disputes_of_agency(agency.id)
    return context


def _channel_context(user) -> dict:
    today = today_shanghai()
    figures = queries.channel_figures(user)
    grades = queries.agencies_by_grade(user, today)
    grade_chart = bar_chart([Bar(str(GRADE_LABELS[g]), grades.get(g, 0), url_for("partners.agencies", grade=g))
                             for g in ("gold", "silver", "bronze", "none")], _("Agencies by grade"))
    state_chart = bar_chart([Bar(str(AGENCY_STATE_LABELS[s]), figures["agencies_by_state"].get(s, 0),
                                 url_for("partners.agencies", status=s.value)) for s in AgencyStatus],
                            _("Agencies by state"))
    return {**figures, "grade_chart": grade_chart, "state_chart": state_chart,
            "signals": queries.agency_signals(user, today)}


def _finance_context(user) -> dict:
    figures = queries.finance_figures()
    component_chart = product_chart = None
    if figures["latest"]:
        # The period page holds the lines by component and every agency's statement of the period.
        latest = figures["latest"]  # each bar opens the period's lines of that component / product
        component_chart = bar_chart(
            [Bar(str(COMPONENT_LABELS.get(str(k), k)), v / 100,
                 url_for("commissions.period", period=latest, component=str(k)), format_fen(v))
             for k, v in sorted(figures["by_component"].items(), key=lambda kv: str(kv[0]))],
            _("Commissions by component"))
        product_chart = bar_chart(
            [Bar(code or "?", v / 100, url_for("commissions.period", period=latest, product=code or ""),
                 format_fen(v)) for code, v in figures["by_product"]],
            _("Commissions by product"))
    payout_periods = [
        (period, url_for("payouts.period_page", period=period),
         [(str(PAYOUT_LABELS.get(str(status), status)), count, total,
           url_for("payouts.period_page", period=period, status=str(status)))
          for status, count, total in rows])
        for period, rows in figures["payouts"]]
    return {**figures, "component_chart": component_chart, "product_chart": product_chart,
            "payout_periods": payout_periods}


register_home_panel("dashboards/agency.html", (Role.AGENCY_OWNER, Role.AGENCY_SALES), _agency_context, order=5)
register_home_panel("dashboards/channel.html", (Role.CHANNEL_MANAGER,), _channel_context, order=5)
register_home_panel("dashboards/finance.html", (Role.FINANCE,), _finance_context, order=5)
register_home_panel("dashboards/account_manager.html", (Role.ACCOUNT_MANAGER,),
                    queries.account_manager_figures, order=5)
register_home_panel("dashboards/admin.html", (Role.ADMIN,), lambda user: queries.admin_figures(), order=5)
