"""Market data value types: quotes, book levels, candles."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .money import MAX_PRICE, ZERO, is_sane_amount

TWO = Decimal(2)


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid/ask and last trade for one product at one moment (``time`` is the venue's)."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    time: datetime
    bid_size: Decimal = ZERO
    ask_size: Decimal = ZERO

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / TWO

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid

    def is_sane(self) -> bool:
        prices = (self.bid, self.ask, self.last)
        if not all(is_sane_amount(p, MAX_PRICE) for p in prices):
            return False  # NaN would raise on comparison; inf or 1e30 is no price
        return self.bid > ZERO and self.ask >= self.bid and self.last > ZERO


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    symbol: str
    bids: tuple[BookLevel, ...]  # best first (highest price)
    asks: tuple[BookLevel, ...]  # best first (lowest price)
    time: datetime


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar; ``start`` is the bar's open time (aware UTC), volume in base currency."""

    symbol: str
    start: datetime
    granularity_s: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def problems(self) -> list[str]:
        """What is wrong with this bar, if anything (empty list when it is sane)."""
        issues: list[str] = []
        if min(self.open, self.high, self.low, self.close) <= ZERO:
            issues.append("non-positive price")
        if self.high < max(self.open, self.close, self.low):
            issues.append("high below open/close/low")
        if self.low > min(self.open, self.close, self.high):
            issues.append("low above open/close/high")
        if self.volume < ZERO:
            issues.append("negative volume")
        return issues
