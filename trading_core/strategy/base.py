"""The strategy interface: prices in, one signal per symbol out. Strategies never place orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol


class Action(StrEnum):
    HOLD = "HOLD"
    BUY = "BUY"  # open or add to a long
    SELL = "SELL"  # close the long (spot is long-only)


@dataclass(frozen=True, slots=True)
class Signal:
    symbol: str
    action: Action
    reason: str
    price: Decimal


class Strategy(Protocol):
    name: str

    def on_price(self, symbol: str, price: Decimal, now: datetime) -> None:
        """Take one new price sample for ``symbol`` (one per cycle)."""
        ...

    def decide(self, symbol: str, position_qty: Decimal, mark: Decimal) -> Signal:
        """What to do about ``symbol`` given the current position and mark price."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state, so a restart continues where it left off."""
        ...

    def restore(self, state: dict[str, Any]) -> None: ...
