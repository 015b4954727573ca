"""Pure calculations of enablement: quiz scores, certification validity, satisfaction
averages and the quality signals reported to the agency scorecard. No database, no Flask."""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

EXPIRY_NOTICE_DAYS = 30
DEFAULT_VALIDITY_MONTHS = 12


@dataclass(frozen=True)
class QuizResult:
    correct: int
    total: int
    pass_mark: int  # percent

    @property
    def percent(self) -> int:
        """The score in whole percent, rounded half up (for display)."""
        if not self.total:
            return 0
        return int((Decimal(self.correct) * 100 / self.total).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def passed(self) -> bool:
        """Exact comparison, no rounding: 3 of 4 right passes a 75 % mark, 2 of 3 fails 67 %."""
        return self.total > 0 and self.correct * 100 >= self.pass_mark * self.total


def score_quiz(
    correct_answers: Mapping[int, int], given: Mapping[int, int | None], pass_mark: int
) -> QuizResult:
    """`correct_answers`: question id → index of the right option; `given`: question id → the
    chosen index (missing or None counts as wrong)."""
    correct = sum(1 for qid, right in correct_answers.items() if given.get(qid) == right)
    return QuizResult(correct=correct, total=len(correct_answers), pass_mark=pass_mark)


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the end of a shorter month (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def certification_valid_until(certified_on: date, months: int) -> date:
    """The last day (inclusive) of a certification earned on `certified_on`: one day before the
    same calendar day `months` later (certified 2026-03-15 for 12 months → valid through 2027-03-14)."""
    return add_months(certified_on, months) - timedelta(days=1)


def is_current(valid_until: date, today: date) -> bool:
    return today <= valid_until


def needs_expiry_notice(
    valid_until: date, today: date, already_notified_for: date | None, days: int = EXPIRY_NOTICE_DAYS
) -> bool:
    """True once per validity period, from `days` days before its last day until that day."""
    if already_notified_for == valid_until:
        return False
    return today <= valid_until <= today + timedelta(days=days)


def average(values: Iterable[int | Decimal]) -> Decimal | None:
    """The mean to two decimals, rounded half up; None when there is nothing to average."""
    values = [Decimal(v) for v in values]
    if not values:
        return None
    return (sum(values) / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def coverage(covered: int, required: int) -> Decimal | None:
    """`covered` / `required` as a share (0.00–1.00); None when there is nothing to cover."""
    if required <= 0:
        return None
    return (Decimal(covered) / required).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
