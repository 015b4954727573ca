"""The "What you earn" panel of the product page, filled by the commission engine.

The catalog knows nothing of commission plans; the commissions package registers a provider:

    from catalog.earnings import register_earnings_provider

    def preview(product, agency, on_date):   # -> dict | None (None: no rule applies)
        return {"one_off_fen": 5000, "revenue_share_rate": Decimal("0.08"),
                "revenue_share_months": 12, "referral_bounty_fen": 20000,
                "grade": "silver", "rule": "2026 plan"}
    register_earnings_provider(preview)

Known keys (all optional): `one_off_fen` (one-off per unit, fen), `revenue_share_rate`
(Decimal fraction, 0.08 = 8 %), `revenue_share_months`, `referral_bounty_fen`, `grade`, `rule`
(a name of the rule in force), `lines` (extra rows: a list of `(label, text)` pairs already
translated). The page shows "No commission rule yet" when there is no provider or every
provider answers None.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

EarningsProvider = Callable[[object, object, date], "dict | None"]

_PROVIDERS: list[EarningsProvider] = []


def register_earnings_provider(fn: EarningsProvider) -> EarningsProvider:
    """Register `fn(product, agency, on_date) -> dict | None`. Registering twice is harmless.
    Usable as a decorator."""
    if fn not in _PROVIDERS:
        _PROVIDERS.append(fn)
    return fn


def unregister_earnings_provider(fn: EarningsProvider) -> None:
    if fn in _PROVIDERS:
        _PROVIDERS.remove(fn)


def earnings_for(product, agency, on_date: date) -> dict | None:
    """What `agency` would earn on `product` under the rule in force on `on_date`, from the
    last registered provider that answers; None when no rule applies."""
    for provider in reversed(_PROVIDERS):
        answer = provider(product, agency, on_date)
        if answer:
            return dict(answer)
    return None
