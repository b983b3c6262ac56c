"""What "adds exposure" means, in one place: pre-trade checks and guard cancels both ask it."""

from __future__ import annotations

from decimal import Decimal

from ..domain import OrderSide
from ..domain.money import ZERO


def increases_exposure(side: OrderSide, size: Decimal | None, position_qty: Decimal) -> bool:
    """True unless the order only shrinks the current position toward flat (never flips it)."""
    if side is OrderSide.BUY:
        return not (position_qty < ZERO and size is not None and size <= -position_qty)
    return not (position_qty > ZERO and size is not None and size <= position_qty)
