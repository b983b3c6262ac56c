"""Arbitrary WebSocket frames into the stream client's message handler: text, bytes, JSON of any
shape, mutated Coinbase messages. Bad ones are dropped (never an exception out of the reader);
the caches hold only well-formed quotes and books, and a later good message still updates them."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from prop_support import few, json_values, mutated

from trading_core.brokers.coinbase.stream import StreamClient, StreamMessage
from trading_core.domain import Quote

T0 = "2026-03-02T12:00:00.123456789Z"
TICKER = {
    "channel": "ticker",
    "timestamp": T0,
    "sequence_num": 1,
    "events": [
        {
            "type": "update",
            "tickers": [
                {
                    "product_id": "BTC-USD",
                    "price": "50000",
                    "best_bid": "49999",
                    "best_ask": "50001",
                    "best_bid_quantity": "1",
                    "best_ask_quantity": "2",
                }
            ],
        }
    ],
}
L2 = {
    "channel": "l2_data",
    "timestamp": T0,
    "sequence_num": 2,
    "events": [
        {
            "type": "snapshot",
            "product_id": "BTC-USD",
            "updates": [
                {"side": "bid", "event_time": T0, "price_level": "49999", "new_quantity": "1"},
                {"side": "bid", "event_time": T0, "price_level": "49998", "new_quantity": "3"},
                {"side": "offer", "event_time": T0, "price_level": "50001", "new_quantity": "2"},
            ],
        }
    ],
}
L2_UPDATE = {
    **L2,
    "events": [
        {
            "type": "update",
            "product_id": "BTC-USD",
            "updates": [
                {"side": "bid", "price_level": "49999", "new_quantity": "0"},
                {"side": "offer", "price_level": "50002", "new_quantity": "5"},
            ],
        }
    ],
}
TRADES = {
    "channel": "market_trades",
    "timestamp": T0,
    "events": [{"type": "update", "trades": [{"product_id": "BTC-USD", "price": "1"}]}],
}
CANDLES = {
    "channel": "candles",
    "timestamp": T0,
    "events": [{"type": "update", "candles": [{"product_id": "ETH-USD", "close": "2"}]}],
}
USER = {
    "channel": "user",
    "timestamp": T0,
    "events": [{"type": "snapshot", "orders": [{"order_id": "o-1", "status": "OPEN"}]}],
}
HEARTBEAT = {"channel": "heartbeats", "events": [{"current_time": T0, "heartbeat_counter": 3}]}
MESSAGES = [TICKER, L2, L2_UPDATE, TRADES, CANDLES, USER, HEARTBEAT]


def make_client() -> StreamClient:
    client = StreamClient("wss://example.invalid", ["BTC-USD", "ETH-USD"])
    client.add_handler(_explode_on_heartbeats)
    return client


def _explode_on_heartbeats(message: StreamMessage) -> None:
    if message.channel == "heartbeats":
        raise RuntimeError("a handler bug")


def encode(doc: Any) -> str:
    return json.dumps(doc, allow_nan=True)


frames = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    json_values().map(encode),
    st.sampled_from(MESSAGES).flatmap(mutated).map(encode),
    st.sampled_from(MESSAGES).flatmap(mutated).map(lambda d: encode(d).encode()),
    st.builds(
        lambda channel, seq, events: encode(
            {"channel": channel, "sequence_num": seq, "events": events}
        ),
        st.sampled_from(["ticker", "l2_data", "user", "candles", "market_trades", "x", ""]),
        st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=3)),
        json_values(),
    ),
    st.sampled_from(
        [
            "[" * 100_000,
            '{"a":' * 50_000,
            "\udcff",
            b"\xff\xfe",
            '{"type": "error", "message": "x\\ny"}',
            encode({"channel": "ticker", "events": [1]}),
            encode({"channel": "ticker", "events": {"a": 1}}),
            encode({"channel": "l2_data", "events": ["x"]}),
            encode({"channel": "ticker", "timestamp": 1e300, "events": []}),
            encode({"channel": "ticker", "timestamp": "9" * 30, "events": []}),
            encode({"channel": "ticker", "sequence_num": True, "events": []}),
            "NaN",
            '{"channel": "ticker", "events": [{"tickers": [{"product_id": "BTC-USD", '
            '"price": NaN, "best_bid": Infinity, "best_ask": "1"}]}]}',
        ]
    ),
)


def check_caches(client: StreamClient) -> None:
    """Every cached quote and book level is a finite Decimal; books read without error."""
    for symbol, (quote, _) in client._quotes.items():
        assert isinstance(quote, Quote) and quote.symbol == symbol
        for value in (quote.bid, quote.ask, quote.last, quote.bid_size, quote.ask_size):
            assert isinstance(value, Decimal) and value.is_finite()
    for symbol, book in client._books.items():
        for side in (book.bids, book.asks):
            for price, size in side.items():
                assert isinstance(price, Decimal) and price.is_finite()
                assert isinstance(size, Decimal) and size.is_finite() and size != 0
        client.book(symbol, 10, 3600)


def next_seq(client: StreamClient) -> int:
    return (client._seq or 0) + 1


def good_ticker(client: StreamClient, bid: str) -> str:
    doc = copy.deepcopy(TICKER)
    doc["sequence_num"] = next_seq(client)
    ticker = doc["events"][0]["tickers"][0]
    ticker["best_bid"] = bid
    return encode(doc)


def good_snapshot(client: StreamClient) -> str:
    return encode({**L2, "sequence_num": next_seq(client)})


@few(300)
@given(garbage=st.lists(frames, min_size=1, max_size=6))
@example(garbage=["[" * 100_000])
@example(garbage=[encode({"channel": "ticker", "events": [1]})])
@example(garbage=[encode({"channel": "l2_data", "events": ["x"]})])
@example(
    garbage=[
        good_snapshot(make_client()),
        encode(
            {
                **L2_UPDATE,
                "sequence_num": 3,
                "events": [
                    {
                        **L2_UPDATE["events"][0],
                        "updates": [
                            {"side": "bid", "price_level": "49998", "new_quantity": "0"},
                            {"side": "bid"},
                        ],
                    }
                ],
            }
        ),
    ]
)
def test_bad_frames_are_dropped_and_good_ones_still_land(garbage: list[str | bytes]) -> None:
    client = make_client()
    client._handle(good_ticker(client, "49990"))
    for frame in garbage:
        client._handle(frame)  # must not raise, whatever arrives
        check_caches(client)
    # a later good ticker updates the quote
    client._handle(good_ticker(client, "49995"))
    quote = client.quote("BTC-USD", 60)
    assert quote is not None and quote.bid == Decimal("49995") and quote.ask == Decimal("50001")
    # a later good snapshot replaces the book, whatever half-applied garbage came before
    client._handle(good_snapshot(client))
    book = client.book("BTC-USD", 10, 60)
    assert book is not None
    assert [(lv.price, lv.size) for lv in book.bids] == [
        (Decimal("49999"), Decimal("1")),
        (Decimal("49998"), Decimal("3")),
    ]
    assert [(lv.price, lv.size) for lv in book.asks] == [(Decimal("50001"), Decimal("2"))]
    check_caches(client)


def test_a_bad_book_update_unsyncs_the_book_until_the_next_snapshot() -> None:
    client = make_client()
    client._handle(good_snapshot(client))
    assert client.book_synced("BTC-USD")
    half = copy.deepcopy(L2_UPDATE)
    half["sequence_num"] = next_seq(client)
    half["events"][0]["updates"].append({"side": "bid", "price_level": "oops"})
    client._handle(encode(half))
    # the first update of the message landed, the last did not: the book is not trusted
    assert client.book("BTC-USD", 10, 60) is None and not client.book_synced("BTC-USD")
    assert client._resync  # the reader asks for fresh snapshots
    client._handle(good_snapshot(client))
    assert client.book_synced("BTC-USD")
