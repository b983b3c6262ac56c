"""The ``/api/v3/brokerage`` REST endpoints, answering as Coinbase does (shapes, pagination,
errors), backed by the ``SimVenue``. Authentication, rate limits and faults happen before a
request gets here (``gate.py``)."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ...clock import parse_utc
from ...domain import ZERO, OrderRequest, is_perp_symbol
from ...errors import OrderNotFound, OrderRejected, UnknownProduct
from . import wire
from .context import API_PREFIX, SimContext
from .wire import WireError

MAX_CANDLES = 350
T = TypeVar("T")

router = APIRouter(prefix=API_PREFIX)


def ctx_of(request: Request) -> SimContext:
    ctx: SimContext = request.app.state.sim
    return ctx


def ok(doc: dict[str, Any]) -> JSONResponse:
    return JSONResponse(doc)


def fail(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(wire.error_body(code, message), status_code=status)


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise WireError("request body is not JSON") from None
    if not isinstance(doc, dict):
        raise WireError("request body must be a JSON object")
    return doc


def many(request: Request, name: str) -> list[str]:
    """A repeated query parameter (``a=1&a=2``), also accepting comma-separated values."""
    out: list[str] = []
    for value in request.query_params.getlist(name):
        out.extend(v for v in value.split(",") if v)
    return out


def int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise WireError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise WireError(f"{name} must be within {low}..{high}")
    return value


def time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        if raw.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(raw), UTC)
        return parse_utc(raw)
    except (ValueError, OverflowError):
        raise WireError(f"{name} is not a time") from None


def paginate(
    items: Sequence[T], request: Request, *, default: int = 100, high: int = 1000
) -> tuple[list[T], bool, str]:
    limit = int_param(request, "limit", default, low=1, high=high)
    cursor = request.query_params.get("cursor") or "0"
    try:
        start = max(0, int(cursor))
    except ValueError:
        raise WireError("cursor is not one this venue issued") from None
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    return page, more, str(start + limit) if more else ""


def guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Domain errors become Coinbase's HTTP errors."""

    async def wrapper(request: Request) -> JSONResponse:
        try:
            result: JSONResponse = await handler(request)
            return result
        except WireError as exc:
            return fail(400, "INVALID_ARGUMENT", str(exc))
        except UnknownProduct as exc:
            return fail(404, "NOT_FOUND", exc.message)
        except OrderNotFound as exc:
            return fail(404, "NOT_FOUND", exc.message)
        except ValueError as exc:
            return fail(400, "INVALID_ARGUMENT", str(exc))

    wrapper.__name__ = handler.__name__
    return wrapper


def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, guarded(handler), methods=[method], include_in_schema=False)
        return handler

    return register


