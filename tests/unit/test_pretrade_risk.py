"""Pre-trade checks: kill switch, reduce-only, exposure and per-symbol caps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading_core.config import RiskSettings
from trading_core.domain import OrderRequest, OrderSide, OrderType, TimeInForce
from trading_core.risk import PreTradeRisk, RiskContext, TradingModes

RISK = PreTradeRisk(
    RiskSettings(
        max_exposure_pct=Decimal("0.5"),
        max_position_pct=Decimal("0.3"),
        max_symbol_notional=Decimal("20000"),
    )
)


def order(side: OrderSide, size: str, symbol: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(
        "c", symbol, side, OrderType.MARKET, base_size=Decimal(size), time_in_force=TimeInForce.IOC
    )


def ctx(qty: str = "0", modes: TradingModes | None = None, **exposures: str) -> RiskContext:
    return RiskContext(
        equity=Decimal("100000"),
        price=Decimal("1000"),
        position_qty=Decimal(qty),
        exposures={k.replace("_", "-"): Decimal(v) for k, v in exposures.items()},
        modes=modes or TradingModes(),
    )


def test_normal_order_passes() -> None:
    assert RISK.check(order(OrderSide.BUY, "1"), ctx()).allowed


def test_kill_switch_blocks_everything_even_exits() -> None:
    modes = TradingModes(kill_switch=True)
    for request, qty in ((order(OrderSide.BUY, "1"), "0"), (order(OrderSide.SELL, "1"), "2")):
        decision = RISK.check(request, ctx(qty, modes))
        assert not decision.allowed and decision.check == "kill_switch"


def test_reduce_only_allows_exits_only() -> None:
    modes = TradingModes(reduce_only=True)
    assert not RISK.check(order(OrderSide.BUY, "1"), ctx("2", modes)).allowed
    assert RISK.check(order(OrderSide.SELL, "2"), ctx("2", modes)).allowed
    # selling more than held would flip (or, on spot, open a short): that adds exposure
    blocked = RISK.check(order(OrderSide.SELL, "3"), ctx("2", modes))
    assert not blocked.allowed and blocked.check == "reduce_only"


def test_halted_blocks_new_exposure() -> None:
    modes = TradingModes(halted=True, reason="error rate 30%")
    decision = RISK.check(order(OrderSide.BUY, "1"), ctx(modes=modes))
    assert not decision.allowed and "error rate" in decision.reason


@pytest.mark.parametrize(
    ("size", "exposures", "check"),
    [
        ("21", {}, "symbol_notional_cap"),  # 21k > 20k cap
        ("15", {"BTC_USD": "16000"}, "symbol_notional_cap"),
        ("10", {"ETH_USD": "45000"}, "max_exposure"),  # 55k > 50% of 100k
    ],
)
def test_caps(size: str, exposures: dict[str, str], check: str) -> None:
    decision = RISK.check(order(OrderSide.BUY, size), ctx(**exposures))
    assert not decision.allowed and decision.check == check, decision


def test_position_pct_cap() -> None:
    risk = PreTradeRisk(
        RiskSettings(max_position_pct=Decimal("0.1"), max_symbol_notional=Decimal(10**9))
    )
    decision = risk.check(order(OrderSide.BUY, "11"), ctx())
    assert not decision.allowed and decision.check == "max_position_pct"


def test_guard_restrictions() -> None:
    from trading_core.risk.guards.manager import Restrictions

    stale = Restrictions(
        blocked_symbols=frozenset({"BTC-USD"}), reasons={"market_data_staleness": "old"}
    )
    decision = RISK.check(order(OrderSide.BUY, "1"), _with(ctx(), stale))
    assert not decision.allowed and decision.check == "market_data_staleness"
    assert RISK.check(order(OrderSide.BUY, "1", "ETH-USD"), _with(ctx(), stale)).allowed
    # exits on a stale symbol still pass: they reduce exposure
    assert RISK.check(order(OrderSide.SELL, "1"), _with(ctx("2"), stale)).allowed

    crowded = Restrictions(block_new_positions=True)
    assert not RISK.check(order(OrderSide.BUY, "1"), _with(ctx(), crowded)).allowed
    assert RISK.check(order(OrderSide.BUY, "1"), _with(ctx("1", BTC_USD="1000"), crowded)).allowed

    concentrated = Restrictions(block_concentration=True)
    lopsided = ctx("1", BTC_USD="15000", ETH_USD="2000")
    adds_to_biggest = RISK.check(order(OrderSide.BUY, "1"), _with(lopsided, concentrated))
    assert not adds_to_biggest.allowed and adds_to_biggest.check == "concentration"
    spreads_out = RISK.check(order(OrderSide.BUY, "1", "ETH-USD"), _with(lopsided, concentrated))
    assert spreads_out.allowed


def _with(context: RiskContext, restrictions: object) -> RiskContext:
    from dataclasses import replace

    return replace(context, restrictions=restrictions)
