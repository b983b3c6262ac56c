"""Prometheus metrics for the bot: every figure a cycle reports, named by Prometheus' conventions.

The runner owns one ``BotMetrics``::

    metrics = BotMetrics(profile=settings.profile, broker=broker.name)
    metrics.set_fee_rates(maker=settings.sim.maker_fee, taker=settings.sim.taker_fee)
    metrics.serve(port=9102, host="127.0.0.1")          # GET /metrics from a daemon thread
    ...
    metrics.observe_cycle(report, broker_stats=stats, now=report.started_at)   # each cycle
    metrics.write_snapshot(profile_dir / "metrics.prom", min_interval_s=1.0)   # between cycles
    ...
    metrics.shutdown()

Cheap by construction: ``observe_cycle`` only records the report's figures as plain Python
values (a few dict updates under an uncontended lock, no Decimal arithmetic, no label lookups).
Decimals become floats, and metric families are built, when ``/metrics`` is scraped or a snapshot
is rendered. ``prometheus_client`` itself is imported only then (``render``, ``serve``,
``write_snapshot``, or a registry handed to the constructor): a run without metrics never loads it.

Values are in base units: money in the quote currency (``_usd``: the bot trades USD products),
fractions as ``_ratio`` (-0.01 is -1%), durations and ages in ``_seconds``, times as Unix
``_timestamp_seconds``. Counters (``_total``) count since this process started; Prometheus'
``rate``/``increase`` handle restarts. Every label value passes through ``redaction.redact``
and is capped in length, and free-text reasons are capped in number, so neither a secret nor an
unbounded set of series can reach Prometheus.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
import time
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..brokers.base import BrokerStats
from ..jsonutil import atomic_write_text
from .redaction import redact

if TYPE_CHECKING:  # imported lazily at run time (see the module docstring)
    from prometheus_client import CollectorRegistry

    from ..cycle import CycleReport

log = logging.getLogger("trading_core.telemetry.metrics")

PREFIX = "perps_bot_"
DEFAULT_PORT = 9102
DEFAULT_HOST = "127.0.0.1"
#: Upper bounds (seconds) of the cycle duration histogram: a quiet cycle takes well under 1 ms
#: on the paper broker; a live cycle waits on the venue's API (tens to hundreds of ms).
CYCLE_DURATION_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
#: Label values longer than this are cut (a venue's free-text reason, an endpoint path).
MAX_LABEL_LENGTH = 64
#: Distinct reasons kept per order outcome; further ones are counted under ``reason="other"``.
MAX_REASONS_PER_OUTCOME = 32
NO_REASON = "none"
OTHER_REASON = "other"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric the bot exports: its full name (counters end in ``_total``), type and help."""

    name: str
    kind: str  # "gauge", "counter", "histogram" or "info"
    help: str
    labels: tuple[str, ...] = ()


