"""The guard manager: evaluates every guard, applies what a critical guard demands, persists guard
state in the store and writes guard events and log lines on every change of level.

Latched actions (reduce-only, halt, kill switch) go into the store's "modes" latches, so they
survive restarts until cleared; per-cycle restrictions (stale symbols, new positions,
concentration) come back as a Restrictions value for the pre-trade checks. A guard that raises is
reported critical and fails closed: its protective restriction applies for that cycle."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ...clock import isoformat_z, parse_utc
from ...config.settings import RiskSettings
from ...domain import Order
from ...errors import BrokerError
from ...jsonutil import to_jsonable
from ..exposure import increases_exposure
from ..modes import ModeController
from .base import Guard, GuardAction, GuardLevel, GuardResult, Severity
from .inputs import ErrorWindow, GuardInputs, VolatilityTracker
from .runtime import default_guards

log = logging.getLogger("trading_core.risk.guards")
GUARDS_KEY = "guards"
RECOVER_EVALUATIONS = 3  # consecutive evaluations at a lower level before a guard steps down

#: What a guard that cannot evaluate protects, applied for the cycle (fail closed).
FAIL_CLOSED: dict[str, GuardAction] = {
    "daily_loss": GuardAction.REDUCE_ONLY,
    "max_drawdown": GuardAction.REDUCE_ONLY,
    "volatility": GuardAction.REDUCE_ONLY,
    "error_rate": GuardAction.HALT,
    "market_data_staleness": GuardAction.BLOCK_SYMBOLS,
    "position_count": GuardAction.BLOCK_NEW_POSITIONS,
    "concentration": GuardAction.BLOCK_CONCENTRATION,
}


@dataclass(frozen=True, slots=True)
class Restrictions:
    """Per-cycle limits from the guards, on top of the modes."""

    blocked_symbols: frozenset[str] = frozenset()  # no new exposure on these
    block_all_symbols: bool = False  # the staleness guard itself failed
    block_new_positions: bool = False
    block_concentration: bool = False
    reduce_only: bool = False  # live, not latched (a failed guard)
    halted: bool = False  # live, not latched (a failed guard)
    reasons: dict[str, str] = field(default_factory=dict)  # restriction -> guard reason


def _log_level(result: GuardResult) -> int:
    if result.level is GuardLevel.OK:
        return logging.INFO
    if result.level is GuardLevel.WARNING:
        return logging.WARNING
    return logging.CRITICAL if result.severity is Severity.SEV1 else logging.ERROR


class GuardManager:
    def __init__(
        self,
        settings: RiskSettings,
        store: Any,
        modes: ModeController,
        *,
        guards: Iterable[Guard] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.modes = modes
        self.guards: list[Guard] = list(guards) if guards is not None else default_guards(settings)  # type: ignore[arg-type]
        self.errors = ErrorWindow(settings.error_rate_window_seconds)
        self.volatility = VolatilityTracker(settings.volatility_window)
        self.last_data_at: dict[str, datetime] = {}
        self._states: dict[str, dict[str, Any]] = dict(store.get_state(GUARDS_KEY) or {})
        self._recovering: dict[str, int] = {}

    # --- inputs ------------------------------------------------------------------------------
    def observe_market(
        self, symbol: str, data_time: datetime, price: Decimal, now: datetime
    ) -> None:
        previous = self.last_data_at.get(symbol)
        if previous is None or data_time > previous:
            self.last_data_at[symbol] = data_time
        self.volatility.add(symbol, now, price)

    def data_ages(self, symbols: Iterable[str], now: datetime) -> dict[str, float]:
        ages: dict[str, float] = {}
        for symbol in symbols:
            seen = self.last_data_at.get(symbol)
            if seen is None:  # never had data: it has been missing since we started looking
                self.last_data_at[symbol] = seen = now
            ages[symbol] = max((now - seen).total_seconds(), 0.0)
        return ages

    # --- evaluation --------------------------------------------------------------------------
    def evaluate(self, inputs: GuardInputs) -> list[GuardResult]:
        results: list[GuardResult] = []
        for guard in self.guards:
            try:
                results.append(guard.evaluate(inputs))
            except Exception as exc:  # a guard must never crash the loop: fail closed
                log.critical("guard %s failed: %s: %s", guard.name, type(exc).__name__, exc)
                results.append(
                    GuardResult(
                        name=guard.name,
                        level=GuardLevel.CRITICAL,
                        value=None,
                        warning=None,
                        critical=None,
                        action=FAIL_CLOSED.get(guard.name, GuardAction.HALT),
                        reason=f"guard failed ({type(exc).__name__}: {exc}); failing closed",
                        severity=Severity.SEV2,
                        details={"failed": True},
                    )
                )
        return results

    def apply(
        self,
        results: list[GuardResult],
        *,
        now: datetime,
        cycle: int,
        broker: Any = None,
        positions: Mapping[str, Any] | None = None,
    ) -> Restrictions:
        restrictions = Restrictions()
        changed = False
        for result in results:
            if self._transition(result, now, cycle):
                changed = True
                if result.tripped and not result.details.get("failed"):
                    self._on_trip(result, now, cycle, broker, positions or {})
            if result.tripped:
                restrictions = self._restrict(restrictions, result, now)
        if changed:
            self.store.set_state(GUARDS_KEY, self._states, now)
        return restrictions

    def _transition(self, result: GuardResult, now: datetime, cycle: int) -> bool:
        """Record a change of level (event + log line); True when the level changed. A guard
        escalates at once but steps down only after RECOVER_EVALUATIONS evaluations in a row
        at the lower level, so a figure hovering at a threshold does not flap."""
        previous = self._states.get(result.name)
        old_level = previous.get("level") if previous else GuardLevel.OK.label
        if old_level == result.level.label:
            self._recovering.pop(result.name, None)
            return False
        if GuardLevel[old_level.upper()] > result.level:
            seen = self._recovering.get(result.name, 0) + 1
            if seen < RECOVER_EVALUATIONS:
                self._recovering[result.name] = seen
                return False
        self._recovering.pop(result.name, None)
        self._states[result.name] = {
            "level": result.level.label,
            "value": to_jsonable(result.value),
            "warning": to_jsonable(result.warning),
            "critical": to_jsonable(result.critical),
            "action": result.action.value,
            "reason": result.reason,
            "severity": result.severity.value,
            "since": isoformat_z(now),
            "updated_at": isoformat_z(now),
        }
        severity = {"ok": "info", "warning": "warning", "critical": "critical"}[result.level.label]
        if result.level is GuardLevel.CRITICAL and result.severity is not Severity.SEV1:
            severity = "error"
        message = (
            f"guard {result.name} {old_level} -> {result.level.label} [{result.severity.value}]: "
            f"{result.reason}"
            + (f"; action {result.action.value}" if result.level is GuardLevel.CRITICAL else "")
        )
        self.store.append_event(
            "guard",
            ts=now,
            severity=severity,
            cycle=cycle,
            message=message,
            payload={
                "guard": result.name,
                "from": old_level,
                "level": result.level.label,
                "value": result.value,
                "warning": result.warning,
                "critical": result.critical,
                "action": result.action.value,
                "reason": result.reason,
                "sev": result.severity.value,
                "symbols": list(result.symbols),
            },
        )
        log.log(_log_level(result), message, extra={"fields": {"guard": result.name}})
        return True

    def _on_trip(
        self,
        result: GuardResult,
        now: datetime,
        cycle: int,
        broker: Any,
        positions: Mapping[str, Any],
    ) -> None:
        """One-time effects when a guard becomes critical: latches, cancels, reconnects."""
        who = f"guard:{result.name}"
        action = result.action
        if action is GuardAction.REDUCE_ONLY:
            self.modes.set_latch("reduce_only", True, now=now, set_by=who, reason=result.reason)
            if result.name == "daily_loss":
                self._cancel_adding_orders(broker, positions, now, cycle, result.name)
        elif action is GuardAction.KILL_SWITCH:
            self.modes.set_latch("kill_switch", True, now=now, set_by=who, reason=result.reason)
        elif action is GuardAction.HALT:
            until = now + timedelta(seconds=self.settings.halt_cooldown_seconds)
            self.modes.set_latch(
                "halt", True, now=now, set_by=who, reason=result.reason, until=until
            )
        elif action is GuardAction.BLOCK_SYMBOLS:
            reconnect = getattr(broker, "reconnect", None)
            if callable(reconnect):
                try:
                    reconnect(list(result.symbols))
                    log.warning("reconnecting market data for %s", ", ".join(result.symbols))
                except Exception as exc:  # a failed reconnect is reported, never fatal here
                    log.error("reconnect failed: %s", exc)

    def _restrict(self, current: Restrictions, result: GuardResult, now: datetime) -> Restrictions:
        action = result.action
        reasons = {**current.reasons}
        failed = bool(result.details.get("failed"))
        if action is GuardAction.BLOCK_SYMBOLS:
            reasons["market_data_staleness"] = result.reason
            if failed:
                return replace(current, block_all_symbols=True, reasons=reasons)
            return replace(
                current,
                blocked_symbols=current.blocked_symbols | frozenset(result.symbols),
                reasons=reasons,
            )
        if action is GuardAction.BLOCK_NEW_POSITIONS:
            reasons["position_count"] = result.reason
            return replace(current, block_new_positions=True, reasons=reasons)
        if action is GuardAction.BLOCK_CONCENTRATION:
            reasons["concentration"] = result.reason
            return replace(current, block_concentration=True, reasons=reasons)
        if action is GuardAction.HALT:
            if not failed:  # keep the latched halt from lapsing while the guard stays critical
                cooldown = self.settings.halt_cooldown_seconds
                until = now + timedelta(seconds=cooldown)
                # extended when a good part of the cooldown has run (not every cycle: one write
                # a minute at most), well before it lapses, whatever the cooldown's length
                slack = timedelta(seconds=min(60.0, cooldown / 2))
                latch = self.modes.latches().get("halt", {})
                latched_until = latch.get("until")
                if latch.get("on") and latched_until and parse_utc(latched_until) < until - slack:
                    self.modes.set_latch(
                        "halt",
                        True,
                        now=now,
                        set_by=f"guard:{result.name}",
                        reason=result.reason,
                        until=until,
                    )
            reasons["halted"] = result.reason
            return replace(current, halted=failed or current.halted, reasons=reasons)
        if action in (GuardAction.REDUCE_ONLY, GuardAction.KILL_SWITCH) and failed:
            reasons["reduce_only"] = result.reason
            return replace(current, reduce_only=True, reasons=reasons)
        return current

    def _cancel_adding_orders(
        self, broker: Any, positions: Mapping[str, Any], now: datetime, cycle: int, guard: str
    ) -> None:
        if broker is None:
            return
        try:
            open_orders: list[Order] = broker.list_orders(open_only=True)
        except BrokerError as exc:
            log.error("cannot list open orders to cancel: %s", exc.message)
            return
        adding = [
            o.order_id
            for o in open_orders
            if increases_exposure(o.side, o.remaining_size, _held(positions, o.symbol))
        ]
        if not adding:
            return
        try:
            outcome = broker.cancel_orders(adding)
        except BrokerError as exc:
            log.error("cancelling %d exposure-adding orders failed: %s", len(adding), exc.message)
            return
        cancelled = [oid for oid, ok in outcome.items() if ok]
        self.store.append_event(
            "guard",
            ts=now,
            severity="warning",
            cycle=cycle,
            message=f"guard {guard}: cancelled {len(cancelled)} open order(s) that add exposure",
            payload={
                "guard": guard,
                "cancelled": cancelled,
                "failed": sorted(set(adding) - set(cancelled)),
            },
        )
        log.warning("guard %s cancelled %d open order(s) that add exposure", guard, len(cancelled))

    # --- reading -----------------------------------------------------------------------------
    def states(self) -> dict[str, dict[str, Any]]:
        return dict(self._states)


def _held(positions: Mapping[str, Any], symbol: str) -> Decimal:
    position = positions.get(symbol)
    return position.quantity if position is not None else Decimal(0)


__all__ = ["GUARDS_KEY", "GuardInputs", "GuardManager", "Restrictions"]
