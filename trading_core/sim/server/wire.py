"""Coinbase Advanced Trade JSON shapes, server side: domain objects -> wire documents, and the
order configurations clients send -> the fields of an ``OrderRequest``.

Independent of the adapter's own codec on purpose: the two meet only on the wire, so a
misunderstanding on either side shows up in the end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ...brokers.coinbase.codec import CONFIG_KINDS
from ...clock import parse_utc
from ...domain import (
    ZERO,
    Balance,
    Candle,
    Fill,
    Order,
    OrderBook,
    OrderPreview,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Quote,
    StopDirection,
    TimeInForce,
    fmt,
    to_decimal,
)

FIAT = frozenset({"USD", "EUR", "GBP"})

#: Coinbase's gRPC-style error names for HTTP errors, with their codes.
GRPC_CODES = {
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}

_STATUS = {
    OrderStatus.INITIALIZED: "PENDING",
    OrderStatus.SUBMITTED: "PENDING",
    OrderStatus.OPEN: "OPEN",
    OrderStatus.TRIGGERED: "OPEN",
    OrderStatus.PARTIALLY_FILLED: "OPEN",
    OrderStatus.PENDING_CANCEL: "CANCEL_QUEUED",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELLED: "CANCELLED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "FAILED",
    OrderStatus.FAILED: "FAILED",
}

GRANULARITY_NAMES = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}


class WireError(ValueError):
    """A request document the venue cannot read (answered with 400 INVALID_ARGUMENT)."""


def ts(when: datetime) -> str:
    """RFC 3339 with microseconds and 'Z', as Coinbase writes times."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def num(value: Decimal | None) -> str:
    return "0" if value is None else fmt(value)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {
        "error": code,
        "code": GRPC_CODES.get(code, 2),
        "message": message,
        "error_details": message,
        "details": [],
    }


# --- products and market data ------------------------------------------------------------------
def product_doc(product: Product, quote: Quote, volume_24h: Decimal) -> dict[str, Any]:
    perp = product.is_perp
    doc: dict[str, Any] = {
        "product_id": product.symbol,
        "price": num(quote.last),
        "price_percentage_change_24h": "0",
        "volume_24h": num(volume_24h),
        "volume_percentage_change_24h": "0",
        "base_increment": num(product.base_increment),
        "quote_increment": num(product.quote_increment),
        "quote_min_size": num(product.min_notional),
        "quote_max_size": "50000000",
        "base_min_size": num(product.base_min_size),
        "base_max_size": num(product.base_max_size),
        "base_name": product.base_currency,
        "quote_name": product.quote_currency,
        "watched": False,
        "is_disabled": False,
        "new": False,
        "status": "online",
        "cancel_only": False,
        "limit_only": product.limit_only,
        "post_only": product.post_only,
        "trading_disabled": product.trading_disabled,
        "auction_mode": False,
        "product_type": "FUTURE" if perp else "SPOT",
        "quote_currency_id": product.quote_currency,
        "base_currency_id": product.base_currency,
        "fcm_trading_session_details": None,
        "mid_market_price": num(quote.mid),
        "alias": "",
        "alias_to": [],
        "base_display_symbol": product.base_currency,
        "quote_display_symbol": product.quote_currency,
        "view_only": False,
        "price_increment": num(product.quote_increment),
        "display_name": product.symbol,
        "product_venue": "INTX" if perp else "CBE",
        "approximate_quote_24h_volume": num((volume_24h * quote.last).quantize(Decimal("0.01"))),
    }
    if perp:
        doc["future_product_details"] = {
            "venue": "INTX",
            "contract_code": product.base_currency,
            "contract_expiry": None,
            "contract_size": "1",
            "contract_root_unit": product.base_currency,
            "group_description": f"{product.base_currency} Perpetual",
            "contract_expiry_timezone": "",
            "group_short_description": f"{product.base_currency} PERP",
            "risk_managed_by": "MANAGED_BY_FCM",
            "contract_expiry_type": "PERPETUAL",
            "perpetual_details": {
                "open_interest": "0",
                "funding_rate": "0.000001",
                "funding_time": None,
                "max_leverage": "10",
            },
            "contract_display_name": f"{product.base_currency} PERPETUAL",
        }
    return doc


def pricebook_doc(book: OrderBook) -> dict[str, Any]:
    return {
        "product_id": book.symbol,
        "bids": [{"price": num(lv.price), "size": num(lv.size)} for lv in book.bids],
        "asks": [{"price": num(lv.price), "size": num(lv.size)} for lv in book.asks],
        "time": ts(book.time),
    }


def top_pricebook_doc(quote: Quote) -> dict[str, Any]:
    return {
        "product_id": quote.symbol,
        "bids": [{"price": num(quote.bid), "size": num(quote.bid_size)}],
        "asks": [{"price": num(quote.ask), "size": num(quote.ask_size)}],
        "time": ts(quote.time),
    }


def candle_doc(candle: Candle) -> dict[str, Any]:
    return {
        "start": str(int(candle.start.timestamp())),
        "low": num(candle.low),
        "high": num(candle.high),
        "open": num(candle.open),
        "close": num(candle.close),
        "volume": num(candle.volume),
    }


