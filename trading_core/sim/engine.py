"""``MatchingEngine``: orders, fills, balances and positions against a simulated market.

Rules (Coinbase Advanced spot, simplified where a simulator has to choose):
- Requests are checked in this order, the first failure raising ``OrderRejected(reason=...)``:
  INVALID_ORDER (``OrderRequest.validate``; also market sells by quote size, reduce-only buys
  and naive end times), PERPETUALS_NOT_SIMULATED (perps come with a later issue),
  INVALID_SIZE_PRECISION / INVALID_PRICE_PRECISION (multiples of the increments),
  ORDER_SIZE_TOO_SMALL / ORDER_SIZE_TOO_LARGE, ORDER_NOTIONAL_TOO_SMALL, INVALID_END_TIME,
  INVALID_STOP_PRICE (already reached), INVALID_LIMIT_PRICE_POST_ONLY (would cross), then
  INSUFFICIENT_FUND (spot is long only: selling more than the base balance). A rejected request
  leaves no order behind; ``preview_order`` lists every reason instead of raising.
- Market orders (IOC) take liquidity from the synthetic book level by level, so bigger orders get
  worse prices; ``quote_size`` is the notional to spend before the fee, which comes on top.
- Limit orders fill their marketable part as taker up to the limit, then rest (GTC/GTD), are
  cancelled (IOC) or, for FOK, fill completely or not at all. Resting orders fill completely at
  their limit price as maker on the first step where the market crosses them (buy: ask <= limit,
  sell: bid >= limit); the synthetic book replenishes every step.
- Stop-limit orders stay OPEN until the last price reaches the stop in ``stop_direction``, then
  TRIGGER into a working limit order (whose marketable part fills at once as taker).
- Buys hold quote currency including the fee (taker rate, maker for post-only), sells hold base.
  Market orders settle at once and hold nothing.
- Status changes only through ``Order.apply`` (the lifecycle table). Ids come from counters
  hashed with the market's seed, so runs are reproducible.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..domain import (
    ZERO,
    Balance,
    Fill,
    Liquidity,
    Order,
    OrderEvent,
    OrderPreview,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Quote,
    StopDirection,
    TimeInForce,
    is_multiple,
    validate_symbol,
)
from ..errors import OrderNotFound, OrderRejected, UnknownProduct
from .accounts import Accounts
from .codec import (
    decode_fill,
    decode_order,
    decode_position,
    encode_fill,
    encode_order,
    encode_position,
)
from .feed import MarketBase

MAX_FILLS = 20_000  # fills kept for list_fills
MAX_CLOSED_ORDERS = 5_000  # finished orders kept (and their client ids remembered)
STATE_VERSION = 1
PRICE_PLACES = Decimal("1e-10")
SLIPPAGE_PLACES = Decimal("1e-8")
TWO = Decimal(2)


def default_balances() -> dict[str, Decimal]:
    return {"USD": Decimal("100000")}


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of notional; default: Coinbase Advanced's lowest volume tier."""

    maker: Decimal = Decimal("0.006")
    taker: Decimal = Decimal("0.012")

    def __post_init__(self) -> None:
        for name in ("maker", "taker"):
            value = getattr(self, name)
            if not ZERO <= value < 1:
                raise ValueError(f"{name} fee must be in [0, 1), got {value}")


@dataclass(slots=True)
class _Live:
    """Matching data of a working order: remaining size in units, prices in ticks, its hold."""

    order: Order
    units: int
    limit_t: int
    stop_t: int | None  # set until a stop-limit triggers
    hold_ccy: str
    hold: Decimal
    hold_rate: Decimal  # fee rate the buy hold was sized with


@dataclass(slots=True)
class _Plan:
    """What a request would do now, worked out without changing anything."""

    problems: list[tuple[str, str]]
    product: Product | None = None
    units: int | None = None
    limit_t: int | None = None
    stop_t: int | None = None
    takes: list[tuple[int, int]] = field(default_factory=list)  # (price ticks, units) as taker
    complete: bool = False  # the takes fill the whole order
    hold_ccy: str = ""
    hold: Decimal = ZERO
    hold_rate: Decimal = ZERO


