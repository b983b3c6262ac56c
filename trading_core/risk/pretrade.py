"""Pre-trade checks: every order passes here after sizing and before it can leave.

Each check answers with a RiskDecision naming itself and, when it blocks, why. The first block
wins. Exits that reduce exposure pass every check except the kill switch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ..config.settings import RiskSettings
from ..domain import OrderRequest, OrderSide
from ..domain.money import ZERO, fmt
from .modes import TradingModes


@dataclass(frozen=True, slots=True)
class RiskDecision:
    allowed: bool
    check: str
    reason: str = ""

    @classmethod
    def ok(cls) -> RiskDecision:
        return cls(True, "all")


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the checks need to know about the account at decision time."""

    equity: Decimal
    price: Decimal  # the price the order is expected to trade at
    position_qty: Decimal  # signed base quantity held in the order's symbol
    exposures: Mapping[str, Decimal]  # absolute notional per symbol, at current marks
    modes: TradingModes


def increases_exposure(request: OrderRequest, position_qty: Decimal) -> bool:
    """True unless the order only shrinks the current position toward flat (never flips it)."""
    size = request.base_size
    if request.side is OrderSide.BUY:
        return not (position_qty < ZERO and size is not None and size <= -position_qty)
    return not (position_qty > ZERO and size is not None and size <= position_qty)


class PreTradeRisk:
    def __init__(self, settings: RiskSettings) -> None:
        self.settings = settings

    def check(self, request: OrderRequest, ctx: RiskContext) -> RiskDecision:
        if ctx.modes.kill_switch:
            return RiskDecision(False, "kill_switch", "kill switch is on: no orders at all")
        adds = increases_exposure(request, ctx.position_qty)
        if not adds:
            return RiskDecision.ok()
        if request.reduce_only:
            return RiskDecision(False, "reduce_only", "reduce-only order would increase exposure")
        if ctx.modes.reduce_only:
            return RiskDecision(False, "reduce_only", "reduce-only mode: order would add exposure")
        if ctx.modes.halted:
            reason = ctx.modes.reason or "trading halted"
            return RiskDecision(False, "halted", f"{reason}: no new exposure")
        if ctx.equity <= ZERO:
            return RiskDecision(False, "equity", "equity is not positive")
        notional = self._notional(request, ctx.price)
        current = ctx.exposures.get(request.symbol, ZERO)
        symbol_after = current + notional
        cap = self.settings.max_symbol_notional
        if symbol_after > cap:
            return RiskDecision(
                False,
                "symbol_notional_cap",
                f"{request.symbol} notional {fmt(symbol_after.quantize(Decimal('0.01')))} "
                f"would exceed the cap {fmt(cap)}",
            )
        position_cap = ctx.equity * self.settings.max_position_pct
        if symbol_after > position_cap:
            return RiskDecision(
                False,
                "max_position_pct",
                f"{request.symbol} would be {symbol_after / ctx.equity:.2%} of equity "
                f"(cap {self.settings.max_position_pct:.2%})",
            )
        total_after = sum(ctx.exposures.values(), ZERO) + notional
        if total_after > ctx.equity * self.settings.max_exposure_pct:
            return RiskDecision(
                False,
                "max_exposure",
                f"total exposure would be {total_after / ctx.equity:.2%} of equity "
                f"(cap {self.settings.max_exposure_pct:.2%})",
            )
        return RiskDecision.ok()

    @staticmethod
    def _notional(request: OrderRequest, price: Decimal) -> Decimal:
        if request.quote_size is not None:
            return request.quote_size
        reference = request.limit_price if request.limit_price is not None else price
        return (request.base_size or ZERO) * reference