def _g(name: str, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(PREFIX + name, "gauge", help_, labels)


def _c(name: str, help_: str, *labels: str) -> MetricSpec:
    return MetricSpec(PREFIX + name, "counter", help_, labels)


#: Everything BotMetrics exports (besides the standard process_*, python_* metrics).
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        PREFIX + "build_info",
        "info",
        "Build and run information (always 1): version, python_version, profile, broker.",
    ),
    _g("fee_rate_ratio", "Fee rate of the account's tier, as a fraction of notional.", "liquidity"),
    _g("fee_tier_info", "The account's fee tier (always 1).", "tier"),
    # --- the last cycle ------------------------------------------------------------------
    _g("last_cycle_number", "Number of the last completed cycle (counted over the store's life)."),
    _g(
        "last_cycle_timestamp_seconds",
        "Time (bot clock) at which the last completed cycle started, as a Unix timestamp.",
    ),
    _g("last_cycle_ok", "1 when the last cycle completed without errors, else 0."),
    _g("equity_usd", "Account equity at current marks, in the quote currency (USD)."),
    _g("day_start_equity_usd", "Equity at the start of the UTC day, in the quote currency (USD)."),
    _g("daily_pnl_usd", "Profit and loss since the start of the UTC day (USD)."),
    _g(
        "daily_pnl_ratio",
        "Daily PnL as a fraction of start-of-day equity (-0.01 is -1%).",
    ),
    _g("realized_pnl_usd", "Realized PnL of the bot's own books, before fees (USD)."),
    _g("unrealized_pnl_usd", "Unrealized PnL of open positions at current marks (USD)."),
    _g("fees_usd", "Fees paid on the bot's own fills (USD)."),
    _g("positions_open", "Number of open (non-flat) positions."),
    _g("gross_exposure_usd", "Sum of absolute position notionals at current marks (USD)."),
    _g(
        "exposure_usd",
        "Absolute position notional at the current mark, per symbol (USD).",
        "symbol",
    ),
    _g("open_orders", "Orders not yet in a terminal status."),
    _g(
        "market_data_age_seconds",
        "Age of the symbol's last good quote at the last cycle (bot clock).",
        "symbol",
    ),
    _g(
        "market_data_stale",
        "1 while the symbol's market data is stale (no new orders on it), else 0.",
        "symbol",
    ),
    _g("guard_level", "Runtime guard level: 0 ok, 1 warning, 2 critical.", "guard"),
    _g("guard_value", "The figure the runtime guard measured, in the guard's own unit.", "guard"),
    _g(
        "guard_threshold",
        "The runtime guard's threshold for a level (warning or critical), in the guard's unit.",
        "guard",
        "level",
    ),
    _g("mode_active", "1 while a protective mode is on: kill_switch, reduce_only, halted.", "mode"),
    _g(
        "reconciliation_breach",
        "1 while the last reconciliation with the venue found a breach (SEV-1), else 0.",
    ),
    _g(
        "last_reconciliation_timestamp_seconds",
        "Time (bot clock) of the last reconciliation that read the venue, as a Unix timestamp.",
    ),
    # --- venue API and streaming feeds (brokers with stats()) ------------------------------
    _g("api_rate_limit_remaining", "Requests left in the venue's current rate-limit window."),
    _g("websocket_connected", "1 while the streaming feed is connected, else 0.", "feed"),
    _g(
        "websocket_last_message_age_seconds",
        "Seconds since the feed's last message (since metrics started if none yet), bot clock.",
        "feed",
    ),
    # --- counters --------------------------------------------------------------------------
    _c("cycles_total", "Cycles run by this process, by result: ok, error, crashed.", "result"),
    _c("operations_total", "Broker operations attempted (quotes, account reads, orders, fills)."),
    _c("operation_failures_total", "Broker operations that failed (the error rate's numerator)."),
    _c(
        "orders_total",
        "Orders by outcome (submitted, filled, rejected, cancelled, failed, blocked, dry_run) "
        "and reason.",
        "outcome",
        "reason",
    ),
    _c("fills_total", "Fills recorded in the bot's books."),
    _c(
        "reconciliations_total",
        "Reconciliations of the store with the venue, by result: ok, breach, unreadable.",
        "result",
    ),
    _c("signals_total", "Strategy signals acted on, by action (buy, sell).", "action"),
    _c("api_requests_total", "Venue API requests by endpoint and status.", "endpoint", "status"),
    _c("websocket_reconnects_total", "Streaming feed reconnects.", "feed"),
    _c("websocket_sequence_gaps_total", "Sequence gaps detected on a streaming feed.", "feed"),
    MetricSpec(
        PREFIX + "cycle_duration_seconds",
        "histogram",
        "Wall time one trading cycle took.",
    ),
)
SPECS: dict[str, MetricSpec] = {spec.name: spec for spec in METRICS}

_MODE_WORDS = {"kill-switch": 0, "kill_switch": 0, "reduce-only": 1, "reduce_only": 1, "halted": 2}
_ID_SEGMENT = re.compile(r"^(?=.*\d)[A-Za-z0-9_.:-]{8,}$")


@functools.lru_cache(maxsize=1024)
def label_value(value: str) -> str:
    """A label value safe to export: redacted, on one line, at most MAX_LABEL_LENGTH long."""
    text = redact(str(value)).replace("\n", " ").strip()
    if len(text) > MAX_LABEL_LENGTH:
        text = text[: MAX_LABEL_LENGTH - 3] + "..."
    return text or NO_REASON


@functools.lru_cache(maxsize=1024)
def endpoint_label(endpoint: str) -> str:
    """An API endpoint as a bounded label: no query string, ids (segments of 8+ characters with a
    digit: order ids, UUIDs) replaced by ``:id``; e.g. ``/orders/historical/:id``."""
    path = endpoint.split("?", 1)[0]
    parts = [":id" if _ID_SEGMENT.match(part) else part for part in path.split("/")]
    return label_value("/".join(parts))


