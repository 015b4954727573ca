"""Agency rules that the core and other features consult, and the notification texts of agencies.

- `agency_may_sign_in(user)` plugs into the core sign-in (terminated agencies cannot sign in).
- `agency_may_register_leads(agency)` is what lead registration asks (active agencies only).
- `GRADE_CHANGE_GUARDS`: functions `(agency, effective_from) -> error message | None` that other
  features register to refuse a grade change (e.g. the commission engine refuses a date inside
  a closed period). `grade_change_problem()` asks each of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask_babel import lazy_gettext as _l

from portal.core.notify import register_notification
from portal.core.operations import SIGN_IN_RULES
from portal.partners.models import AgencyStatus


def agency_may_sign_in(user) -> bool:
    """Users of a terminated agency cannot sign in; everyone else may (suspended agencies read)."""
    if not user.is_agency_user or user.agency is None:
        return True
    return user.agency.status != AgencyStatus.TERMINATED


if agency_may_sign_in not in SIGN_IN_RULES:
    SIGN_IN_RULES.append(agency_may_sign_in)


def agency_may_register_leads(agency) -> bool:
    """Only an active agency registers leads: pending, suspended, rejected and terminated may not."""
    return agency is not None and agency.status == AgencyStatus.ACTIVE


def agency_payouts_held(agency) -> bool:
    """A suspended (or terminated) agency's payouts are held (SPEC §3)."""
    return agency is None or agency.status != AgencyStatus.ACTIVE


# (agency, effective_from) -> an error message (str / lazy string) or None
GRADE_CHANGE_GUARDS: list[Callable[[object, date], object | None]] = []


def register_grade_change_guard(fn: Callable) -> Callable:
    """Add a guard (usable as a decorator); registering the same function twice adds it once."""
    if fn not in GRADE_CHANGE_GUARDS:
        GRADE_CHANGE_GUARDS.append(fn)
    return fn


def grade_change_problem(agency, effective_from: date) -> str | None:
    """The first guard's refusal of a grade change of `agency` from `effective_from`, or None."""
    for guard in GRADE_CHANGE_GUARDS:
        message = guard(agency, effective_from)
        if message:
            return str(message)
    return None


# --- notification texts (rendered in the reader's language) ------------------------------------

NOTIFICATIONS = {
    "partners.application_received": _l(
        "We received the agency application of %(name)s. A channel manager of your region will review it."
    ),
    "partners.application_submitted": _l("New agency application to review: %(name)s (region %(region)s)."),
    "partners.application_resubmitted": _l(
        "The application of %(name)s was completed and submitted again (round %(round)s)."
    ),
    "partners.application_approved": _l(
        "The agency application of %(name)s was approved. Your agency code is %(code)s."
    ),
    "partners.application_rejected": _l("The agency application of %(name)s was rejected: %(reason)s"),
    "partners.application_info_requested": _l("The application of %(name)s needs more information: %(note)s"),
    "partners.agency_suspended": _l("The agency %(name)s (%(code)s) was suspended: %(reason)s"),
    "partners.agency_reactivated": _l("The agency %(name)s (%(code)s) is active again."),
    "partners.agency_terminated": _l("The agency %(name)s (%(code)s) was terminated: %(reason)s"),
    "partners.grade_changed.gold": _l("The grade of %(name)s is gold from %(date)s."),
    "partners.grade_changed.silver": _l("The grade of %(name)s is silver from %(date)s."),
    "partners.grade_changed.bronze": _l("The grade of %(name)s is bronze from %(date)s."),
    "partners.ownership_received": _l("You are now the owner of the agency %(name)s."),
    "partners.invitation_accepted": _l("%(email)s accepted the invitation and joined %(name)s."),
}

for _kind, _text in NOTIFICATIONS.items():
    register_notification(_kind, _text)
