"""``CoinbaseBroker``: the Broker protocol over Coinbase Advanced Trade (or the local simulator).

REST goes through ``RestTransport`` (the SDK's client; limiter, retries, classification);
market data comes from the ``StreamClient`` cache when it is fresh, from REST otherwise.

Venue rules the adapter enforces before anything is sent:
- Requests are put on the product's grid (sizes down; buy prices down, sell prices up).
- ``reduce_only`` on spot (Coinbase refuses the flag there): only a sell no larger than the
  base currency held passes, and the flag is not sent. On perpetuals it goes through
  ``close_position``.
- Perpetuals only with ``COINBASE_ENABLE_DERIVATIVES=1`` and an INTX portfolio on the key;
  otherwise they are refused with the reason.
- ``submit_order`` is idempotent on ``client_order_id``: a retried submit (after a timeout, a
  5xx, a malformed answer) reuses the id, and the venue's DUPLICATE_CLIENT_ORDER_ID answer
  names the order it already has, which is returned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from ...clock import Clock, SystemClock
from ...config.settings import Settings
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
    OrderStatus,
    Position,
    Product,
    Quote,
    floor_to,
    fmt,
    is_perp_symbol,
)
from ...errors import BrokerError, ErrorKind, OrderRejected, one_line
from ...execution.quantize import quantize_price, quantize_size
from ..base import BrokerStats
from . import codec
from .errors import bad_shape
from .keys import ApiKey, build_jwt, load_api_key
from .ratelimit import TokenBucket
from .stream import DEFAULT_CHANNELS, StreamClient
from .transport import Endpoint, RestTransport, parse_api_base, parse_url

log = logging.getLogger("trading_core.brokers.coinbase")

T = TypeVar("T")
PRODUCT_TTL_S = 3600.0
ACCOUNTS_TTL_S = 0.5  # list_balances and list_positions in one cycle share one fetch
REST_QUOTE_TTL_S = 0.5
MAX_PAGES = 20
PAGE = 250
CANDLES_PER_REQUEST = 350
CANCEL_BATCH = 100


class CoinbaseBroker:
    """The Broker protocol on Coinbase Advanced Trade. ``symbols`` are the products the bot
    trades (spot positions are their base-currency holdings; REST quotes fetch them at once)."""

    name = "coinbase"
    cash_moves_outside = True  # deposits, withdrawals, trades by hand: cash drift is a warning

    def __init__(
        self,
        transport: RestTransport,
        *,
        symbols: Sequence[str] = (),
        enable_derivatives: bool = False,
        quote_max_age_s: float = 5.0,
        stream: StreamClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.transport = transport
        self.symbols = [s.upper() for s in symbols]
        self.enable_derivatives = enable_derivatives
        self.quote_max_age_s = quote_max_age_s
        self.stream = stream
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._products: dict[str, tuple[Product, float]] = {}
        self._accounts: tuple[list[Balance], float] | None = None
        self._rest_quotes: dict[str, tuple[Quote, float]] = {}
        self._client_ids: dict[str, str] = {}  # order id -> client order id
        self._order_ids: dict[str, str] = {}  # client order id -> order id
        self._intx: tuple[str | None, float] | None = None
        self.quotes_streamed = 0
        self.quotes_rest = 0

    # --- helpers -----------------------------------------------------------------------------
    def _decode(self, endpoint: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise bad_shape(endpoint, exc) from None

    def _remember(self, order: Order) -> Order:
        if order.client_order_id:
            with self._lock:
                self._client_ids[order.order_id] = order.client_order_id
                self._order_ids[order.client_order_id] = order.order_id
        return order

    def _invalidate_account(self) -> None:
        with self._lock:
            self._accounts = None

    # --- reference and market data -----------------------------------------------------------
    def server_time(self) -> datetime:
        doc = self.transport.get("/time", public=True)
        return self._decode("/time", codec.parse_time, doc.get("iso"))

    def list_products(self) -> list[Product]:
        doc = self.transport.get("/products", {"get_all_products": True})
        products = self._decode(
            "/products", lambda: [codec.product_from(p) for p in doc["products"]]
        )
        now = time.monotonic()
        with self._lock:
            for product in products:
                self._products[product.symbol] = (product, now)
        return products

    def get_product(self, symbol: str) -> Product:
        key = symbol.strip().upper()
        with self._lock:
            cached = self._products.get(key)
        if cached is not None and time.monotonic() - cached[1] < PRODUCT_TTL_S:
            return cached[0]
        doc = self.transport.get(f"/products/{key}")
        product = self._decode("/products/{id}", codec.product_from, doc)
        with self._lock:
            self._products[product.symbol] = (product, time.monotonic())
        return product

    def get_quote(self, symbol: str) -> Quote:
        """The streamed quote when fresh; otherwise best_bid_ask over REST (fetched for every
        traded symbol at once and shared for a moment)."""
        key = symbol.strip().upper()
        if self.stream is not None:
            quote = self.stream.quote(key, self.quote_max_age_s)
            if quote is not None:
                self.quotes_streamed += 1
                return quote
        now = time.monotonic()
        with self._lock:
            cached = self._rest_quotes.get(key)
        if cached is not None and now - cached[1] < REST_QUOTE_TTL_S:
            return cached[0]
        wanted = [key] + [s for s in self.symbols if s != key and not is_perp_symbol(s)]
        doc = self.transport.get("/best_bid_ask", {"product_ids": wanted})
        books = self._decode(
            "/best_bid_ask", lambda: [codec.quote_from_pricebook(b) for b in doc["pricebooks"]]
        )
        with self._lock:
            for quote in books:
                self._rest_quotes[quote.symbol] = (quote, now)
        self.quotes_rest += 1
        for quote in books:
            if quote.symbol == key:
                return quote
        raise bad_shape("/best_bid_ask", KeyError(f"no pricebook for {key}"))

    def get_order_book(self, symbol: str, depth: int = 10) -> OrderBook:
        key = symbol.strip().upper()
        if self.stream is not None:
            book = self.stream.book(key, depth, self.quote_max_age_s)
            if book is not None:
                return book
        doc = self.transport.get("/product_book", {"product_id": key, "limit": depth})
        return self._decode("/product_book", lambda: codec.book_from(doc["pricebook"]))

    def get_candles(
        self, symbol: str, granularity_s: int, limit: int = 300, end: datetime | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first, at most ``limit`` of them ending at or before ``end``
        (350 per request, as Coinbase allows)."""
        name = codec.GRANULARITIES.get(granularity_s)
        if name is None:
            allowed = ", ".join(str(g) for g in codec.GRANULARITIES)
            raise ValueError(f"unsupported candle granularity {granularity_s} s ({allowed})")
        key = symbol.strip().upper()
        final = int((end or self.clock.now()).timestamp())
        found: dict[datetime, Candle] = {}
        upper = final
        while len(found) < limit:
            chunk = min(CANDLES_PER_REQUEST, limit - len(found) + 1)
            lower = upper - granularity_s * chunk
            doc = self.transport.get(
                f"/products/{key}/candles",
                {"start": str(lower), "end": str(upper), "granularity": name, "limit": chunk},
            )
            candles = self._decode(
                "/products/{id}/candles",
                lambda d: [codec.candle_from(c, key, granularity_s) for c in d["candles"]],
                doc,
            )
            fresh = [c for c in candles if c.start not in found]
            for candle in fresh:
                found[candle.start] = candle
            if not fresh:
                break
            upper = lower - 1
        closed = [c for c in found.values() if c.start.timestamp() + granularity_s <= final]
        closed.sort(key=lambda c: c.start)
        return closed[-limit:]

    # --- account -----------------------------------------------------------------------------
    def list_balances(self) -> list[Balance]:
        with self._lock:
            cached = self._accounts
        if cached is not None and time.monotonic() - cached[1] < ACCOUNTS_TTL_S:
            return list(cached[0])
        balances: list[Balance] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            doc = self.transport.get("/accounts", params)
            balances.extend(
                self._decode(
                    "/accounts", lambda d: [codec.balance_from(a) for a in d["accounts"]], doc
                )
            )
            cursor = str(doc.get("cursor") or "")
            if not doc.get("has_next") or not cursor:
                break
        merged: dict[str, Balance] = {}
        for b in balances:
            held = merged.get(b.currency)
            merged[b.currency] = (
                b
                if held is None
                else Balance(b.currency, held.available + b.available, held.hold + b.hold)
            )
        result = [b for _, b in sorted(merged.items()) if b.total != ZERO or b.currency == "USD"]
        with self._lock:
            self._accounts = (result, time.monotonic())
        return list(result)

    def list_positions(self) -> list[Position]:
        """Spot: base-currency holdings of the traded products (entry price unknown to the
        venue: 0). Perpetuals (when enabled): the INTX portfolio's positions."""
        holdings = {b.currency: b.total for b in self.list_balances()}
        positions: list[Position] = []
        taken: set[str] = set()
        for symbol in self.symbols:
            if is_perp_symbol(symbol):
                continue
            base = symbol.split("-", 1)[0]
            qty = holdings.get(base, ZERO)
            if qty > ZERO and base not in taken:
                taken.add(base)
                positions.append(Position(symbol, quantity=qty))
        if self.enable_derivatives and any(is_perp_symbol(s) for s in self.symbols):
            positions.extend(self._perp_positions())
        return positions

    def _perp_positions(self) -> list[Position]:
        portfolio = self.intx_portfolio()
        if portfolio is None:
            return []
        doc = self.transport.get(f"/intx/positions/{portfolio}")

        def parse() -> list[Position]:
            out = []
            for p in doc.get("positions") or []:
                qty = codec.dec(p["net_size"], "net_size")
                if p.get("position_side") == "POSITION_SIDE_SHORT" and qty > 0:
                    qty = -qty
                entry = codec.opt_dec((p.get("entry_vwap") or {}).get("value")) or ZERO
                out.append(Position(str(p["symbol"]), quantity=qty, avg_entry_price=entry))
            return [p for p in out if not p.is_flat]

        return self._decode("/intx/positions/{id}", parse)

    def intx_portfolio(self) -> str | None:
        """The key's portfolio uuid when that portfolio is INTX (perpetuals trade there), else
        None; from key_permissions, cached for a minute."""
        with self._lock:
            cached = self._intx
        if cached is not None and time.monotonic() - cached[1] < 60:
            return cached[0]
        permissions = self.key_permissions()
        found = None
        if str(permissions.get("portfolio_type") or "").upper() == "INTX":
            found = str(permissions.get("portfolio_uuid") or "") or None
        with self._lock:
            self._intx = (found, time.monotonic())
        return found

    # --- venue rules -------------------------------------------------------------------------
    def _check_perp(self, product: Product) -> None:
        if not product.is_perp:
            return
        if not self.enable_derivatives:
            raise OrderRejected(
                f"{product.symbol} is a perpetual and derivatives are off: spot first (set "
                "COINBASE_ENABLE_DERIVATIVES=1 only after Coinbase grants INTX access)",
                reason="DERIVATIVES_DISABLED",
            )
        if self.intx_portfolio() is None:
            raise OrderRejected(
                f"{product.symbol} is a perpetual and this key's portfolio is not INTX "
                "(perpetuals trade through Coinbase International: ask for INTX access)",
                reason="NO_INTX_PORTFOLIO",
            )

    def _fit(self, request: OrderRequest, product: Product) -> OrderRequest:
        """The request on the product's grid (sizes down, buy prices down, sell prices up)."""
        try:
            request.validate()
        except ValueError as exc:
            raise OrderRejected(f"{request.symbol}: {exc}", reason="INVALID_ORDER") from None
        side = request.side
        fitted = replace(
            request,
            symbol=product.symbol,
            base_size=None
            if request.base_size is None
            else quantize_size(request.base_size, product),
            quote_size=None
            if request.quote_size is None
            else floor_to(request.quote_size, product.quote_increment),
            limit_price=None
            if request.limit_price is None
            else quantize_price(request.limit_price, side, product),
            stop_price=None
            if request.stop_price is None
            else quantize_price(request.stop_price, side, product),
        )
        size = fitted.base_size if fitted.base_size is not None else fitted.quote_size
        if size is None or size <= ZERO:
            raise OrderRejected(
                f"{request.symbol}: size rounds to zero on the {fmt(product.base_increment)} grid",
                reason="INVALID_SIZE_PRECISION",
            )
        return fitted

    def _reduce_only_problem(self, request: OrderRequest, product: Product) -> str | None:
        """Why a spot reduce-only request would add exposure (None when it only reduces)."""
        if not request.reduce_only or product.is_perp:
            return None
        if request.side is not OrderSide.SELL:
            return "reduce-only on spot: only sells reduce a long-only position"
        if request.base_size is None:
            return "reduce-only on spot: size the sell in base currency"
        held = ZERO
        for balance in self.list_balances():
            if balance.currency == product.base_currency:
                held = balance.total
        if request.base_size > held:
            return (
                f"reduce-only on spot: selling {fmt(request.base_size)} {product.base_currency} "
                f"but {fmt(held)} is held"
            )
        return None

    # --- orders ------------------------------------------------------------------------------
    def preview_order(self, request: OrderRequest) -> OrderPreview:
        product = self.get_product(request.symbol)
        self._check_perp(product)
        fitted = self._fit(request, product)
        problem = self._reduce_only_problem(fitted, product)
        body = {
            "product_id": product.symbol,
            "side": fitted.side.value,
            "order_configuration": codec.configuration_for(fitted),
        }
        doc = self.transport.post("/orders/preview", body)
        preview = self._decode(
            "/orders/preview",
            codec.preview_from,
            doc,
            symbol=product.symbol,
            side=fitted.side,
            order_type=fitted.order_type,
        )
        if problem is not None:
            preview = replace(preview, errors=(*preview.errors, "REDUCE_ONLY_VIOLATION"))
            log.info("preview %s: %s", product.symbol, problem)
        return preview

    def submit_order(self, request: OrderRequest) -> Order:
        product = self.get_product(request.symbol)
        self._check_perp(product)
        fitted = self._fit(request, product)
        problem = self._reduce_only_problem(fitted, product)
        if problem is not None:
            raise OrderRejected(f"{product.symbol}: {problem}", reason="REDUCE_ONLY_VIOLATION")
        if product.is_perp and fitted.reduce_only:
            body: dict[str, Any] = {
                "client_order_id": fitted.client_order_id,
                "product_id": product.symbol,
            }
            if fitted.base_size is not None:
                body["size"] = fmt(fitted.base_size)
            path = "/orders/close_position"
        else:
            body = {
                "client_order_id": fitted.client_order_id,
                "product_id": product.symbol,
                "side": fitted.side.value,
                "order_configuration": codec.configuration_for(fitted),
            }
            path = "/orders"
        doc = self.transport.post(path, body)
        self._invalidate_account()
        order_id = self._created_order_id(doc, path, fitted)
        with self._lock:
            self._client_ids[order_id] = fitted.client_order_id
            self._order_ids[fitted.client_order_id] = order_id
        try:
            return self.get_order(order_id)
        except BrokerError as exc:
            if exc.kind not in (ErrorKind.RETRYABLE, ErrorKind.RATE_LIMITED):
                raise
            log.warning("order %s accepted; its state is unknown for now: %s", order_id, exc)
            now = self.clock.now()
            order = Order.from_request(fitted, order_id=order_id, now=now)
            order.status = OrderStatus.SUBMITTED
            return order

    def _created_order_id(self, doc: Mapping[str, Any], path: str, request: OrderRequest) -> str:
        if doc.get("success"):
            response = doc.get("success_response")
            if not isinstance(response, Mapping):
                response = {}
            order_id = response.get("order_id") or doc.get("order_id")
            if not order_id:
                raise bad_shape(path, KeyError("success_response.order_id"))
            return str(order_id)
        error = doc.get("error_response")
        if not isinstance(error, Mapping):
            error = {}
        reason = str(
            error.get("new_order_failure_reason")
            or error.get("error")
            or doc.get("failure_reason")
            or "UNKNOWN_FAILURE_REASON"
        )
        if reason == "DUPLICATE_CLIENT_ORDER_ID":
            existing = error.get("existing_order_id") or doc.get("order_id")
            if existing:
                log.info(
                    "order %s already at the venue as %s (a retried submit): using it",
                    request.client_order_id,
                    existing,
                )
                return str(existing)
            found = self.find_order_by_client_id(request.client_order_id)
            if found is not None:
                return found.order_id
        message = str(error.get("message") or error.get("error_details") or reason)
        raise OrderRejected(f"{request.symbol}: {one_line(message)}", reason=reason)

    def preview_edit(
        self, order_id: str, *, limit_price: Decimal | None = None, base_size: Decimal | None = None
    ) -> OrderPreview:
        order = self.get_order(order_id)
        body = self._edit_body(order, limit_price, base_size)
        doc = self.transport.post("/orders/edit_preview", body)
        return self._decode(
            "/orders/edit_preview",
            codec.preview_from,
            doc,
            symbol=order.symbol,
            side=order.side,
            order_type=order.order_type,
            errors_key="errors",
        )

    def _edit_body(
        self, order: Order, limit_price: Decimal | None, base_size: Decimal | None
    ) -> dict[str, Any]:
        product = self.get_product(order.symbol)
        price = limit_price if limit_price is not None else order.limit_price
        size = base_size if base_size is not None else order.base_size
        if price is None or size is None:
            raise OrderRejected(
                f"order {order.order_id}: only limit orders with a base size can be edited",
                reason="ORDER_NOT_EDITABLE",
            )
        return {
            "order_id": order.order_id,
            "price": fmt(quantize_price(price, order.side, product)),
            "size": fmt(quantize_size(size, product)),
        }

    def edit_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal | None = None,
        base_size: Decimal | None = None,
        preview_id: str | None = None,
    ) -> Order:
        order = self.get_order(order_id)
        body = self._edit_body(order, limit_price, base_size)
        if preview_id:
            body["preview_id"] = preview_id
        doc = self.transport.post("/orders/edit", body)
        if not doc.get("success"):
            errors = doc.get("errors")
            first = errors[0] if isinstance(errors, list) and errors else {}
            if not isinstance(first, dict):
                first = {}
            reason = str(
                first.get("edit_failure_reason")
                or str(first.get("preview_failure_reason") or "").removeprefix("PREVIEW_")
                or "EDIT_FAILED"
            )
            raise OrderRejected(f"edit {order_id}: {one_line(reason)}", reason=reason)
        self._invalidate_account()
        return self.get_order(order_id)

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        result: dict[str, bool] = {}
        ids = list(order_ids)
        for start in range(0, len(ids), CANCEL_BATCH):
            chunk = ids[start : start + CANCEL_BATCH]
            doc = self.transport.post("/orders/batch_cancel", {"order_ids": chunk})
            parsed = self._decode(
                "/orders/batch_cancel",
                lambda d: {str(r["order_id"]): bool(r["success"]) for r in d["results"]},
                doc,
            )
            for order_id in chunk:
                result[order_id] = parsed.get(order_id, False)
        self._invalidate_account()
        return result

    def get_order(self, order_id: str) -> Order:
        doc = self.transport.get(f"/orders/historical/{order_id}")
        order = self._decode("/orders/historical/{id}", lambda: codec.order_from(doc["order"]))
        return self._remember(order)

    def find_order_by_client_id(self, client_order_id: str) -> Order | None:
        """The venue's order with this client id: by the id we noted when we sent it, else by
        scanning recent orders (the API has no lookup by client id)."""
        with self._lock:
            known = self._order_ids.get(client_order_id)
        if known is not None:
            return self.get_order(known)
        for order in self._orders_pages({}, max_pages=4):
            if order.client_order_id == client_order_id:
                return self._remember(order)
        return None

    def _orders_pages(self, params: dict[str, Any], *, max_pages: int) -> Iterable[Order]:
        cursor = ""
        for _ in range(max_pages):
            query = {**params, "limit": 1000}
            if cursor:
                query["cursor"] = cursor
            doc = self.transport.get("/orders/historical/batch", query)
            orders = self._decode(
                "/orders/historical/batch",
                lambda d: [codec.order_from(o) for o in d["orders"]],
                doc,
            )
            yield from orders
            cursor = str(doc.get("cursor") or "")
            if not doc.get("has_next") or not cursor:
                return

    def list_orders(
        self, symbol: str | None = None, *, open_only: bool = False, since: datetime | None = None
    ) -> list[Order]:
        """Orders oldest first; ``since`` keeps those created at or after it."""
        params: dict[str, Any] = {}
        if symbol is not None:
            params["product_ids"] = [symbol.strip().upper()]
        if open_only:
            params["order_status"] = ["OPEN"]
        if since is not None:
            params["start_date"] = codec.rfc3339(since)
        orders = [self._remember(o) for o in self._orders_pages(params, max_pages=MAX_PAGES)]
        if since is not None:
            orders = [o for o in orders if o.created_at >= since]
        orders.sort(key=lambda o: o.created_at)
        return orders

    def list_fills(
        self,
        symbol: str | None = None,
        *,
        order_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Fill]:
        """Fills oldest first (``since`` is exclusive)."""
        params: dict[str, Any] = {"limit": 1000}
        if symbol is not None:
            params["product_ids"] = [symbol.strip().upper()]
        if order_id is not None:
            params["order_ids"] = [order_id]
        if since is not None:
            params["start_sequence_timestamp"] = codec.rfc3339(since - timedelta(seconds=1))
        docs: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            doc = self.transport.get("/orders/historical/fills", query)
            page = doc.get("fills")
            if not isinstance(page, list):
                raise bad_shape("/orders/historical/fills", KeyError("fills"))
            if not all(isinstance(d, Mapping) for d in page):
                raise bad_shape("/orders/historical/fills", TypeError("a fill is not an object"))
            docs.extend(page)
            cursor = str(doc.get("cursor") or "")
            if not cursor:
                break
        client_ids = self._client_ids_for({str(d.get("order_id", "")) for d in docs})
        fills = [
            self._decode(
                "/orders/historical/fills",
                codec.fill_from,
                d,
                client_ids.get(str(d.get("order_id", "")), ""),
            )
            for d in docs
        ]
        if since is not None:
            fills = [f for f in fills if f.time > since]
        fills.sort(key=lambda f: (f.time, f.fill_id))
        return fills

    def _client_ids_for(self, order_ids: set[str]) -> dict[str, str]:
        """Client order ids of these orders (fills do not carry them): the ones we know, the
        others fetched in batches."""
        with self._lock:
            known = {i: self._client_ids[i] for i in order_ids if i in self._client_ids}
        missing = sorted(i for i in order_ids if i and i not in known)
        for start in range(0, len(missing), CANCEL_BATCH):
            chunk = missing[start : start + CANCEL_BATCH]
            try:
                for order in self._orders_pages({"order_ids": chunk}, max_pages=1):
                    self._remember(order)
                    known[order.order_id] = order.client_order_id
            except BrokerError as exc:
                log.warning("client ids of %d filled orders unknown: %s", len(chunk), exc.message)
        return known

    # --- account details (the account snapshot, preflight) ------------------------------------
    def key_permissions(self) -> dict[str, Any]:
        """can_view, can_trade, can_transfer, portfolio_uuid, portfolio_type of the key."""
        doc = self.transport.get("/key_permissions")
        return {
            k: doc.get(k)
            for k in ("can_view", "can_trade", "can_transfer", "portfolio_uuid", "portfolio_type")
        }

    def account_details(self) -> dict[str, Any]:
        """Key permissions, fee tier, portfolios and (derivatives on, INTX key) the INTX
        summary, as plain data for ``perps-bot account snapshot``."""
        permissions = self.key_permissions()
        summary = self.transport.get("/transaction_summary")
        portfolios = self.transport.get("/portfolios")

        def fees() -> dict[str, Any]:
            tier = summary.get("fee_tier") or {}
            return {
                "pricing_tier": tier.get("pricing_tier"),
                "maker_fee_rate": codec.opt_dec(tier.get("maker_fee_rate")),
                "taker_fee_rate": codec.opt_dec(tier.get("taker_fee_rate")),
                "total_volume_30d": codec.opt_dec(summary.get("total_volume")),
                "total_fees_30d": codec.opt_dec(summary.get("total_fees")),
            }

        details: dict[str, Any] = {
            "permissions": {
                k: permissions.get(k)
                for k in ("can_view", "can_trade", "can_transfer", "portfolio_type")
            },
            "fees": self._decode("/transaction_summary", fees),
            "portfolios": self._decode(
                "/portfolios",
                lambda: [
                    {"name": p.get("name"), "uuid": p.get("uuid"), "type": p.get("type")}
                    for p in portfolios.get("portfolios") or []
                    if isinstance(p, dict)
                ],
            ),
            "intx": None,
        }
        intx = self.intx_portfolio() if self.enable_derivatives else None
        if intx:
            doc = self.transport.get(f"/intx/portfolio/{intx}")

            def value(name: str) -> Decimal | None:
                summary_doc = doc.get("summary") or {}
                return codec.opt_dec((summary_doc.get(name) or {}).get("value"))

            details["intx"] = {
                "portfolio_uuid": intx,
                **self._decode(
                    "/intx/portfolio/{id}",
                    lambda: {
                        name: value(name)
                        for name in ("total_balance", "buying_power", "unrealized_pnl")
                    },
                ),
                "positions": [
                    {"symbol": p.symbol, "quantity": p.quantity} for p in self._perp_positions()
                ],
            }
        return details

    # --- streaming and telemetry -------------------------------------------------------------
    def stats(self) -> BrokerStats:
        stream = self.stream
        return BrokerStats(
            requests=self.transport.counts(),
            rate_limit_remaining=self.transport.rate_limit_remaining,
            feeds=stream.feed_status() if stream is not None else {},
            last_message_at=stream.last_message_at() if stream is not None else {},
        )

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.transport.close()

    def __enter__(self) -> CoinbaseBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_ws_url(text: str) -> str:
    scheme, host, _, path = parse_url(text, var="COINBASE_WS_URL", schemes=("wss", "ws"))
    return f"{scheme}://{host}{path}"


