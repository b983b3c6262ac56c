"""Decimal helpers. Money and sizes are Decimal from the wire to the store, never float."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)
# What a venue can sensibly report: above these a number is garbage, not a market (a price of ten
# billion, an amount of a quadrillion). Bounded, every product of the two fits Decimal's 28
# digits with cents to spare, so no rounding in a cycle can overflow.
MAX_PRICE = Decimal("1e10")
MAX_AMOUNT = Decimal("1e15")


def is_sane_amount(value: Decimal, limit: Decimal = MAX_AMOUNT) -> bool:
    """A finite number whose magnitude is below ``limit``."""
    return isinstance(value, Decimal) and value.is_finite() and abs(value) < limit


def to_decimal(value: object, *, field: str = "value") -> Decimal:
    """Convert a wire value (str, int, Decimal) to Decimal; floats go through ``repr`` so
    ``0.1`` stays ``0.1``. Anything non-finite or unparsable raises ValueError naming the field."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"{field}: expected a number, got a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{field}: not a number: {value!r}") from None
    else:
        raise ValueError(f"{field}: expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{field}: not a finite number: {value!r}")
    return result


def floor_to(value: Decimal, increment: Decimal) -> Decimal:
    """Round ``value`` down to a whole multiple of ``increment``."""
    if increment <= 0:
        return value
    return (value / increment).to_integral_value(rounding=ROUND_FLOOR) * increment


def ceil_to(value: Decimal, increment: Decimal) -> Decimal:
    """Round ``value`` up to a whole multiple of ``increment``."""
    if increment <= 0:
        return value
    return (value / increment).to_integral_value(rounding=ROUND_CEILING) * increment


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    if increment <= 0:
        return True
    return (value % increment) == 0


def fmt(value: Decimal) -> str:
    """A plain (never exponent) string for logs and the wire, without needless trailing zeros."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text
