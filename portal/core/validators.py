"""Identifiers of the mainland: the unified social credit code (GB 32100-2015) and mobile numbers."""

from __future__ import annotations

import re

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def uscc_check_character(first17: str) -> str:
    """The 18th character of a USCC whose first 17 characters are given."""
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def normalise_uscc(value: str) -> str:
    return (value or "").strip().upper()


def uscc_problem(value: str) -> str | None:
    """None when `value` is a valid USCC, else a short English reason key:
    'length', 'characters' or 'check'."""
    code = normalise_uscc(value)
    if len(code) != 18:
        return "length"
    if not _USCC_RE.match(code):
        return "characters"
    if uscc_check_character(code[:17]) != code[17]:
        return "check"
    return None


def is_valid_uscc(value: str) -> bool:
    return uscc_problem(value) is None


def normalise_mobile(value: str) -> str:
    digits = re.sub(r"[\s-]", "", value or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits


def is_valid_mobile(value: str) -> bool:
    """Mainland mobile: 11 digits starting with 1[3-9] (an optional +86 and spaces are accepted)."""
    return bool(_MOBILE_RE.match(normalise_mobile(value)))
