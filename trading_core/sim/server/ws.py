"""The WebSocket feed at ``/ws``, speaking Coinbase Advanced Trade's market data protocol.

Clients send ``{"type": "subscribe"|"unsubscribe", "channel": ..., "product_ids": [...],
"jwt": ...}``; the venue answers with a ``subscriptions`` message, a snapshot where the channel
has one (ticker, level2 as ``l2_data``, market_trades, candles, user), then updates. Every
message carries the connection's ``sequence_num`` (0, 1, 2, ...). ``heartbeats`` tick once a
second. A JWT is required for ``user`` and checked whenever one is sent.

Faults (see ``faults.py``): a dropped connection (close 1000, or the TCP connection aborted
without a close frame so the client sees 1006), a sequence gap, a frozen feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from ...domain import Order, fmt, is_perp_symbol
from ...errors import UnknownProduct
from . import wire
from .auth import AuthError
from .context import SimContext
from .faults import Fault

log = logging.getLogger("trading_core.sim.server.ws")

CHANNELS = ("heartbeats", "ticker", "level2", "market_trades", "candles", "user", "status")
WIRE_CHANNEL = {"level2": "l2_data"}
CANDLE_GRANULARITY = 300


class FeedSession:
    """One client connection: its subscriptions, its sequence counter, what it was last sent."""

    def __init__(self, websocket: WebSocket, ctx: SimContext) -> None:
        self.ws = websocket
        self.ctx = ctx
        self.subs: dict[str, set[str]] = {}
        self.seq = 0
        self.closed = False
        self._send_lock = asyncio.Lock()
        self._quotes: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
        self._books: dict[str, dict[tuple[str, Decimal], Decimal]] = {}
        self._book_keys: dict[str, datetime] = {}
        self._trade_seq: dict[str, int] = {}
        self._candle_start: dict[str, datetime] = {}
        self._order_seq = 0
        self._fault_seq = ctx.faults.ws_seq
        self._next_heartbeat = 0.0
        self._heartbeats = 0

    # --- sending -----------------------------------------------------------------------------
    async def send(self, channel: str, events: list[dict[str, Any]]) -> None:
        async with self._send_lock:
            if self.closed:
                return
            doc = {
                "channel": WIRE_CHANNEL.get(channel, channel),
                "client_id": "",
                "timestamp": wire.ts(datetime.now(UTC)),
                "sequence_num": self.seq,
                "events": events,
            }
            self.seq += 1
            await self.ws.send_text(json.dumps(doc, separators=(",", ":")))

    async def send_error(self, message: str) -> None:
        async with self._send_lock:
            if not self.closed:
                await self.ws.send_text(json.dumps({"type": "error", "message": message}))

    # --- the session ----------------------------------------------------------------------------
    async def run(self) -> None:
        await self.ws.accept()
        self.ctx.sessions.add(self)
        self.ctx.ws_connections += 1
        reader = asyncio.create_task(self._read())
        try:
            while not self.closed and not reader.done():
                await self._tick()
                await asyncio.sleep(self.ctx.tick_s)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            self.closed = True
            self.ctx.sessions.discard(self)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self) -> None:
        try:
            while True:
                text = await self.ws.receive_text()
                await self._on_message(text)
        except (WebSocketDisconnect, RuntimeError):
            self.closed = True

    async def _on_message(self, text: str) -> None:
        try:
            doc = json.loads(text)
        except ValueError:
            await self.send_error("malformed message: not JSON")
            return
        if not isinstance(doc, dict) or doc.get("type") not in ("subscribe", "unsubscribe"):
            await self.send_error("expected a subscribe or unsubscribe message")
            return
        channels = doc.get("channels") or [doc.get("channel")]
        products = doc.get("product_ids") or []
        if not isinstance(products, list) or not all(isinstance(p, str) for p in products):
            await self.send_error("product_ids must be a list of product ids")
            return
        token = doc.get("jwt")
        if token is not None or "user" in channels:
            try:
                self.ctx.keys.verify(str(token or ""), uri=None, skew_s=self.ctx.faults.skew_s())
            except AuthError as exc:
                await self.send_error(f"authentication failure: {exc}")
                return
        try:
            products = [self.ctx.venue.product(p).symbol for p in products]
        except UnknownProduct as exc:
            await self.send_error(f"Failed to subscribe: {exc.message}")
            return
        for channel in channels:
            if channel not in CHANNELS:
                await self.send_error(f"unknown channel {channel!r}")
                continue
            if doc["type"] == "subscribe":
                self.subs.setdefault(channel, set()).update(products)
                await self._snapshot(channel, products)
            else:
                left = self.subs.get(channel, set()) - set(products)
                if products and left:
                    self.subs[channel] = left
                else:
                    self.subs.pop(channel, None)
        await self.send(
            "subscriptions",
            [{"subscriptions": {ch: sorted(p) for ch, p in self.subs.items()}}],
        )

    # --- snapshots ---------------------------------------------------------------------------
    async def _snapshot(self, channel: str, products: list[str]) -> None:
        venue = self.ctx.venue
        if channel == "ticker":
            tickers = [self._ticker(p) for p in products]
            if tickers:
                await self.send("ticker", [{"type": "snapshot", "tickers": tickers}])
        elif channel == "level2":
            for product in products:
                book = self._book(product)
                self._books[product] = book
                self._book_keys[product] = venue.quote(product).time
                updates = self._level_docs(book, book.keys())
                await self.send(
                    "level2", [{"type": "snapshot", "product_id": product, "updates": updates}]
                )
        elif channel == "market_trades":
            trades = []
            for product in products:
                tape = venue.trades(product, 50)
                self._trade_seq[product] = venue.trade_seq
                trades.extend(self._trade_doc(t) for t in tape)
            await self.send("market_trades", [{"type": "snapshot", "trades": trades}])
        elif channel == "candles":
            candles = [c for c in (self._candle(p, force=True) for p in products) if c]
            await self.send("candles", [{"type": "snapshot", "candles": candles}])
        elif channel == "user":
            self._order_seq = venue.order_seq
            orders = [
                self._order_doc(o)
                for o in venue.orders()
                if o.is_open and (not products or o.symbol in products)
            ]
            await self.send("user", [{"type": "snapshot", "orders": orders, "positions": {}}])

    # --- updates -----------------------------------------------------------------------------
    async def _tick(self) -> None:
        ctx = self.ctx
        seq, actions = ctx.faults.ws_events_after(self._fault_seq)
        self._fault_seq = seq
        for fault in actions:
            if await self._apply(fault):
                return
        ctx.venue.sync()
        now = time.monotonic()
        if "heartbeats" in self.subs and now >= self._next_heartbeat:
            self._next_heartbeat = now + ctx.heartbeat_s
            self._heartbeats += 1
            await self.send(
                "heartbeats",
                [
                    {
                        "current_time": datetime.now(UTC).isoformat(),
                        "heartbeat_counter": self._heartbeats,
                    }
                ],
            )
        if "user" in self.subs:
            await self._user_updates()
        if ctx.faults.frozen():
            return
        if "ticker" in self.subs:
            tickers = [
                t for t in (self._ticker(p, changed_only=True) for p in self.subs["ticker"]) if t
            ]
            if tickers:
                await self.send("ticker", [{"type": "update", "tickers": tickers}])
        if "level2" in self.subs:
            for product in sorted(self.subs["level2"]):
                await self._book_update(product)
        if "market_trades" in self.subs:
            await self._trade_updates()
        if "candles" in self.subs:
            candles = [c for c in (self._candle(p) for p in self.subs["candles"]) if c]
            if candles:
                await self.send("candles", [{"type": "update", "candles": candles}])

    async def _apply(self, fault: Fault) -> bool:
        """Act on a WebSocket fault; True when the connection is gone."""
        if fault.kind == "ws_gap":
            async with self._send_lock:
                self.seq += int(fault.params.get("skip", 3))
            return False
        code = int(fault.params.get("code", 1006))
        self.closed = True
        if code == 1000:
            await self.ws.close(code=1000)
        else:
            abort_connection(self.ws)
        return True

    def _ticker(self, product: str, *, changed_only: bool = False) -> dict[str, Any] | None:
        quote = self.ctx.venue.quote(product)
        key = (quote.bid, quote.ask, quote.last)
        if changed_only and self._quotes.get(product) == key:
            return None
        self._quotes[product] = key
        return {
            "type": "ticker",
            "product_id": product,
            "price": fmt(quote.last),
            "volume_24_h": fmt(self.ctx.venue.volume_24h(product)),
            "low_24_h": "",
            "high_24_h": "",
            "low_52_w": "",
            "high_52_w": "",
            "price_percent_chg_24_h": "0",
            "best_bid": fmt(quote.bid),
            "best_bid_quantity": fmt(quote.bid_size),
            "best_ask": fmt(quote.ask),
            "best_ask_quantity": fmt(quote.ask_size),
        }

    def _book(self, product: str) -> dict[tuple[str, Decimal], Decimal]:
        book = self.ctx.venue.book(product, self.ctx.book_depth)
        levels = {("bid", lv.price): lv.size for lv in book.bids}
        levels.update({("offer", lv.price): lv.size for lv in book.asks})
        return levels

    def _level_docs(
        self, levels: dict[tuple[str, Decimal], Decimal], keys: Any
    ) -> list[dict[str, str]]:
        now = wire.ts(self.ctx.venue.now)
        return [
            {
                "side": side,
                "event_time": now,
                "price_level": fmt(price),
                "new_quantity": fmt(levels.get((side, price), Decimal(0))),
            }
            for side, price in keys
        ]

    async def _book_update(self, product: str) -> None:
        stamp = self.ctx.venue.quote(product).time
        if self._book_keys.get(product) == stamp:
            return
        self._book_keys[product] = stamp
        old = self._books.get(product, {})
        new = self._book(product)
        changed = [k for k in new if old.get(k) != new[k]] + [k for k in old if k not in new]
        self._books[product] = new
        if changed:
            updates = self._level_docs(new, changed)
            await self.send(
                "level2", [{"type": "update", "product_id": product, "updates": updates}]
            )

    def _trade_doc(self, trade: Any) -> dict[str, str]:
        return {
            "trade_id": trade.trade_id,
            "product_id": trade.symbol,
            "price": fmt(trade.price),
            "size": fmt(trade.size),
            "side": trade.side.value,
            "time": wire.ts(trade.time),
        }

    async def _trade_updates(self) -> None:
        venue = self.ctx.venue
        trades = []
        for product in sorted(self.subs["market_trades"]):
            after = self._trade_seq.get(product, venue.trade_seq)
            new = venue.trades_after(product, after)
            self._trade_seq[product] = venue.trade_seq
            trades.extend(self._trade_doc(t) for t in new)
        if trades:
            await self.send("market_trades", [{"type": "update", "trades": trades}])

    def _candle(self, product: str, *, force: bool = False) -> dict[str, str] | None:
        venue = self.ctx.venue
        candles = venue.candles(product, CANDLE_GRANULARITY, 1, venue.now)
        if not candles:
            return None
        candle = candles[-1]
        if not force and self._candle_start.get(product) == candle.start:
            return None
        self._candle_start[product] = candle.start
        return {**wire.candle_doc(candle), "product_id": product}

    def _order_doc(self, order: Order) -> dict[str, Any]:
        avg = order.avg_fill_price
        return {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id,
            "cumulative_quantity": fmt(order.filled_size),
            "leaves_quantity": fmt(order.remaining_size or Decimal(0)),
            "avg_price": fmt(avg) if avg is not None else "0",
            "total_fees": fmt(order.fees),
            "status": wire.order_doc(
                order, portfolio_uuid="", fills=0, perp=is_perp_symbol(order.symbol)
            )["status"],
            "product_id": order.symbol,
            "creation_time": wire.ts(order.created_at),
            "order_side": order.side.value,
            "order_type": order.order_type.value,
            "cancel_reason": "",
            "reject_reason": order.reject_reason or "",
        }

    async def _user_updates(self) -> None:
        seq, orders = self.ctx.venue.order_updates_after(self._order_seq)
        self._order_seq = seq
        wanted = self.subs.get("user") or set()
        docs = [self._order_doc(o) for o in orders if not wanted or o.symbol in wanted]
        if docs:
            await self.send("user", [{"type": "update", "orders": docs}])


def abort_connection(websocket: WebSocket) -> None:
    """Drop the TCP connection without a close frame (the client sees code 1006). Uses the
    server protocol behind the ASGI ``send`` the gate kept in the scope; falls back to nothing
    (the session simply stops) when that is not available."""
    raw_send = websocket.scope.get("sim.raw_send")
    protocol = getattr(raw_send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is not None:
        transport.abort()
    else:  # pragma: no cover - another ASGI server
        log.warning("cannot abort the connection here; the session stops without a close")


async def feed_endpoint(websocket: WebSocket) -> None:
    ctx: SimContext = websocket.app.state.sim
    await FeedSession(websocket, ctx).run()
