"""Orders: requests, the order record, and its lifecycle as one explicit transition table."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from ..errors import InvalidTransition
from .money import ZERO


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    GTC = "GOOD_UNTIL_CANCELLED"
    GTD = "GOOD_UNTIL_DATE_TIME"
    IOC = "IMMEDIATE_OR_CANCEL"
    FOK = "FILL_OR_KILL"


class StopDirection(StrEnum):
    UP = "STOP_DIRECTION_STOP_UP"  # triggers when the last price rises to the stop
    DOWN = "STOP_DIRECTION_STOP_DOWN"  # triggers when the last price falls to the stop


class OrderStatus(StrEnum):
    INITIALIZED = "INITIALIZED"  # intent recorded locally, nothing sent yet
    SUBMITTED = "SUBMITTED"  # sent to the venue, no answer yet
    OPEN = "OPEN"  # accepted and working (a stop order not yet triggered is OPEN)
    TRIGGERED = "TRIGGERED"  # a stop-limit whose stop was reached: now a working limit order
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_working(self) -> bool:
        """Resting at the venue and able to fill."""
        return self in WORKING_STATUSES


class OrderEvent(StrEnum):
    SUBMIT = "SUBMIT"
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    TRIGGER = "TRIGGER"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILL = "FILL"
    EDIT = "EDIT"
    REQUEST_CANCEL = "REQUEST_CANCEL"
    CANCEL_REJECT = "CANCEL_REJECT"
    CANCEL = "CANCEL"
    EXPIRE = "EXPIRE"
    FAIL = "FAIL"


S = OrderStatus
E = OrderEvent

#: The whole order lifecycle. Anything not listed here is impossible and raises InvalidTransition.
TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    (S.INITIALIZED, E.SUBMIT): S.SUBMITTED,
    (S.INITIALIZED, E.REJECT): S.REJECTED,  # refused before it left (e.g. by a risk check)
    (S.INITIALIZED, E.CANCEL): S.CANCELLED,  # intent abandoned before sending
    (S.INITIALIZED, E.FAIL): S.FAILED,
    (S.SUBMITTED, E.ACCEPT): S.OPEN,
    (S.SUBMITTED, E.REJECT): S.REJECTED,
    (S.SUBMITTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.SUBMITTED, E.FILL): S.FILLED,
    (S.SUBMITTED, E.CANCEL): S.CANCELLED,  # IOC/FOK with nothing (more) to fill
    (S.SUBMITTED, E.EXPIRE): S.EXPIRED,
    (S.SUBMITTED, E.FAIL): S.FAILED,
    (S.OPEN, E.TRIGGER): S.TRIGGERED,
    (S.OPEN, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.OPEN, E.FILL): S.FILLED,
    (S.OPEN, E.EDIT): S.OPEN,
    (S.OPEN, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.OPEN, E.CANCEL): S.CANCELLED,
    (S.OPEN, E.EXPIRE): S.EXPIRED,
    (S.TRIGGERED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.TRIGGERED, E.FILL): S.FILLED,
    (S.TRIGGERED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.TRIGGERED, E.CANCEL): S.CANCELLED,
    (S.TRIGGERED, E.EXPIRE): S.EXPIRED,
    (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, E.EDIT): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.REQUEST_CANCEL): S.PENDING_CANCEL,
    (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
    (S.PENDING_CANCEL, E.PARTIAL_FILL): S.PENDING_CANCEL,  # fills may race the cancel
    (S.PENDING_CANCEL, E.FILL): S.FILLED,
    (S.PENDING_CANCEL, E.CANCEL): S.CANCELLED,
    (S.PENDING_CANCEL, E.CANCEL_REJECT): S.OPEN,
    (S.PENDING_CANCEL, E.EXPIRE): S.EXPIRED,
}

TERMINAL_STATUSES = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.FAILED})
WORKING_STATUSES = frozenset({S.OPEN, S.TRIGGERED, S.PARTIALLY_FILLED, S.PENDING_CANCEL})
del S, E


def next_status(status: OrderStatus, event: OrderEvent) -> OrderStatus:
    """The state ``event`` moves an order in ``status`` to; raises InvalidTransition otherwise."""
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidTransition(
            f"order cannot go through {event.value} while {status.value}"
        ) from None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What execution asks a broker to do. ``validate`` states which combinations exist."""

    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    base_size: Decimal | None = None
    quote_size: Decimal | None = None  # market buys may be sized in quote currency
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_direction: StopDirection | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    end_time: datetime | None = None
    post_only: bool = False
    reduce_only: bool = False

    def validate(self) -> None:
        """Raise ValueError naming the first thing that makes this request impossible."""
        if not self.client_order_id:
            raise ValueError("client_order_id is required")
        sizes = [s for s in (self.base_size, self.quote_size) if s is not None]
        if len(sizes) != 1:
            raise ValueError("exactly one of base_size or quote_size is required")
        if sizes[0] <= ZERO:
            raise ValueError("size must be positive")
        if self.order_type is OrderType.MARKET:
            if self.time_in_force not in (TimeInForce.IOC, TimeInForce.FOK):
                raise ValueError("market orders are IOC or FOK")
            if self.limit_price is not None or self.stop_price is not None:
                raise ValueError("market orders take no price")
            if self.post_only:
                raise ValueError("market orders cannot be post-only")
            return
        if self.quote_size is not None:
            raise ValueError("limit and stop-limit orders are sized in base_size")
        if self.limit_price is None or self.limit_price <= ZERO:
            raise ValueError("limit_price must be positive")
        if self.time_in_force is TimeInForce.GTD and self.end_time is None:
            raise ValueError("GTD orders need end_time")
        if self.time_in_force is not TimeInForce.GTD and self.end_time is not None:
            raise ValueError("end_time is only for GTD orders")
        if self.post_only and self.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
            raise ValueError("post-only is only for GTC/GTD limit orders")
        if self.order_type is OrderType.STOP_LIMIT:
            if self.stop_price is None or self.stop_price <= ZERO:
                raise ValueError("stop_price must be positive")
            if self.stop_direction is None:
                raise ValueError("stop-limit orders need stop_direction")
            if self.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
                raise ValueError("stop-limit orders are GTC or GTD")
            if self.post_only:
                raise ValueError("stop-limit orders cannot be post-only")
        elif self.stop_price is not None:
            raise ValueError("stop_price is only for stop-limit orders")


