"""The order lifecycle table: every legal path works, everything else raises."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading_core.domain import (
    TRANSITIONS,
    Order,
    OrderEvent,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
    TimeInForce,
    next_status,
)
from trading_core.errors import InvalidTransition

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_order() -> Order:
    request = OrderRequest(
        "cid-1",
        "BTC-USD",
        OrderSide.BUY,
        OrderType.LIMIT,
        base_size=Decimal("0.1"),
        limit_price=Decimal("50000"),
    )
    return Order.from_request(request, order_id="o-1", now=NOW)


def test_happy_paths() -> None:
    order = make_order()
    for event in (OrderEvent.SUBMIT, OrderEvent.ACCEPT, OrderEvent.PARTIAL_FILL, OrderEvent.FILL):
        order.apply(event, NOW)
    assert order.status is OrderStatus.FILLED
    assert order.history == [
        OrderStatus.INITIALIZED,
        OrderStatus.SUBMITTED,
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
    ]

    stop = make_order()
    for event in (
        OrderEvent.SUBMIT,
        OrderEvent.ACCEPT,
        OrderEvent.TRIGGER,
        OrderEvent.REQUEST_CANCEL,
        OrderEvent.CANCEL,
    ):
        stop.apply(event, NOW)
    assert stop.status is OrderStatus.CANCELLED


def test_every_pair_outside_the_table_raises() -> None:
    legal = 0
    for status in OrderStatus:
        for event in OrderEvent:
            if (status, event) in TRANSITIONS:
                legal += 1
                assert next_status(status, event) is TRANSITIONS[(status, event)]
            else:
                with pytest.raises(InvalidTransition, match=event.value):
                    next_status(status, event)
    assert legal == len(TRANSITIONS)


def test_terminal_states_have_no_exit() -> None:
    for status in OrderStatus:
        exits = [e for (s, e) in TRANSITIONS if s is status]
        assert (not exits) == status.is_terminal, status


def test_failed_transition_leaves_order_untouched() -> None:
    order = make_order()
    with pytest.raises(InvalidTransition):
        order.apply(OrderEvent.FILL, NOW)
    assert order.status is OrderStatus.INITIALIZED
    assert order.history == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order_type": OrderType.MARKET, "time_in_force": TimeInForce.GTC}, "IOC or FOK"),
        ({"order_type": OrderType.LIMIT}, "limit_price"),
        (
            {
                "order_type": OrderType.LIMIT,
                "limit_price": Decimal(1),
                "time_in_force": TimeInForce.GTD,
            },
            "end_time",
        ),
        (
            {
                "order_type": OrderType.LIMIT,
                "limit_price": Decimal(1),
                "post_only": True,
                "time_in_force": TimeInForce.IOC,
            },
            "post-only",
        ),
        (
            {
                "order_type": OrderType.STOP_LIMIT,
                "limit_price": Decimal(1),
                "stop_price": Decimal(1),
            },
            "stop_direction",
        ),
        (
            {"order_type": OrderType.LIMIT, "limit_price": Decimal(1), "stop_price": Decimal(1)},
            "stop",
        ),
        (
            {"order_type": OrderType.MARKET, "time_in_force": TimeInForce.IOC, "base_size": None},
            "exactly",
        ),
    ],
)
def test_impossible_requests_are_named(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"base_size": Decimal("0.1"), **kwargs}
    request = OrderRequest("c", "BTC-USD", OrderSide.BUY, **fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        request.validate()


def test_valid_requests() -> None:
    OrderRequest(
        "c",
        "BTC-USD",
        OrderSide.SELL,
        OrderType.STOP_LIMIT,
        base_size=Decimal("0.1"),
        limit_price=Decimal("59000"),
        stop_price=Decimal("59500"),
        stop_direction=StopDirection.DOWN,
        reduce_only=True,
    ).validate()
    OrderRequest(
        "c",
        "BTC-USD",
        OrderSide.BUY,
        OrderType.MARKET,
        quote_size=Decimal("100"),
        time_in_force=TimeInForce.IOC,
    ).validate()