# --- accounts ----------------------------------------------------------------------------------
def account_doc(
    balance: Balance, *, account_uuid: str, portfolio_uuid: str, created: datetime
) -> dict[str, Any]:
    ccy = balance.currency
    return {
        "uuid": account_uuid,
        "name": f"{ccy} Wallet",
        "currency": ccy,
        "available_balance": {"value": num(balance.available), "currency": ccy},
        "default": ccy == "USD",
        "active": True,
        "created_at": ts(created),
        "updated_at": ts(created),
        "deleted_at": None,
        "type": "ACCOUNT_TYPE_FIAT" if ccy in FIAT else "ACCOUNT_TYPE_CRYPTO",
        "ready": True,
        "hold": {"value": num(balance.hold), "currency": ccy},
        "retail_portfolio_id": portfolio_uuid,
        "platform": "ACCOUNT_PLATFORM_CONSUMER",
    }


# --- orders ------------------------------------------------------------------------------------
def configuration_of(order: Order) -> dict[str, Any]:
    """The ``order_configuration`` an order was placed with."""
    size = {"base_size": num(order.base_size)} if order.base_size is not None else {}
    tif = order.time_in_force
    if order.order_type is OrderType.MARKET:
        body = size if order.base_size is not None else {"quote_size": num(order.quote_size)}
        key = "market_market_fok" if tif is TimeInForce.FOK else "market_market_ioc"
        return {key: body}
    limit = {**size, "limit_price": num(order.limit_price)}
    end = {"end_time": ts(order.end_time)} if order.end_time is not None else {}
    if order.order_type is OrderType.LIMIT:
        if tif is TimeInForce.GTC:
            return {"limit_limit_gtc": {**limit, "post_only": order.post_only}}
        if tif is TimeInForce.GTD:
            return {"limit_limit_gtd": {**limit, **end, "post_only": order.post_only}}
        if tif is TimeInForce.IOC:
            return {"sor_limit_ioc": limit}
        return {"limit_limit_fok": limit}
    direction = order.stop_direction.value if order.stop_direction is not None else ""
    stop = {**limit, "stop_price": num(order.stop_price), "stop_direction": direction}
    if tif is TimeInForce.GTD:
        return {"stop_limit_stop_limit_gtd": {**stop, **end}}
    return {"stop_limit_stop_limit_gtc": stop}


def order_doc(order: Order, *, portfolio_uuid: str, fills: int, perp: bool) -> dict[str, Any]:
    status = _STATUS[order.status]
    filled = order.filled_size
    total = order.base_size
    if total is not None and total > ZERO:
        completion = min(filled / total * 100, Decimal(100))
    elif order.status is OrderStatus.FILLED:
        completion = Decimal(100)
    else:
        completion = ZERO
    avg = order.avg_fill_price or ZERO
    value = order.filled_value
    after_fees = value + order.fees if order.side is OrderSide.BUY else value - order.fees
    if order.order_type is OrderType.STOP_LIMIT:
        pending = order.status is OrderStatus.OPEN
        trigger = "STOP_PENDING" if pending else "STOP_TRIGGERED"
    else:
        trigger = "INVALID_ORDER_TYPE"
    reason = order.reject_reason or ""
    rejected = order.status in (OrderStatus.REJECTED, OrderStatus.FAILED)
    return {
        "order_id": order.order_id,
        "product_id": order.symbol,
        "user_id": "sim-user",
        "order_configuration": configuration_of(order),
        "side": order.side.value,
        "client_order_id": order.client_order_id,
        "status": status,
        "time_in_force": order.time_in_force.value,
        "created_time": ts(order.created_at),
        "completion_percentage": num(completion.quantize(Decimal("0.01"))),
        "filled_size": num(filled),
        "average_filled_price": num(avg.quantize(Decimal("1e-10")) if avg else ZERO),
        "fee": "",
        "number_of_fills": str(fills),
        "filled_value": num(value),
        "pending_cancel": order.status is OrderStatus.PENDING_CANCEL,
        "size_in_quote": order.base_size is None,
        "total_fees": num(order.fees),
        "size_inclusive_of_fees": False,
        "total_value_after_fees": num(after_fees),
        "trigger_status": trigger,
        "order_type": order.order_type.value,
        "reject_reason": reason if rejected else "",
        "settled": order.status.is_terminal,
        "product_type": "FUTURE" if perp else "SPOT",
        "reject_message": reason if rejected else "",
        "cancel_message": reason if order.status is OrderStatus.CANCELLED else "",
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": "0",
        "is_liquidation": False,
        "last_fill_time": ts(order.updated_at) if filled > ZERO else None,
        "edit_history": [],
        "leverage": "",
        "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": portfolio_uuid,
    }