# --- public --------------------------------------------------------------------------------------
@route("GET", "/time")
async def server_time(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    now = ctx.venue.now + timedelta(seconds=ctx.faults.skew_s())  # clock_skew fault
    epoch = now.timestamp()
    return ok(
        {
            "iso": wire.ts(now),
            "epochSeconds": str(int(epoch)),
            "epochMillis": str(int(epoch * 1000)),
        }
    )


# --- accounts ------------------------------------------------------------------------------------
def _accounts(ctx: SimContext) -> list[dict[str, Any]]:
    venue = ctx.venue
    return [
        wire.account_doc(
            b,
            account_uuid=venue.account_uuid(b.currency),
            portfolio_uuid=venue.portfolio_uuid,
            created=venue.created_at,
        )
        for b in venue.balances()
    ]


@route("GET", "/accounts")
async def list_accounts(request: Request) -> JSONResponse:
    docs = _accounts(ctx_of(request))
    page, more, cursor = paginate(docs, request, default=49, high=250)
    return ok({"accounts": page, "has_next": more, "cursor": cursor, "size": len(page)})


@route("GET", "/accounts/{account_uuid}")
async def get_account(request: Request) -> JSONResponse:
    wanted = request.path_params["account_uuid"]
    for doc in _accounts(ctx_of(request)):
        if doc["uuid"] == wanted:
            return ok({"account": doc})
    return fail(404, "NOT_FOUND", f"account {wanted} not found")


# --- products and market data --------------------------------------------------------------------
def _product_doc(ctx: SimContext, symbol: str) -> dict[str, Any]:
    venue = ctx.venue
    product = venue.product(symbol)
    return wire.product_doc(product, venue.quote(product.symbol), venue.volume_24h(product.symbol))


async def _products(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    wanted = {s.upper() for s in many(request, "product_ids")}
    kind = (request.query_params.get("product_type") or "").upper()
    docs = []
    for product in ctx.venue.products():
        if wanted and product.symbol not in wanted:
            continue
        if kind and kind != ("FUTURE" if product.is_perp else "SPOT"):
            continue
        docs.append(_product_doc(ctx, product.symbol))
    return ok({"products": docs, "num_products": len(docs)})


async def _product(request: Request) -> JSONResponse:
    return ok(_product_doc(ctx_of(request), request.path_params["product_id"]))


async def _candles(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    name = (request.query_params.get("granularity") or "ONE_MINUTE").upper()
    granularity = wire.GRANULARITY_NAMES.get(name)
    if granularity is None:
        raise WireError(f"granularity {name!r} is not one of {', '.join(wire.GRANULARITY_NAMES)}")
    now = ctx.venue.now
    end = time_param(request, "end") or now
    start = time_param(request, "start")
    limit = int_param(request, "limit", MAX_CANDLES, low=1, high=MAX_CANDLES)
    if start is None:
        start = datetime.fromtimestamp(end.timestamp() - granularity * limit, UTC)
    if start > end:
        raise WireError("start must not be after end")
    span = math.floor((end.timestamp() - start.timestamp()) / granularity)
    if span > MAX_CANDLES:
        raise WireError(f"number of candles requested should be at most {MAX_CANDLES}")
    wanted = min(limit, span + 1)
    symbol = request.path_params["product_id"]
    ahead = datetime.fromtimestamp(end.timestamp() + granularity, UTC)
    candles = ctx.venue.candles(symbol, granularity, wanted + 1, ahead)
    picked = [c for c in candles if start <= c.start <= end][-wanted:]
    return ok({"candles": [wire.candle_doc(c) for c in reversed(picked)]})


async def _ticker(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    symbol = request.path_params["product_id"]
    limit = int_param(request, "limit", 100, low=1, high=1000)
    quote = ctx.venue.quote(symbol)
    trades = [
        {
            "trade_id": t.trade_id,
            "product_id": t.symbol,
            "price": wire.num(t.price),
            "size": wire.num(t.size),
            "time": wire.ts(t.time),
            "side": t.side.value,
            "bid": "",
            "ask": "",
            "exchange": "CBE",
        }
        for t in ctx.venue.trades(symbol, limit)
    ]
    return ok({"trades": trades, "best_bid": wire.num(quote.bid), "best_ask": wire.num(quote.ask)})


async def _product_book(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    symbol = request.query_params.get("product_id")
    if not symbol:
        raise WireError("product_id is required")
    depth = int_param(request, "limit", 50, low=1, high=200)
    book = ctx.venue.book(symbol, depth)
    quote = ctx.venue.quote(book.symbol)
    mid = quote.mid
    spread = quote.spread
    return ok(
        {
            "pricebook": wire.pricebook_doc(book),
            "last": wire.num(quote.last),
            "mid_market": wire.num(mid),
            "spread_bps": wire.num((spread / mid * 10000).quantize(Decimal("0.0001"))),
            "spread_absolute": wire.num(spread),
        }
    )


for _prefix in ("", "/market"):
    route("GET", f"{_prefix}/products")(_products)
    route("GET", f"{_prefix}/products/{{product_id}}")(_product)
    route("GET", f"{_prefix}/products/{{product_id}}/candles")(_candles)
    route("GET", f"{_prefix}/products/{{product_id}}/ticker")(_ticker)
    route("GET", f"{_prefix}/product_book")(_product_book)


@route("GET", "/best_bid_ask")
async def best_bid_ask(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    symbols = many(request, "product_ids") or [
        p.symbol for p in ctx.venue.products() if not p.is_perp
    ]
    books = [wire.top_pricebook_doc(ctx.venue.quote(s)) for s in symbols]
    return ok({"pricebooks": books})


# --- orders --------------------------------------------------------------------------------------
def _request_from(body: dict[str, Any], client_order_id: str) -> OrderRequest:
    symbol = body.get("product_id")
    if not isinstance(symbol, str) or not symbol:
        raise WireError("product_id is required")
    parsed = wire.parse_configuration(body.get("order_configuration"))
    return OrderRequest(
        client_order_id=client_order_id,
        symbol=symbol.upper(),
        side=wire.parse_side(body.get("side")),
        order_type=parsed.order_type,
        base_size=parsed.base_size,
        quote_size=parsed.quote_size,
        limit_price=parsed.limit_price,
        stop_price=parsed.stop_price,
        stop_direction=parsed.stop_direction,
        time_in_force=parsed.time_in_force,
        end_time=parsed.end_time,
        post_only=parsed.post_only,
        reduce_only=bool(body.get("reduce_only", False)),
    )


def _order_doc(ctx: SimContext, order: Any) -> dict[str, Any]:
    venue = ctx.venue
    return wire.order_doc(
        order,
        portfolio_uuid=venue.portfolio_uuid,
        fills=venue.fill_count(order.order_id),
        perp=is_perp_symbol(order.symbol),
    )


@route("POST", "/orders")
async def create_order(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    body = await body_of(request)
    client_order_id = body.get("client_order_id")
    if not isinstance(client_order_id, str) or not client_order_id:
        raise WireError("client_order_id is required")
    configuration = body.get("order_configuration")
    order_request = _request_from(body, client_order_id)
    try:
        order, duplicate = ctx.venue.submit(order_request)
    except OrderRejected as exc:
        return ok(wire.create_failure_doc(exc.reason, exc.message, configuration))
    except UnknownProduct as exc:
        return ok(wire.create_failure_doc("INVALID_PRODUCT_ID", exc.message, configuration))
    return ok(wire.duplicate_doc(order) if duplicate else wire.create_success_doc(order))


@route("POST", "/orders/preview")
async def preview_order(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    body = await body_of(request)
    order_request = _request_from(body, f"preview-{uuid.uuid4()}")
    preview = ctx.venue.preview(order_request)
    return ok(wire.preview_doc(preview, ctx.venue.quote(preview.symbol)))


def _edit_fields(body: dict[str, Any]) -> tuple[str, Decimal | None, Decimal | None]:
    order_id = body.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        raise WireError("order_id is required")
    return (
        order_id,
        wire.parse_decimal(body.get("price"), "price"),
        wire.parse_decimal(body.get("size"), "size"),
    )


def _edit_errors(reasons: Sequence[str]) -> list[dict[str, str]]:
    return [
        {"edit_failure_reason": reason, "preview_failure_reason": f"PREVIEW_{reason}"}
        for reason in reasons
    ]


@route("POST", "/orders/edit_preview")
async def edit_preview(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    order_id, price, size = _edit_fields(await body_of(request))
    preview = ctx.venue.preview_edit(order_id, price, size)
    quote = ctx.venue.quote(preview.symbol)
    doc = wire.preview_doc(preview, quote)
    return ok(
        {
            "errors": _edit_errors(preview.errors),
            "slippage": doc["slippage"],
            "order_total": doc["order_total"],
            "commission_total": doc["commission_total"],
            "quote_size": doc["quote_size"],
            "base_size": doc["base_size"],
            "best_bid": doc["best_bid"],
            "best_ask": doc["best_ask"],
            "average_filled_price": doc["average_filled_price"],
            "preview_id": preview.preview_id,
        }
    )


@route("POST", "/orders/edit")
async def edit_order(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    body = await body_of(request)
    order_id, price, size = _edit_fields(body)
    preview_id = body.get("preview_id") or None
    try:
        ctx.venue.edit(order_id, price, size, preview_id)
    except OrderRejected as exc:
        return ok({"success": False, "errors": _edit_errors([exc.reason])})
    return ok({"success": True, "errors": []})


@route("POST", "/orders/batch_cancel")
async def batch_cancel(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    ids = (await body_of(request)).get("order_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise WireError("order_ids must be a list of order ids")
    if len(ids) > 100:
        raise WireError("at most 100 order_ids per request")
    result = ctx.venue.cancel(ids)
    return ok(
        {
            "results": [
                {
                    "success": result.get(i, False),
                    "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON"
                    if result.get(i, False)
                    else "INVALID_CANCEL_REQUEST",
                    "order_id": i,
                }
                for i in ids
            ]
        }
    )


@route("POST", "/orders/close_position")
async def close_position(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    body = await body_of(request)
    client_order_id = body.get("client_order_id")
    symbol = body.get("product_id")
    if not isinstance(client_order_id, str) or not client_order_id:
        raise WireError("client_order_id is required")
    if not isinstance(symbol, str) or not symbol:
        raise WireError("product_id is required")
    size = wire.parse_decimal(body.get("size"), "size")
    try:
        order, duplicate = ctx.venue.close_position(client_order_id, symbol, size)
    except OrderRejected as exc:
        return ok(wire.create_failure_doc(exc.reason, exc.message, None))
    return ok(wire.duplicate_doc(order) if duplicate else wire.create_success_doc(order))


@route("GET", "/orders/historical/batch")
async def list_orders(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    ids = set(many(request, "order_ids"))
    products = {s.upper() for s in many(request, "product_ids")}
    statuses = {s.upper() for s in many(request, "order_status")}
    side = (request.query_params.get("order_side") or "").upper()
    start, end = time_param(request, "start_date"), time_param(request, "end_date")
    docs = []
    for order in ctx.venue.orders():
        if ids and order.order_id not in ids:
            continue
        if products and order.symbol not in products:
            continue
        if side and order.side.value != side:
            continue
        if start is not None and order.created_at < start:
            continue
        if end is not None and order.created_at > end:
            continue
        doc = _order_doc(ctx, order)
        if statuses and doc["status"] not in statuses:
            continue
        docs.append(doc)
    page, more, cursor = paginate(docs, request)
    return ok({"orders": page, "sequence": "0", "has_next": more, "cursor": cursor})


@route("GET", "/orders/historical/fills")
async def list_fills(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    order_ids = set(many(request, "order_ids"))
    trade_ids = set(many(request, "trade_ids"))
    products = {s.upper() for s in many(request, "product_ids")}
    start = time_param(request, "start_sequence_timestamp")
    end = time_param(request, "end_sequence_timestamp")
    docs = []
    for fill in ctx.venue.fills():
        if order_ids and fill.order_id not in order_ids:
            continue
        if trade_ids and fill.fill_id not in trade_ids:
            continue
        if products and fill.symbol not in products:
            continue
        if start is not None and fill.time < start:
            continue
        if end is not None and fill.time > end:
            continue
        docs.append(wire.fill_doc(fill, portfolio_uuid=ctx.venue.portfolio_uuid))
    page, _, cursor = paginate(docs, request)
    return ok({"fills": page, "cursor": cursor})


@route("GET", "/orders/historical/{order_id}")
async def get_order(request: Request) -> JSONResponse:
    ctx = ctx_of(request)
    order = ctx.venue.get_order(request.path_params["order_id"])
    return ok({"order": _order_doc(ctx, order)})


# --- fees, permissions, portfolios ---------------------------------------------------------------
@route("GET", "/transaction_summary")
async def transaction_summary(request: Request) -> JSONResponse:
    venue = ctx_of(request).venue
    fees = venue.fee_schedule()
    volume, paid = venue.volume_30d()
    return ok(
        {
            "total_volume": wire.num(volume),
            "total_fees": wire.num(paid),
            "fee_tier": {
                "pricing_tier": "Advanced 1",
                "usd_from": "0",
                "usd_to": "10000",
                "taker_fee_rate": wire.num(fees.taker),
                "maker_fee_rate": wire.num(fees.maker),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": wire.num(volume),
            "advanced_trade_only_fees": wire.num(paid),
            "coinbase_pro_volume": "0",
            "coinbase_pro_fees": "0",
            "total_balance": "",
            "has_promo_fee": False,
        }
    )


@route("GET", "/key_permissions")
async def key_permissions(request: Request) -> JSONResponse:
    venue = ctx_of(request).venue
    intx = venue.intx_portfolio_uuid
    return ok(
        {
            "can_view": True,
            "can_trade": True,
            "can_transfer": False,
            "portfolio_uuid": intx or venue.portfolio_uuid,
            "portfolio_type": "INTX" if intx else "DEFAULT",
        }
    )


@route("GET", "/portfolios")
async def portfolios(request: Request) -> JSONResponse:
    venue = ctx_of(request).venue
    docs = [{"name": "Default", "uuid": venue.portfolio_uuid, "type": "DEFAULT", "deleted": False}]
    if venue.intx_portfolio_uuid:
        docs.append(
            {
                "name": "Perpetuals",
                "uuid": venue.intx_portfolio_uuid,
                "type": "INTX",
                "deleted": False,
            }
        )
    wanted = (request.query_params.get("portfolio_type") or "").upper()
    return ok({"portfolios": [d for d in docs if not wanted or d["type"] == wanted]})


def _intx(request: Request) -> tuple[SimContext, str]:
    ctx = ctx_of(request)
    wanted = request.path_params["portfolio_uuid"]
    if not ctx.venue.intx_portfolio_uuid or wanted != ctx.venue.intx_portfolio_uuid:
        raise OrderNotFound(f"no INTX portfolio {wanted}")
    return ctx, wanted


def _money(value: Decimal, currency: str = "USDC") -> dict[str, str]:
    return {"value": wire.num(value), "currency": currency}


def _collateral(ctx: SimContext) -> Decimal:
    for balance in ctx.venue.balances():
        if balance.currency in ("USD", "USDC"):
            return balance.available
    return ZERO


@route("GET", "/intx/portfolio/{portfolio_uuid}")
async def intx_portfolio(request: Request) -> JSONResponse:
    ctx, portfolio = _intx(request)
    collateral = _collateral(ctx)
    zero = _money(ZERO)
    return ok(
        {
            "portfolios": [
                {
                    "portfolio_uuid": portfolio,
                    "collateral": wire.num(collateral),
                    "position_notional": "0",
                    "open_position_notional": "0",
                    "pending_fees": "0",
                    "borrow": "0",
                    "accrued_interest": "0",
                    "rolling_debt": "0",
                    "portfolio_initial_margin": "0",
                    "portfolio_im_notional": zero,
                    "liquidation_percentage": "0",
                    "liquidation_buffer": "0",
                    "margin_type": "MARGIN_TYPE_CROSS",
                    "margin_flags": "PORTFOLIO_MARGIN_FLAGS_UNSPECIFIED",
                    "liquidation_status": "PORTFOLIO_LIQUIDATION_STATUS_UNSPECIFIED",
                    "unrealized_pnl": zero,
                    "total_balance": _money(collateral),
                }
            ],
            "summary": {
                "unrealized_pnl": zero,
                "buying_power": _money(collateral),
                "total_balance": _money(collateral),
                "max_withdrawal_amount": _money(collateral),
            },
        }
    )


@route("GET", "/intx/positions/{portfolio_uuid}")
async def intx_positions(request: Request) -> JSONResponse:
    ctx, portfolio = _intx(request)
    positions = []
    for product in ctx.venue.products():
        if not product.is_perp:
            continue
        qty = ctx.venue.position_quantity(product.symbol)
        if qty == ZERO:
            continue
        mark = ctx.venue.quote(product.symbol).mid
        positions.append(
            {
                "product_id": product.symbol,
                "product_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, product.symbol)),
                "portfolio_uuid": portfolio,
                "symbol": product.symbol,
                "vwap": _money(ZERO),
                "entry_vwap": _money(ZERO),
                "position_side": "POSITION_SIDE_LONG" if qty > ZERO else "POSITION_SIDE_SHORT",
                "margin_type": "MARGIN_TYPE_CROSS",
                "net_size": wire.num(qty),
                "buy_order_size": "0",
                "sell_order_size": "0",
                "im_contribution": "0",
                "unrealized_pnl": _money(ZERO),
                "mark_price": _money(mark),
                "liquidation_price": _money(ZERO),
                "leverage": "1",
                "im_notional": _money(ZERO),
                "mm_notional": _money(ZERO),
                "position_notional": _money(abs(qty) * mark),
                "aggregated_pnl": _money(ZERO),
            }
        )
    return ok({"positions": positions, "summary": {"aggregated_pnl": _money(ZERO)}})


@route("GET", "/intx/balances/{portfolio_uuid}")
async def intx_balances(request: Request) -> JSONResponse:
    ctx, portfolio = _intx(request)
    collateral = wire.num(_collateral(ctx))
    return ok(
        {
            "portfolio_balances": [
                {
                    "portfolio_uuid": portfolio,
                    "balances": [
                        {
                            "asset": {
                                "asset_id": "USDC",
                                "asset_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "USDC")),
                                "asset_name": "USDC",
                                "status": "ACTIVE",
                                "collateral_weight": "1",
                                "account_collateral_limit": "",
                                "ecosystem_collateral_limit": "",
                                "asset_icon_url": "",
                                "supported_networks_enabled": True,
                            },
                            "quantity": collateral,
                            "hold": "0",
                            "transfer_hold": "0",
                            "collateral_value": collateral,
                            "collateral_weight": "1",
                            "max_withdraw_amount": collateral,
                            "loan": "0",
                            "loan_collateral_requirement_usd": "0",
                            "pledged_quantity": "0",
                        }
                    ],
                    "is_margin_limit_reached": False,
                }
            ]
        }
    )
