"""Coinbase Advanced Trade documents -> domain types, and order requests -> order
configurations. Decimal from the wire on (floats, if a field ever is one, go through repr);
times aware UTC. A document without what it must hold raises KeyError/ValueError/TypeError,
which the broker turns into one FATAL error naming the endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ...domain import (
    ZERO,
    Balance,
    BookLevel,
    Candle,
    Fill,
    Liquidity,
    Order,
    OrderBook,
    OrderPreview,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    ProductType,
    Quote,
    StopDirection,
    TimeInForce,
    fmt,
    to_decimal,
)

GRANULARITIES = {
    60: "ONE_MINUTE",
    300: "FIVE_MINUTE",
    900: "FIFTEEN_MINUTE",
    1800: "THIRTY_MINUTE",
    3600: "ONE_HOUR",
    7200: "TWO_HOUR",
    21600: "SIX_HOUR",
    86400: "ONE_DAY",
}

#: Advanced Trade order_configuration keys and what they mean (shared with the simulator).
CONFIG_KINDS: dict[str, tuple[OrderType, TimeInForce]] = {
    "market_market_ioc": (OrderType.MARKET, TimeInForce.IOC),
    "market_market_fok": (OrderType.MARKET, TimeInForce.FOK),
    "limit_limit_gtc": (OrderType.LIMIT, TimeInForce.GTC),
    "limit_limit_gtd": (OrderType.LIMIT, TimeInForce.GTD),
    "limit_limit_fok": (OrderType.LIMIT, TimeInForce.FOK),
    "sor_limit_ioc": (OrderType.LIMIT, TimeInForce.IOC),
    "stop_limit_stop_limit_gtc": (OrderType.STOP_LIMIT, TimeInForce.GTC),
    "stop_limit_stop_limit_gtd": (OrderType.STOP_LIMIT, TimeInForce.GTD),
}


def dec(value: Any, name: str = "value") -> Decimal:
    """A required number (strings as Coinbase sends them; "" is refused)."""
    return to_decimal(value, field=name)


def opt_dec(value: Any, name: str = "value") -> Decimal | None:
    if value is None or value == "":
        return None
    return to_decimal(value, field=name)


def parse_time(text: Any) -> datetime:
    """RFC 3339 as Coinbase writes it ('Z', up to nanoseconds) or epoch seconds -> aware UTC."""
    if isinstance(text, (int, float)) or (isinstance(text, str) and text.isdigit()):
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError):  # NaN, inf, beyond the year 9999 or time_t
            raise ValueError(f"not a time: {text!r}") from None
    if not isinstance(text, str) or not text:
        raise ValueError(f"not a time: {text!r}")
    value = text.strip().replace("Z", "+00:00")
    head, dot, rest = value.partition(".")
    if dot:  # at most microseconds for fromisoformat
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, zone = rest[:digits], rest[digits:]
        value = f"{head}.{frac[:6].ljust(6, '0')}{zone}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def opt_time(text: Any) -> datetime | None:
    return None if text in (None, "") else parse_time(text)


# --- reference and market data -----------------------------------------------------------------
def product_from(doc: Mapping[str, Any]) -> Product:
    symbol = str(doc["product_id"])
    perp = doc.get("product_type") == "FUTURE"
    price_increment = opt_dec(doc.get("price_increment"), "price_increment")
    base = str(doc.get("base_currency_id") or doc.get("base_display_symbol") or "")
    quote = str(doc.get("quote_currency_id") or doc.get("quote_display_symbol") or "")
    if not base or not quote:
        base, _, quote = symbol.partition("-")
    return Product(
        symbol=symbol,
        base_currency=base,
        quote_currency=quote,
        base_increment=dec(doc["base_increment"], "base_increment"),
        quote_increment=price_increment or dec(doc["quote_increment"], "quote_increment"),
        base_min_size=dec(doc["base_min_size"], "base_min_size"),
        base_max_size=dec(doc["base_max_size"], "base_max_size"),
        min_notional=opt_dec(doc.get("quote_min_size"), "quote_min_size") or ZERO,
        product_type=ProductType.PERP if perp else ProductType.SPOT,
        trading_disabled=bool(doc.get("trading_disabled") or doc.get("is_disabled")),
        limit_only=bool(doc.get("limit_only")),
        post_only=bool(doc.get("post_only")),
    )


def quote_from_pricebook(doc: Mapping[str, Any]) -> Quote:
    """A best_bid_ask pricebook; ``last`` is the mid (the endpoint has no last trade)."""
    bids, asks = doc.get("bids") or [], doc.get("asks") or []
    if not bids or not asks:
        raise ValueError(f"{doc.get('product_id')}: empty side in the pricebook")
    bid, ask = dec(bids[0]["price"], "bid"), dec(asks[0]["price"], "ask")
    return Quote(
        symbol=str(doc["product_id"]),
        bid=bid,
        ask=ask,
        last=(bid + ask) / 2,
        time=parse_time(doc["time"]),
        bid_size=dec(bids[0].get("size", 0), "bid size"),
        ask_size=dec(asks[0].get("size", 0), "ask size"),
    )


def book_from(doc: Mapping[str, Any]) -> OrderBook:
    def levels(side: Any) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(dec(lv["price"], "price"), dec(lv["size"], "size")) for lv in side)

    return OrderBook(
        symbol=str(doc["product_id"]),
        bids=levels(doc.get("bids") or []),
        asks=levels(doc.get("asks") or []),
        time=parse_time(doc["time"]),
    )


def candle_from(doc: Mapping[str, Any], symbol: str, granularity_s: int) -> Candle:
    return Candle(
        symbol=symbol,
        start=parse_time(doc["start"]),
        granularity_s=granularity_s,
        open=dec(doc["open"], "open"),
        high=dec(doc["high"], "high"),
        low=dec(doc["low"], "low"),
        close=dec(doc["close"], "close"),
        volume=dec(doc["volume"], "volume"),
    )


# --- accounts ----------------------------------------------------------------------------------
def balance_from(doc: Mapping[str, Any]) -> Balance:
    currency = str(doc["currency"])
    available = dec(doc["available_balance"]["value"], "available_balance")
    hold_doc = doc.get("hold") or {}
    hold = opt_dec(hold_doc.get("value"), "hold") or ZERO
    return Balance(currency, available, hold)


# --- orders ------------------------------------------------------------------------------------
def configuration_for(request: OrderRequest) -> dict[str, Any]:
    """The ``order_configuration`` for a (validated) request."""
    tif = request.time_in_force
    if request.order_type is OrderType.MARKET:
        if request.base_size is not None:
            size = {"base_size": fmt(request.base_size)}
        else:
            size = {"quote_size": fmt(request.quote_size or ZERO)}
        return {"market_market_fok" if tif is TimeInForce.FOK else "market_market_ioc": size}
    body: dict[str, Any] = {
        "base_size": fmt(request.base_size or ZERO),
        "limit_price": fmt(request.limit_price or ZERO),
    }
    end = rfc3339(request.end_time) if request.end_time is not None else None
    if request.order_type is OrderType.LIMIT:
        if tif is TimeInForce.GTC:
            return {"limit_limit_gtc": {**body, "post_only": request.post_only}}
        if tif is TimeInForce.GTD:
            return {"limit_limit_gtd": {**body, "end_time": end, "post_only": request.post_only}}
        if tif is TimeInForce.IOC:
            return {"sor_limit_ioc": body}
        return {"limit_limit_fok": body}
    assert request.stop_direction is not None and request.stop_price is not None
    body["stop_price"] = fmt(request.stop_price)
    body["stop_direction"] = request.stop_direction.value
    if tif is TimeInForce.GTD:
        return {"stop_limit_stop_limit_gtd": {**body, "end_time": end}}
    return {"stop_limit_stop_limit_gtc": body}


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _status(doc: Mapping[str, Any], filled: Decimal) -> OrderStatus:
    raw = str(doc.get("status", ""))
    if raw in ("OPEN", "EDIT_QUEUED"):
        if filled > ZERO:
            return OrderStatus.PARTIALLY_FILLED
        if doc.get("trigger_status") == "STOP_TRIGGERED":
            return OrderStatus.TRIGGERED
        return OrderStatus.OPEN
    if raw == "FILLED":
        return OrderStatus.FILLED
    if raw == "CANCELLED":
        return OrderStatus.CANCELLED
    if raw == "EXPIRED":
        return OrderStatus.EXPIRED
    if raw == "FAILED":
        return OrderStatus.REJECTED if doc.get("reject_reason") else OrderStatus.FAILED
    if raw == "CANCEL_QUEUED":
        return OrderStatus.PENDING_CANCEL
    if raw in ("PENDING", "QUEUED", "UNKNOWN_ORDER_STATUS"):
        return OrderStatus.SUBMITTED
    raise ValueError(f"unknown order status {raw!r}")


def order_from(doc: Mapping[str, Any]) -> Order:
    configuration = doc["order_configuration"]
    if not isinstance(configuration, Mapping) or len(configuration) != 1:
        raise ValueError("order_configuration must hold one configuration")
    ((kind, body),) = configuration.items()
    order_type, tif = CONFIG_KINDS[kind]
    filled = opt_dec(doc.get("filled_size"), "filled_size") or ZERO
    created = parse_time(doc["created_time"])
    updated = opt_time(doc.get("last_fill_time")) or created
    direction = body.get("stop_direction")
    reason = doc.get("reject_reason") or doc.get("reject_message") or doc.get("cancel_message")
    return Order(
        order_id=str(doc["order_id"]),
        client_order_id=str(doc.get("client_order_id") or ""),
        symbol=str(doc["product_id"]),
        side=OrderSide(str(doc["side"]).upper()),
        order_type=order_type,
        time_in_force=tif,
        created_at=created,
        updated_at=max(updated, created),
        status=_status(doc, filled),
        base_size=opt_dec(body.get("base_size"), "base_size"),
        quote_size=opt_dec(body.get("quote_size"), "quote_size"),
        limit_price=opt_dec(body.get("limit_price"), "limit_price"),
        stop_price=opt_dec(body.get("stop_price"), "stop_price"),
        stop_direction=StopDirection(direction) if direction else None,
        end_time=opt_time(body.get("end_time")),
        post_only=bool(body.get("post_only", False)),
        filled_size=filled,
        filled_value=opt_dec(doc.get("filled_value"), "filled_value") or ZERO,
        fees=opt_dec(doc.get("total_fees"), "total_fees") or ZERO,
        reject_reason=str(reason) if reason else None,
    )


def fill_from(doc: Mapping[str, Any], client_order_id: str) -> Fill:
    liquidity = str(doc.get("liquidity_indicator") or "TAKER").upper()
    return Fill(
        fill_id=str(doc.get("entry_id") or doc["trade_id"]),
        order_id=str(doc["order_id"]),
        client_order_id=client_order_id,
        symbol=str(doc["product_id"]),
        side=OrderSide(str(doc["side"]).upper()),
        price=dec(doc["price"], "price"),
        size=dec(doc["size"], "size"),
        fee=opt_dec(doc.get("commission"), "commission") or ZERO,
        liquidity=Liquidity.MAKER if liquidity == "MAKER" else Liquidity.TAKER,
        time=parse_time(doc.get("trade_time") or doc["sequence_timestamp"]),
    )


def preview_from(
    doc: Mapping[str, Any],
    *,
    symbol: str,
    side: OrderSide,
    order_type: OrderType,
    errors_key: str = "errs",
) -> OrderPreview:
    """A preview (``/orders/preview``) or an edit preview (``/orders/edit_preview``)."""
    if errors_key == "errs":
        errors = tuple(str(e).removeprefix("PREVIEW_") for e in doc.get("errs") or [])
    else:
        errors = tuple(
            str(
                e.get("edit_failure_reason")
                or str(e.get("preview_failure_reason") or "").removeprefix("PREVIEW_")
            )
            for e in doc.get("errors") or []
            if isinstance(e, dict)
        )
    warnings = tuple(str(w) for w in doc.get("warning") or doc.get("warnings") or [])
    return OrderPreview(
        symbol=symbol,
        side=side,
        order_type=order_type,
        base_size=opt_dec(doc.get("base_size"), "base_size") or ZERO,
        quote_size=opt_dec(doc.get("quote_size"), "quote_size") or ZERO,
        est_average_price=opt_dec(doc.get("average_filled_price"), "average_filled_price") or ZERO,
        est_fee=opt_dec(doc.get("commission_total"), "commission_total") or ZERO,
        slippage=opt_dec(doc.get("slippage"), "slippage") or ZERO,
        preview_id=str(doc.get("preview_id") or ""),
        errors=errors,
        warnings=warnings,
    )