@functools.lru_cache(maxsize=64)
def modes_flags(modes: str) -> tuple[bool, bool, bool]:
    """(kill_switch, reduce_only, halted) from ``TradingModes.describe()`` text."""
    flags = [False, False, False]
    for word in modes.replace(" ", "").split(","):
        index = _MODE_WORDS.get(word.lower())
        if index is not None:
            flags[index] = True
    return flags[0], flags[1], flags[2]


#: Optional report fields read when present: (outcome, attribute).
_OUTCOME_FIELDS = (
    ("filled", "orders_filled"),
    ("cancelled", "orders_cancelled"),
    ("failed", "orders_failed"),
)
_OPTIONAL_FIELDS = frozenset({"open_orders", *(attribute for _, attribute in _OUTCOME_FIELDS)})


@functools.lru_cache(maxsize=32)
def _optional_fields(kind: type) -> frozenset[str]:
    """Which optional fields reports of this class carry (looked up once per class, not per
    report: a failed getattr costs more than the rest of observe_cycle)."""
    names = set(getattr(kind, "__dataclass_fields__", {}))
    names |= {n for n in _OPTIONAL_FIELDS if isinstance(getattr(kind, n, None), property)}
    return frozenset(names & _OPTIONAL_FIELDS)


def _flags(modes: Any) -> tuple[bool, bool, bool]:
    if isinstance(modes, str):
        return modes_flags(modes)
    return (
        bool(getattr(modes, "kill_switch", False)),
        bool(getattr(modes, "reduce_only", False)),
        bool(getattr(modes, "halted", False)),
    )


@dataclass(slots=True)
class MetricsView:
    """A consistent copy of everything BotMetrics holds (plain Python; Decimals untouched), taken
    under its lock. The collector turns it into metric families; tests can read it directly."""

    build: dict[str, str]
    fee_rates: dict[str, Decimal]
    fee_tier: str | None
    cycles: dict[str, int]
    duration_counts: list[int]  # per bucket (not cumulative), last one is +Inf
    duration_sum: float
    operations: int
    failures: int
    fills: int
    orders: dict[tuple[str, str], int]
    signals: dict[str, int]
    report: CycleReport | None
    ts: float | None  # the last cycle's time (bot clock), Unix seconds
    first_ts: float | None
    exposures: dict[str, Decimal] = field(default_factory=dict)
    stale: frozenset[str] = frozenset()
    modes: tuple[bool, bool, bool] = (False, False, False)
    open_orders: int | None = None
    quote_times: dict[str, float] = field(default_factory=dict)
    broker_stats: BrokerStats | None = None
    reconciliations: dict[str, int] = field(default_factory=dict)
    reconcile_breach: bool | None = None  # None: no reconciliation has read the venue yet
    reconcile_ts: float | None = None


