"""List prices in yuan become exact fen (Decimal, never float), for any amount with two decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog import operations as ops


@given(st.integers(min_value=0, max_value=10**11))
def test_any_two_decimal_amount_is_exact(fen):
    text = f"{Decimal(fen) / 100:.2f}"
    assert ops.parse_price_fen(text, "monthly_price") == fen
    assert ops.parse_price_fen(f"¥{Decimal(fen) / 100:,.2f}", "monthly_price") == fen


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0", 0), ("", 0), ("0.1", 10), ("2000.00", 200000), ("3,000", 300000), ("0.29", 29), ("1e2", 10000)],
)
def test_examples(text, fen):
    assert ops.parse_price_fen(text, "p") == fen


@pytest.mark.parametrize("text", ["-1", "0.001", "abc", "NaN", "Infinity", "1.2.3", "99999999999.99"])
def test_refused(text):
    with pytest.raises(ops.CatalogError):
        ops.parse_price_fen(text, "p")