def open_coinbase_broker(
    settings: Settings,
    *,
    streaming: bool | None = None,
    channels: Sequence[str] = DEFAULT_CHANNELS,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CoinbaseBroker:
    """The Coinbase broker for ``settings`` (credentials checked, secrets registered for
    redaction). ``streaming`` None follows COINBASE_STREAMING; one-shot commands pass False."""
    cb = settings.coinbase
    key: ApiKey = load_api_key(cb, profile=settings.profile)
    endpoint: Endpoint = parse_api_base(cb.api_base)
    ws_url = parse_ws_url(cb.ws_url)
    limiter = TokenBucket(cb.rate_limit_per_second, cb.rate_limit_burst, sleep=sleep)
    transport = RestTransport(
        key,
        endpoint,
        timeout_s=cb.timeout_seconds,
        limiter=limiter,
        max_attempts=cb.max_attempts,
        backoff_s=cb.backoff_seconds,
        sleep=sleep,
    )
    stream = None
    if cb.streaming if streaming is None else streaming:
        stream = StreamClient(
            ws_url,
            list(settings.symbols),
            channels=channels,
            jwt=lambda: build_jwt(key),
            clock=clock,
        ).start()
    return CoinbaseBroker(
        transport,
        symbols=settings.symbols,
        enable_derivatives=cb.enable_derivatives,
        quote_max_age_s=cb.quote_max_age_seconds,
        stream=stream,
        clock=clock,
    )
