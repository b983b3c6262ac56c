"""Send one order safely: risk check, dry-run, write-ahead intent, submit with classified retries.

The order intent is committed to the store before the request leaves; a retry reuses the same
client order id, so a venue that already has the order returns it instead of placing another."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from ..brokers.base import Broker
from ..domain import Order, OrderEvent, OrderRequest, OrderStatus, OrderType
from ..domain.money import fmt
from ..errors import BrokerError, ErrorKind, OrderRejected
from ..risk import PreTradeRisk, RiskContext, RiskDecision
from ..store.event_store import EventStore

log = logging.getLogger("trading_core.execution")

RETRY_KINDS = frozenset({ErrorKind.RETRYABLE, ErrorKind.RATE_LIMITED})


class Outcome(StrEnum):
    BLOCKED = "blocked"  # a risk check said no; nothing was sent
    DRY_RUN = "dry_run"  # would have been sent
    SUBMITTED = "submitted"  # the venue accepted it (it may already be filled)
    REJECTED = "rejected"  # the venue refused it
    UNKNOWN = "unknown"  # sent, but no answer after retries: reconciliation resolves it
    FAILED = "failed"  # could not be sent


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    outcome: Outcome
    request: OrderRequest
    order: Order | None = None
    reason: str = ""
    check: str = ""  # the risk check that blocked it
    repeat: bool = False  # blocked again for the same reason as last time (not re-recorded)


def describe(request: OrderRequest) -> str:
    size = (
        fmt(request.base_size)
        if request.base_size is not None
        else f"${fmt(request.quote_size or 0)}"
    )
    text = f"{request.side.value} {size} {request.symbol} {request.order_type.value.lower()}"
    if request.limit_price is not None:
        text += f" limit {fmt(request.limit_price)}"
    if request.stop_price is not None:
        text += f" stop {fmt(request.stop_price)}"
    return text


class OrderExecutor:
    def __init__(
        self,
        broker: Broker,
        store: EventStore,
        risk: PreTradeRisk,
        *,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] | None = None,
        max_slippage_bps: Decimal | None = None,
    ) -> None:
        self.broker = broker
        self.store = store
        self.risk = risk
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep or (lambda _s: None)
        self.max_slippage_bps = max_slippage_bps
        self._last_block: dict[tuple[str, str], str] = {}  # (symbol, side) -> check

    def place(
        self,
        request: OrderRequest,
        ctx: RiskContext,
        *,
        now: datetime,
        cycle: int,
        dry_run: bool,
    ) -> ExecutionResult:
        decision = self.risk.check(request, ctx)
        if decision.allowed:
            decision = self._slippage_block(request, ctx) or decision
        fields = {"client_id": request.client_order_id, "cycle": cycle}
        if not decision.allowed:
            if not self.first_block(request.symbol, request.side.value, decision.check):
                return ExecutionResult(
                    Outcome.BLOCKED,
                    request,
                    reason=decision.reason,
                    check=decision.check,
                    repeat=True,
                )
            self.store.append_event(
                "risk_block",
                ts=now,
                severity="warning",
                symbol=request.symbol,
                cycle=cycle,
                message=f"order blocked by {decision.check}: {decision.reason}",
                payload={"check": decision.check, "reason": decision.reason, "request": request},
            )
            log.warning(
                "order blocked %s by %s: %s",
                describe(request),
                decision.check,
                decision.reason,
                extra={"fields": fields},
            )
            return ExecutionResult(
                Outcome.BLOCKED, request, reason=decision.reason, check=decision.check
            )
        self._last_block.pop((request.symbol, request.side.value), None)

        if dry_run:
            message = f"DRY RUN: would {describe(request)} at ~{fmt(ctx.price)}"
            self.store.append_event(
                "dry_run",
                ts=now,
                symbol=request.symbol,
                cycle=cycle,
                message=message,
                payload={"request": request, "price": ctx.price},
            )
            log.info(message, extra={"fields": fields})
            return ExecutionResult(Outcome.DRY_RUN, request)

        intent = Order.from_request(request, order_id="", now=now)
        self.store.upsert_order(intent)
        self.store.commit()  # write-ahead: the intent is durable before the request leaves
        intent.apply(OrderEvent.SUBMIT, now)

        last_error: BrokerError | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                if attempt > 1:
                    existing = self.broker.find_order_by_client_id(request.client_order_id)
                    if existing is not None:
                        return self._accepted(existing, request, now, cycle, fields)
                order = self.broker.submit_order(request)
                return self._accepted(order, request, now, cycle, fields)
            except OrderRejected as exc:
                intent.apply(OrderEvent.REJECT, now, reason=exc.reason)
                self.store.upsert_order(intent)
                self.store.append_event(
                    "order_rejected",
                    ts=now,
                    severity="warning",
                    symbol=request.symbol,
                    cycle=cycle,
                    message=f"order {describe(request)} rejected: {exc.reason}",
                    payload={"reason": exc.reason, "detail": exc.message, "request": request},
                )
                log.warning(
                    "order %s rejected: %s (%s)",
                    describe(request),
                    exc.reason,
                    exc.message,
                    extra={"fields": fields},
                )
                return ExecutionResult(Outcome.REJECTED, request, intent, reason=exc.reason)
            except BrokerError as exc:
                last_error = exc
                if exc.kind not in RETRY_KINDS or attempt == self.max_attempts:
                    break
                log.warning(
                    "order %s attempt %d failed (%s): %s; retrying with the same client id",
                    describe(request),
                    attempt,
                    exc.kind.value,
                    exc.message,
                    extra={"fields": fields},
                )
                self._sleep(self.backoff_seconds * 2 ** (attempt - 1))

        assert last_error is not None
        retryable = last_error.kind in RETRY_KINDS
        if not retryable:
            intent.apply(OrderEvent.FAIL, now, reason=last_error.kind.value)
        # A retryable failure leaves the intent SUBMITTED: the venue may have it; the next
        # reconciliation looks it up by client order id.
        self.store.upsert_order(intent)
        outcome = Outcome.UNKNOWN if retryable else Outcome.FAILED
        self.store.append_event(
            "error",
            ts=now,
            severity="error",
            symbol=request.symbol,
            cycle=cycle,
            message=f"order {describe(request)} {outcome.value}: {last_error.message}",
            payload={"kind": last_error.kind.value, "request": request},
        )
        log.error(
            "order %s %s after %d attempt(s): %s",
            describe(request),
            outcome.value,
            self.max_attempts,
            last_error.message,
            extra={"fields": fields},
        )
        return ExecutionResult(outcome, request, intent, reason=last_error.message)

    def first_block(self, symbol: str, side: str, check: str) -> bool:
        """True the first time (symbol, side) is refused by ``check``; False while the same
        refusal repeats, so a mode that holds for hours is recorded once, not every cycle."""
        key = (symbol, side)
        if self._last_block.get(key) == check:
            return False
        self._last_block[key] = check
        return True

    def _slippage_block(self, request: OrderRequest, ctx: RiskContext) -> RiskDecision | None:
        """Market orders are previewed against the book; too much estimated slippage (or a
        preview the venue would reject) blocks the order before it is sent."""
        if request.order_type is not OrderType.MARKET or self.max_slippage_bps is None:
            return None
        try:
            preview = self.broker.preview_order(request)
        except BrokerError as exc:
            return RiskDecision(False, "preview", f"preview failed: {exc.message}")
        if preview.errors:
            return RiskDecision(False, "preview", "; ".join(preview.errors))
        bps = abs(preview.slippage) * 10000
        if bps > self.max_slippage_bps:
            return RiskDecision(
                False,
                "slippage",
                f"estimated slippage {bps:.1f} bps exceeds {self.max_slippage_bps} bps",
            )
        return None

    def _accepted(
        self,
        order: Order,
        request: OrderRequest,
        now: datetime,
        cycle: int,
        fields: dict[str, object],
    ) -> ExecutionResult:
        self.store.upsert_order(order)
        self.store.append_event(
            "order_submitted",
            ts=now,
            symbol=request.symbol,
            cycle=cycle,
            message=f"order {describe(request)} submitted: {order.status.value}",
            payload={
                "order_id": order.order_id,
                "client_order_id": order.client_order_id,
                "status": order.status.value,
                "request": request,
            },
        )
        log.info(
            "order %s submitted: %s",
            describe(request),
            order.status.value,
            extra={"fields": {**fields, "order_id": order.order_id}},
        )
        if order.status is OrderStatus.REJECTED:
            return ExecutionResult(
                Outcome.REJECTED, request, order, reason=order.reject_reason or ""
            )
        return ExecutionResult(Outcome.SUBMITTED, request, order)
