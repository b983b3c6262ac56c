"""Exact JSON encoding of the engine's records (orders, fills, positions) for saved state.

Unlike ``jsonutil.to_jsonable`` (milliseconds, for reports) datetimes keep their microseconds and
Decimals keep their exponent, so a restored engine is indistinguishable from one never stopped.
"""

from __future__ import annotations

from datetime import datetime
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
    Position,
    StopDirection,
    TimeInForce,
)


def enc_decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def dec_decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def enc_time(value: datetime | None) -> str | None:
    return None if value is None else ensure_utc(value).isoformat()


def dec_time(value: str | None) -> datetime | None:
    return None if value is None else ensure_utc(datetime.fromisoformat(value))


def _d(value: str) -> Decimal:
    return Decimal(value)


def _t(value: str) -> datetime:
    return ensure_utc(datetime.fromisoformat(value))


def encode_order(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
        "created_at": enc_time(order.created_at),
        "updated_at": enc_time(order.updated_at),
        "status": order.status.value,
        "base_size": enc_decimal(order.base_size),
        "quote_size": enc_decimal(order.quote_size),
        "limit_price": enc_decimal(order.limit_price),
        "stop_price": enc_decimal(order.stop_price),
        "stop_direction": None if order.stop_direction is None else order.stop_direction.value,
        "end_time": enc_time(order.end_time),
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "filled_size": enc_decimal(order.filled_size),
        "filled_value": enc_decimal(order.filled_value),
        "fees": enc_decimal(order.fees),
        "reject_reason": order.reject_reason,
        "history": [status.value for status in order.history],
    }


def decode_order(data: dict[str, Any]) -> Order:
    direction = data.get("stop_direction")
    return Order(
        order_id=data["order_id"],
        client_order_id=data["client_order_id"],
        symbol=data["symbol"],
        side=OrderSide(data["side"]),
        order_type=OrderType(data["order_type"]),
        time_in_force=TimeInForce(data["time_in_force"]),
        created_at=_t(data["created_at"]),
        updated_at=_t(data["updated_at"]),
        status=OrderStatus(data["status"]),
        base_size=dec_decimal(data.get("base_size")),
        quote_size=dec_decimal(data.get("quote_size")),
        limit_price=dec_decimal(data.get("limit_price")),
        stop_price=dec_decimal(data.get("stop_price")),
        stop_direction=None if direction is None else StopDirection(direction),
        end_time=dec_time(data.get("end_time")),
        post_only=bool(data.get("post_only", False)),
        reduce_only=bool(data.get("reduce_only", False)),
        filled_size=_d(data["filled_size"]),
        filled_value=_d(data["filled_value"]),
        fees=_d(data["fees"]),
        reject_reason=data.get("reject_reason"),
        history=[OrderStatus(s) for s in data.get("history", [])],
    )


def encode_fill(fill: Fill) -> dict[str, Any]:
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "price": enc_decimal(fill.price),
        "size": enc_decimal(fill.size),
        "fee": enc_decimal(fill.fee),
        "liquidity": fill.liquidity.value,
        "time": enc_time(fill.time),
    }


def decode_fill(data: dict[str, Any]) -> Fill:
    return Fill(
        fill_id=data["fill_id"],
        order_id=data["order_id"],
        client_order_id=data["client_order_id"],
        symbol=data["symbol"],
        side=OrderSide(data["side"]),
        price=_d(data["price"]),
        size=_d(data["size"]),
        fee=_d(data["fee"]),
        liquidity=Liquidity(data["liquidity"]),
        time=_t(data["time"]),
    )


def encode_position(position: Position) -> dict[str, Any]:
    return {
        "symbol": position.symbol,
        "quantity": enc_decimal(position.quantity),
        "avg_entry_price": enc_decimal(position.avg_entry_price),
        "realized_pnl": enc_decimal(position.realized_pnl),
        "fees": enc_decimal(position.fees),
    }


def decode_position(data: dict[str, Any]) -> Position:
    return Position(
        symbol=data["symbol"],
        quantity=_d(data["quantity"]),
        avg_entry_price=_d(data["avg_entry_price"]),
        realized_pnl=_d(data["realized_pnl"]),
        fees=_d(data["fees"]),
    )
