"""PaperBroker: the Broker protocol over the simulated venue, with open/save between runs."""

from __future__ import annotations

import inspect
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading_core.brokers import Broker
from trading_core.brokers.paper import PaperBroker
from trading_core.clock import VirtualClock
from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from trading_core.errors import DataError, UnknownProduct
from trading_core.sim import MatchingEngine, SimulatedMarket, default_products

START = datetime(2025, 1, 1, tzinfo=UTC)
TOP_TEN = list(default_products())
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KRAKEN = FIXTURES / "kraken_btc_usd_5m_2023-02-20_2023-02-23.csv"  # real data, 4 days


def buy(cid: str, size: str = "0.01", symbol: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(
        cid,
        symbol,
        OrderSide.BUY,
        OrderType.MARKET,
        base_size=Decimal(size),
        time_in_force=TimeInForce.IOC,
    )


def rest(cid: str, price: Decimal) -> OrderRequest:
    return OrderRequest(
        cid,
        "BTC-USD",
        OrderSide.BUY,
        OrderType.LIMIT,
        base_size=Decimal("0.01"),
        limit_price=price,
    )


def test_paper_broker_implements_every_broker_method() -> None:
    clock = VirtualClock(START)
    broker = PaperBroker(MatchingEngine(SimulatedMarket(["BTC-USD"], start=START)), clock)
    assert isinstance(broker, Broker)
    for name, member in inspect.getmembers(Broker, inspect.isfunction):
        if not name.startswith("_"):
            ours = getattr(PaperBroker, name)
            assert list(inspect.signature(ours).parameters) == list(
                inspect.signature(member).parameters
            ), name
    assert broker.name == "paper"


def test_every_call_follows_the_clock() -> None:
    clock = VirtualClock(START)
    broker = PaperBroker(MatchingEngine(SimulatedMarket(TOP_TEN, start=START)), clock)
    assert broker.server_time() == START
    clock.advance(7)
    assert broker.get_quote("btc-usd").time == START + timedelta(seconds=7)
    assert broker.server_time() == START + timedelta(seconds=7)
    clock.advance(60)
    assert broker.get_candles("ETH-USD", 60, 1)[0].start == START
    assert len(broker.get_order_book("SOL-USD", 3).asks) == 3
    assert {p.symbol for p in broker.list_products()} == set(TOP_TEN)
    assert broker.get_product("LINK-USD").quote_increment == Decimal("0.001")
    with pytest.raises(UnknownProduct):
        broker.get_quote("ZZZ-USD")
    order = broker.submit_order(buy("o1"))
    assert order.status is OrderStatus.FILLED
    assert broker.get_order(order.order_id) == order
    assert broker.find_order_by_client_id("o1") == order
    assert broker.list_orders("BTC-USD") == [order] and broker.list_orders("ETH-USD") == []
    assert [f.order_id for f in broker.list_fills("BTC-USD")] == [order.order_id]
    assert broker.list_fills(since=broker.list_fills()[-1].time) == []
    assert broker.list_positions()[0].quantity == Decimal("0.01")
    assert {b.currency for b in broker.list_balances()} == {"BTC", "USD"}
    resting = broker.submit_order(rest("o2", Decimal("80000.00")))
    preview = broker.preview_edit(resting.order_id, limit_price=Decimal("81000.00"))
    edited = broker.edit_order(
        resting.order_id, limit_price=Decimal("81000.00"), preview_id=preview.preview_id
    )
    assert edited.limit_price == Decimal("81000.00")
    assert broker.list_orders(open_only=True) == [edited]
    assert broker.cancel_orders([edited.order_id]) == {edited.order_id: True}
    assert broker.preview_order(buy("o3", "1")).ok


def session(broker: PaperBroker, clock: VirtualClock, cycles: int, tag: str) -> list[Any]:
    seen: list[Any] = []
    for n in range(cycles):
        clock.advance(5)
        seen.extend(broker.get_quote(s) for s in broker.engine.market.symbols)
        if n % 10 == 0:
            seen.append(broker.submit_order(buy(f"{tag}{n}", "0.001")))
        if n % 15 == 0:
            price = broker.get_quote("BTC-USD").bid - Decimal("10")
            seen.append(broker.submit_order(rest(f"{tag}r{n}", price)))
    seen.append(broker.list_orders())
    seen.append(broker.list_fills())
    seen.append(broker.list_balances())
    return seen


def test_open_save_reopen_continues_like_an_uninterrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "paper" / "state.json"
    clock_a = VirtualClock(START)
    a = PaperBroker.open(
        path, symbols=["BTC-USD", "ETH-USD"], scenario="calm", seed=5, clock=clock_a
    )
    first = session(a, clock_a, 40, "x")
    assert a.save() == path and path.exists()
    # b continues a copy of the saved venue while a carries on: one owner per venue
    copy = tmp_path / "copy" / "state.json"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    clock_b = VirtualClock(clock_a.now())
    b = PaperBroker.open(
        copy, symbols=["BTC-USD", "ETH-USD"], scenario="calm", seed=99, clock=clock_b
    )
    assert b.engine.market.seed == 5  # the saved seed wins
    assert session(b, clock_b, 60, "y") == session(a, clock_a, 60, "y")
    assert first  # the first run traded


def test_reopen_with_more_symbols_and_another_scenario(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    clock = VirtualClock(START)
    broker = PaperBroker.open(
        path,
        symbols=["BTC-USD"],
        scenario="calm",
        seed=1,
        clock=clock,
        starting_balances={"USD": Decimal("5000")},
    )
    broker.submit_order(buy("a1"))
    clock.advance(600)
    broker.save()
    broker.close()  # one owner at a time
    btc = broker.get_quote("BTC-USD").mid
    reopened = PaperBroker.open(
        path,
        symbols=["ETH-USD"],
        scenario="crash",
        seed=1,
        clock=clock,
        starting_balances={"USD": Decimal("1")},
    )
    market = reopened.engine.market
    assert isinstance(market, SimulatedMarket)
    assert market.symbols == ["BTC-USD", "ETH-USD"]  # BTC stays in the state
    assert market.scenario_name == "crash" and market.scenario_start == clock.now()
    assert reopened.get_quote("BTC-USD").mid == btc
    assert reopened.list_balances() == broker.list_balances()
    assert len(reopened.get_candles("ETH-USD", 60, 2000)) >= 1440


def test_corrupt_state_and_replays(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="cannot read paper state"):
        PaperBroker.open(path, symbols=["BTC-USD"], clock=VirtualClock(START))
    for text in ("{}", "[1]", '{"version": 1, "market": {"kind": "sim"}}'):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(DataError, match="cannot restore paper state"):
            PaperBroker.open(path, symbols=["BTC-USD"], clock=VirtualClock(START))
    with pytest.raises(ValueError, match="unknown scenario"):
        PaperBroker.open(
            tmp_path / "new.json", symbols=[], scenario="boom", clock=VirtualClock(START)
        )
    replay_path = tmp_path / "replay.json"
    clock = VirtualClock(datetime(2023, 2, 20, tzinfo=UTC))
    broker = PaperBroker.open(replay_path, symbols=["BTC-USD"], clock=clock, market_data=KRAKEN)
    clock.advance(3600)
    quote = broker.get_quote("BTC-USD")
    assert quote.time == datetime(2023, 2, 20, 1, tzinfo=UTC)
    broker.save()
    broker.close()
    again = PaperBroker.open(replay_path, symbols=[], clock=clock, market_data=KRAKEN)
    assert again.get_quote("BTC-USD") == quote
    again.close()
    saved = json.loads(replay_path.read_text(encoding="utf-8"))
    assert saved["market"]["kind"] == "replay"
    with pytest.raises(ValueError, match="only has BTC-USD"):
        PaperBroker.open(replay_path, symbols=["ETH-USD"], clock=clock, market_data=KRAKEN)


def test_cycle_cost_print() -> None:
    """Not a timed assertion: prints what advance + 10 quotes (+ account calls) cost per cycle."""
    clock = VirtualClock(START)
    broker = PaperBroker(MatchingEngine(SimulatedMarket(TOP_TEN, start=START)), clock)
    market_only: list[float] = []
    with_account: list[float] = []
    for n in range(2000):
        clock.advance(5)
        t0 = time.perf_counter()
        for symbol in TOP_TEN:
            broker.get_quote(symbol)
        t1 = time.perf_counter()
        broker.list_balances()
        broker.list_positions()
        broker.list_orders(open_only=True)
        t2 = time.perf_counter()
        if n >= 1000:
            market_only.append(t1 - t0)
            with_account.append(t2 - t0)

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))] * 1e6

    print(
        f"\nadvance 5 s + 10 quotes: p50 {pct(market_only, 0.5):.0f} us, "
        f"p99 {pct(market_only, 0.99):.0f} us; with balance/position/order calls: "
        f"p50 {pct(with_account, 0.5):.0f} us, p99 {pct(with_account, 0.99):.0f} us"
    )
    assert len(market_only) == 1000
