"""Start-up wiring of the payout feature: notification texts and the hooks the commission
engine consults (period close guards, "has a payout account")."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from commissions.payouts import ledger
from portal.core.notify import register_notification

register_notification("payouts.paid", _l("Commission for %(period)s paid: %(amount)s (reference %(reference)s)."))
register_notification("payouts.carried", _l("Your payable commission for %(period)s (%(amount)s) is carried "
                                            "forward: %(reason)s"))
register_notification("payouts.reversed", _l("The payment of your commission for %(period)s was reversed "
                                             "(%(amount)s, transfer %(reference)s); the statement is unpaid again."))
register_notification("payouts.reversed_finance", _l("Stripe reversed transfer %(reference)s of %(agency)s for "
                                                     "%(period)s (%(amount)s); the statement is unpaid again."))
register_notification("payouts.account_ready", _l("Your Stripe account can now receive commission payouts."))
register_notification("payouts.account_needs", _l("Stripe needs more information before it can pay you: "
                                                  "%(requirements)s"))
register_notification("payouts.bank_payout_paid", _l("Stripe paid %(amount)s out to your bank account."))
register_notification("payouts.bank_payout_failed", _l("Stripe could not pay %(amount)s out to your bank "
                                                       "account: %(reason)s"))
register_notification("payouts.bank_payout_failed_finance", _l("Stripe could not pay %(amount)s out to the bank "
                                                               "account of %(agency)s: %(reason)s"))


def _has_payout_account(agency) -> bool:
    from commissions.payouts.operations import has_payout_account

    return has_payout_account(agency)


def _have_payout_accounts(agencies) -> dict[int, bool]:
    from commissions.payouts.operations import have_payout_accounts

    return have_payout_accounts([agency.id for agency in agencies])


_has_payout_account.many = _have_payout_accounts


def _close_guard(period) -> list:
    from commissions.payouts.reconciliation import close_guard

    return close_guard(period)


def _register_hooks() -> None:
    periods = ledger.periods_module()
    guards = getattr(periods, "CLOSE_GUARDS", None) if periods else None
    if guards is not None and _close_guard not in guards:
        guards.append(_close_guard)
    statements = ledger.statements_module()
    checks = getattr(statements, "PAYOUT_ACCOUNT_CHECKS", None) if statements else None
    if checks is not None and _has_payout_account not in checks:
        checks.append(_has_payout_account)


_register_hooks()
