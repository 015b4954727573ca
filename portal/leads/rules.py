"""Hooks other areas register into, and the texts of this package's notifications.

- `SALE_CHECKS`: functions `(agency, product) -> None | (message, link)`. Any function that
  answers a message refuses a *sale* lead of that agency for that product (e.g. the training
  certification an agency needs first); the form shows the message and the link.
- `ON_LEAD_WON`: functions `(lead) -> None` called after a lead became `won` (same transaction).

It also gives the agency scorecard its lead metrics (`scorecard_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from portal.core.notify import register_notification
from portal.partners.scorecard import register_scorecard_source

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


def scorecard_metrics(agency, today):
    """Lead metrics of the agency scorecard (SPEC §3), over the 90 days ending `today` (Shanghai):

    - `leads_registered_90d`: leads the agency submitted in the window (sale and referral);
    - `lead_approval_rate`: of those sale leads a channel manager has decided, the share approved
      (approved, won, lost or expired, against rejected); None when none is decided yet;
    - `conversion_rate`: of those leads that were accepted (sale leads approved, referrals routed),
      the share won by an activation; None when there is none.
    """
    from datetime import timedelta

    import sqlalchemy as sa

    from portal.core.db import db
    from portal.core.time import end_of_day_utc, start_of_day_utc
    from portal.leads.models import Lead, LeadKind, LeadStatus

    window = sa.and_(Lead.agency_id == agency.id,
                     Lead.submitted_at >= start_of_day_utc(today - timedelta(days=89)),
                     Lead.submitted_at < end_of_day_utc(today))
    rows = db.session.execute(
        sa.select(Lead.kind, Lead.status, sa.func.count()).where(window).group_by(Lead.kind, Lead.status)
    ).all()
    counts = {(kind, status): n for kind, status, n in rows}
    approved_states = (LeadStatus.APPROVED, LeadStatus.WON, LeadStatus.LOST, LeadStatus.EXPIRED)
    approved = sum(counts.get((LeadKind.SALE, s), 0) for s in approved_states)
    rejected = counts.get((LeadKind.SALE, LeadStatus.REJECTED), 0)
    referrals_taken = sum(n for (kind, status), n in counts.items()
                          if kind == LeadKind.REFERRAL and status != LeadStatus.SUBMITTED)
    won = sum(n for (_kind, status), n in counts.items() if status == LeadStatus.WON)
    accepted = approved + referrals_taken

    def ratio(part: int, whole: int):
        return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else None

    return {
        "leads_registered_90d": sum(counts.values()),
        "lead_approval_rate": ratio(approved, approved + rejected),
        "conversion_rate": ratio(won, accepted),
    }


register_scorecard_source(scorecard_metrics)
