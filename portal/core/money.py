"""Money: integer fen in the database, Decimal yuan in calculations, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")


class MoneyError(ValueError):
    pass


def to_decimal(value) -> Decimal:
    """Parse a yuan amount given as str/int/Decimal (floats are refused)."""
    if isinstance(value, float):
        raise MoneyError("floats are not accepted for money")
    if isinstance(value, Decimal):
        return value
    try:
        text = str(value).strip().replace(",", "").replace("¥", "")
        result = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"not an amount: {value!r}") from exc
    if not result.is_finite():
        raise MoneyError(f"not an amount: {value!r}")
    return result


def round_fen(amount: Decimal) -> Decimal:
    """Round half-up to the fen."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def yuan_to_fen(amount) -> int:
    """Exact yuan amount → integer fen, rounding half-up."""
    return int(round_fen(to_decimal(amount)) * 100)


def fen_to_yuan(fen: int | None) -> Decimal:
    if fen is None:
        return Decimal("0.00")
    return (Decimal(int(fen)) / 100).quantize(FEN)


def format_fen(fen: int | None, symbol: str = "¥") -> str:
    """`123456` → `¥1,234.56`; negative amounts as `-¥1,234.56`."""
    value = fen_to_yuan(fen or 0)
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.2f}"


def format_yuan(amount: Decimal, symbol: str = "¥") -> str:
    return format_fen(int(round_fen(amount) * 100), symbol)
