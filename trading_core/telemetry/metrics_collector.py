"""The prometheus_client side of BotMetrics: turns a MetricsView into metric families at scrape
time. Imported only when metrics are rendered or served (it imports prometheus_client)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from prometheus_client import (
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from .metrics import (
    CYCLE_DURATION_BUCKETS,
    METRICS,
    PREFIX,
    MetricSpec,
    endpoint_label,
    label_value,
)

if TYPE_CHECKING:
    from .metrics import BotMetrics, MetricsView

_MODES = ("kill_switch", "reduce_only", "halted")
_BUCKET_LABELS = [floatToGoString(b) for b in CYCLE_DURATION_BUCKETS] + ["+Inf"]


def register_process_collectors(registry: CollectorRegistry) -> None:
    """process_* (CPU, memory, file descriptors, start time), python_info and python_gc_*."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


def _family(spec: MetricSpec) -> Metric:
    labels = list(spec.labels)
    if spec.kind == "gauge":
        return GaugeMetricFamily(spec.name, spec.help, labels=labels)
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=labels)
    if spec.kind == "histogram":
        return HistogramMetricFamily(spec.name, spec.help, labels=labels)
    if spec.kind == "info":
        return InfoMetricFamily(spec.name.removesuffix("_info"), spec.help, labels=labels)
    raise ValueError(f"unknown metric kind {spec.kind!r}")


def _f(value: Decimal | float | int) -> float:
    return float(value)


class _Families:
    """Families by full metric name, created on first use; yielded in METRICS order."""

    def __init__(self) -> None:
        self._by_name: dict[str, Metric] = {}

    def __getitem__(self, name: str) -> Metric:
        full = PREFIX + name
        family = self._by_name.get(full)
        if family is None:
            family = _family(_SPECS[full])
            self._by_name[full] = family
        return family

    def add(self, name: str, value: float, *labels: str) -> None:
        self[name].add_metric(list(labels), value)

    def ordered(self) -> Iterator[Metric]:
        for spec in METRICS:
            family = self._by_name.get(spec.name)
            if family is not None:
                yield family


_SPECS = {spec.name: spec for spec in METRICS}


def families(view: MetricsView) -> Iterator[Metric]:
    """The metric families for one view (only those with samples)."""
    fam = _Families()
    info = fam["build_info"]
    assert isinstance(info, InfoMetricFamily)
    info.add_metric([], view.build)
    for liquidity, rate in sorted(view.fee_rates.items()):
        fam.add("fee_rate_ratio", _f(rate), liquidity)
    if view.fee_tier is not None:
        fam.add("fee_tier_info", 1.0, view.fee_tier)

    # counters: present from the start, so rate() has a zero to start from
    for result, n in view.cycles.items():
        fam.add("cycles_total", n, result)
    fam.add("operations_total", view.operations)
    fam.add("operation_failures_total", view.failures)
    fam.add("fills_total", view.fills)
    for (outcome, reason), n in sorted(view.orders.items()):
        fam.add("orders_total", n, outcome, reason)
    for action, n in sorted(view.signals.items()):
        fam.add("signals_total", n, action)
    for result, n in view.reconciliations.items():
        fam.add("reconciliations_total", n, result)
    if view.reconcile_breach is not None and view.reconcile_ts is not None:
        fam.add("reconciliation_breach", 1.0 if view.reconcile_breach else 0.0)
        fam.add("last_reconciliation_timestamp_seconds", view.reconcile_ts)
    hist = fam["cycle_duration_seconds"]
    assert isinstance(hist, HistogramMetricFamily)
    cumulative, buckets = 0, []
    for label, n in zip(_BUCKET_LABELS, view.duration_counts, strict=True):
        cumulative += n
        buckets.append((label, float(cumulative)))
    hist.add_metric([], buckets, view.duration_sum)

    report, ts = view.report, view.ts
    if report is not None and ts is not None:
        _cycle_families(fam, view, ts)
    if view.broker_stats is not None and ts is not None:
        _broker_families(fam, view, ts)
    return fam.ordered()


def _cycle_families(fam: _Families, view: MetricsView, ts: float) -> None:
    report = view.report
    assert report is not None
    fam.add("last_cycle_number", report.cycle)
    fam.add("last_cycle_timestamp_seconds", ts)
    fam.add("last_cycle_ok", 0.0 if report.errors else 1.0)
    fam.add("equity_usd", _f(report.equity))
    fam.add("day_start_equity_usd", _f(report.day_start_equity))
    fam.add("daily_pnl_usd", _f(report.daily_pnl))
    fam.add("daily_pnl_ratio", _f(report.daily_pnl_pct))
    fam.add("realized_pnl_usd", _f(report.realized_pnl))
    fam.add("unrealized_pnl_usd", _f(report.unrealized_pnl))
    fam.add("fees_usd", _f(report.fees))
    fam.add("positions_open", report.open_positions)
    fam.add("gross_exposure_usd", _f(report.exposure))
    if view.open_orders is not None:
        fam.add("open_orders", view.open_orders)
    symbols = sorted(view.quote_times.keys() | view.exposures.keys())
    for symbol in symbols:
        fam.add("exposure_usd", _f(view.exposures.get(symbol, 0)), label_value(symbol))
    for symbol in symbols:
        quoted = view.quote_times.get(symbol)
        if quoted is not None:
            fam.add("market_data_age_seconds", max(0.0, ts - quoted), label_value(symbol))
    for symbol in sorted(view.stale | set(symbols)):
        fam.add("market_data_stale", 1.0 if symbol in view.stale else 0.0, label_value(symbol))
    for result in sorted(report.guards, key=lambda g: g.name):
        name = label_value(result.name)
        fam.add("guard_level", int(result.level), name)
        if result.value is not None:
            fam.add("guard_value", _f(result.value), name)
        if result.warning is not None:
            fam.add("guard_threshold", _f(result.warning), name, "warning")
        if result.critical is not None:
            fam.add("guard_threshold", _f(result.critical), name, "critical")
    for mode, on in zip(_MODES, view.modes, strict=True):
        fam.add("mode_active", 1.0 if on else 0.0, mode)


def _broker_families(fam: _Families, view: MetricsView, ts: float) -> None:
    stats = view.broker_stats
    assert stats is not None
    requests: dict[tuple[str, str], int] = {}
    for (endpoint, status), n in stats.requests.items():
        key = (endpoint_label(endpoint), label_value(str(status)))
        requests[key] = requests.get(key, 0) + n
    for (endpoint, status), n in sorted(requests.items()):
        fam.add("api_requests_total", n, endpoint, status)
    if stats.rate_limit_remaining is not None:
        fam.add("api_rate_limit_remaining", float(stats.rate_limit_remaining))
    since = view.first_ts if view.first_ts is not None else ts
    for feed, status in sorted(stats.feeds.items()):
        name = label_value(feed)
        fam.add("websocket_connected", 1.0 if status.connected else 0.0, name)
        last = status.last_message_at.timestamp() if status.last_message_at else since
        fam.add("websocket_last_message_age_seconds", max(0.0, ts - last), name)
        fam.add("websocket_reconnects_total", status.reconnects, name)
        fam.add("websocket_sequence_gaps_total", status.gaps, name)


class BotCollector(Collector):
    """Registered once per registry; reads the BotMetrics it was given at every collect."""

    def __init__(self, metrics: BotMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return [_family(spec) for spec in METRICS]

    def collect(self) -> Iterable[Metric]:
        return families(self._metrics.view())
