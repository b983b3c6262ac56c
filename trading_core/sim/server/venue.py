"""``SimVenue``: the simulated exchange behind the Coinbase-compatible server.

A ``MatchingEngine`` on its own clock (the wall clock, or a ``VirtualClock`` moved by the admin
endpoint), plus what a venue publishes besides orders: account and portfolio ids, a public
trade tape per product (one print per price move, plus every fill), and a log of order changes
that the WebSocket ``user`` channel streams. Every call takes the venue's lock and first moves
the engine to the clock's time, so REST handlers, WebSocket publishers and tests (from another
thread) all see one consistent venue.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ...clock import Clock, SystemClock
from ...config.settings import TOP_TEN_USD
from ...domain import (
    ZERO,
    Balance,
    Candle,
    Fill,
    Order,
    OrderBook,
    OrderPreview,
    OrderRequest,
    OrderSide,
    OrderType,
    Product,
    Quote,
    TimeInForce,
)
from ..engine import FeeSchedule, MatchingEngine
from ..market import SimulatedMarket

DEFAULT_SYMBOLS = (*TOP_TEN_USD, "BTC-PERP-INTX", "ETH-PERP-INTX")
DEFAULT_BALANCES: dict[str, Decimal] = {
    "USD": Decimal("100000"),
    "BTC": Decimal("0.05"),
    "ETH": Decimal("1"),
}
TAPE_LENGTH = 200
ORDER_LOG_LENGTH = 10_000
SEEN_FILLS = 5_000
ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Trade:
    """One public print on the tape."""

    trade_id: str
    symbol: str
    price: Decimal
    size: Decimal
    side: OrderSide  # the taker's side
    time: datetime


class SimVenue:
    """The exchange the server exposes. Thread-safe (one re-entrant lock)."""

    def __init__(
        self,
        engine: MatchingEngine,
        clock: Clock | None = None,
        *,
        intx: bool = False,
        namespace: str = "sim",
    ) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self.intx = intx
        self.lock = threading.RLock()
        self._ns = uuid.uuid5(uuid.NAMESPACE_URL, f"gpt-trader-sim:{namespace}")
        self.portfolio_uuid = self._uuid("portfolio:default")
        self.intx_portfolio_uuid = self._uuid("portfolio:intx") if intx else None
        self.created_at = engine.time
        self._tape: dict[str, deque[Trade]] = {}
        self._trade_seq = 0
        self._last_px: dict[str, int] = {}
        self._orders_log: deque[tuple[int, Order]] = deque(maxlen=ORDER_LOG_LENGTH)
        self._order_seq = 0
        self._fill_cursor: datetime | None = None
        self._seen_fills: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._fill_counts: dict[str, int] = {}
        self._volume_cache: dict[tuple[str, int], Decimal] = {}
        with self.lock:
            for fill in self.engine.list_fills():  # fills from before the server started
                self._seen_fills.add(fill.fill_id)
                self._seen_order.append(fill.fill_id)
                self._fill_counts[fill.order_id] = self._fill_counts.get(fill.order_id, 0) + 1
                self._fill_cursor = fill.time
            self._print_moves()

    @classmethod
    def create(
        cls,
        *,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
        scenario: str = "calm",
        seed: int = 42,
        clock: Clock | None = None,
        balances: Mapping[str, Decimal | int | str] | None = None,
        fees: FeeSchedule | None = None,
        intx: bool = False,
    ) -> SimVenue:
        clock = clock or SystemClock()
        market = SimulatedMarket(list(symbols), scenario=scenario, seed=seed, start=clock.now())
        engine = MatchingEngine(
            market,
            starting_balances=DEFAULT_BALANCES if balances is None else balances,
            fees=fees,
        )
        return cls(engine, clock, intx=intx, namespace=f"{seed}")

    def _uuid(self, text: str) -> str:
        return str(uuid.uuid5(self._ns, text))

    def account_uuid(self, currency: str) -> str:
        return self._uuid(f"account:{currency}")

    # --- time --------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.engine.time

    def sync(self) -> None:
        """Move the engine to the clock's time, recording order changes and price prints."""
        with self.lock:
            now = self.clock.now()
            engine = self.engine
            if now <= engine.time:
                return
            watched = self._open_states()
            engine.advance_to(now)
            if watched:
                self._note_changes(watched)
            self._print_moves()

    def _open_states(self) -> dict[str, tuple[Any, Decimal]]:
        return {
            o.order_id: (o.status, o.filled_size) for o in self.engine.list_orders(open_only=True)
        }

    def _note_changes(self, before: Mapping[str, tuple[Any, Decimal]]) -> None:
        changed = False
        for order_id, state in before.items():
            order = self.engine.get_order(order_id)
            if (order.status, order.filled_size) != state:
                self._log_order(order)
                changed = True
        if changed:
            self._record_fills()

    def _log_order(self, order: Order) -> None:
        self._order_seq += 1
        self._orders_log.append((self._order_seq, order))

    def _record_fills(self) -> None:
        """New fills go on the tape (as prints) and into the per-order counts. Fills at the
        cursor's instant are looked at again (a virtual clock puts many at one time); their ids
        say which were already recorded."""
        cursor = self._fill_cursor
        since = None if cursor is None else cursor - ONE_MICROSECOND
        for fill in self.engine.list_fills(since=since):
            if fill.fill_id in self._seen_fills:
                continue
            self._seen_fills.add(fill.fill_id)
            self._seen_order.append(fill.fill_id)
            if len(self._seen_order) > SEEN_FILLS:
                self._seen_fills.discard(self._seen_order.popleft())
            self._fill_counts[fill.order_id] = self._fill_counts.get(fill.order_id, 0) + 1
            self._print(fill.symbol, fill.price, fill.size, fill.side, fill.time)
            self._fill_cursor = fill.time

    def _print_moves(self) -> None:
        market = self.engine.market
        for symbol in market.symbols:
            _, _, last, top = market.ticks(symbol)
            previous = self._last_px.get(symbol)
            if previous == last:
                continue
            self._last_px[symbol] = last
            if previous is None:
                continue
            product = market.product(symbol)
            price = Decimal(last) * product.quote_increment
            size = max(Decimal(top // 10 or 1) * product.base_increment, product.base_min_size)
            side = OrderSide.BUY if last > previous else OrderSide.SELL
            self._print(symbol, price, size, side, market.quote(symbol).time)

    def _print(
        self, symbol: str, price: Decimal, size: Decimal, side: OrderSide, when: datetime
    ) -> None:
        self._trade_seq += 1
        tape = self._tape.get(symbol)
        if tape is None:
            tape = self._tape[symbol] = deque(maxlen=TAPE_LENGTH)
        tape.append(Trade(str(self._trade_seq), symbol, price, size, side, when))

    # --- reference and market data -----------------------------------------------------------
    def products(self) -> list[Product]:
        with self.lock:
            self.sync()
            return self.engine.market.products()

    def product(self, symbol: str) -> Product:
        with self.lock:
            return self.engine.product(symbol)

    def quote(self, symbol: str) -> Quote:
        with self.lock:
            self.sync()
            return self.engine.quote(symbol)

    def book(self, symbol: str, depth: int) -> OrderBook:
        with self.lock:
            self.sync()
            product = self.engine.product(symbol)
            return self.engine.market.order_book(product.symbol, depth)

    def candles(self, symbol: str, granularity: int, limit: int, end: datetime) -> list[Candle]:
        with self.lock:
            self.sync()
            product = self.engine.product(symbol)
            return self.engine.market.candles(product.symbol, granularity, limit, end)

    def volume_24h(self, symbol: str) -> Decimal:
        with self.lock:
            hour = int(self.engine.time.timestamp()) // 3600
            key = (symbol, hour)
            cached = self._volume_cache.get(key)
            if cached is None:
                bars = self.engine.market.candles(symbol, 3600, 24)
                cached = sum((c.volume for c in bars), ZERO)
                self._volume_cache = {key: cached} | {
                    k: v for k, v in self._volume_cache.items() if k[1] == hour
                }
            return cached

    def trades(self, symbol: str, limit: int) -> list[Trade]:
        """Newest first."""
        with self.lock:
            self.sync()
            product = self.engine.product(symbol)
            tape = self._tape.get(product.symbol, deque())
            return list(reversed(tape))[:limit]

    def trades_after(self, symbol: str, trade_seq: int) -> list[Trade]:
        """Prints with an id above ``trade_seq``, oldest first."""
        with self.lock:
            tape = self._tape.get(symbol, deque())
            return [t for t in tape if int(t.trade_id) > trade_seq]

    @property
    def trade_seq(self) -> int:
        return self._trade_seq

    # --- account -----------------------------------------------------------------------------
    def balances(self) -> list[Balance]:
        with self.lock:
            self.sync()
            return self.engine.list_balances()

    def fee_schedule(self) -> FeeSchedule:
        return self.engine.fees

    def volume_30d(self) -> tuple[Decimal, Decimal]:
        """(traded notional, fees paid) over the fills the venue keeps."""
        with self.lock:
            fills = self.engine.list_fills()
            return (
                sum((f.notional for f in fills), ZERO),
                sum((f.fee for f in fills), ZERO),
            )

    # --- orders ------------------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> tuple[Order, bool]:
        """(order, duplicate): a known client_order_id returns that order and True. Raises
        OrderRejected / UnknownProduct from the engine."""
        with self.lock:
            self.sync()
            existing = self.engine.find_order_by_client_id(request.client_order_id)
            if existing is not None:
                return existing, True
            order = self.engine.submit_order(request)
            self._log_order(order)
            self._record_fills()
            return order, False

    def preview(self, request: OrderRequest) -> OrderPreview:
        with self.lock:
            self.sync()
            return self.engine.preview_order(request)

    def preview_edit(
        self, order_id: str, price: Decimal | None, size: Decimal | None
    ) -> OrderPreview:
        with self.lock:
            self.sync()
            return self.engine.preview_edit(order_id, limit_price=price, base_size=size)

    def edit(
        self, order_id: str, price: Decimal | None, size: Decimal | None, preview_id: str | None
    ) -> Order:
        with self.lock:
            self.sync()
            order = self.engine.edit_order(
                order_id, limit_price=price, base_size=size, preview_id=preview_id
            )
            self._log_order(order)
            self._record_fills()
            return order

    def cancel(self, order_ids: Sequence[str]) -> dict[str, bool]:
        with self.lock:
            self.sync()
            result = self.engine.cancel_orders(order_ids)
            for order_id, ok in result.items():
                if ok:
                    self._log_order(self.engine.get_order(order_id))
            return result

    def close_position(
        self, client_order_id: str, symbol: str, size: Decimal | None
    ) -> tuple[Order, bool]:
        """A market order against the product's position (its whole size unless ``size``)."""
        with self.lock:
            self.sync()
            product = self.engine.product(symbol)
            held = self.engine.position(product.symbol).quantity
            amount = size if size is not None else abs(held)
            side = OrderSide.SELL if held >= ZERO else OrderSide.BUY
            request = OrderRequest(
                client_order_id=client_order_id,
                symbol=product.symbol,
                side=side,
                order_type=OrderType.MARKET,
                base_size=amount if amount > ZERO else None,
                quote_size=None if amount > ZERO else product.min_notional,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
            )
            return self.submit(request)

    def get_order(self, order_id: str) -> Order:
        with self.lock:
            self.sync()
            return self.engine.get_order(order_id)

    def orders(self) -> list[Order]:
        """Every order the venue keeps, newest first."""
        with self.lock:
            self.sync()
            return list(reversed(self.engine.list_orders()))

    def fills(self) -> list[Fill]:
        """Every fill the venue keeps, newest first."""
        with self.lock:
            self.sync()
            return list(reversed(self.engine.list_fills()))

    def fill_count(self, order_id: str) -> int:
        return self._fill_counts.get(order_id, 0)

    def is_perp(self, symbol: str) -> bool:
        return self.product(symbol).is_perp

    def order_updates_after(self, seq: int) -> tuple[int, list[Order]]:
        """(latest seq, orders changed after ``seq``, oldest first)."""
        with self.lock:
            return self._order_seq, [o for s, o in self._orders_log if s > seq]

    @property
    def order_seq(self) -> int:
        return self._order_seq

    def position_quantity(self, symbol: str) -> Decimal:
        with self.lock:
            return self.engine.position(symbol).quantity

    def state(self) -> dict[str, Any]:
        """Counters for tests and operators (the admin endpoint)."""
        with self.lock:
            orders = self.engine.list_orders()
            return {
                "time": self.engine.time.isoformat(),
                "orders": len(orders),
                "open_orders": sum(1 for o in orders if o.is_open),
                "fills": len(self.engine.list_fills()),
                "scenario": getattr(self.engine.market, "scenario_name", ""),
            }
