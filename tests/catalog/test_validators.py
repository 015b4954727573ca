"""USCC (GB 32100-2015) validation as used by the catalog's customers."""

from __future__ import annotations

import pytest

from catalog import operations as ops
from portal.core.validators import is_valid_uscc, uscc_check_character, uscc_problem

# Codes in the published format; the worked example below shows the first one's check character.
VALID = ["91350100M000100Y43", "91110108551385082Q", "911101087220957449"]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes(code):
    assert is_valid_uscc(code)
    assert uscc_check_character(code[:17]) == code[17]


def test_check_character_worked_example():
    # 9 1 3 5 0 1 0 0 M 0 0 0 1 0 0 Y 4: Σ value×weight = 1640; 1640 mod 31 = 28; 31 − 28 = 3 → '3'
    first17 = "91350100M000100Y4"
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(alphabet.index(c) * w for c, w in zip(first17, weights, strict=True))
    assert total == 1640
    assert alphabet[(31 - total % 31) % 31] == uscc_check_character(first17) == "3"


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y44", "check"),  # wrong check character
        ("91350100M000100Y4", "length"),  # 17 characters
        ("91350100M000100Y433", "length"),
        ("91350100M000100I43", "characters"),  # I is not in the alphabet
        ("91350100M000100O43", "characters"),
        ("91350100M000100S43", "characters"),
        ("", "length"),
    ],
)
def test_invalid_codes(code, problem):
    assert uscc_problem(code) == problem
    assert not is_valid_uscc(code)


def test_lower_case_and_spaces_are_normalised():
    assert is_valid_uscc(" 91110108551385082q ")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350100M000100Y44", "check character"),
        ("123", "18 characters"),
        ("91350100M000100I43", "letters"),
    ],
)
def test_customer_operation_refuses_invalid_codes_with_a_clear_message(app_ctx, code, fragment):
    data = ops.CustomerData(
        uscc=code,
        name="x",
        industry="other",
        region_id=None,
        monthly_spend_fen=0,
        members=0,
        strategic=False,
        account_manager_id=None,
    )
    with pytest.raises(ops.CatalogError) as info:
        ops.clean_customer_data(data)
    assert info.value.field == "uscc"
    assert fragment in info.value.message.english
