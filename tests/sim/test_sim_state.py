"""Saving and restoring the simulated venue: a restored engine continues exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType, StopDirection
from trading_core.domain import TimeInForce as TIF
from trading_core.jsonutil import to_jsonable
from trading_core.sim import MatchingEngine, SimulatedMarket

START = datetime(2025, 1, 1, tzinfo=UTC)
SYMBOLS = ["BTC-USD", "ETH-USD", "DOGE-USD"]


def engine_for(scenario: str = "gappy", seed: int = 21) -> MatchingEngine:
    market = SimulatedMarket(SYMBOLS, scenario, seed, START)
    return MatchingEngine(market, {"USD": Decimal("250000"), "ETH": Decimal("3")})


def roundtrip(engine: MatchingEngine, **kwargs: Any) -> MatchingEngine:
    text = json.dumps(to_jsonable(engine.to_state()))
    return MatchingEngine.from_state(json.loads(text), **kwargs)


def setup_orders(engine: MatchingEngine) -> None:
    """Leave some of everything behind: fills, a resting limit, a GTD, a stop, a partial."""
    btc = engine.market.quote("BTC-USD")
    eth = engine.market.quote("ETH-USD")
    engine.submit_order(
        OrderRequest(
            "m1",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.MARKET,
            base_size=Decimal("0.3"),
            time_in_force=TIF.IOC,
        )
    )
    engine.submit_order(
        OrderRequest(
            "l1",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("0.2"),
            limit_price=btc.bid - Decimal("40"),
        )
    )
    engine.submit_order(
        OrderRequest(
            "g1",
            "ETH-USD",
            OrderSide.SELL,
            OrderType.LIMIT,
            base_size=Decimal("1"),
            limit_price=eth.ask + Decimal("3"),
            time_in_force=TIF.GTD,
            end_time=engine.time + timedelta(minutes=20),
        )
    )
    engine.submit_order(
        OrderRequest(
            "s1",
            "BTC-USD",
            OrderSide.SELL,
            OrderType.STOP_LIMIT,
            base_size=Decimal("0.1"),
            limit_price=btc.bid - Decimal("150"),
            stop_price=btc.bid - Decimal("60"),
            stop_direction=StopDirection.DOWN,
        )
    )
    engine.submit_order(
        OrderRequest(
            "p1",
            "ETH-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("40"),
            limit_price=eth.ask + Decimal("0.50"),
        )
    )


def observe(engine: MatchingEngine, minutes: int) -> list[Any]:
    """Advance in 5-second cycles, trading a little, recording everything visible."""
    seen: list[Any] = []
    for n in range(minutes * 12):
        engine.advance_to(engine.time + timedelta(seconds=5))
        for symbol in SYMBOLS:
            seen.append(engine.market.quote(symbol))
        if n % 24 == 0:
            seen.append(
                engine.submit_order(
                    OrderRequest(
                        f"c{engine.time.isoformat()}",
                        "DOGE-USD",
                        OrderSide.BUY,
                        OrderType.MARKET,
                        quote_size=Decimal("25.00000"),
                        time_in_force=TIF.IOC,
                    )
                )
            )
    seen.append([engine.market.candles(s, 60, 500) for s in SYMBOLS])
    seen.append(engine.market.candles("BTC-USD", 300, 50))
    seen.append(engine.list_orders())
    seen.append(engine.list_fills())
    seen.append(engine.list_balances())
    seen.append(engine.list_positions())
    return seen


def test_save_load_continue_equals_an_uninterrupted_run() -> None:
    straight = engine_for()
    straight.advance_to(START + timedelta(seconds=42.5))
    setup_orders(straight)
    statuses = {o.client_order_id: o.status for o in straight.list_orders()}
    assert statuses == {
        "m1": OrderStatus.FILLED,
        "l1": OrderStatus.OPEN,
        "g1": OrderStatus.OPEN,
        "s1": OrderStatus.OPEN,
        "p1": OrderStatus.PARTIALLY_FILLED,
    }
    saved = roundtrip(straight)
    assert saved.to_state() == straight.to_state()
    later_straight = observe(straight, 30)
    later_restored = observe(saved, 30)
    assert later_restored == later_straight
    fills_after_save = [f for f in later_straight[-3] if f.time > START + timedelta(seconds=43)]
    assert {f.client_order_id[0] for f in fills_after_save} >= {"c", "l"}  # resting ones too


def test_state_round_trips_in_the_middle_of_a_crash_and_a_stale_feed() -> None:
    for scenario in ("crash", "stale", "flash-crash", "trend"):
        straight = engine_for(scenario, seed=3)
        straight.advance_to(START + timedelta(minutes=4))
        setup_orders(straight)
        restored = roundtrip(straight)
        assert observe(restored, 6) == observe(straight, 6), scenario


def test_switching_scenario_on_restore_keeps_prices_and_balances() -> None:
    engine = engine_for("calm")
    engine.advance_to(START + timedelta(hours=1))
    mid = engine.market.quote("BTC-USD").mid
    now = START + timedelta(hours=1, minutes=10)
    crashed = roundtrip(engine, scenario="crash", now=now)
    market = crashed.market
    assert isinstance(market, SimulatedMarket)
    assert market.scenario_name == "crash" and market.scenario_start == now
    assert market.quote("BTC-USD").mid == mid
    assert crashed.list_balances() == engine.list_balances()
    crashed.advance_to(now + timedelta(minutes=90))  # past the crash's gap down
    assert market.quote("BTC-USD").mid / mid - 1 < Decimal("-0.08")
    same = roundtrip(engine, scenario="calm", now=now)
    assert same.market.scenario_start == START  # type: ignore[attr-defined]
