"""The streaming client against the simulator's feed: quotes and books, every channel, dropped
connections (1000 and 1006), sequence gaps and resyncs, a frozen feed, handler failures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cb_helpers import Sim, wait_for
from websockets.sync.client import connect

from trading_core.brokers.coinbase.broker import CoinbaseBroker
from trading_core.brokers.coinbase.keys import build_jwt, make_api_key
from trading_core.brokers.coinbase.stream import StreamClient, StreamMessage
from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType


@pytest.fixture
def make_stream(sim: Sim, ec_key: tuple[str, str]) -> Iterator[Callable[..., StreamClient]]:
    clients: list[StreamClient] = []
    key = make_api_key(*ec_key, name_var="K", secret_var="S")

    def make(channels: tuple[str, ...], products: tuple[str, ...] = ("BTC-USD",)) -> StreamClient:
        client = StreamClient(
            sim.ws_url, products, channels=channels, jwt=lambda: build_jwt(key), backoff_s=0.05
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_streamed_quotes_books_and_feed_status(make_broker: Callable[..., CoinbaseBroker]) -> None:
    broker = make_broker(streaming=True)
    assert broker.stream is not None and broker.stream.wait_connected(5)
    wait_for(lambda: broker.stream.quote("ETH-USD", 5) and broker.stream.book("BTC-USD", 5, 5))
    quote = broker.get_quote("ETH-USD")
    assert quote.is_sane() and broker.quotes_streamed == 1 and broker.quotes_rest == 0
    book = broker.get_order_book("BTC-USD", 5)
    assert len(book.bids) == 5 and book.bids[0].price < book.asks[0].price
    wait_for(lambda: broker.stats().feeds["heartbeats"].last_message_at)
    stats = broker.stats()
    assert set(stats.feeds) == {"heartbeats", "ticker", "level2", "user"}
    assert all(feed.connected for feed in stats.feeds.values())
    assert set(stats.last_message_at) == {"BTC-USD", "ETH-USD"}


def test_market_trades_and_candles_channels(
    sim: Sim, make_stream: Callable[..., StreamClient]
) -> None:
    stream = make_stream(("market_trades", "candles")).start()
    candle = wait_for(lambda: stream.candle("BTC-USD"))
    assert Decimal(candle["low"]) <= Decimal(candle["close"]) <= Decimal(candle["high"])
    trades = wait_for(lambda: stream.trades("BTC-USD"))
    assert trades[0]["product_id"] == "BTC-USD" and Decimal(trades[0]["size"]) > 0


@pytest.mark.parametrize("code", [1000, 1006])
def test_a_dropped_connection_reconnects_and_resubscribes(
    sim: Sim, make_stream: Callable[..., StreamClient], code: int
) -> None:
    stream = make_stream(("heartbeats", "ticker", "level2")).start()
    wait_for(
        lambda: stream.book_synced("BTC-USD") and stream.feed_status()["heartbeats"].last_message_at
    )
    sim.fault(kind="ws_drop", code=code)
    wait_for(lambda: stream.feed_status()["ticker"].reconnects == 1)
    dropped_at = datetime.now(UTC)
    wait_for(lambda: stream.book_synced("BTC-USD") and stream.connected.is_set())
    beat = wait_for(
        lambda: (at := stream.feed_status()["heartbeats"].last_message_at) and at > dropped_at
    )
    assert beat  # heartbeats were subscribed again on the new connection
    assert sim.state()["ws_connections"] == 2
    wait_for(lambda: (age := stream.message_age("BTC-USD")) is not None and age < 1.0)


def test_a_sequence_gap_resyncs_from_fresh_snapshots(
    sim: Sim, make_stream: Callable[..., StreamClient]
) -> None:
    snapshots: list[str] = []

    def on_message(message: StreamMessage) -> None:
        for event in message.doc.get("events") or []:
            if event.get("type") == "snapshot":
                snapshots.append(message.channel)

    stream = make_stream(("heartbeats", "ticker", "level2"))
    stream.add_handler(on_message)
    stream.start()
    wait_for(lambda: stream.book_synced("BTC-USD") and snapshots.count("level2") == 1)
    sim.fault(kind="ws_gap", skip=3)
    wait_for(lambda: sum(f.gaps for f in stream.feed_status().values()) == 1)
    wait_for(lambda: snapshots.count("level2") == 2 and stream.book_synced("BTC-USD"))
    assert snapshots.count("ticker") == 2  # the ticker was resubscribed too
    assert stream.book("BTC-USD", 3, 5) is not None
    assert sim.state()["ws_connections"] == 1  # resynced without reconnecting


def test_handler_failures_never_stop_the_reader(
    make_stream: Callable[..., StreamClient],
) -> None:
    def broken(message: StreamMessage) -> None:
        raise ValueError("a bug in a handler")

    stream = make_stream(("heartbeats", "ticker"))
    stream.add_handler(broken)
    stream.start()
    wait_for(lambda: stream.handler_errors >= 3)
    seen = stream.messages
    wait_for(lambda: stream.messages > seen)
    assert stream.connections == 1


def test_a_frozen_feed_ages_and_quotes_fall_back_to_rest(
    sim: Sim, make_broker: Callable[..., CoinbaseBroker]
) -> None:
    broker = make_broker(streaming=True, COINBASE_QUOTE_MAX_AGE_SECONDS="0.4")
    stream = broker.stream
    assert stream is not None
    wait_for(lambda: stream.quote("BTC-USD", 0.4))
    sim.fault(kind="ws_freeze")
    wait_for(lambda: (stream.message_age("BTC-USD") or 0) > 0.6)
    beat = stream.feed_status()["heartbeats"].last_message_at
    assert broker.get_quote("BTC-USD").is_sane()
    assert broker.quotes_rest == 1  # the stale stream was not used
    wait_for(lambda: stream.feed_status()["heartbeats"].last_message_at != beat)  # still alive
    sim.admin("DELETE", "/sim/faults")
    wait_for(lambda: (stream.message_age("BTC-USD") or 9) < 0.4)
    streamed = broker.quotes_streamed
    broker.get_quote("BTC-USD")
    assert broker.quotes_streamed == streamed + 1


def test_user_channel_streams_order_updates(make_broker: Callable[..., CoinbaseBroker]) -> None:
    broker = make_broker(streaming=True)
    stream = broker.stream
    assert stream is not None and stream.wait_connected(5)
    price = (broker.get_quote("BTC-USD").bid * Decimal("0.9")).quantize(Decimal("0.01"))
    order = broker.submit_order(
        OrderRequest(
            "u1",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("0.001"),
            limit_price=price,
        )
    )
    assert order.status is OrderStatus.OPEN
    wait_for(lambda: (doc := stream.order_update(order.order_id)) and doc["status"] == "OPEN")
    broker.cancel_orders([order.order_id])
    wait_for(lambda: stream.order_update(order.order_id)["status"] == "CANCELLED")


def test_the_feed_checks_tokens(sim: Sim, ed_key: tuple[str, str]) -> None:
    key = make_api_key(*ed_key, name_var="K", secret_var="S")
    with connect(sim.ws_url, open_timeout=5) as ws:
        ws.send(json.dumps({"type": "subscribe", "channel": "user", "product_ids": []}))
        refused = json.loads(ws.recv(timeout=5))
        assert refused["type"] == "error" and "authentication" in refused["message"]
        ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "channel": "ticker",
                    "product_ids": ["BTC-USD"],
                    "jwt": build_jwt(key),
                }
            )
        )
        first = json.loads(ws.recv(timeout=5))
        second = json.loads(ws.recv(timeout=5))
        assert first["channel"] == "ticker" and first["events"][0]["type"] == "snapshot"
        assert second["channel"] == "subscriptions"
        assert (first["sequence_num"], second["sequence_num"]) == (0, 1)
        ws.send(json.dumps({"type": "subscribe", "channel": "ticker", "product_ids": ["NOPE-USD"]}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            doc = json.loads(ws.recv(timeout=5))
            if doc.get("type") == "error":
                assert "Failed to subscribe" in doc["message"]
                break
        else:
            raise AssertionError("no error for an unknown product")
