"""Fills, positions and balances."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .money import ZERO
from .orders import OrderSide


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str  # the venue's trade/entry id: unique, so applying a fill twice is detectable
    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    time: datetime

    @property
    def notional(self) -> Decimal:
        return self.price * self.size

    @property
    def cash_flow(self) -> Decimal:
        """What the fill moved in the quote currency: a sell receives its notional less the fee,
        a buy pays both (negative)."""
        notional = self.notional
        return notional - self.fee if self.side is OrderSide.SELL else -notional - self.fee


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    available: Decimal
    hold: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.available + self.hold


@dataclass(frozen=True, slots=True)
class Position:
    """Net position in one product: ``quantity`` is signed (spot positions are never short).

    ``realized_pnl`` is before fees; ``fees`` accumulates what the fills cost."""

    symbol: str
    quantity: Decimal = ZERO
    avg_entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def is_flat(self) -> bool:
        return self.quantity == ZERO

    def notional(self, mark: Decimal) -> Decimal:
        return abs(self.quantity) * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        return (mark - self.avg_entry_price) * self.quantity

    def apply_fill(self, fill: Fill) -> Position:
        """The position after ``fill``: adds at a weighted average, realizes PnL on reductions,
        and re-opens at the fill price when a fill flips the sign."""
        signed = fill.size * fill.side.sign
        qty = self.quantity
        fees = self.fees + fill.fee
        if qty == ZERO or (qty > ZERO) == (signed > ZERO):
            new_qty = qty + signed
            avg = (self.avg_entry_price * abs(qty) + fill.price * fill.size) / abs(new_qty)
            return replace(self, quantity=new_qty, avg_entry_price=avg, fees=fees)
        closed = min(abs(qty), fill.size)
        direction = Decimal(1) if qty > ZERO else Decimal(-1)
        realized = self.realized_pnl + (fill.price - self.avg_entry_price) * closed * direction
        new_qty = qty + signed
        if new_qty == ZERO:
            avg = ZERO
        elif (new_qty > ZERO) == (qty > ZERO):
            avg = self.avg_entry_price
        else:
            avg = fill.price
        return replace(
            self, quantity=new_qty, avg_entry_price=avg, realized_pnl=realized, fees=fees
        )


def positions_from_fills(fills: list[Fill]) -> dict[str, Position]:
    """Rebuild positions by replaying fills in time order (position = sum of fills)."""
    positions: dict[str, Position] = {}
    for fill in sorted(fills, key=lambda f: (f.time, f.fill_id)):
        current = positions.get(fill.symbol) or Position(fill.symbol)
        positions[fill.symbol] = current.apply_fill(fill)
    return positions
