"""The commission arithmetic of SPEC §5.4, pure: Decimal in, Decimal out, no database.

The set-based engine (commissions.engine) computes the same amounts in SQL with scaled
integers; tests check both agree. Every amount is exact until it is rounded half-up to the fen,
once per line.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from portal.core.money import round_fen

RATE_PLACES = 6
MULT_PLACES = 4
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PlanValueError(ValueError):
    pass


# --- periods ------------------------------------------------------------------------------------

def parse_period(text: str) -> str:
    text = (text or "").strip()
    if not _PERIOD_RE.match(text):
        raise PlanValueError(f"not a period (YYYY-MM): {text!r}")
    return text


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def period_bounds(period: str) -> tuple[date, date]:
    year, month = int(period[:4]), int(period[5:7])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def previous_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def period_number(period: str) -> int:
    """Months since year 0: month arithmetic as integers (used in SQL too)."""
    return int(period[:4]) * 12 + int(period[5:7]) - 1


def month_index(activation_day: date, period: str) -> int:
    """m = months from the activation month to P, plus 1 (the activation month is m = 1)."""
    return period_number(period) - (activation_day.year * 12 + activation_day.month - 1) + 1


# --- exact values -------------------------------------------------------------------------------

def _decimal(value, places: int, what: str) -> Decimal:
    if isinstance(value, float):
        raise PlanValueError(f"{what}: floats are not accepted")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise PlanValueError(f"{what}: not a number: {value!r}") from exc
    if not result.is_finite() or result < 0:
        raise PlanValueError(f"{what}: must be a number ≥ 0: {value!r}")
    if -result.as_tuple().exponent > places and result != result.quantize(Decimal(1).scaleb(-places)):
        raise PlanValueError(f"{what}: at most {places} decimal places: {value!r}")
    return result


def parse_rate(value, what: str = "rate") -> Decimal:
    rate = _decimal(value, RATE_PLACES, what)
    if rate > 1:
        raise PlanValueError(f"{what}: a rate is between 0 and 1: {value!r}")
    return rate


def parse_multiplier(value, what: str = "multiplier") -> Decimal:
    mult = _decimal(value, MULT_PLACES, what)
    if mult > 10:
        raise PlanValueError(f"{what}: at most 10: {value!r}")
    return mult


def parse_yuan(value, what: str = "amount") -> Decimal:
    return _decimal(value, 2, what)


def rate_to_u(rate: Decimal) -> int:
    return int(rate * 10**RATE_PLACES)


def u_to_rate(units: int | None) -> Decimal:
    return Decimal(int(units or 0)).scaleb(-RATE_PLACES)


def mult_to_u(mult: Decimal) -> int:
    return int(mult * 10**MULT_PLACES)


def u_to_mult(units: int | None) -> Decimal:
    return Decimal(int(units or 0)).scaleb(-MULT_PLACES)


def yuan_to_fen_exact(amount: Decimal) -> int:
    return int(round_fen(amount) * 100)


# --- the components -------------------------------------------------------------------------------

def one_off_amount(quantity: int, one_off_per_unit: Decimal, one_time_fee: Decimal, one_off_rate: Decimal,
                   multiplier: Decimal) -> Decimal:
    """(quantity × one_off_per_unit + one_time_fee × one_off_rate) × multiplier, to the fen."""
    return round_fen((Decimal(quantity) * one_off_per_unit + one_time_fee * one_off_rate) * multiplier)


def share_amount(paid: Decimal, share_rate: Decimal, multiplier: Decimal) -> Decimal:
    """paid_amount × share_rate × multiplier, to the fen."""
    return round_fen(paid * share_rate * multiplier)


def share_applies(activation_day: date, period: str, share_months: int) -> bool:
    m = month_index(activation_day, period)
    return 1 <= m <= share_months


def referral_amount(referral_bounty: Decimal, multiplier: Decimal) -> Decimal:
    return round_fen(referral_bounty * multiplier)


def clawback_applies(activation_day: date, termination_day: date | None, clawback_days: int) -> bool:
    """Terminated fewer than clawback_days days after activation."""
    return termination_day is not None and (termination_day - activation_day).days < clawback_days


def clawback_amount(original_amount: Decimal) -> Decimal:
    return -original_amount


def payable_split(available: Decimal, min_payout: Decimal, may_pay: bool) -> tuple[Decimal, Decimal]:
    """(payable, carried) of SPEC §5.5."""
    if may_pay and available >= min_payout:
        return available, Decimal("0.00")
    return Decimal("0.00"), available
