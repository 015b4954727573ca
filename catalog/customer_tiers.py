"""Value assessment of group customers (集团客户价值评估): the ONE place where the indicators,
their weights, the key-industry bonus and the tier thresholds are configured.

Score = Σ weight × rating / 100 (rounded half-up to a whole point) + bonus.

- Each indicator gives a rating from 0 to 100 by the bands below; weights are percentages
  that add up to 100, so the weighted part is 0–100.
- Customers in a key industry (government, finance, education, healthcare) get
  `KEY_INDUSTRY_BONUS` extra points (so the score may reach 110).
- The tier is the first of A, B, C whose threshold the score reaches, else D.

`assess()` is pure: integers and Decimals in, an `Assessment` out, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from catalog.models import CustomerTier

# --- indicators and weights (percent; they add up to 100) ---------------------------------------
WEIGHTS = {
    "monthly_spend": 40,  # the customer's monthly spend with the operator
    "members": 25,  # number of member lines / employees covered
    "industry": 15,  # how much the customer's industry buys group ICT products
    "strategic": 20,  # flagged strategic by the operator (government projects, flagship brands…)
}

# Monthly spend bands in fen (lower bound inclusive) → rating.
MONTHLY_SPEND_BANDS = [
    (100_000_00, 100),  # ≥ ¥100,000 a month
    (30_000_00, 75),  # ≥ ¥30,000
    (10_000_00, 50),  # ≥ ¥10,000
    (3_000_00, 25),  # ≥ ¥3,000
    (0, 0),
]
# Members bands (lower bound inclusive) → rating.
MEMBERS_BANDS = [
    (1000, 100),
    (300, 75),
    (100, 50),
    (20, 25),
    (0, 0),
]
# Industry → rating. Unknown industries rate as "other".
INDUSTRY_RATINGS = {
    "government": 100,
    "finance": 100,
    "education": 75,
    "healthcare": 75,
    "manufacturing": 75,
    "logistics": 50,
    "retail": 50,
    "hospitality": 50,
    "construction": 50,
    "agriculture": 25,
    "other": 25,
}
# Strategic flag → rating.
STRATEGIC_RATING = {True: 100, False: 0}

# --- key-industry bonus ---------------------------------------------------------------------------
KEY_INDUSTRIES = frozenset({"government", "finance", "education", "healthcare"})
KEY_INDUSTRY_BONUS = 10

# --- tier thresholds (lowest score of the tier) -----------------------------------------------------
THRESHOLDS = [
    (CustomerTier.A, 80),
    (CustomerTier.B, 60),
    (CustomerTier.C, 35),
]
LOWEST_TIER = CustomerTier.D

INDUSTRIES = list(INDUSTRY_RATINGS)

assert sum(WEIGHTS.values()) == 100, "the weights must add up to 100"


@dataclass(frozen=True)
class Assessment:
    score: int
    tier: CustomerTier
    ratings: dict = field(default_factory=dict)  # indicator → rating 0–100
    bonus: int = 0


def _band(value: int, bands: list[tuple[int, int]]) -> int:
    for lower, rating in bands:
        if value >= lower:
            return rating
    return 0


def tier_for_score(score: int) -> CustomerTier:
    for tier, lowest in THRESHOLDS:
        if score >= lowest:
            return tier
    return LOWEST_TIER


def assess(monthly_spend_fen: int, members: int, industry: str, strategic: bool) -> Assessment:
    """The value-assessment score and tier of a customer with these indicators."""
    industry = (industry or "other").strip().lower()
    ratings = {
        "monthly_spend": _band(int(monthly_spend_fen or 0), MONTHLY_SPEND_BANDS),
        "members": _band(int(members or 0), MEMBERS_BANDS),
        "industry": INDUSTRY_RATINGS.get(industry, INDUSTRY_RATINGS["other"]),
        "strategic": STRATEGIC_RATING[bool(strategic)],
    }
    weighted = sum(Decimal(WEIGHTS[k]) * Decimal(r) for k, r in ratings.items()) / Decimal(100)
    bonus = KEY_INDUSTRY_BONUS if industry in KEY_INDUSTRIES else 0
    score = int(weighted.quantize(Decimal(1), rounding=ROUND_HALF_UP)) + bonus
    return Assessment(score=score, tier=tier_for_score(score), ratings=ratings, bonus=bonus)


def assess_customer(customer) -> Assessment:
    return assess(customer.monthly_spend_fen, customer.members, customer.industry, customer.strategic)
