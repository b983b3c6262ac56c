"""Entry size: a fraction of equity, clamped by the per-symbol caps and the available cash."""

from __future__ import annotations

from decimal import Decimal

from ..domain.money import ZERO


def entry_notional(
    *,
    equity: Decimal,
    cash_available: Decimal,
    fraction: Decimal,
    current_notional: Decimal,
    max_symbol_notional: Decimal,
    max_position_pct: Decimal,
    taker_fee: Decimal,
) -> Decimal:
    """Quote-currency notional for a new entry (zero when nothing fits)."""
    room_symbol = max_symbol_notional - current_notional
    room_position = equity * max_position_pct - current_notional
    affordable = cash_available / (Decimal(1) + taker_fee)
    notional = min(equity * fraction, room_symbol, room_position, affordable)
    return notional if notional > ZERO else ZERO


def base_size_for(notional: Decimal, price: Decimal) -> Decimal:
    if price <= ZERO or notional <= ZERO:
        return ZERO
    return notional / price
