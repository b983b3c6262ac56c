"""What the terminal dashboard shows, read from the EventStore (read-only), health.json and, when
the bot writes one, its metrics snapshot. No rich here: ``dashboard.py`` draws it.

Every query is bounded and served by an index, so a frame stays fast on a store of millions of
events: the last ``cycle`` event (type, ts index), per-type counts over the window (type, ts),
the newest N events (ts), two state documents (primary key), open orders, and positions from the
last cycle event when it carries them, else from the fills (``books.BookKeeper``: a lean scan
once, then only new fills).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..domain import Position
from ..store.event_store import EventStore, StoredEvent
from ..store.health import read_health
from .books import BookKeeper
from .snapshot import SnapshotError, read_snapshot

#: Event types counted over the window, and how the dashboard names them.
WINDOW_EVENTS: dict[str, str] = {
    "order_filled": "filled",
    "dry_run": "dry_run",
    "error": "errors",
    "data_quality": "data_quality",
    "guard": "guard_events",
}
#: Per-cycle figures summed over the window's cycle events (exact even where the events are
#: deduplicated, e.g. a risk block repeated every cycle is recorded once).
WINDOW_CYCLE_FIELDS = ("submitted", "blocked", "rejected", "fills", "operations", "failures")
#: At most this many cycle events are read for one window (about 2.8 hours of 5 s cycles).
MAX_WINDOW_CYCLES = 2000
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
GUARDS_KEY = "guards"
MODES_KEY = "modes"
_SAMPLE = re.compile(r"^(perps_bot_[a-z_]+)(?:\{([^}]*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_SNAPSHOT_METRICS = frozenset(
    {
        "perps_bot_market_data_age_seconds",
        "perps_bot_market_data_stale",
        "perps_bot_websocket_connected",
        "perps_bot_websocket_last_message_age_seconds",
        "perps_bot_api_rate_limit_remaining",
        "perps_bot_open_orders",
        "perps_bot_guard_threshold",
    }
)


@dataclass(frozen=True, slots=True)
class PositionRow:
    symbol: str
    quantity: Decimal
    avg_entry: Decimal
    mark: Decimal | None
    notional: Decimal | None
    unrealized: Decimal | None


@dataclass(frozen=True, slots=True)
class MarketRow:
    symbol: str
    age_s: float | None  # at the last cycle
    stale: bool


@dataclass(frozen=True, slots=True)
class FeedRow:
    feed: str
    connected: bool
    age_s: float | None


@dataclass(frozen=True, slots=True)
class GuardRow:
    name: str
    level: str  # ok, warning, critical
    value: str
    warning: str
    critical: str
    action: str
    reason: str
    since: str | None  # ISO time the guard entered its level (persisted state)


@dataclass(frozen=True, slots=True)
class LatchRow:
    mode: str  # kill_switch, reduce_only, halt
    set_by: str
    reason: str
    set_at: str | None
    until: str | None


@dataclass(slots=True)
class DashboardData:
    now: datetime
    store_path: Path
    window: timedelta
    health: dict[str, Any] | None = None
    health_written_age_s: float | None = None  # wall seconds since health.json changed
    last_cycle: StoredEvent | None = None
    anchor: datetime | None = None  # the window ends here (the last cycle's time, else now)
    window_counts: dict[str, int] = field(default_factory=dict)
    window_truncated: bool = False  # more cycles in the window than MAX_WINDOW_CYCLES
    positions: list[PositionRow] = field(default_factory=list)
    open_orders: int = 0
    guards: list[GuardRow] = field(default_factory=list)
    modes: str = "normal"  # the modes in force at the last cycle (TradingModes.describe())
    latches: list[LatchRow] = field(default_factory=list)  # modes latched in the store
    market: list[MarketRow] = field(default_factory=list)
    feeds: list[FeedRow] = field(default_factory=list)
    rate_limit_remaining: float | None = None
    snapshot_age_s: float | None = None
    recent: list[StoredEvent] = field(default_factory=list)

    @property
    def cycle_payload(self) -> dict[str, Any]:
        return self.last_cycle.payload if self.last_cycle is not None else {}

    def rate(self, numerator: str, *denominator: str) -> float | None:
        """counts[numerator] / sum(counts[d] for d in denominator), None when that is 0."""
        total = sum(self.window_counts.get(name, 0) for name in denominator)
        return None if total == 0 else self.window_counts.get(numerator, 0) / total


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


class DashboardSource:
    """Reads one profile's store, health.json and metrics snapshot; keeps the store open and the
    positions up to date between frames (fills are read incrementally)."""

    def __init__(
        self,
        store_path: Path,
        health_path: Path,
        metrics_path: Path | None = None,
        *,
        events_shown: int = 12,
    ) -> None:
        self.store_path = store_path
        self.health_path = health_path
        self.metrics_path = metrics_path
        self.events_shown = events_shown
        self._store: EventStore | None = None
        self._books = BookKeeper(store_path)

    def open(self) -> EventStore:
        """The read-only store (StoreError when there is none)."""
        if self._store is None:
            self._store = EventStore.open_readonly(self.store_path)
        return self._store

    def close(self) -> None:
        self._books.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> DashboardSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one frame

    def collect(
        self, now: datetime, window: timedelta, *, wall: float | None = None
    ) -> DashboardData:
        """Everything one frame shows. ``now``: aware UTC (window anchor when there is no cycle
        yet); ``wall``: Unix seconds for file ages (defaults to the wall clock)."""
        wall = time.time() if wall is None else wall
        store = self.open()
        data = DashboardData(now=now, store_path=self.store_path, window=window)
        data.health = read_health(self.health_path)
        try:
            data.health_written_age_s = wall - self.health_path.stat().st_mtime
        except OSError:
            data.health_written_age_s = None
        data.last_cycle = store.last_event("cycle")
        anchor = data.last_cycle.ts if data.last_cycle is not None else now
        data.anchor = anchor
        since = anchor - window
        data.window_counts, data.window_truncated = window_counts(store, since)
        data.recent = store.events(limit=self.events_shown, newest_first=True)
        data.open_orders = len(store.list_orders(open_only=True))
        data.guards = guard_rows(store.get_state(GUARDS_KEY), data.cycle_payload.get("guards"))
        data.latches = latch_rows(store.get_state(MODES_KEY))
        described = data.cycle_payload.get("modes") or (data.health or {}).get("modes")
        data.modes = str(described) if described else "normal"
        positions = payload_positions(data.cycle_payload)
        if positions is None:  # the cycle event does not carry the books: from the fills
            positions = self._books.positions()
        data.positions = position_rows(positions, data.cycle_payload)
        samples = self._snapshot_samples(data, wall)
        self._market(data, samples)
        data.guards = _with_thresholds(data.guards, samples.get("perps_bot_guard_threshold", {}))
        return data

    def _snapshot_samples(self, data: DashboardData, wall: float) -> Samples:
        if self.metrics_path is None:
            return {}
        try:
            snapshot = read_snapshot(self.metrics_path)
        except SnapshotError:
            return {}
        data.snapshot_age_s = snapshot.age(wall)
        return parse_samples(snapshot.body, _SNAPSHOT_METRICS)

    def _market(self, data: DashboardData, samples: Samples) -> None:
        """Market data ages and feeds: from the metrics snapshot when there is one, else the
        stale list of the last cycle / health.json."""
        stale: set[str] = set()
        for source in (data.cycle_payload.get("stale"), (data.health or {}).get("stale_symbols")):
            if isinstance(source, list):
                stale.update(str(s) for s in source)
        ages = {
            dict(labels).get("symbol", ""): value
            for labels, value in samples.get("perps_bot_market_data_age_seconds", {}).items()
        }
        for labels, value in samples.get("perps_bot_market_data_stale", {}).items():
            if value >= 1:
                stale.add(dict(labels).get("symbol", ""))
        symbols = sorted((set(ages) | stale | set(_symbols(data))) - {""})
        data.market = [MarketRow(s, ages.get(s), s in stale) for s in symbols]
        connected = samples.get("perps_bot_websocket_connected", {})
        feed_ages = {
            dict(labels).get("feed", ""): value
            for labels, value in samples.get(
                "perps_bot_websocket_last_message_age_seconds", {}
            ).items()
        }
        data.feeds = [
            FeedRow(
                dict(labels).get("feed", ""),
                value >= 1,
                feed_ages.get(dict(labels).get("feed", "")),
            )
            for labels, value in sorted(connected.items())
        ]
        limit = samples.get("perps_bot_api_rate_limit_remaining", {})
        data.rate_limit_remaining = next(iter(limit.values()), None)


def window_counts(store: EventStore, since: datetime) -> tuple[dict[str, int], bool]:
    """Activity since ``since``: event counts (indexed counts) and the cycle events' own figures
    summed (signals, submitted, blocked, rejected, fills, operations, failures)."""
    counts = {
        label: store.count_events(type_, since=since) for type_, label in WINDOW_EVENTS.items()
    }
    cycles = store.events("cycle", since=since, limit=MAX_WINDOW_CYCLES, newest_first=True)
    counts["cycles"] = len(cycles)
    counts["signals"] = 0
    for name in WINDOW_CYCLE_FIELDS:
        counts[name] = 0
    for event in cycles:
        payload = event.payload
        signals = payload.get("signals")
        if isinstance(signals, dict):
            counts["signals"] += len(signals)
        for name in WINDOW_CYCLE_FIELDS:
            value = payload.get(name)
            if isinstance(value, int):
                counts[name] += value
    return counts, len(cycles) >= MAX_WINDOW_CYCLES


def position_rows(
    positions: Mapping[str, Position], payload: Mapping[str, Any]
) -> list[PositionRow]:
    """Open positions valued at the last cycle's marks (its ``state.last_mid``)."""
    state = payload.get("state") if isinstance(payload, Mapping) else None
    raw_marks = state.get("last_mid", {}) if isinstance(state, Mapping) else {}
    marks = {s: _dec(v) for s, v in raw_marks.items()} if isinstance(raw_marks, dict) else {}
    rows = []
    for symbol, position in sorted(positions.items()):
        if position.is_flat:
            continue
        mark = marks.get(symbol)
        rows.append(
            PositionRow(
                symbol=symbol,
                quantity=position.quantity,
                avg_entry=position.avg_entry_price,
                mark=mark,
                notional=None if mark is None else position.notional(mark),
                unrealized=None if mark is None else position.unrealized_pnl(mark),
            )
        )
    return rows


def payload_positions(payload: Mapping[str, Any]) -> dict[str, Position] | None:
    """The bot's books as a cycle event may carry them (``"positions": {symbol: {"quantity",
    "avg_entry_price", "realized_pnl", "fees"}}``), or None when it does not: then the dashboard
    rebuilds them from the fills."""
    raw = payload.get("positions")
    if not isinstance(raw, dict):
        return None
    positions: dict[str, Position] = {}
    for symbol, doc in raw.items():
        if not isinstance(doc, dict):
            return None
        quantity = _dec(doc.get("quantity"))
        if quantity is None:
            return None
        positions[str(symbol)] = Position(
            str(symbol),
            quantity=quantity,
            avg_entry_price=_dec(doc.get("avg_entry_price")) or Decimal(0),
            realized_pnl=_dec(doc.get("realized_pnl")) or Decimal(0),
            fees=_dec(doc.get("fees")) or Decimal(0),
        )
    return positions


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def guard_rows(state: Any, current: Any) -> list[GuardRow]:
    """Guards from the persisted state (level changes: since, action, reason), with the level and
    value of the last cycle when its event carries them (``{"name": "level:value"}``)."""
    state = state if isinstance(state, dict) else {}
    current = current if isinstance(current, dict) else {}
    rows = []
    for name in sorted(set(state) | set(current)):
        doc = state.get(name) if isinstance(state.get(name), dict) else {}
        level, value = str(doc.get("level", "ok")), doc.get("value")
        now_level, _, now_value = str(current.get(name, "")).partition(":")
        if now_level:
            level, value = now_level, now_value or None
        rows.append(
            GuardRow(
                name=str(name),
                level=level.lower(),
                value=_text(value),
                warning=_text(doc.get("warning")),
                critical=_text(doc.get("critical")),
                action=_text(doc.get("action")),
                reason=str(doc.get("reason") or ""),
                since=doc.get("since") if isinstance(doc.get("since"), str) else None,
            )
        )
    return rows


