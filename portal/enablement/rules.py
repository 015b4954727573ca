"""Hooks of enablement into other areas, installed at start-up (portal.app RULE_MODULES):

- `portal.leads.rules.SALE_CHECKS`: a sale lead for a product that requires certification is
  refused unless the agency has a user with a current certification;
- `portal.leads.rules.ON_LEAD_WON`: a won sale lead sends the customer contact a survey link;
- `portal.partners.scorecard.register_scorecard_source`: satisfaction, complaints and
  certification coverage join the agency scorecard.

The other areas may not exist yet; each hook is installed when its module is importable."""

from __future__ import annotations

from datetime import date

from flask import has_request_context, url_for
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from portal.core.notify import register_notification
from portal.enablement import operations as ops

register_notification(
    "enablement.certification_expiring",
    _l("Your certification for %(product)s ends on %(date)s. Take the course again to renew it."),
)
register_notification(
    "enablement.certification_expiring_owner",
    _l("The certification of %(user)s for %(product)s ends on %(date)s."),
)
register_notification(
    "enablement.complaint_recorded",
    _l("A customer complaint (no. %(id)s) was recorded against your agency. Please answer it."),
)
register_notification("enablement.complaint_resolved", _l("Complaint no. %(id)s was resolved."))
register_notification(
    "enablement.complaint_answered",
    _l("Agency %(agency)s answered complaint no. %(id)s. Review the answer and resolve the complaint."),
)


def _course_link(course) -> str:
    if has_request_context():
        if course is not None:
            return url_for("enablement.course", course_id=course.id)
        return url_for("enablement.training")
    return f"/enablement/training/{course.id}" if course is not None else "/enablement/training"


def certification_sale_check(agency, product):
    """None when `agency` may register a sale lead for `product`; else (message, link to the
    course)."""
    problem = ops.sale_certification_problem(agency.id, product.id)
    if problem is None:
        return None
    _reason, course = problem
    if not has_request_context():  # CLI or jobs: no request to pick a language from
        with force_locale("zh_Hans_CN"):
            return _refusal_message(product, course), _course_link(course)
    return _refusal_message(product, course), _course_link(course)


def _refusal_message(product, course) -> str:
    if course is not None:
        return gettext(
            "%(product)s may only be sold by agencies with a certified user. Pass the "
            'course "%(course)s" to unlock it.',
            product=product.code,
            course=course.title,
        )
    return gettext(
        "%(product)s may only be sold by agencies with a certified user; no course is "
        "published yet, please contact your channel manager.",
        product=product.code,
    )


def survey_on_lead_won(lead) -> None:
    ops.invite_for_won_lead(lead)


def scorecard_source(agency, today: date) -> dict:
    return ops.quality_signals(agency, today)


def install_hooks() -> dict:
    """Install every hook whose target exists; returns which ones are in place."""
    installed = {"sale_check": False, "lead_won": False, "scorecard": False}
    try:
        from portal.leads import rules as lead_rules
    except ImportError:
        lead_rules = None
    if lead_rules is not None:
        checks = getattr(lead_rules, "SALE_CHECKS", None)
        if checks is not None:
            if certification_sale_check not in checks:
                checks.append(certification_sale_check)
            installed["sale_check"] = True
        won = getattr(lead_rules, "ON_LEAD_WON", None)
        if won is not None:
            if survey_on_lead_won not in won:
                won.append(survey_on_lead_won)
            installed["lead_won"] = True
    try:
        from portal.partners import scorecard
    except ImportError:
        scorecard = None
    register = getattr(scorecard, "register_scorecard_source", None)
    if register is not None:
        sources = getattr(scorecard, "SCORECARD_SOURCES", None)
        if sources is None or scorecard_source not in sources:
            register(scorecard_source)
        installed["scorecard"] = True
    return installed


INSTALLED = install_hooks()
