"""The guard interface: evaluate the current state, answer with a GuardResult value object.

A guard never acts itself; the GuardManager applies the result's action, persists the state and
emits the events. The same guards run in the live loop, in replays and in the guard-sweep flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any, Protocol


class GuardLevel(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class GuardAction(StrEnum):
    NONE = "none"
    WARN = "warn"
    REDUCE_ONLY = "reduce_only"  # only exposure-reducing orders (and cancel orders that add)
    HALT = "halt"  # no new orders at all, exits included only when they reduce exposure
    BLOCK_SYMBOLS = "block_symbols"  # no new orders on the named symbols
    BLOCK_NEW_POSITIONS = "block_new_positions"  # no order that opens a new position
    BLOCK_CONCENTRATION = "block_concentration"  # no order that raises concentration
    RECONNECT_FEED = "reconnect_feed"
    KILL_SWITCH = "kill_switch"


class Severity(StrEnum):
    """The runbook's severity matrix."""

    SEV1 = "SEV-1"  # bot offline, or guard-triggered halt with open exposure
    SEV2 = "SEV-2"  # partial functionality loss
    SEV3 = "SEV-3"  # degraded performance without financial impact


@dataclass(frozen=True, slots=True)
class GuardResult:
    """One guard's verdict at one moment."""

    name: str  # e.g. "daily_loss", "error_rate", "market_data_staleness"
    level: GuardLevel
    value: Decimal | None  # the measured figure, in the guard's own unit
    warning: Decimal | None  # threshold for WARNING (None: the guard has no warning stage)
    critical: Decimal | None  # threshold for CRITICAL
    action: GuardAction  # what the manager does at this level
    reason: str  # one line a human understands
    severity: Severity = Severity.SEV3
    symbols: tuple[str, ...] = ()  # symbols the action applies to (BLOCK_SYMBOLS, RECONNECT_FEED)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def tripped(self) -> bool:
        return self.level is GuardLevel.CRITICAL


@dataclass(frozen=True, slots=True)
class GuardState:
    """A guard's persisted state (store state key "guards": name -> this, as JSON)."""

    name: str
    level: GuardLevel
    value: Decimal | None
    warning: Decimal | None
    critical: Decimal | None
    action: GuardAction
    reason: str
    severity: Severity
    since: datetime  # when the guard entered its current level
    updated_at: datetime


class Guard(Protocol):
    name: str

    def evaluate(self, snapshot: Any) -> GuardResult:
        """Judge the account/market snapshot; must not mutate anything."""
        ...