@dataclass(slots=True)
class Order:
    """An order as the venue (or the store) knows it. Status changes go through ``apply``."""

    order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    created_at: datetime
    updated_at: datetime
    status: OrderStatus = OrderStatus.INITIALIZED
    base_size: Decimal | None = None
    quote_size: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    stop_direction: StopDirection | None = None
    end_time: datetime | None = None
    post_only: bool = False
    reduce_only: bool = False
    filled_size: Decimal = ZERO
    filled_value: Decimal = ZERO  # quote currency, before fees
    fees: Decimal = ZERO
    reject_reason: str | None = None
    history: list[OrderStatus] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_request(cls, request: OrderRequest, *, order_id: str, now: datetime) -> Order:
        return cls(
            order_id=order_id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            created_at=now,
            updated_at=now,
            base_size=request.base_size,
            quote_size=request.quote_size,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            stop_direction=request.stop_direction,
            end_time=request.end_time,
            post_only=request.post_only,
            reduce_only=request.reduce_only,
        )

    def apply(self, event: OrderEvent, now: datetime, *, reason: str | None = None) -> Order:
        """Move through the lifecycle table (raises InvalidTransition); returns self."""
        new_status = next_status(self.status, event)
        self.history.append(self.status)
        self.status = new_status
        self.updated_at = now
        if reason is not None:
            self.reject_reason = reason
        return self

    @property
    def avg_fill_price(self) -> Decimal | None:
        if self.filled_size <= ZERO:
            return None
        return self.filled_value / self.filled_size

    @property
    def remaining_size(self) -> Decimal | None:
        if self.base_size is None:
            return None
        return max(self.base_size - self.filled_size, ZERO)

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    def copy(self) -> Order:
        return replace(self, history=list(self.history))


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """A broker's estimate of what an order would do, without placing it."""

    symbol: str
    side: OrderSide
    order_type: OrderType
    base_size: Decimal
    quote_size: Decimal  # estimated notional before fees
    est_average_price: Decimal
    est_fee: Decimal
    slippage: Decimal  # fraction vs mid (0.001 = 10 bps)
    preview_id: str
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors
