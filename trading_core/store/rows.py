"""Domain values to store rows and back: exact Decimals as TEXT, times as fixed-width UTC text.

Nothing here touches SQLite; ``event_store`` binds these tuples to its statements."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..clock import ensure_utc
from ..domain import (
    Fill,
    Liquidity,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
    TimeInForce,
)

ORDER_COLUMNS: tuple[str, ...] = (
    "client_order_id",
    "order_id",
    "symbol",
    "side",
    "order_type",
    "time_in_force",
    "status",
    "base_size",
    "quote_size",
    "filled_size",
    "filled_value",
    "fees",
    "avg_price",
    "limit_price",
    "stop_price",
    "stop_direction",
    "end_time",
    "post_only",
    "reduce_only",
    "reject_reason",
    "created_at",
    "updated_at",
    "payload",
)

FILL_COLUMNS: tuple[str, ...] = (
    "fill_id",
    "order_id",
    "client_order_id",
    "symbol",
    "side",
    "price",
    "size",
    "fee",
    "liquidity",
    "ts",
)


def ts_text(value: datetime) -> str:
    """``value`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: UTC, microseconds, fixed width (sortable)."""
    if value.tzinfo is not UTC:
        value = ensure_utc(value)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"


def ts_value(text: str) -> datetime:
    """The aware UTC datetime a ``ts_text`` string holds."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def dec_text(value: Decimal | None) -> str | None:
    """``str(Decimal)``: exact, keeps exponent and trailing zeros (``Decimal(text) == value``)."""
    return None if value is None else str(value)


def dec_value(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def order_row(order: Order) -> tuple[Any, ...]:
    """A row in ``ORDER_COLUMNS`` order; ``payload`` keeps what has no column (status history)."""
    avg = order.avg_fill_price
    payload = json.dumps({"history": [status.value for status in order.history]})
    return (
        order.client_order_id,
        order.order_id,
        order.symbol,
        order.side.value,
        order.order_type.value,
        order.time_in_force.value,
        order.status.value,
        dec_text(order.base_size),
        dec_text(order.quote_size),
        str(order.filled_size),
        str(order.filled_value),
        str(order.fees),
        dec_text(avg),
        dec_text(order.limit_price),
        dec_text(order.stop_price),
        None if order.stop_direction is None else order.stop_direction.value,
        None if order.end_time is None else ts_text(order.end_time),
        int(order.post_only),
        int(order.reduce_only),
        order.reject_reason,
        ts_text(order.created_at),
        ts_text(order.updated_at),
        payload,
    )


def order_from_row(row: tuple[Any, ...]) -> Order:
    """The ``Order`` a row (in ``ORDER_COLUMNS`` order) holds: equal to the one stored."""
    (
        client_order_id,
        order_id,
        symbol,
        side,
        order_type,
        time_in_force,
        status,
        base_size,
        quote_size,
        filled_size,
        filled_value,
        fees,
        _avg_price,
        limit_price,
        stop_price,
        stop_direction,
        end_time,
        post_only,
        reduce_only,
        reject_reason,
        created_at,
        updated_at,
        payload,
    ) = row
    extra = json.loads(payload) if payload else {}
    return Order(
        order_id=order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=OrderSide(side),
        order_type=OrderType(order_type),
        time_in_force=TimeInForce(time_in_force),
        created_at=ts_value(created_at),
        updated_at=ts_value(updated_at),
        status=OrderStatus(status),
        base_size=dec_value(base_size),
        quote_size=dec_value(quote_size),
        limit_price=dec_value(limit_price),
        stop_price=dec_value(stop_price),
        stop_direction=None if stop_direction is None else StopDirection(stop_direction),
        end_time=None if end_time is None else ts_value(end_time),
        post_only=bool(post_only),
        reduce_only=bool(reduce_only),
        filled_size=Decimal(filled_size),
        filled_value=Decimal(filled_value),
        fees=Decimal(fees),
        reject_reason=reject_reason,
        history=[OrderStatus(s) for s in extra.get("history", [])],
    )


def fill_row(fill: Fill) -> tuple[Any, ...]:
    """A row in ``FILL_COLUMNS`` order."""
    return (
        fill.fill_id,
        fill.order_id,
        fill.client_order_id,
        fill.symbol,
        fill.side.value,
        str(fill.price),
        str(fill.size),
        str(fill.fee),
        fill.liquidity.value,
        ts_text(fill.time),
    )


def fill_from_row(row: tuple[Any, ...]) -> Fill:
    fill_id, order_id, client_order_id, symbol, side, price, size, fee, liquidity, ts = row
    return Fill(
        fill_id=fill_id,
        order_id=order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=OrderSide(side),
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal(fee),
        liquidity=Liquidity(liquidity),
        time=ts_value(ts),
    )
