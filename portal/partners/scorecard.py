"""The agency scorecard (SPEC §3) and its grade recommendation.

Other features contribute metrics by registering a source:

    from portal.partners.scorecard import register_scorecard_source

    @register_scorecard_source
    def lead_metrics(agency, today):          # today: a date in Asia/Shanghai
        return {"leads_registered_90d": 12, "lead_approval_rate": Decimal("0.75")}

A source returns a dict of metric key → value (int, Decimal or None). A metric that no source
provides — or that a source gives as None (e.g. a rate with nothing to divide by) — is *not
applicable*: it is shown as 0 (counts and amounts) or "–" (rates and averages) and it is left out
of the recommendation. The scorecard never invents numbers.

`THRESHOLDS` is the one place where the recommendation rules live (see docs/partners.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from portal.partners.models import Grade

log = logging.getLogger(__name__)

COUNT, RATIO, MONEY_FEN, AVERAGE = "count", "ratio", "money_fen", "average"


@dataclass(frozen=True)
class Metric:
    key: str
    label: object
    kind: str  # COUNT, RATIO (0..1), MONEY_FEN (integer fen), AVERAGE (e.g. 1..5)
    provider: str  # which feature is expected to provide it (documentation only)


METRICS: list[Metric] = [
    Metric("leads_registered_90d", _l("Leads registered (90 days)"), COUNT, "leads"),
    Metric("lead_approval_rate", _l("Lead approval rate"), RATIO, "leads"),
    Metric("conversion_rate", _l("Conversion to activation"), RATIO, "leads/commissions"),
    Metric("activations_90d", _l("Activations (90 days)"), COUNT, "commissions"),
    Metric("revenue_90d_fen", _l("Revenue (90 days)"), MONEY_FEN, "commissions"),
    Metric(
        "early_churn_share", _l("Early churn (terminated within the clawback window)"), RATIO, "commissions"
    ),
    Metric("open_disputes", _l("Open disputes"), COUNT, "commissions"),
    Metric("satisfaction_avg", _l("Customer satisfaction (average of 5)"), AVERAGE, "enablement"),
    Metric("complaint_count_90d", _l("Complaints (90 days)"), COUNT, "enablement"),
    Metric("certification_coverage", _l("Sales staff certified"), RATIO, "enablement"),
]
METRIC_KEYS = {m.key for m in METRICS}

MIN, MAX = "min", "max"

# The grade recommendation. For each grade above bronze: metric → (MIN|MAX, bound). An agency is
# recommended the highest grade all of whose *applicable* thresholds it meets; otherwise bronze.
# When no metric with a threshold is applicable there is no recommendation (not enough data).
THRESHOLDS: dict[Grade, dict[str, tuple[str, Decimal]]] = {
    Grade.GOLD: {
        "lead_approval_rate": (MIN, Decimal("0.70")),
        "conversion_rate": (MIN, Decimal("0.30")),
        "activations_90d": (MIN, Decimal(50)),
        "revenue_90d_fen": (MIN, Decimal(5_000_000)),  # ¥50,000.00
        "early_churn_share": (MAX, Decimal("0.05")),
        "open_disputes": (MAX, Decimal(0)),
        "satisfaction_avg": (MIN, Decimal("4.5")),
        "complaint_count_90d": (MAX, Decimal(1)),
        "certification_coverage": (MIN, Decimal("0.80")),
    },
    Grade.SILVER: {
        "lead_approval_rate": (MIN, Decimal("0.50")),
        "conversion_rate": (MIN, Decimal("0.15")),
        "activations_90d": (MIN, Decimal(10)),
        "revenue_90d_fen": (MIN, Decimal(1_000_000)),  # ¥10,000.00
        "early_churn_share": (MAX, Decimal("0.15")),
        "open_disputes": (MAX, Decimal(2)),
        "satisfaction_avg": (MIN, Decimal("4.0")),
        "complaint_count_90d": (MAX, Decimal(5)),
        "certification_coverage": (MIN, Decimal("0.50")),
    },
}
GRADE_ORDER = [Grade.GOLD, Grade.SILVER]  # checked in this order; bronze is the floor

SCORECARD_SOURCES: list[Callable[[object, date], dict]] = []


def register_scorecard_source(fn: Callable[[object, date], dict]) -> Callable:
    """Add a metric source (usable as a decorator); the same function is added once."""
    if fn not in SCORECARD_SOURCES:
        SCORECARD_SOURCES.append(fn)
    return fn


@dataclass
class MetricValue:
    metric: Metric
    value: object | None  # None: not applicable

    @property
    def applicable(self) -> bool:
        return self.value is not None


@dataclass
class Check:
    grade: Grade
    key: str
    op: str
    bound: Decimal
    value: Decimal | None

    @property
    def applicable(self) -> bool:
        return self.value is not None

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.bound if self.op == MIN else self.value <= self.bound


@dataclass
class Scorecard:
    values: list[MetricValue]
    checks: list[Check]
    recommendation: Grade | None

    def value(self, key: str):
        for v in self.values:
            if v.metric.key == key:
                return v.value
        raise KeyError(key)


def collect(agency, today: date) -> dict:
    """Metric key → value from every source; later sources win; unknown keys are ignored."""
    values: dict = {}
    for source in SCORECARD_SOURCES:
        try:
            provided = source(agency, today) or {}
        except Exception:
            log.exception("scorecard source %s failed", getattr(source, "__name__", source))
            continue
        for key, value in provided.items():
            if key in METRIC_KEYS:
                values[key] = value
    return values


def recommend(values: dict) -> tuple[Grade | None, list[Check]]:
    """The recommended grade for metric `values` (key → number or None) and every check made."""
    checks: list[Check] = []
    for grade in GRADE_ORDER:
        for key, (op, bound) in THRESHOLDS[grade].items():
            raw = values.get(key)
            checks.append(Check(grade, key, op, bound, None if raw is None else Decimal(raw)))
    if not any(c.applicable for c in checks):
        return None, checks
    for grade in GRADE_ORDER:
        if all(c.met for c in checks if c.grade == grade and c.applicable):
            return grade, checks
    return Grade.BRONZE, checks


def compute(agency, today: date) -> Scorecard:
    """The scorecard of `agency` as of `today` (Asia/Shanghai date)."""
    values = collect(agency, today)
    grade, checks = recommend(values)
    return Scorecard(
        values=[MetricValue(m, values.get(m.key)) for m in METRICS], checks=checks, recommendation=grade
    )
