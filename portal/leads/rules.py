"""Hooks other areas register into, and the texts of this package's notifications.

- `SALE_CHECKS`: functions `(agency, product) -> None | (message, link)`. Any function that
  answers a message refuses a *sale* lead of that agency for that product (e.g. the training
  certification an agency needs first); the form shows the message and the link.
- `ON_LEAD_WON`: functions `(lead) -> None` called after a lead became `won` (same transaction).
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import lazy_gettext as _l

from portal.core.notify import register_notification

SALE_CHECKS: list[Callable] = []
ON_LEAD_WON: list[Callable] = []


def sale_refusal(agency, product):
    """The first (message, link) a SALE_CHECKS hook answers for this agency and product, or None."""
    for check in list(SALE_CHECKS):
        answer = check(agency, product)
        if answer:
            if isinstance(answer, str):
                return (answer, None)
            return answer
    return None


def lead_won(lead) -> None:
    for hook in list(ON_LEAD_WON):
        hook(lead)


register_notification("lead.submitted", _l("Lead #%(id)s (%(customer)s, %(product)s) awaits your approval."))
register_notification(
    "lead.approved", _l("Lead #%(id)s (%(customer)s, %(product)s) was approved; protected until %(until)s.")
)
register_notification(
    "lead.rejected", _l("Lead #%(id)s (%(customer)s, %(product)s) was rejected: %(reason)s")
)
register_notification(
    "lead.routed", _l("Referral lead #%(id)s (%(customer)s, %(product)s) from %(agency)s was routed to you.")
)
register_notification(
    "lead.referral_routed",
    _l("Your referral lead #%(id)s (%(customer)s, %(product)s) was passed to an account manager."),
)
register_notification(
    "lead.accepted",
    _l("Your referral lead #%(id)s (%(customer)s, %(product)s) was accepted by the account manager."),
)
register_notification("lead.won", _l("Lead #%(id)s (%(customer)s, %(product)s) was won."))
register_notification("lead.lost", _l("Lead #%(id)s (%(customer)s, %(product)s) was lost: %(reason)s"))
register_notification(
    "lead.expired", _l("The protection of lead #%(id)s (%(customer)s, %(product)s) ended on %(until)s.")
)
register_notification(
    "lead.extension_requested", _l("An extension of lead #%(id)s (%(customer)s, %(product)s) was requested.")
)
register_notification(
    "lead.extension_granted",
    _l("The protection of lead #%(id)s (%(customer)s, %(product)s) was extended until %(until)s."),
)
register_notification(
    "lead.extension_denied",
    _l("The extension of lead #%(id)s (%(customer)s, %(product)s) was refused: %(reason)s"),
)
register_notification("api.token_created", _l('An API token "%(name)s" was created for your agency.'))
