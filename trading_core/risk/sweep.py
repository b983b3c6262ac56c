"""The guard sweep: the runtime guards evaluated from outside the bot, from what it stored.

Runs every minute (the guard-sweep flow) on the store (read-only), health.json and the last
cycle's figures, with the same guard classes the loop uses, plus ``bot_offline``: a bot that says
it is running but has not written health.json for a while (SEV-1), and ``reconciliation``: the
last reconciliation found a breach and its reduce-only latch has not been cleared (SEV-1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..clock import parse_utc
from ..config.settings import Settings
from ..domain.money import ZERO
from ..reconcile import SET_BY
from .guards.base import GuardAction, GuardLevel, GuardResult, Severity
from .guards.inputs import GuardInputs
from .guards.runtime import default_guards
from .modes import MODES_KEY

OFFLINE_AFTER_S = 120.0  # plus three cycle intervals


@dataclass(frozen=True, slots=True)
class SweepResult:
    results: list[GuardResult]
    last_cycle: int | None
    last_cycle_at: datetime | None

    @property
    def critical(self) -> list[GuardResult]:
        return [r for r in self.results if r.level is GuardLevel.CRITICAL]


def sweep_guards(
    settings: Settings, store: Any, health: dict[str, Any] | None, now: datetime
) -> SweepResult:
    results: list[GuardResult] = [_bot_offline(settings, health, now), _reconciliation(store)]
    last = store.last_event("cycle")
    if last is None or not isinstance(last.payload, dict):
        return SweepResult(results, None, None)
    payload = last.payload
    state = payload.get("state") or {}
    equity = Decimal(str(payload.get("equity", "0")))
    behind = max((now - last.ts).total_seconds(), 0.0)
    window_start = now - timedelta(seconds=settings.risk.error_rate_window_seconds)
    operations = failures = 0
    for event in store.events(type="cycle", since=window_start, limit=100000):
        operations += int(event.payload.get("operations", 0))
        failures += int(event.payload.get("failures", 0))
    inputs = GuardInputs(
        now=now,
        equity=equity,
        day_start_equity=_dec(state.get("day_start_equity")) or equity,
        equity_peak=_dec(state.get("equity_peak")) or equity,
        open_positions=int(payload.get("open_positions", 0)),
        exposures={s: Decimal(str(v)) for s, v in (payload.get("exposures") or {}).items()},
        data_ages={s: float(a) + behind for s, a in (payload.get("data_ages") or {}).items()},
        operations=operations,
        failures=failures,
        volatility={},  # needs the price path: judged in the loop only
    )
    for guard in default_guards(settings.risk):
        if guard.name == "volatility":
            continue
        results.append(guard.evaluate(inputs))
    return SweepResult(results, last.cycle, last.ts)


def _bot_offline(settings: Settings, health: dict[str, Any] | None, now: datetime) -> GuardResult:
    limit = OFFLINE_AFTER_S + 3 * settings.interval_seconds
    if health is None:
        return GuardResult(
            "bot_offline",
            GuardLevel.WARNING,
            None,
            None,
            Decimal(str(limit)),
            GuardAction.WARN,
            "no health.json: the bot has not run yet",
            Severity.SEV3,
        )
    try:
        age = max((now - parse_utc(str(health.get("timestamp")))).total_seconds(), 0.0)
    except ValueError:
        age = float("inf")
    value = Decimal(str(round(age, 1))) if age != float("inf") else None
    if not health.get("running", True):
        return GuardResult(
            "bot_offline",
            GuardLevel.WARNING,
            value,
            None,
            Decimal(str(limit)),
            GuardAction.WARN,
            f"the bot stopped ({health.get('message')})",
            Severity.SEV3,
        )
    if age > limit:
        return GuardResult(
            "bot_offline",
            GuardLevel.CRITICAL,
            value,
            None,
            Decimal(str(limit)),
            GuardAction.HALT,
            f"no health.json update for {age:.0f}s: the bot is offline",
            Severity.SEV1,
        )
    return GuardResult(
        "bot_offline",
        GuardLevel.OK,
        value,
        None,
        Decimal(str(limit)),
        GuardAction.NONE,
        f"health.json {age:.0f}s old",
        Severity.SEV3,
    )


def _reconciliation(store: Any) -> GuardResult:
    """Critical while the last reconciliation's breach stands (its reduce-only latch is on);
    an operator clearing the latch acknowledges it (the next reconciliation judges afresh)."""
    last = store.last_event("reconcile")
    payload = last.payload if last is not None and isinstance(last.payload, dict) else None
    if last is None or payload is None:
        return GuardResult(
            "reconciliation",
            GuardLevel.OK,
            None,
            None,
            Decimal(1),
            GuardAction.NONE,
            "no reconciliation yet",
        )
    breaches = [str(b) for b in payload.get("breaches") or []]
    latch = (store.get_state(MODES_KEY) or {}).get("reduce_only") or {}
    if breaches and latch.get("on") and latch.get("set_by") == SET_BY:
        return GuardResult(
            "reconciliation",
            GuardLevel.CRITICAL,
            Decimal(len(breaches)),
            None,
            Decimal(1),
            GuardAction.REDUCE_ONLY,
            f"reconciliation breach at {last.ts:%Y-%m-%d %H:%M:%S}Z: {breaches[0]}; "
            "reduce-only until an operator clears it",
            Severity.SEV1,
        )
    unexplained = payload.get("cash_unexplained") or {}
    if unexplained:
        moved = ", ".join(f"{c} {v}" for c, v in sorted(unexplained.items()))
        return GuardResult(
            "reconciliation",
            GuardLevel.WARNING,
            Decimal(0),
            None,
            Decimal(1),
            GuardAction.WARN,
            f"cash moved outside the bot's fills: {moved}",
        )
    return GuardResult(
        "reconciliation",
        GuardLevel.OK,
        Decimal(0),
        None,
        Decimal(1),
        GuardAction.NONE,
        f"last reconciliation ok at {last.ts:%Y-%m-%d %H:%M:%S}Z",
    )


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    number = Decimal(str(value))
    return number if number > ZERO else None
