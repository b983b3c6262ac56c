"""Our Advanced Trade WebSocket client (the SDK's ``WSClient`` cannot connect with websockets
>= 14, see DESIGN.md), on the ``websockets`` asyncio API in a daemon thread of its own.

- Subscribes every channel (one message per channel, each with a fresh JWT) on every connect,
  so heartbeats and everything else come back after a reconnect.
- Any close (1000 included) or silence longer than ``idle_timeout_s`` is a disconnect:
  reconnect with exponential backoff and jitter (reset once a connection has lived a while).
- ``sequence_num`` is per connection: a jump is a gap; the books are marked unsynced and every
  channel with a snapshot is unsubscribed and subscribed again (fresh snapshots: a resync).
- A product whose market data is older than ``stale_resubscribe_s`` while the connection lives
  (a frozen feed) gets its market channels resubscribed, at most once per that interval.
- Handler exceptions are logged and counted, never allowed to stop the reader.
- The caches (quotes from ``ticker``, books from ``l2_data``, trades, candles, order updates
  from ``user``) and the per-product last-message time are read from other threads under a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ...clock import Clock, SystemClock
from ...domain import BookLevel, OrderBook, Quote
from ..base import FeedStatus
from .codec import dec, parse_time

log = logging.getLogger("trading_core.brokers.coinbase.stream")

DEFAULT_CHANNELS = ("heartbeats", "ticker", "level2", "user")
SNAPSHOT_CHANNELS = frozenset({"ticker", "level2", "market_trades", "candles", "user"})
MARKET_CHANNELS = frozenset({"ticker", "level2", "market_trades", "candles"})
WIRE_TO_CHANNEL = {"l2_data": "level2"}
HEALTHY_CONNECTION_S = 10.0


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One decoded message handed to handlers (``received`` is time.perf_counter())."""

    channel: str
    doc: dict[str, Any]
    received: float
    received_at: datetime


@dataclass(slots=True)
class _Feed:
    connected: bool = False
    last_message_at: datetime | None = None
    reconnects: int = 0
    gaps: int = 0


@dataclass(slots=True)
class _Book:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    synced: bool = False
    time: datetime | None = None
    updated: float = 0.0  # monotonic


