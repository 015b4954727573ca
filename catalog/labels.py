"""Display names of the catalog's codes (categories, industries, scores, tiers), translated."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

CATEGORY_LABELS = {
    "messaging": _l("Messaging"),
    "voice": _l("Voice"),
    "email": _l("E-mail"),
    "media": _l("Media"),
    "terminal": _l("Terminals"),
    "access": _l("Access and lines"),
    "hosting": _l("Hosting"),
}

INDUSTRY_LABELS = {
    "government": _l("Government"),
    "finance": _l("Banking and finance"),
    "education": _l("Education"),
    "healthcare": _l("Healthcare"),
    "manufacturing": _l("Manufacturing"),
    "logistics": _l("Logistics"),
    "retail": _l("Retail"),
    "hospitality": _l("Hospitality"),
    "construction": _l("Construction"),
    "agriculture": _l("Agriculture"),
    "other": _l("Other"),
}

SCORE_LABELS = {
    "module_complexity": _l("Functional-module complexity"),
    "market_exclusivity": _l("Market exclusivity"),
    "training_requirement": _l("Service-training requirement"),
}

INDICATOR_LABELS = {
    "monthly_spend": _l("Monthly spend"),
    "members": _l("Members"),
    "industry": _l("Industry"),
    "strategic": _l("Strategic customer"),
}

TIER_LABELS = {
    "low": _l("Low complexity"),
    "high": _l("High complexity"),
}

STATUS_LABELS = {
    "active": _l("Active"),
    "retired": _l("Retired"),
}


def category_label(code: str) -> str:
    return str(CATEGORY_LABELS.get(code, code))


def industry_label(code: str) -> str:
    return str(INDUSTRY_LABELS.get(code, code))


def label_of(mapping: dict, value) -> str:
    key = getattr(value, "value", value)
    return str(mapping.get(key, key))