def latch_rows(state: Any) -> list[LatchRow]:
    """The modes latched on in the store's "modes" document ({mode: {on, set_by, reason, set_at,
    until}}; a plain ``{mode: true}`` is read too)."""
    if not isinstance(state, dict):
        return []
    rows = []
    for mode, doc in sorted(state.items()):
        if isinstance(doc, bool):
            doc = {"on": doc}
        if not isinstance(doc, dict) or not doc.get("on"):
            continue
        rows.append(
            LatchRow(
                mode=str(mode),
                set_by=str(doc.get("set_by") or "?"),
                reason=str(doc.get("reason") or ""),
                set_at=doc.get("set_at") if isinstance(doc.get("set_at"), str) else None,
                until=doc.get("until") if isinstance(doc.get("until"), str) else None,
            )
        )
    return rows


def _symbols(data: DashboardData) -> list[str]:
    """Symbols the last lifecycle/cycle information names (so every traded symbol gets a row)."""
    state = data.cycle_payload.get("state")
    if isinstance(state, Mapping) and isinstance(state.get("last_mid"), dict):
        return [str(s) for s in state["last_mid"]]
    return []


def _with_thresholds(
    rows: list[GuardRow], thresholds: dict[tuple[tuple[str, str], ...], float]
) -> list[GuardRow]:
    """Fill in warning/critical thresholds the persisted state lacks from the metrics snapshot."""
    if not thresholds:
        return rows
    found = {(dict(k).get("guard"), dict(k).get("level")): v for k, v in thresholds.items()}
    filled = []
    for row in rows:
        warning = found.get((row.name, "warning"))
        critical = found.get((row.name, "critical"))
        filled.append(
            replace(
                row,
                warning=row.warning if row.warning != "-" or warning is None else f"{warning:g}",
                critical=row.critical
                if row.critical != "-" or critical is None
                else f"{critical:g}",
            )
        )
    return filled


def parse_samples(text: str, names: frozenset[str]) -> Samples:
    """Samples of the named metrics from exposition text: name -> {sorted label pairs: value}."""
    found: Samples = {}
    for line in text.splitlines():
        if not line.startswith("perps_bot_"):
            continue
        match = _SAMPLE.match(line)
        if match is None or match[1] not in names:
            continue
        try:
            value = float(match[3])
        except ValueError:
            continue
        labels = tuple(sorted(_LABEL.findall(match[2] or "")))
        found.setdefault(match[1], {})[labels] = value
    return found


__all__ = [
    "DashboardData",
    "DashboardSource",
    "FeedRow",
    "GuardRow",
    "LatchRow",
    "MarketRow",
    "PositionRow",
    "guard_rows",
    "latch_rows",
    "parse_samples",
    "payload_positions",
    "position_rows",
    "window_counts",
]