class StreamClient:
    """Subscribes ``channels`` for ``products`` at ``url``; ``jwt()`` signs subscriptions."""

    def __init__(
        self,
        url: str,
        products: Sequence[str],
        *,
        channels: Sequence[str] = DEFAULT_CHANNELS,
        jwt: Callable[[], str] | None = None,
        clock: Clock | None = None,
        backoff_s: float = 0.2,
        max_backoff_s: float = 10.0,
        idle_timeout_s: float = 15.0,
        open_timeout_s: float = 5.0,
        stale_resubscribe_s: float = 30.0,
    ) -> None:
        self.url = url
        self.products = list(dict.fromkeys(products))
        self.channels = list(dict.fromkeys(channels))
        self._jwt = jwt
        self._clock = clock or SystemClock()
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.idle_timeout_s = idle_timeout_s
        self.open_timeout_s = open_timeout_s
        self.stale_resubscribe_s = stale_resubscribe_s
        self._lock = threading.Lock()
        self._feeds = {channel: _Feed() for channel in self.channels}
        self._quotes: dict[str, tuple[Quote, float]] = {}
        self._books: dict[str, _Book] = {}
        self._trades: dict[str, deque[dict[str, Any]]] = {}
        self._candles: dict[str, dict[str, Any]] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._last_market: dict[str, tuple[datetime, float]] = {}
        self._handlers: list[Callable[[StreamMessage], None]] = []
        self.handler_errors = 0
        self.connections = 0
        self.messages = 0
        self._seq: int | None = None
        self._resync = False
        self._last_stale_check = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ws: Any = None
        self.connected = threading.Event()  # set while subscribed, cleared on disconnect

    # --- lifecycle ---------------------------------------------------------------------------
    def add_handler(self, handler: Callable[[StreamMessage], None]) -> None:
        self._handlers.append(handler)

    def start(self) -> StreamClient:
        if self._thread is not None:
            return self
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            ready.set()
            try:
                loop.run_until_complete(self._main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="coinbase-stream", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def close(self, timeout: float = 3.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self.connected.clear()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    # --- reads (any thread) ------------------------------------------------------------------
    def quote(self, symbol: str, max_age_s: float) -> Quote | None:
        """The streamed quote if it arrived within ``max_age_s`` (monotonic), else None."""
        with self._lock:
            entry = self._quotes.get(symbol)
        if entry is None or time.monotonic() - entry[1] > max_age_s:
            return None
        return entry[0]

    def book(self, symbol: str, depth: int, max_age_s: float) -> OrderBook | None:
        with self._lock:
            book = self._books.get(symbol)
            if (
                book is None
                or not book.synced
                or book.time is None
                or time.monotonic() - book.updated > max_age_s
            ):
                return None
            bids = sorted(book.bids.items(), key=lambda kv: kv[0], reverse=True)[:depth]
            asks = sorted(book.asks.items(), key=lambda kv: kv[0])[:depth]
            when = book.time
        return OrderBook(
            symbol,
            tuple(BookLevel(p, s) for p, s in bids),
            tuple(BookLevel(p, s) for p, s in asks),
            when,
        )

    def book_synced(self, symbol: str) -> bool:
        with self._lock:
            book = self._books.get(symbol)
            return book is not None and book.synced

    def trades(self, symbol: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._trades.get(symbol, ()))

    def candle(self, symbol: str) -> dict[str, Any] | None:
        with self._lock:
            return self._candles.get(symbol)

    def order_update(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._orders.get(order_id)

    def feed_status(self) -> dict[str, FeedStatus]:
        with self._lock:
            return {
                channel: FeedStatus(f.connected, f.last_message_at, f.reconnects, f.gaps)
                for channel, f in self._feeds.items()
            }

    def last_message_at(self) -> dict[str, datetime]:
        """Per product: when its latest market-data message arrived (any channel)."""
        with self._lock:
            return {symbol: at for symbol, (at, _) in self._last_market.items()}

    def message_age(self, symbol: str) -> float | None:
        with self._lock:
            entry = self._last_market.get(symbol)
        return None if entry is None else time.monotonic() - entry[1]

    # --- the connection loop -----------------------------------------------------------------
    async def _main(self) -> None:
        import websockets

        assert self._stop is not None
        attempt = 0
        while not self._stop.is_set():
            started = time.monotonic()
            reason = "closed"
            try:
                async with websockets.connect(
                    self.url,
                    open_timeout=self.open_timeout_s,
                    ping_interval=20,
                    ping_timeout=20,
                    close_timeout=1,
                    max_size=16 * 1024 * 1024,
                    compression=None,
                ) as ws:
                    self._ws = ws
                    await self._on_connect(ws)
                    reason = await self._read(ws)
            except (TimeoutError, OSError, websockets.exceptions.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._ws = None
                self._on_disconnect()
            if self._stop.is_set():
                break
            if time.monotonic() - started > HEALTHY_CONNECTION_S:
                attempt = 0
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            delay *= 0.5 + random.random() / 2
            attempt += 1
            log.warning("coinbase stream disconnected (%s); reconnecting in %.2fs", reason, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=delay)

    async def _on_connect(self, ws: Any) -> None:
        self._seq = None
        self._resync = False
        first = self.connections == 0
        self.connections += 1
        with self._lock:
            for feed in self._feeds.values():
                if not first:
                    feed.reconnects += 1
        for channel in self.channels:
            await self._subscribe(ws, "subscribe", channel)
        with self._lock:
            for feed in self._feeds.values():
                feed.connected = True
        self.connected.set()
        log.info(
            "coinbase stream connected (%s for %d products)%s",
            ",".join(self.channels),
            len(self.products),
            "" if first else " after a reconnect",
        )

    def _on_disconnect(self) -> None:
        self.connected.clear()
        with self._lock:
            for feed in self._feeds.values():
                feed.connected = False
            for book in self._books.values():
                book.synced = False

    async def _subscribe(self, ws: Any, kind: str, channel: str) -> None:
        message: dict[str, Any] = {
            "type": kind,
            "product_ids": [] if channel == "heartbeats" else self.products,
            "channel": channel,
        }
        if self._jwt is not None:
            message["jwt"] = self._jwt()
        await ws.send(json.dumps(message))

    async def _read(self, ws: Any) -> str:
        """Read until the connection ends; returns why it ended."""
        import websockets

        assert self._stop is not None
        stop_wait = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                receive = asyncio.ensure_future(ws.recv())
                done, _ = await asyncio.wait(
                    {receive, stop_wait},
                    timeout=self.idle_timeout_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stop_wait in done:
                    receive.cancel()
                    await ws.close()
                    return "stopping"
                if not done:
                    receive.cancel()
                    await ws.close()
                    return f"no message for {self.idle_timeout_s:.0f}s"
                try:
                    raw = receive.result()
                except websockets.exceptions.ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd is not None else 1006
                    return f"close code {code}"
                self._handle(raw)
                if self._resync:
                    self._resync = False
                    await self._resubscribe(ws, SNAPSHOT_CHANNELS, "sequence gap")
                await self._check_stale(ws)
        finally:
            stop_wait.cancel()

    async def _resubscribe(self, ws: Any, channels: Iterable[str], why: str) -> None:
        wanted = [c for c in self.channels if c in channels]
        log.warning("coinbase stream resync (%s): resubscribing %s", why, ",".join(wanted))
        for channel in wanted:
            await self._subscribe(ws, "unsubscribe", channel)
            await self._subscribe(ws, "subscribe", channel)

    async def _check_stale(self, ws: Any) -> None:
        now = time.monotonic()
        if now - self._last_stale_check < 1.0:
            return
        self._last_stale_check = now
        with self._lock:
            ages = [now - self._last_market.get(p, (None, now))[1] for p in self.products]
        if ages and max(ages) > self.stale_resubscribe_s:
            with self._lock:
                for product in self.products:  # wait a full interval before the next try
                    at, _ = self._last_market.get(product, (self._clock.now(), now))
                    self._last_market[product] = (at, now)
            await self._resubscribe(ws, MARKET_CHANNELS, "market data stale")

    # --- messages ----------------------------------------------------------------------------
    def _handle(self, raw: str | bytes) -> None:
        received = time.perf_counter()
        now = self._clock.now()
        mono = time.monotonic()
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
            log.warning("coinbase stream: a message that is not JSON was ignored")
            return
        if not isinstance(doc, dict):
            return
        if doc.get("type") == "error":
            log.error("coinbase stream error: %s", str(doc.get("message", ""))[:200])
            return
        wire_channel = str(doc.get("channel", ""))
        channel = WIRE_TO_CHANNEL.get(wire_channel, wire_channel)
        self.messages += 1
        if not self._check_sequence(doc.get("sequence_num"), channel):
            return
        try:
            self._apply(channel, doc, now, mono)
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            log.warning("coinbase stream: unreadable %s message ignored (%s)", channel, exc)
            if channel == "level2":
                # part of it may have landed: the books are not to be trusted until fresh
                # snapshots arrive (as after a sequence gap)
                with self._lock:
                    for book in self._books.values():
                        book.synced = False
                self._resync = True
            return
        message = StreamMessage(channel, doc, received, now)
        for handler in self._handlers:
            try:
                handler(message)
            except Exception:  # a handler must never stop the reader
                self.handler_errors += 1
                log.exception("coinbase stream handler failed on a %s message", channel)

    def _check_sequence(self, seq: Any, channel: str) -> bool:
        """False for a message from before the current sequence (dropped)."""
        if not isinstance(seq, int):
            return True
        last = self._seq
        if last is not None and seq <= last:
            log.warning("coinbase stream: out-of-order sequence %d after %d dropped", seq, last)
            return False
        if last is not None and seq > last + 1:
            log.warning(
                "coinbase stream: sequence gap on %s (expected %d, got %d); resyncing",
                channel,
                last + 1,
                seq,
            )
            with self._lock:
                feed = self._feeds.get(channel)
                if feed is not None:
                    feed.gaps += 1
                for book in self._books.values():
                    book.synced = False
            self._resync = True
        self._seq = seq
        return True

    def _apply(self, channel: str, doc: dict[str, Any], now: datetime, mono: float) -> None:
        events = doc.get("events") or []
        stamp = parse_time(doc["timestamp"]) if doc.get("timestamp") else now
        touched: set[str] = set()
        with self._lock:
            feed = self._feeds.get(channel)
            if feed is not None:
                feed.last_message_at = now
            for event in events:
                if channel == "ticker":
                    for ticker in event.get("tickers") or []:
                        symbol = str(ticker["product_id"])
                        quote = Quote(
                            symbol=symbol,
                            bid=dec(ticker["best_bid"], "best_bid"),
                            ask=dec(ticker["best_ask"], "best_ask"),
                            last=dec(ticker["price"], "price"),
                            time=stamp,
                            bid_size=dec(ticker.get("best_bid_quantity") or 0, "bid size"),
                            ask_size=dec(ticker.get("best_ask_quantity") or 0, "ask size"),
                        )
                        self._quotes[symbol] = (quote, mono)
                        touched.add(symbol)
                elif channel == "level2":
                    symbol = str(event["product_id"])
                    self._apply_book(symbol, event, stamp, mono)
                    touched.add(symbol)
                elif channel == "market_trades":
                    for trade in event.get("trades") or []:
                        symbol = str(trade["product_id"])
                        tape = self._trades.setdefault(symbol, deque(maxlen=100))
                        tape.append(trade)
                        touched.add(symbol)
                elif channel == "candles":
                    for candle in event.get("candles") or []:
                        symbol = str(candle["product_id"])
                        self._candles[symbol] = candle
                        touched.add(symbol)
                elif channel == "user":
                    for order in event.get("orders") or []:
                        self._orders[str(order["order_id"])] = order
            for symbol in touched:
                self._last_market[symbol] = (now, mono)

    def _apply_book(self, symbol: str, event: dict[str, Any], stamp: datetime, mono: float) -> None:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book()
        if event.get("type") == "snapshot":
            book.bids.clear()
            book.asks.clear()
            book.synced = True
        elif not book.synced:
            return  # updates before the snapshot that a resync asked for are useless
        for update in event.get("updates") or []:
            side = book.bids if update["side"] == "bid" else book.asks
            price = dec(update["price_level"], "price_level")
            size = dec(update["new_quantity"], "new_quantity")
            if size == 0:
                side.pop(price, None)
            else:
                side[price] = size
        book.time = stamp
        book.updated = mono