class BotMetrics:
    """The bot's metrics. Thread-safe: the loop observes, an HTTP thread scrapes."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        profile: str = "",
        broker: str = "",
        process_metrics: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._build = {
            "version": __version__,
            "python_version": "{}.{}.{}".format(*sys.version_info[:3]),
            "profile": label_value(profile) if profile else "",
            "broker": label_value(broker) if broker else "",
        }
        self._fee_rates: dict[str, Decimal] = {}
        self._fee_tier: str | None = None
        self._cycles: dict[str, int] = {"ok": 0, "error": 0, "crashed": 0}
        self._duration_counts = [0] * (len(CYCLE_DURATION_BUCKETS) + 1)
        self._duration_sum = 0.0
        self._operations = 0
        self._failures = 0
        self._fills = 0
        self._orders: dict[tuple[str, str], int] = {}
        self._reasons: dict[str, set[str]] = {}
        self._signals: dict[str, int] = {}
        self._report: CycleReport | None = None
        self._ts: float | None = None
        self._first_ts: float | None = None
        self._exposures: dict[str, Decimal] = {}
        self._stale: frozenset[str] = frozenset()
        self._modes: tuple[bool, bool, bool] = (False, False, False)
        self._open_orders: int | None = None
        self._quote_times: dict[str, float] = {}  # symbols not quoted by the last cycle
        self._quote_ages: dict[str, float] = {}  # the last cycle's quote ages
        self._quote_ts = 0.0
        self._broker_stats: BrokerStats | None = None
        self._reconciliations = {"ok": 0, "breach": 0, "unreadable": 0}
        self._reconcile_breach: bool | None = None
        self._reconcile_ts: float | None = None
        self._process_metrics = process_metrics
        self._registry: Any = None
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._last_snapshot = float("-inf")
        if registry is not None:
            self._attach(registry, own=False)

    # ------------------------------------------------------------------ recording

    def set_fee_rates(
        self, *, maker: Decimal | None = None, taker: Decimal | None = None, tier: str | None = None
    ) -> None:
        """The account's fee rates (fractions of notional) and, when the venue names it, the
        tier."""
        with self._lock:
            if maker is not None:
                self._fee_rates["maker"] = maker
            if taker is not None:
                self._fee_rates["taker"] = taker
            if tier is not None:
                self._fee_tier = label_value(tier)

    def observe_cycle(
        self,
        report: CycleReport,
        *,
        broker_stats: BrokerStats | None = None,
        now: datetime,
        open_orders: int | None = None,
    ) -> None:
        """Record one cycle's report (treated as read-only from here on). ``now`` is the cycle's
        time on the bot clock (aware; ``report.started_at``): ages are measured against it.
        ``broker_stats``: the adapter's ``stats()`` when it has one. ``open_orders``: the count
        of working orders when the caller knows it (else ``report.open_orders`` if present)."""
        if now.tzinfo is None:
            raise ValueError("observe_cycle: now must be an aware datetime")
        ts = now.timestamp()
        duration = report.duration_s
        extras = _optional_fields(type(report))
        if open_orders is None and "open_orders" in extras:
            open_orders = report.open_orders  # type: ignore[attr-defined]
        exposures = dict(report.exposures)
        quote_ages = dict(report.quote_ages)
        with self._lock:
            self._cycles["ok" if not report.errors else "error"] += 1
            self._duration_counts[bisect_left(CYCLE_DURATION_BUCKETS, duration)] += 1
            self._duration_sum += duration
            self._operations += report.operations
            self._failures += report.failures
            self._fills += report.fills
            if report.submitted:
                self._count_order("submitted", NO_REASON, report.submitted)
            if report.dry_run:
                self._count_order("dry_run", NO_REASON, report.dry_run)
            if report.blocked:
                self._count_reasons("blocked", report.block_reasons, report.blocked)
            if report.rejected:
                self._count_reasons("rejected", report.reject_reasons, report.rejected)
            for outcome, attribute in _OUTCOME_FIELDS:
                if attribute in extras:
                    n = getattr(report, attribute)
                    if n:
                        self._count_order(outcome, NO_REASON, n)
            if report.signals:
                signals = self._signals
                for action in report.signals.values():
                    key = label_value(str(action).lower())
                    signals[key] = signals.get(key, 0) + 1
            # quote times are derived when viewed; symbols missing from this cycle's quotes keep
            # their last quote time (so their age goes on growing)
            previous = self._quote_ages
            if previous and not previous.keys() <= quote_ages.keys():
                older = self._quote_times
                for symbol, age in previous.items():
                    older[symbol] = self._quote_ts - age
            self._quote_ages, self._quote_ts = quote_ages, ts
            if self._first_ts is None:
                self._first_ts = ts
            self._report = report
            self._ts = ts
            self._exposures = exposures
            if report.stale_symbols or self._stale:
                self._stale = frozenset(report.stale_symbols)
            self._modes = _flags(report.modes)
            if open_orders is not None:
                self._open_orders = open_orders
            self._broker_stats = broker_stats

    def observe_reconcile(self, *, breach: bool | None, now: datetime) -> None:
        """One reconciliation: ``breach`` True/False when it read the venue, None when it could
        not (unreadable: the previous verdict stands)."""
        with self._lock:
            if breach is None:
                self._reconciliations["unreadable"] += 1
                return
            self._reconciliations["breach" if breach else "ok"] += 1
            self._reconcile_breach = breach
            self._reconcile_ts = now.timestamp()

    def observe_crash(self) -> None:
        """A cycle that raised instead of returning a report."""
        with self._lock:
            self._cycles["crashed"] += 1

    def _count_order(self, outcome: str, reason: str, n: int) -> None:
        key = (outcome, reason)
        self._orders[key] = self._orders.get(key, 0) + n

    def _count_reasons(self, outcome: str, reasons: Mapping[str, int], total: int) -> None:
        seen = self._reasons.setdefault(outcome, set())
        counted = 0
        for raw, n in reasons.items():
            reason = label_value(raw)
            if reason not in seen:
                if len(seen) >= MAX_REASONS_PER_OUTCOME:
                    reason = OTHER_REASON
                else:
                    seen.add(reason)
            self._count_order(outcome, reason, n)
            counted += n
        if counted < total:
            self._count_order(outcome, "unknown", total - counted)

    def _current_quote_times(self) -> dict[str, float]:
        times = dict(self._quote_times)
        ts = self._quote_ts
        for symbol, age in self._quote_ages.items():
            times[symbol] = ts - age
        return times

    def view(self) -> MetricsView:
        """A consistent copy of the current figures."""
        with self._lock:
            return MetricsView(
                build=dict(self._build),
                fee_rates=dict(self._fee_rates),
                fee_tier=self._fee_tier,
                cycles=dict(self._cycles),
                duration_counts=list(self._duration_counts),
                duration_sum=self._duration_sum,
                operations=self._operations,
                failures=self._failures,
                fills=self._fills,
                orders=dict(self._orders),
                signals=dict(self._signals),
                report=self._report,
                ts=self._ts,
                first_ts=self._first_ts,
                exposures=self._exposures,
                stale=self._stale,
                modes=self._modes,
                open_orders=self._open_orders,
                quote_times=self._current_quote_times(),
                broker_stats=self._broker_stats,
                reconciliations=dict(self._reconciliations),
                reconcile_breach=self._reconcile_breach,
                reconcile_ts=self._reconcile_ts,
            )

    # ------------------------------------------------------------------ exposition

    @property
    def registry(self) -> CollectorRegistry:
        """The registry holding these metrics (created on first use, with process metrics)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._attach(CollectorRegistry(), own=True)
        return self._registry  # type: ignore[no-any-return]

    def _attach(self, registry: CollectorRegistry, *, own: bool) -> None:
        from .metrics_collector import BotCollector, register_process_collectors

        registry.register(BotCollector(self))
        if self._process_metrics and own:
            register_process_collectors(registry)
        self._registry = registry

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format (what /metrics serves)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def write_snapshot(
        self,
        path: Path | str,
        *,
        min_interval_s: float = 0.0,
        written_at: float | None = None,
    ) -> bool:
        """Atomically replace ``path`` with the current metrics (see ``telemetry.snapshot``), for
        ``scripts/monitoring/export_metrics.py --metrics-file``. ``written_at`` (Unix seconds)
        defaults to the wall clock: the exporter judges freshness by it. Skipped (returns False)
        when the last write was less than ``min_interval_s`` ago (monotonic)."""
        from .snapshot import format_snapshot

        mono = time.monotonic()
        if min_interval_s > 0 and mono - self._last_snapshot < min_interval_s:
            return False
        body = self.render()
        with self._lock:
            cycle = None if self._report is None else self._report.cycle
        stamp = time.time() if written_at is None else written_at
        atomic_write_text(
            Path(path), format_snapshot(body, stamp, cycle), mode=0o644, fsync=False
        )  # for a textfile collector running as another user; nothing secret in it
        self._last_snapshot = mono
        return True

    def serve(self, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> int:
        """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns the bound port (useful
        with ``port=0``). OSError (e.g. the port is taken) is raised here, before any cycle."""
        if self._server is not None:
            raise RuntimeError("metrics server already running")
        server = _metrics_server(host, port, self.registry)
        # prometheus_client's own start_http_server polls for shutdown every 0.5 s, which made
        # every stop half a second slower; this one answers a shutdown within 50 ms
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="metrics-http",
            daemon=True,
        )
        thread.start()
        self._server, self._server_thread = server, thread
        bound = int(server.server_address[1])
        log.info("metrics served on http://%s:%d/metrics", host, bound)
        return bound

    @property
    def port(self) -> int | None:
        """The port /metrics is served on, or None when not serving."""
        return None if self._server is None else int(self._server.server_address[1])

    def shutdown(self) -> None:
        """Stop the HTTP server (if serving). Idempotent."""
        server, thread = self._server, self._server_thread
        self._server = self._server_thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def _metrics_server(host: str, port: int, registry: Any) -> Any:
    """A threading WSGI server for ``/metrics`` bound to ``host:port`` (OSError if it cannot
    bind), quiet: no access log on stderr."""
    import socket
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    class MetricsServer(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    return make_server(
        host, port, make_wsgi_app(registry), MetricsServer, handler_class=QuietHandler
    )


__all__ = [
    "CYCLE_DURATION_BUCKETS",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "METRICS",
    "PREFIX",
    "SPECS",
    "BotMetrics",
    "MetricSpec",
    "MetricsView",
    "endpoint_label",
    "label_value",
    "modes_flags",
]
