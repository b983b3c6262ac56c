"""Pre-trade checks: every order passes here after sizing and before it can leave.

Each check answers with a RiskDecision naming itself and, when it blocks, why. The first block
wins. Exits that reduce exposure pass every check except the kill switch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..config.settings import RiskSettings
from ..domain import OrderRequest
from ..domain.money import ZERO, fmt
from .exposure import increases_exposure
from .guards.manager import Restrictions
from .guards.runtime import herfindahl
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
    restrictions: Restrictions = field(default_factory=Restrictions)


class PreTradeRisk:
    def __init__(self, settings: RiskSettings) -> None:
        self.settings = settings

    def check(self, request: OrderRequest, ctx: RiskContext) -> RiskDecision:
        if ctx.modes.kill_switch:
            return RiskDecision(False, "kill_switch", "kill switch is on: no orders at all")
        adds = increases_exposure(request.side, request.base_size, ctx.position_qty)
        if not adds:
            return RiskDecision.ok()
        if request.reduce_only:
            return RiskDecision(False, "reduce_only", "reduce-only order would increase exposure")
        limits = ctx.restrictions
        if ctx.modes.reduce_only or limits.reduce_only:
            why = ctx.modes.reason or limits.reasons.get("reduce_only", "")
            return RiskDecision(
                False,
                "reduce_only",
                "reduce-only mode: order would add exposure" + (f" ({why})" if why else ""),
            )
        if ctx.modes.halted or limits.halted:
            reason = ctx.modes.reason or limits.reasons.get("halted") or "trading halted"
            return RiskDecision(False, "halted", f"{reason}: no new exposure")
        if limits.block_all_symbols or request.symbol in limits.blocked_symbols:
            why = limits.reasons.get("market_data_staleness", "")
            return RiskDecision(
                False, "market_data_staleness", f"{request.symbol}: market data stale ({why})"
            )
        if limits.block_new_positions and ctx.position_qty == ZERO:
            return RiskDecision(
                False,
                "position_count",
                f"no new positions: {limits.reasons.get('position_count', '')}",
            )
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
        if limits.block_concentration:
            after = dict(ctx.exposures)
            after[request.symbol] = symbol_after
            if herfindahl(after) > herfindahl(ctx.exposures):
                return RiskDecision(
                    False,
                    "concentration",
                    f"order would raise concentration ({limits.reasons.get('concentration', '')})",
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