def fill_doc(fill: Fill, *, portfolio_uuid: str) -> dict[str, Any]:
    return {
        "entry_id": fill.fill_id,
        "trade_id": fill.fill_id,
        "order_id": fill.order_id,
        "trade_time": ts(fill.time),
        "trade_type": "FILL",
        "price": num(fill.price),
        "size": num(fill.size),
        "commission": num(fill.fee),
        "product_id": fill.symbol,
        "sequence_timestamp": ts(fill.time),
        "liquidity_indicator": fill.liquidity.value,
        "size_in_quote": False,
        "user_id": "sim-user",
        "side": fill.side.value,
        "retail_portfolio_id": portfolio_uuid,
    }


def preview_doc(preview: OrderPreview, quote: Quote) -> dict[str, Any]:
    value, fee = preview.quote_size, preview.est_fee
    total = value + fee if preview.side is OrderSide.BUY else value - fee
    return {
        "order_total": num(total),
        "commission_total": num(fee),
        "errs": [f"PREVIEW_{reason}" for reason in preview.errors],
        "warning": list(preview.warnings),
        "quote_size": num(value),
        "base_size": num(preview.base_size),
        "best_bid": num(quote.bid),
        "best_ask": num(quote.ask),
        "is_max": False,
        "order_margin_total": "0",
        "leverage": "1",
        "long_leverage": "1",
        "short_leverage": "1",
        "slippage": num(preview.slippage),
        "preview_id": preview.preview_id,
        "current_liquidation_buffer": "0",
        "projected_liquidation_buffer": "0",
        "max_leverage": "1",
        "pnl_configuration": None,
        "twap_bucket_metadata": None,
        "position_notional_limit": "",
        "max_notional_for_leverage": "",
        "average_filled_price": num(preview.est_average_price),
    }


def create_failure_doc(
    reason: str, message: str, configuration: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "success": False,
        "failure_reason": "UNKNOWN_FAILURE_REASON",
        "order_id": "",
        "error_response": {
            "error": reason,
            "message": message,
            "error_details": message,
            "preview_failure_reason": f"PREVIEW_{reason}",
            "new_order_failure_reason": reason,
        },
        "order_configuration": configuration,
    }


def create_success_doc(order: Order) -> dict[str, Any]:
    return {
        "success": True,
        "success_response": {
            "order_id": order.order_id,
            "product_id": order.symbol,
            "side": order.side.value,
            "client_order_id": order.client_order_id,
        },
        "order_configuration": configuration_of(order),
    }


def duplicate_doc(order: Order) -> dict[str, Any]:
    """A reused client_order_id: refused as a new order, naming the order that already has it."""
    message = f"client_order_id {order.client_order_id} is already used by order {order.order_id}"
    doc = create_failure_doc("DUPLICATE_CLIENT_ORDER_ID", message, configuration_of(order))
    doc["order_id"] = order.order_id
    doc["error_response"]["existing_order_id"] = order.order_id
    return doc


# --- requests -> OrderRequest fields -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParsedConfiguration:
    order_type: OrderType
    time_in_force: TimeInForce
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_direction: StopDirection | None = None
    end_time: datetime | None = None
    post_only: bool = False


def _dec(body: dict[str, Any], name: str) -> Decimal | None:
    raw = body.get(name)
    if raw is None or raw == "":
        return None
    try:
        return to_decimal(raw, field=name)
    except ValueError as exc:
        raise WireError(str(exc)) from None


def parse_configuration(configuration: Any) -> ParsedConfiguration:
    """The one order configuration in ``configuration``; WireError naming what is wrong."""
    if not isinstance(configuration, dict) or len(configuration) != 1:
        raise WireError("order_configuration must hold exactly one configuration")
    ((key, body),) = configuration.items()
    if key not in CONFIG_KINDS:
        raise WireError(f"unsupported order_configuration {key!r}")
    if not isinstance(body, dict):
        raise WireError(f"{key} must be an object")
    order_type, tif = CONFIG_KINDS[key]
    direction = body.get("stop_direction")
    stop_direction = None
    if order_type is OrderType.STOP_LIMIT:
        try:
            stop_direction = StopDirection(direction)
        except ValueError:
            raise WireError(f"{key}.stop_direction {direction!r} is not a stop direction") from None
    end_time = None
    if body.get("end_time"):
        try:
            end_time = parse_utc(str(body["end_time"]))
        except ValueError:
            raise WireError(f"{key}.end_time is not an RFC 3339 time") from None
    post_only = body.get("post_only", False)
    if not isinstance(post_only, bool):
        raise WireError(f"{key}.post_only must be a boolean")
    return ParsedConfiguration(
        order_type=order_type,
        time_in_force=tif,
        base_size=_dec(body, "base_size"),
        quote_size=_dec(body, "quote_size"),
        limit_price=_dec(body, "limit_price"),
        stop_price=_dec(body, "stop_price"),
        stop_direction=stop_direction,
        end_time=end_time,
        post_only=post_only,
    )


def parse_side(value: Any) -> OrderSide:
    try:
        return OrderSide(str(value).upper())
    except ValueError:
        raise WireError(f"side {value!r} is not BUY or SELL") from None


def parse_decimal(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return to_decimal(value, field=name)
    except ValueError as exc:
        raise WireError(str(exc)) from None
