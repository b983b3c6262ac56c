"""The adapter end to end through the real SDK against the simulator on loopback: every order
type, previews, edits, cancels, lists, fills, reduce-only and the perpetuals gate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cb_helpers import Sim

from trading_core.brokers.base import Broker
from trading_core.brokers.coinbase.broker import CoinbaseBroker
from trading_core.clock import VirtualClock
from trading_core.domain import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
    TimeInForce,
)
from trading_core.errors import ErrorKind, OrderRejected

D = Decimal


def req(cid: str, side: OrderSide, kind: OrderType, **fields: object) -> OrderRequest:
    if kind is OrderType.MARKET:
        fields.setdefault("time_in_force", TimeInForce.IOC)
    return OrderRequest(cid, fields.pop("symbol", "BTC-USD"), side, kind, **fields)  # type: ignore[arg-type]


def test_is_a_broker(broker: CoinbaseBroker) -> None:
    assert isinstance(broker, Broker)


def test_market_orders_by_base_and_by_quote_size(broker: CoinbaseBroker, sim: Sim) -> None:
    buy = broker.submit_order(req("m1", OrderSide.BUY, OrderType.MARKET, base_size=D("0.001")))
    assert buy.status is OrderStatus.FILLED and buy.filled_size == D("0.001")
    assert buy.fees > 0 and buy.client_order_id == "m1"
    spend = broker.submit_order(req("m2", OrderSide.BUY, OrderType.MARKET, quote_size=D("100")))
    assert spend.status is OrderStatus.FILLED and spend.quote_size == D("100")
    assert D("99") < spend.filled_value <= D("100")
    sell = broker.submit_order(req("m3", OrderSide.SELL, OrderType.MARKET, base_size=D("0.01")))
    assert sell.status is OrderStatus.FILLED
    btc = next(b for b in broker.list_balances() if b.currency == "BTC")
    assert btc.total == D("0.05") + D("0.001") + spend.filled_size - D("0.01")
    assert sim.state()["orders"] == 3


def test_limit_orders_in_every_time_in_force(broker: CoinbaseBroker) -> None:
    quote = broker.get_quote("BTC-USD")
    below = (quote.bid * D("0.95")).quantize(D("0.01"))
    above = (quote.ask * D("1.01")).quantize(D("0.01"))
    gtc = broker.submit_order(
        req(
            "l1",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=D("0.001"),
            limit_price=below,
            post_only=True,
        )
    )
    assert gtc.status is OrderStatus.OPEN and gtc.post_only and gtc.limit_price == below
    end = datetime.now(UTC).replace(microsecond=250000) + timedelta(hours=1)
    gtd = broker.submit_order(
        req(
            "l2",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=D("0.001"),
            limit_price=below,
            time_in_force=TimeInForce.GTD,
            end_time=end,
        )
    )
    assert gtd.status is OrderStatus.OPEN and gtd.end_time == end
    assert gtd.time_in_force is TimeInForce.GTD
    ioc_miss = broker.submit_order(
        req(
            "l3",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=D("0.001"),
            limit_price=below,
            time_in_force=TimeInForce.IOC,
        )
    )
    assert ioc_miss.status is OrderStatus.CANCELLED and ioc_miss.filled_size == 0
    ioc_hit = broker.submit_order(
        req(
            "l4",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=D("0.001"),
            limit_price=above,
            time_in_force=TimeInForce.IOC,
        )
    )
    assert ioc_hit.status is OrderStatus.FILLED
    top = broker.get_order_book("BTC-USD", 1).asks[0]
    fok_kill = broker.submit_order(
        req(
            "l5",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=top.size + D("0.05"),
            limit_price=top.price,
            time_in_force=TimeInForce.FOK,
        )
    )
    assert fok_kill.status is OrderStatus.CANCELLED and fok_kill.filled_size == 0
    fok_fill = broker.submit_order(
        req(
            "l6",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=D("0.001"),
            limit_price=above,
            time_in_force=TimeInForce.FOK,
        )
    )
    assert fok_fill.status is OrderStatus.FILLED
    with pytest.raises(OrderRejected) as info:
        broker.submit_order(
            req(
                "l7",
                OrderSide.BUY,
                OrderType.LIMIT,
                base_size=D("0.001"),
                limit_price=above,
                post_only=True,
            )
        )
    assert info.value.reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    assert info.value.kind is ErrorKind.REJECTED


def test_stop_limits_both_directions_and_a_trigger(
    make_sim: Callable[..., Sim], make_broker: Callable[..., CoinbaseBroker]
) -> None:
    clock = VirtualClock(datetime.now(UTC))
    crash = make_sim(scenario="crash", clock=clock)
    broker = make_broker(target=crash)
    last = broker.get_quote("BTC-USD").mid
    stop = (last * D("0.97")).quantize(D("0.01"))
    sell = broker.submit_order(
        req(
            "s1",
            OrderSide.SELL,
            OrderType.STOP_LIMIT,
            base_size=D("0.01"),
            stop_price=stop,
            limit_price=(stop * D("0.8")).quantize(D("0.01")),  # marketable once triggered
            stop_direction=StopDirection.DOWN,
        )
    )
    assert sell.status is OrderStatus.OPEN and sell.stop_direction is StopDirection.DOWN
    up = (last * D("1.25")).quantize(D("0.01"))
    buy = broker.submit_order(
        req(
            "s2",
            OrderSide.BUY,
            OrderType.STOP_LIMIT,
            base_size=D("0.001"),
            stop_price=up,
            limit_price=up + 100,
            stop_direction=StopDirection.UP,
            time_in_force=TimeInForce.GTD,
            end_time=clock.now() + timedelta(days=1),
        )
    )
    assert buy.status is OrderStatus.OPEN and buy.stop_direction is StopDirection.UP
    with pytest.raises(OrderRejected) as info:  # a stop already reached
        broker.submit_order(
            req(
                "s3",
                OrderSide.SELL,
                OrderType.STOP_LIMIT,
                base_size=D("0.01"),
                stop_price=up,
                limit_price=up,
                stop_direction=StopDirection.DOWN,
            )
        )
    assert info.value.reason == "INVALID_STOP_PRICE"
    crash.admin("POST", "/sim/clock", {"advance_s": 3 * 3600})  # through the crash
    book = broker.get_order_book("BTC-USD", 1)  # (quotes are cached for a moment)
    assert book.bids[0].price < stop  # the scenario did fall through the stop
    triggered = broker.get_order(sell.order_id)
    assert triggered.status is OrderStatus.FILLED and triggered.filled_size == D("0.01")
    assert broker.get_order(buy.order_id).status is OrderStatus.OPEN
    assert [f.order_id for f in broker.list_fills(order_id=sell.order_id)] == [sell.order_id]


def test_preview_quantizes_and_reports_errors(broker: CoinbaseBroker, sim: Sim) -> None:
    preview = broker.preview_order(
        req("p1", OrderSide.BUY, OrderType.MARKET, base_size=D("0.00100000009"))
    )
    assert preview.ok and preview.preview_id and preview.base_size == D("0.001")
    assert preview.est_fee > 0 and preview.est_average_price > 0 and preview.slippage >= 0
    poor = broker.preview_order(req("p2", OrderSide.BUY, OrderType.MARKET, base_size=D("5")))
    assert "INSUFFICIENT_FUND" in poor.errors
    with pytest.raises(OrderRejected) as info:
        broker.submit_order(req("p3", OrderSide.BUY, OrderType.MARKET, base_size=D("5")))
    assert info.value.reason == "INSUFFICIENT_FUND"
    assert sim.state()["orders"] == 0  # previews and a rejection leave no order


def test_edit_preview_edit_and_cancel(broker: CoinbaseBroker) -> None:
    price = (broker.get_quote("ETH-USD").bid * D("0.9")).quantize(D("0.01"))
    order = broker.submit_order(
        req(
            "e1",
            OrderSide.BUY,
            OrderType.LIMIT,
            symbol="ETH-USD",
            base_size=D("0.1"),
            limit_price=price,
        )
    )
    preview = broker.preview_edit(order.order_id, limit_price=price + 1, base_size=D("0.2"))
    assert preview.ok and preview.preview_id and preview.base_size == D("0.2")
    with pytest.raises(OrderRejected) as info:
        broker.edit_order(order.order_id, limit_price=price + 2, preview_id=preview.preview_id)
    assert info.value.reason == "PREVIEW_ID_MISMATCH"
    edited = broker.edit_order(
        order.order_id, limit_price=price + 1, base_size=D("0.2"), preview_id=preview.preview_id
    )
    assert edited.limit_price == price + 1 and edited.base_size == D("0.2")
    assert edited.status is OrderStatus.OPEN
    assert [o.order_id for o in broker.list_orders(open_only=True)] == [order.order_id]
    assert broker.cancel_orders([order.order_id, "no-such-order"]) == {
        order.order_id: True,
        "no-such-order": False,
    }
    assert broker.get_order(order.order_id).status is OrderStatus.CANCELLED
    assert broker.list_orders(open_only=True) == []
    assert broker.cancel_orders([order.order_id]) == {order.order_id: False}


def test_lists_fills_and_lookup_by_client_id(
    broker: CoinbaseBroker, make_broker: Callable[..., CoinbaseBroker]
) -> None:
    first = broker.submit_order(req("f1", OrderSide.BUY, OrderType.MARKET, base_size=D("0.001")))
    second = broker.submit_order(
        req("f2", OrderSide.SELL, OrderType.MARKET, symbol="ETH-USD", base_size=D("0.1"))
    )
    fresh = make_broker()  # knows nothing of these orders
    fills = fresh.list_fills()
    assert [f.client_order_id for f in fills] == ["f1", "f2"]
    assert fills[0].time <= fills[1].time
    assert fresh.list_fills(since=fills[0].time) == fills[1:]
    assert [f.symbol for f in fresh.list_fills("ETH-USD")] == ["ETH-USD"]
    assert [o.order_id for o in fresh.list_orders()] == [first.order_id, second.order_id]
    found = fresh.find_order_by_client_id("f2")
    assert found is not None and found.order_id == second.order_id
    assert fresh.find_order_by_client_id("never-sent") is None


def test_reduce_only_on_spot_is_enforced_here(broker: CoinbaseBroker, sim: Sim) -> None:
    sold = broker.submit_order(
        req("r1", OrderSide.SELL, OrderType.MARKET, base_size=D("0.01"), reduce_only=True)
    )
    assert sold.status is OrderStatus.FILLED and not sold.reduce_only  # flag not sent on spot
    for cid, side, size in (("r2", OrderSide.SELL, D("1")), ("r3", OrderSide.BUY, D("0.001"))):
        with pytest.raises(OrderRejected) as info:
            broker.submit_order(req(cid, side, OrderType.MARKET, base_size=size, reduce_only=True))
        assert info.value.reason == "REDUCE_ONLY_VIOLATION"
    assert sim.state()["orders"] == 1
    preview = broker.preview_order(
        req("r4", OrderSide.SELL, OrderType.MARKET, base_size=D("1"), reduce_only=True)
    )
    assert "REDUCE_ONLY_VIOLATION" in preview.errors


def test_perpetuals_need_derivatives_and_an_intx_portfolio(
    make_sim: Callable[..., Sim], make_broker: Callable[..., CoinbaseBroker]
) -> None:
    perp = req("x1", OrderSide.BUY, OrderType.MARKET, symbol="BTC-PERP-INTX", base_size=D("0.01"))
    with pytest.raises(OrderRejected, match="derivatives are off") as info:
        make_broker().submit_order(perp)
    assert info.value.reason == "DERIVATIVES_DISABLED"
    with pytest.raises(OrderRejected, match="portfolio is not INTX"):
        make_broker(COINBASE_ENABLE_DERIVATIVES="1").submit_order(perp)
    intx = make_sim(intx=True)
    broker = make_broker(target=intx, COINBASE_ENABLE_DERIVATIVES="1")
    assert broker.intx_portfolio() == intx.venue.intx_portfolio_uuid
    assert broker.key_permissions()["portfolio_type"] == "INTX"
    with pytest.raises(OrderRejected) as info:  # reaches the venue, which has no perps engine
        broker.submit_order(perp)
    assert info.value.reason == "PERPETUALS_NOT_SIMULATED"
    with pytest.raises(OrderRejected) as info:  # reduce-only perps go through close_position
        broker.submit_order(
            req(
                "x2",
                OrderSide.SELL,
                OrderType.MARKET,
                symbol="BTC-PERP-INTX",
                base_size=D("0.01"),
                reduce_only=True,
            )
        )
    assert info.value.reason == "PERPETUALS_NOT_SIMULATED"
    details = broker.account_details()
    assert details["intx"]["portfolio_uuid"] == intx.venue.intx_portfolio_uuid
    assert details["intx"]["total_balance"] == D("100000")


def test_market_data_over_rest(broker: CoinbaseBroker) -> None:
    products = {p.symbol: p for p in broker.list_products()}
    assert products["BTC-USD"].base_increment == D("0.00000001")
    assert products["BTC-PERP-INTX"].is_perp
    quote = broker.get_quote("btc-usd")
    assert quote.is_sane() and quote.symbol == "BTC-USD"
    assert broker.get_quote("ETH-USD").time == quote.time  # one request served both
    assert broker.quotes_rest == 1
    candles = broker.get_candles("BTC-USD", 60, limit=400)
    assert len(candles) == 400
    starts = [c.start for c in candles]
    assert starts == sorted(starts) and len(set(starts)) == 400
    assert candles[-1].start + timedelta(seconds=60) <= datetime.now(UTC)
    assert len(broker.get_candles("ETH-USD", 300, limit=12)) == 12
    book = broker.get_order_book("BTC-USD", depth=5)
    assert len(book.bids) == len(book.asks) == 5 and book.bids[0].price < book.asks[0].price
    assert abs((broker.server_time() - datetime.now(UTC)).total_seconds()) < 5
    requests = broker.stats().requests
    assert requests[("/products/{id}/candles", "200")] == 3


def test_an_ed25519_key_trades_too(
    make_broker: Callable[..., CoinbaseBroker], ed_key: tuple[str, str]
) -> None:
    broker = make_broker(key=ed_key)
    order = broker.submit_order(req("k1", OrderSide.BUY, OrderType.MARKET, base_size=D("0.001")))
    assert order.status is OrderStatus.FILLED
