"""Tradable products with Coinbase-style increments and minimums."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from .money import ZERO

SPOT_SYMBOL = re.compile(r"^[A-Z0-9]{2,10}-[A-Z]{3,5}$")
PERP_SYMBOL = re.compile(r"^[A-Z0-9]{2,10}-(PERP|INTX)$|^[A-Z0-9]{2,10}-PERP-INTX$")


class ProductType(StrEnum):
    SPOT = "SPOT"
    # Coinbase reports perpetuals as product_type FUTURE with contract_expiry_type PERPETUAL
    PERP = "FUTURE"


def is_perp_symbol(symbol: str) -> bool:
    return "-PERP" in symbol or symbol.endswith("-INTX")


def validate_symbol(symbol: str) -> str:
    """Return the canonical (upper-case) symbol or raise ValueError saying what is wrong."""
    canonical = symbol.strip().upper()
    if SPOT_SYMBOL.match(canonical) or PERP_SYMBOL.match(canonical):
        return canonical
    raise ValueError(f"malformed symbol {symbol!r} (expected BASE-QUOTE such as BTC-USD)")


@dataclass(frozen=True, slots=True)
class Product:
    symbol: str
    base_currency: str
    quote_currency: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    base_max_size: Decimal
    min_notional: Decimal  # Coinbase's quote_min_size
    product_type: ProductType = ProductType.SPOT
    trading_disabled: bool = False
    limit_only: bool = False
    post_only: bool = False

    @property
    def is_perp(self) -> bool:
        return self.product_type is ProductType.PERP

    def __post_init__(self) -> None:
        for name in ("base_increment", "quote_increment"):
            if getattr(self, name) <= ZERO:
                raise ValueError(f"{self.symbol}: {name} must be positive")
        if self.base_min_size < ZERO or self.min_notional < ZERO:
            raise ValueError(f"{self.symbol}: minimums must not be negative")