def _uuid_like(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class MatchingEngine:
    """The simulated venue's account and order book keeping on top of a market.

    Holds: the market, the fee schedule, balances (``Accounts``), every order by id (working ones
    also in ``_live`` with their matching data), the client-id index, positions per symbol, the
    most recent fills, and the id counters."""

    def __init__(
        self,
        market: MarketBase,
        starting_balances: Mapping[str, Decimal | int | str] | None = None,
        fees: FeeSchedule | None = None,
    ) -> None:
        self.market = market
        self.fees = fees or FeeSchedule()
        self.accounts = Accounts(
            default_balances() if starting_balances is None else starting_balances
        )
        self._orders: dict[str, Order] = {}
        self._client_index: dict[str, str] = {}
        self._live: dict[str, _Live] = {}
        self._closed: deque[str] = deque()
        self._positions: dict[str, Position] = {}
        self._fills: deque[Fill] = deque(maxlen=MAX_FILLS)
        self._counters = {"order": 0, "fill": 0}
        self._reset_changes()
        self._seed_positions()

    # --- changes (the journal that makes every answer durable: see PaperBroker) ---------------
    def _reset_changes(self) -> None:
        self._changed: dict[str, None] = {}  # order ids changed since the last journal_entry
        self._new_fills: list[Fill] = []
        self._new_closed: list[str] = []

    def _transition(
        self, order: Order, event: OrderEvent, when: datetime, *, reason: str | None = None
    ) -> None:
        """Every order state change goes through here, so none escapes the journal."""
        order.apply(event, when, reason=reason)
        self._changed[order.order_id] = None

    def journal_entry(self) -> dict[str, Any] | None:
        """What changed since the last call (None: nothing): the changed orders and new fills,
        plus the small whole-venue parts (working orders, positions, balances, counters) and
        the market time. ``apply_journal_entry`` on a state saved before it reproduces the
        venue after it."""
        if not (self._changed or self._new_fills or self._new_closed):
            return None
        entry = {
            "time": self.market.time.isoformat(),
            "orders": [encode_order(self._orders[i]) for i in self._changed if i in self._orders],
            "fills": [encode_fill(f) for f in self._new_fills],
            "closed": list(self._new_closed),
            "live": self._encode_live(),
            "positions": [encode_position(p) for _, p in sorted(self._positions.items())],
            "balances": self.accounts.to_state(),
            "counters": dict(self._counters),
        }
        self._reset_changes()
        return entry

    def apply_journal_entry(self, entry: Mapping[str, Any]) -> None:
        """Replay one ``journal_entry`` (the market is the caller's: see PaperBroker.open)."""
        for data in entry["orders"]:
            order = decode_order(data)
            self._orders[order.order_id] = order
            self._client_index[order.client_order_id] = order.order_id
        self._live = self._decode_live(entry["live"])
        for order_id in entry["closed"]:
            self._remember_closed(order_id)
        self._fills.extend(decode_fill(f) for f in entry["fills"])
        self._positions = {}
        for data in entry["positions"]:
            position = decode_position(data)
            self._positions[position.symbol] = position
        self.accounts = Accounts.from_state(entry["balances"])
        self._counters = {k: int(v) for k, v in entry["counters"].items()}
        self._reset_changes()

    def _seed_positions(self) -> None:
        """Starting holdings of a product's base currency open a position at the current mid."""
        for product in self.market.products():
            base = product.base_currency
            amount = self.accounts.available(base)
            if (
                amount > ZERO
                and product.symbol not in self._positions
                and not any(self.market.product(s).base_currency == base for s in self._positions)
            ):
                self._positions[product.symbol] = Position(
                    product.symbol, quantity=amount, avg_entry_price=self._mid(product)
                )

    # --- time --------------------------------------------------------------------------------
    @property
    def time(self) -> datetime:
        return self.market.time

    def advance_to(self, when: datetime) -> None:
        """Move the market to ``when``; working orders are checked at every step on the way."""
        market = self.market
        if when <= market.time:
            return
        if self._live:
            market.advance_to(when, self._on_step)
            if self._live:
                self._expire_due(market.time)
        else:
            market.advance_to(when)

    def _on_step(self, when: datetime) -> None:
        market = self.market
        for live in list(self._live.values()):
            order = live.order
            if order.end_time is not None and when >= order.end_time:
                self._finish(live, OrderEvent.EXPIRE, when)
                continue
            bid, ask, last, _ = market.ticks(order.symbol)
            if live.stop_t is not None:
                stop = live.stop_t
                if (order.stop_direction is StopDirection.DOWN and last <= stop) or (
                    order.stop_direction is StopDirection.UP and last >= stop
                ):
                    live.stop_t = None
                    self._transition(order, OrderEvent.TRIGGER, when)
                    takes, _ = self._walk(
                        order.symbol, order.side, units=live.units, limit_t=live.limit_t
                    )
                    for price_t, units in takes:
                        self._fill(order, live, price_t, units, Liquidity.TAKER, when)
                continue
            if (order.side is OrderSide.BUY and ask <= live.limit_t) or (
                order.side is OrderSide.SELL and bid >= live.limit_t
            ):
                self._fill(order, live, live.limit_t, live.units, Liquidity.MAKER, when)

    def _expire_due(self, now: datetime) -> None:
        for live in list(self._live.values()):
            end = live.order.end_time
            if end is not None and now >= end:
                self._finish(live, OrderEvent.EXPIRE, now)

    # --- reference and market data -------------------------------------------------------------
    def product(self, symbol: str) -> Product:
        """The product for ``symbol`` (UnknownProduct if malformed or not on this market)."""
        feed = self.market.find(symbol)
        if feed is not None:
            return feed.product
        try:
            canonical = validate_symbol(symbol)
        except ValueError as exc:
            raise UnknownProduct(str(exc)) from None
        return self.market.product(canonical)

    def quote(self, symbol: str) -> Quote:
        """The market's published quote for ``symbol`` (any case)."""
        return self.market.quote(self.product(symbol).symbol)

    def _mid(self, product: Product) -> Decimal:
        bid, ask, _, _ = self.market.ticks(product.symbol)
        return Decimal(bid + ask) * product.quote_increment / TWO

    # --- account -------------------------------------------------------------------------------
    def list_balances(self) -> list[Balance]:
        return self.accounts.balances()

    def list_positions(self) -> list[Position]:
        """Non-flat positions, by symbol."""
        return [p for _, p in sorted(self._positions.items()) if not p.is_flat]

    def position(self, symbol: str) -> Position:
        return self._positions.get(symbol) or Position(symbol)

    # --- planning ------------------------------------------------------------------------------
    def _walk(
        self,
        symbol: str,
        side: OrderSide,
        *,
        units: int | None = None,
        quote: Decimal | None = None,
        limit_t: int | None = None,
    ) -> tuple[list[tuple[int, int]], bool]:
        """Take from the book: ``units`` of base, or as much as ``quote`` (notional) buys, never
        past ``limit_t``. Returns the (price ticks, units) taken and whether the order is done."""
        feed = self.market.feed(symbol)
        takes: list[tuple[int, int]] = []
        buying = side is OrderSide.BUY
        if units is not None:
            remaining = units
            for price_t, size_u in feed.levels(side.value):
                if limit_t is not None and (price_t > limit_t if buying else price_t < limit_t):
                    break
                take = min(size_u, remaining)
                takes.append((price_t, take))
                remaining -= take
                if remaining == 0:
                    return takes, True
            return takes, False
        budget = quote if quote is not None else ZERO
        unit_value = feed.qi * feed.bi
        for price_t, size_u in feed.levels(side.value):
            affordable = int(budget // (unit_value * price_t))
            take = min(size_u, affordable)
            if take <= 0:
                return takes, True
            takes.append((price_t, take))
            budget -= unit_value * price_t * take
        return takes, False

    def _plan(self, request: OrderRequest) -> _Plan:
        """Check ``request`` against the product, the market and the account, and work out what
        it would take from the book now; nothing changes."""
        try:
            request.validate()
        except ValueError as exc:
            return _Plan([("INVALID_ORDER", str(exc))])
        product = self.product(request.symbol)
        plan = _Plan([], product)
        problems = plan.problems
        symbol = product.symbol
        if product.is_perp:
            problems.append(
                ("PERPETUALS_NOT_SIMULATED", f"{symbol}: perpetuals are not simulated yet")
            )
            return plan
        if product.trading_disabled:
            problems.append(("TRADING_DISABLED", f"{symbol}: trading is disabled"))
        side = request.side
        kind = request.order_type
        if kind is OrderType.MARKET and side is OrderSide.SELL and request.quote_size is not None:
            problems.append(("INVALID_ORDER", "market sells are sized in base_size"))
            return plan
        if request.reduce_only and side is OrderSide.BUY:
            problems.append(("INVALID_ORDER", "reduce-only buys cannot reduce a spot position"))
        bi, qi = product.base_increment, product.quote_increment
        size = request.base_size
        if size is not None:
            if is_multiple(size, bi):
                plan.units = int(size / bi)
            else:
                problems.append(
                    ("INVALID_SIZE_PRECISION", f"base_size {size} is not a multiple of {bi}")
                )
            if size < product.base_min_size:
                problems.append(
                    ("ORDER_SIZE_TOO_SMALL", f"base_size {size} below {product.base_min_size}")
                )
            if size > product.base_max_size:
                problems.append(
                    ("ORDER_SIZE_TOO_LARGE", f"base_size {size} above {product.base_max_size}")
                )
        if request.quote_size is not None and not is_multiple(request.quote_size, qi):
            problems.append(
                (
                    "INVALID_SIZE_PRECISION",
                    f"quote_size {request.quote_size} is not a multiple of {qi}",
                )
            )
        for name, price in (
            ("limit_price", request.limit_price),
            ("stop_price", request.stop_price),
        ):
            if price is not None and not is_multiple(price, qi):
                problems.append(
                    ("INVALID_PRICE_PRECISION", f"{name} {price} is not a multiple of {qi}")
                )
        if problems:
            return plan
        if request.limit_price is not None:
            plan.limit_t = int(request.limit_price / qi)
        if request.stop_price is not None:
            plan.stop_t = int(request.stop_price / qi)
        bid, ask, last, _ = self.market.ticks(symbol)
        mid = Decimal(bid + ask) * qi / TWO
        if request.quote_size is not None:
            notional = request.quote_size
        else:
            assert size is not None
            notional = size * (request.limit_price if request.limit_price is not None else mid)
        if notional < product.min_notional:
            problems.append(
                ("ORDER_NOTIONAL_TOO_SMALL", f"notional {notional} below {product.min_notional}")
            )
        if request.end_time is not None and request.end_time.tzinfo is None:
            problems.append(("INVALID_ORDER", "end_time must be an aware UTC datetime"))
        elif request.end_time is not None and request.end_time <= self.market.time:
            problems.append(("INVALID_END_TIME", "end_time is not in the future"))
        if plan.stop_t is not None:
            down = request.stop_direction is StopDirection.DOWN
            if (down and last <= plan.stop_t) or (not down and last >= plan.stop_t):
                problems.append(
                    ("INVALID_STOP_PRICE", f"stop_price {request.stop_price} already reached")
                )
        if request.post_only and plan.limit_t is not None:
            crosses = plan.limit_t >= ask if side is OrderSide.BUY else plan.limit_t <= bid
            if crosses:
                problems.append(
                    ("INVALID_LIMIT_PRICE_POST_ONLY", "post-only limit price would cross the book")
                )
        if kind is OrderType.MARKET:
            plan.takes, plan.complete = self._walk(
                symbol, side, units=plan.units, quote=request.quote_size
            )
        elif kind is OrderType.LIMIT and not request.post_only:
            plan.takes, plan.complete = self._walk(
                symbol, side, units=plan.units, limit_t=plan.limit_t
            )
        self._plan_funds(request, product, plan)
        return plan

    def _plan_funds(self, request: OrderRequest, product: Product, plan: _Plan) -> None:
        base, quote = product.base_currency, product.quote_currency
        if request.side is OrderSide.BUY:
            if request.order_type is OrderType.MARKET:
                if request.quote_size is not None:
                    required = request.quote_size * (1 + self.fees.taker)
                else:
                    cost = self._takes_value(product, plan.takes)
                    required = cost * (1 + self.fees.taker)
            else:
                assert request.base_size is not None and request.limit_price is not None
                rate = self.fees.maker if request.post_only else self.fees.taker
                required = request.base_size * request.limit_price * (1 + rate)
                plan.hold_ccy, plan.hold, plan.hold_rate = quote, required, rate
            available = self.accounts.available(quote)
            ccy = quote
        else:
            assert request.base_size is not None
            required = request.base_size
            if request.order_type is not OrderType.MARKET:
                plan.hold_ccy, plan.hold = base, required
            available = self.accounts.available(base)
            ccy = base
        if required > available:
            plan.problems.append(
                ("INSUFFICIENT_FUND", f"needs {required} {ccy}, {available} {ccy} available")
            )

    @staticmethod
    def _takes_value(product: Product, takes: Iterable[tuple[int, int]]) -> Decimal:
        ticks_units = sum(price_t * units for price_t, units in takes)
        return Decimal(ticks_units) * product.quote_increment * product.base_increment

    # --- preview -------------------------------------------------------------------------------
    def preview_order(self, request: OrderRequest) -> OrderPreview:
        """What ``request`` would do now: book-walk price, fee and slippage vs mid, and the
        reasons it would be rejected (``errors``); nothing changes."""
        plan = self._plan(request)
        errors = tuple(reason for reason, _ in plan.problems)
        product = plan.product
        preview_id = _uuid_like(
            f"{self.market.seed}:preview:{request!r}:{self.market.time.isoformat()}"
        )
        if product is None or (plan.units is None and request.quote_size is None):
            return OrderPreview(
                symbol=product.symbol if product else request.symbol,
                side=request.side,
                order_type=request.order_type,
                base_size=request.base_size or ZERO,
                quote_size=request.quote_size or ZERO,
                est_average_price=ZERO,
                est_fee=ZERO,
                slippage=ZERO,
                preview_id=preview_id,
                errors=errors,
            )
        bi = product.base_increment
        taken_units = sum(u for _, u in plan.takes)
        value = self._takes_value(product, plan.takes)
        fee = value * self.fees.taker
        size = Decimal(taken_units) * bi
        warnings: list[str] = []
        if request.order_type is not OrderType.MARKET and plan.units is not None:
            rest = Decimal(plan.units - taken_units) * bi
            if rest > ZERO and request.limit_price is not None:
                rate = (
                    self.fees.maker
                    if request.order_type is OrderType.LIMIT
                    and request.time_in_force in (TimeInForce.GTC, TimeInForce.GTD)
                    else self.fees.taker
                )
                rest_value = rest * request.limit_price
                value += rest_value
                fee += rest_value * rate
                size += rest
                if request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                    warnings.append("NOT_FULLY_FILLABLE_NOW")
        elif request.order_type is OrderType.MARKET and not plan.complete:
            warnings.append("NOT_FULLY_FILLABLE_NOW")
        mid = self._mid(product)
        avg = (value / size).quantize(PRICE_PLACES) if size > ZERO else ZERO
        slippage = ZERO
        if size > ZERO and mid > ZERO:
            slippage = ((avg - mid) / mid * request.side.sign).quantize(SLIPPAGE_PLACES)
        return OrderPreview(
            symbol=product.symbol,
            side=request.side,
            order_type=request.order_type,
            base_size=size,
            quote_size=value,
            est_average_price=avg,
            est_fee=fee,
            slippage=slippage,
            preview_id=preview_id,
            errors=errors,
            warnings=tuple(warnings),
        )

    # --- orders --------------------------------------------------------------------------------
    def submit_order(self, request: OrderRequest) -> Order:
        """Place ``request``; a known ``client_order_id`` returns (a copy of) the existing order."""
        existing = self._client_index.get(request.client_order_id)
        if existing is not None:
            return self._orders[existing].copy()
        plan = self._plan(request)
        if plan.problems:
            reason, message = plan.problems[0]
            raise OrderRejected(f"{request.symbol}: {message}", reason=reason)
        product = plan.product
        assert product is not None
        now = self.market.time
        order = Order.from_request(request, order_id=self._next_id("order"), now=now)
        order.symbol = product.symbol
        self._transition(order, OrderEvent.SUBMIT, now)
        self._orders[order.order_id] = order
        self._client_index[order.client_order_id] = order.order_id
        if order.order_type is OrderType.MARKET:
            self._execute_market(order, plan, now)
        else:
            self._execute_limit(order, plan, now)
        return order.copy()

    def _execute_market(self, order: Order, plan: _Plan, now: datetime) -> None:
        last_index = len(plan.takes) - 1
        for index, (price_t, units) in enumerate(plan.takes):
            final = plan.complete and index == last_index
            self._fill(order, None, price_t, units, Liquidity.TAKER, now, final=final)
        if not order.status.is_terminal:
            self._transition(order, OrderEvent.CANCEL, now)
            self._closed_order(order)

    def _execute_limit(self, order: Order, plan: _Plan, now: datetime) -> None:
        assert plan.units is not None and plan.limit_t is not None
        live = _Live(
            order=order,
            units=plan.units,
            limit_t=plan.limit_t,
            stop_t=plan.stop_t,
            hold_ccy=plan.hold_ccy,
            hold=plan.hold,
            hold_rate=plan.hold_rate,
        )
        self.accounts.place_hold(live.hold_ccy, live.hold)
        tif = order.time_in_force
        if order.order_type is OrderType.STOP_LIMIT:
            self._transition(order, OrderEvent.ACCEPT, now)
            self._live[order.order_id] = live
            return
        if tif is TimeInForce.FOK and not plan.complete:
            self._finish(live, OrderEvent.CANCEL, now, reason="FOK_NOT_FILLABLE")
            return
        self._live[order.order_id] = live
        for price_t, units in plan.takes:
            self._fill(order, live, price_t, units, Liquidity.TAKER, now)
        if order.status.is_terminal:
            return
        if tif in (TimeInForce.GTC, TimeInForce.GTD):
            if order.status is OrderStatus.SUBMITTED:
                self._transition(order, OrderEvent.ACCEPT, now)
        else:
            self._finish(live, OrderEvent.CANCEL, now)

    def _fill(
        self,
        order: Order,
        live: _Live | None,
        price_t: int,
        units: int,
        liquidity: Liquidity,
        when: datetime,
        *,
        final: bool = False,
    ) -> Fill:
        """Book one fill: order totals, balances (holds first), position, fill log, status."""
        product = self.market.product(order.symbol)
        price = Decimal(price_t) * product.quote_increment
        size = Decimal(units) * product.base_increment
        notional = price * size
        rate = self.fees.maker if liquidity is Liquidity.MAKER else self.fees.taker
        fee = notional * rate
        fill = Fill(
            fill_id=self._next_id("fill"),
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
            time=when,
        )
        order.filled_size += size
        order.filled_value += notional
        order.fees += fee
        done = final
        if live is not None:
            live.units -= units
            done = live.units == 0
        base, quote = product.base_currency, product.quote_currency
        accounts = self.accounts
        if order.side is OrderSide.BUY:
            if live is not None:
                if done:
                    release = live.hold
                else:
                    assert order.limit_price is not None
                    release = min(live.hold, size * order.limit_price * (1 + live.hold_rate))
                live.hold -= release
                accounts.release_hold(quote, release)
            accounts.debit(quote, notional + fee)
            accounts.credit(base, size)
        else:
            if live is not None:
                live.hold -= size
                accounts.spend_hold(base, size)
                if done and live.hold:
                    accounts.release_hold(base, live.hold)
                    live.hold = ZERO
            else:
                accounts.debit(base, size)
            accounts.credit(quote, notional - fee)
        position = self._positions.get(order.symbol) or Position(order.symbol)
        self._positions[order.symbol] = position.apply_fill(fill)
        self._fills.append(fill)
        self._new_fills.append(fill)
        self._transition(order, OrderEvent.FILL if done else OrderEvent.PARTIAL_FILL, when)
        if done:
            self._live.pop(order.order_id, None)
            self._closed_order(order)
        return fill

    def _finish(
        self, live: _Live, event: OrderEvent, when: datetime, *, reason: str | None = None
    ) -> None:
        """End a working order without a fill (cancel, expiry): release its hold."""
        order = live.order
        if live.hold:
            self.accounts.release_hold(live.hold_ccy, live.hold)
            live.hold = ZERO
        self._live.pop(order.order_id, None)
        self._transition(order, event, when, reason=reason)
        self._closed_order(order)

    def _closed_order(self, order: Order) -> None:
        self._new_closed.append(order.order_id)
        self._remember_closed(order.order_id)

    def _remember_closed(self, order_id: str) -> None:
        self._closed.append(order_id)
        while len(self._closed) > MAX_CLOSED_ORDERS:
            old = self._orders.pop(self._closed.popleft(), None)
            if old is not None and self._client_index.get(old.client_order_id) == old.order_id:
                del self._client_index[old.client_order_id]

    def _next_id(self, kind: str) -> str:
        self._counters[kind] += 1
        return _uuid_like(f"{self.market.seed}:{kind}:{self._counters[kind]}")

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel working orders; unknown or finished ones map to False."""
        result: dict[str, bool] = {}
        now = self.market.time
        for order_id in order_ids:
            live = self._live.get(order_id)
            if live is None:
                result[order_id] = False
                continue
            self._finish(live, OrderEvent.CANCEL, now)
            result[order_id] = True
        return result

    # --- edits ---------------------------------------------------------------------------------
    def _edit_id(self, order_id: str, price: Decimal, size: Decimal) -> str:
        return _uuid_like(f"{self.market.seed}:edit:{order_id}:{price}:{size}")

    def _plan_edit(
        self, order_id: str, limit_price: Decimal | None, base_size: Decimal | None
    ) -> tuple[_Live | None, Decimal, Decimal, Decimal, list[tuple[str, str]]]:
        """(live, new price, new size, new hold, problems) for an edit; nothing changes."""
        order = self._orders.get(order_id)
        if order is None:
            raise OrderNotFound(f"order {order_id} not found")
        live = self._live.get(order_id)
        price = order.limit_price if limit_price is None else limit_price
        size = order.base_size if base_size is None else base_size
        problems: list[tuple[str, str]] = []
        editable = (
            live is not None
            and order.order_type is OrderType.LIMIT
            and order.time_in_force is TimeInForce.GTC
            and order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
        )
        if not editable or price is None or size is None or live is None:
            problems.append(
                ("ORDER_NOT_EDITABLE", f"{order.status.value} {order.order_type.value} order")
            )
            return live, price or ZERO, size or ZERO, ZERO, problems
        if limit_price is None and base_size is None:
            problems.append(("INVALID_EDIT", "nothing to change"))
        product = self.market.product(order.symbol)
        bi, qi = product.base_increment, product.quote_increment
        if price <= ZERO or not is_multiple(price, qi):
            problems.append(
                ("INVALID_PRICE_PRECISION", f"limit_price {price} is not a multiple of {qi}")
            )
        if size <= ZERO or not is_multiple(size, bi):
            problems.append(
                ("INVALID_SIZE_PRECISION", f"base_size {size} is not a multiple of {bi}")
            )
        if size <= order.filled_size:
            problems.append(
                ("CANNOT_EDIT_TO_BELOW_FILLED_SIZE", f"already filled {order.filled_size}")
            )
        elif size < product.base_min_size:
            problems.append(
                ("ORDER_SIZE_TOO_SMALL", f"base_size {size} below {product.base_min_size}")
            )
        if size * price < product.min_notional:
            problems.append(("ORDER_NOTIONAL_TOO_SMALL", f"notional below {product.min_notional}"))
        if problems:
            return live, price, size, ZERO, problems
        bid, ask, _, _ = self.market.ticks(order.symbol)
        limit_t = int(price / qi)
        if order.post_only and (limit_t >= ask if order.side is OrderSide.BUY else limit_t <= bid):
            problems.append(("INVALID_LIMIT_PRICE_POST_ONLY", "post-only limit price would cross"))
        remaining = size - order.filled_size
        if order.side is OrderSide.BUY:
            hold = remaining * price * (1 + live.hold_rate)
        else:
            hold = remaining
        extra = hold - live.hold
        if extra > self.accounts.available(live.hold_ccy):
            problems.append(("INSUFFICIENT_FUND", f"needs {extra} more {live.hold_ccy}"))
        return live, price, size, hold, problems

    def preview_edit(
        self, order_id: str, *, limit_price: Decimal | None = None, base_size: Decimal | None = None
    ) -> OrderPreview:
        """What an edit would leave: the new size/price, fee at the maker rate, and any errors;
        ``preview_id`` is accepted by ``edit_order`` for the same change."""
        _, price, size, _, problems = self._plan_edit(order_id, limit_price, base_size)
        order = self._orders[order_id]
        rate = self.fees.maker
        product = self.market.product(order.symbol)
        mid = self._mid(product)
        slippage = ZERO
        if mid > ZERO and price > ZERO:
            slippage = ((price - mid) / mid * order.side.sign).quantize(SLIPPAGE_PLACES)
        return OrderPreview(
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            base_size=size,
            quote_size=size * price,
            est_average_price=price,
            est_fee=size * price * rate,
            slippage=slippage,
            preview_id=self._edit_id(order_id, price, size),
            errors=tuple(reason for reason, _ in problems),
        )

    def edit_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal | None = None,
        base_size: Decimal | None = None,
        preview_id: str | None = None,
    ) -> Order:
        """Change a working GTC limit order's price and/or total size (holds follow); if the new
        price is marketable the order takes liquidity at once."""
        live, price, size, hold, problems = self._plan_edit(order_id, limit_price, base_size)
        if (
            not problems
            and preview_id is not None
            and preview_id != self._edit_id(order_id, price, size)
        ):
            problems.append(("PREVIEW_ID_MISMATCH", "preview_id is for a different edit"))
        if problems:
            reason, message = problems[0]
            raise OrderRejected(f"edit {order_id}: {message}", reason=reason)
        assert live is not None
        order = live.order
        product = self.market.product(order.symbol)
        extra = hold - live.hold
        if extra > ZERO:
            self.accounts.place_hold(live.hold_ccy, extra)
        elif extra < ZERO:
            self.accounts.release_hold(live.hold_ccy, -extra)
        live.hold = hold
        order.limit_price = price
        order.base_size = size
        live.units = int((size - order.filled_size) / product.base_increment)
        live.limit_t = int(price / product.quote_increment)
        now = self.market.time
        self._transition(order, OrderEvent.EDIT, now)
        if not order.post_only:
            takes, _ = self._walk(order.symbol, order.side, units=live.units, limit_t=live.limit_t)
            for price_t, units in takes:
                self._fill(order, live, price_t, units, Liquidity.TAKER, now)
        return order.copy()

    # --- queries -------------------------------------------------------------------------------
    def get_order(self, order_id: str) -> Order:
        try:
            return self._orders[order_id].copy()
        except KeyError:
            raise OrderNotFound(f"order {order_id} not found") from None

    def find_order_by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self._client_index.get(client_order_id)
        return None if order_id is None else self._orders[order_id].copy()

    def list_orders(
        self, symbol: str | None = None, *, open_only: bool = False, since: datetime | None = None
    ) -> list[Order]:
        """Orders oldest first; ``since`` keeps those created at or after it."""
        out = []
        for order in self._orders.values():
            if symbol is not None and order.symbol != symbol:
                continue
            if open_only and order.status.is_terminal:
                continue
            if since is not None and order.created_at < since:
                continue
            out.append(order.copy())
        return out

    def list_fills(
        self,
        symbol: str | None = None,
        *,
        order_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Fill]:
        """Fills oldest first (``since`` is exclusive)."""
        return [
            f
            for f in self._fills
            if (symbol is None or f.symbol == symbol)
            and (order_id is None or f.order_id == order_id)
            and (since is None or f.time > since)
        ]

    # --- persistence ---------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly (plain JSON values)."""
        return {
            "version": STATE_VERSION,
            "market": self.market.to_state(),
            "fees": {"maker": format(self.fees.maker, "f"), "taker": format(self.fees.taker, "f")},
            "balances": self.accounts.to_state(),
            "orders": [encode_order(o) for o in self._orders.values()],
            "live": self._encode_live(),
            "closed": list(self._closed),
            "positions": [encode_position(p) for _, p in sorted(self._positions.items())],
            "fills": [encode_fill(f) for f in self._fills],
            "counters": dict(self._counters),
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        *,
        scenario: str | None = None,
        now: datetime | None = None,
        market_data: str | Path | None = None,
        fees: FeeSchedule | None = None,
    ) -> MatchingEngine:
        """Rebuild an engine saved by ``to_state``. ``scenario`` switches a simulated market's
        scenario (prices and balances carry on; its clock starts at ``now``); ``market_data``
        points a replay at its CSV if it moved."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported paper state version {state.get('version')!r}")
        market = load_market(state["market"], scenario=scenario, now=now, market_data=market_data)
        engine = cls.__new__(cls)
        engine.market = market
        saved_fees = state["fees"]
        engine.fees = fees or FeeSchedule(
            Decimal(saved_fees["maker"]), Decimal(saved_fees["taker"])
        )
        engine.accounts = Accounts.from_state(state["balances"])
        engine._orders = {}
        engine._client_index = {}
        for data in state["orders"]:
            order = decode_order(data)
            engine._orders[order.order_id] = order
            engine._client_index[order.client_order_id] = order.order_id
        engine._live = engine._decode_live(state["live"])
        engine._closed = deque(state["closed"])
        engine._positions = {}
        for data in state["positions"]:
            position = decode_position(data)
            engine._positions[position.symbol] = position
        engine._fills = deque((decode_fill(f) for f in state["fills"]), maxlen=MAX_FILLS)
        engine._counters = {k: int(v) for k, v in state["counters"].items()}
        engine._reset_changes()
        return engine

    def _encode_live(self) -> list[dict[str, Any]]:
        return [
            {
                "order_id": live.order.order_id,
                "units": live.units,
                "limit_t": live.limit_t,
                "stop_t": live.stop_t,
                "hold_ccy": live.hold_ccy,
                "hold": format(live.hold, "f"),
                "hold_rate": format(live.hold_rate, "f"),
            }
            for live in self._live.values()
        ]

    def _decode_live(self, items: Iterable[Mapping[str, Any]]) -> dict[str, _Live]:
        live: dict[str, _Live] = {}
        for data in items:
            order = self._orders[data["order_id"]]
            live[order.order_id] = _Live(
                order=order,
                units=int(data["units"]),
                limit_t=int(data["limit_t"]),
                stop_t=None if data["stop_t"] is None else int(data["stop_t"]),
                hold_ccy=data["hold_ccy"],
                hold=Decimal(data["hold"]),
                hold_rate=Decimal(data["hold_rate"]),
            )
        return live


def load_market(
    state: Mapping[str, Any],
    *,
    scenario: str | None = None,
    now: datetime | None = None,
    market_data: str | Path | None = None,
) -> MarketBase:
    """Rebuild a saved market of either kind."""
    kind = state.get("kind")
    if kind == "sim":
        from .market import SimulatedMarket

        return SimulatedMarket.from_state(dict(state), scenario=scenario, now=now)
    if kind == "replay":
        from .replay import ReplayMarket

        return ReplayMarket.from_state(dict(state), path=market_data)
    raise ValueError(f"unknown market kind {kind!r} in saved state")
