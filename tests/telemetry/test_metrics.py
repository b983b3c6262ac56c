"""BotMetrics: every figure of a CycleReport reaches /metrics under a conventional name, counters
accumulate, labels are redacted and bounded, and the live endpoint passes promtool check metrics."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from trading_core.brokers.base import BrokerStats, FeedStatus
from trading_core.cycle import CycleReport
from trading_core.risk.guards.base import GuardAction, GuardLevel, GuardResult
from trading_core.telemetry.metrics import (
    METRICS,
    BotMetrics,
    endpoint_label,
    label_value,
    modes_flags,
)
from trading_core.telemetry.redaction import clear_registered_secrets, register_secret

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: `apt-get install -y prometheus` provides it "
            "(.ci/run installs it before the suite)"
        )
    return path


def report(**changes: Any) -> CycleReport:
    base = CycleReport(
        cycle=7,
        started_at=NOW,
        duration_s=0.0004,
        symbols=3,
        quotes_ok=3,
        signals={},
        holds=3,
        submitted=0,
        blocked=0,
        rejected=0,
        dry_run=0,
        fills=0,
        equity=Decimal("99000.125"),
        day_start_equity=Decimal("100000"),
        daily_pnl=Decimal("-1000.125"),
        daily_pnl_pct=Decimal("-0.01000125"),
        realized_pnl=Decimal("12.5"),
        unrealized_pnl=Decimal("-3.25"),
        fees=Decimal("4.75"),
        open_positions=2,
        exposure=Decimal("7500"),
        modes="normal",
        operations=5,
        failures=0,
        stale_symbols=[],
        errors=[],
        exposures={"BTC-USD": Decimal("5000"), "ETH-USD": Decimal("2500")},
        quote_ages={"BTC-USD": 0.5, "ETH-USD": 1.25, "SOL-USD": 2.0},
    )
    return replace(base, **changes)


def parse(text: bytes | str) -> Samples:
    if isinstance(text, bytes):
        text = text.decode()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture
def metrics() -> Iterator[BotMetrics]:
    m = BotMetrics(profile="dev", broker="paper")
    yield m
    m.shutdown()


def test_every_cycle_figure_is_exported_in_base_units(metrics: BotMetrics) -> None:
    metrics.set_fee_rates(maker=Decimal("0.006"), taker=Decimal("0.012"), tier="Advanced 1")
    metrics.observe_cycle(report(), now=NOW, open_orders=1)
    s = parse(metrics.render())
    assert value(s, "perps_bot_equity_usd") == 99000.125
    assert value(s, "perps_bot_day_start_equity_usd") == 100000.0
    assert value(s, "perps_bot_daily_pnl_usd") == -1000.125
    assert value(s, "perps_bot_daily_pnl_ratio") == pytest.approx(-0.01000125)
    assert value(s, "perps_bot_realized_pnl_usd") == 12.5
    assert value(s, "perps_bot_unrealized_pnl_usd") == -3.25
    assert value(s, "perps_bot_fees_usd") == 4.75
    assert value(s, "perps_bot_positions_open") == 2
    assert value(s, "perps_bot_gross_exposure_usd") == 7500
    assert value(s, "perps_bot_open_orders") == 1
    assert value(s, "perps_bot_exposure_usd", symbol="BTC-USD") == 5000
    assert value(s, "perps_bot_exposure_usd", symbol="ETH-USD") == 2500
    assert value(s, "perps_bot_exposure_usd", symbol="SOL-USD") == 0  # quoted, flat
    assert value(s, "perps_bot_market_data_age_seconds", symbol="ETH-USD") == 1.25
    assert value(s, "perps_bot_market_data_stale", symbol="ETH-USD") == 0
    assert value(s, "perps_bot_last_cycle_number") == 7
    assert value(s, "perps_bot_last_cycle_timestamp_seconds") == NOW.timestamp()
    assert value(s, "perps_bot_last_cycle_ok") == 1
    assert value(s, "perps_bot_cycles_total", result="ok") == 1
    assert value(s, "perps_bot_operations_total") == 5
    assert value(s, "perps_bot_operation_failures_total") == 0
    assert value(s, "perps_bot_fee_rate_ratio", liquidity="maker") == 0.006
    assert value(s, "perps_bot_fee_rate_ratio", liquidity="taker") == 0.012
    assert value(s, "perps_bot_fee_tier_info", tier="Advanced 1") == 1
    for mode in ("kill_switch", "reduce_only", "halted"):
        assert value(s, "perps_bot_mode_active", mode=mode) == 0
    build = [labels for name, labels in s if name == "perps_bot_build_info"]
    assert dict(build[0])["profile"] == "dev" and dict(build[0])["broker"] == "paper"
    assert value(s, "perps_bot_cycle_duration_seconds_count") == 1
    assert value(s, "perps_bot_cycle_duration_seconds_bucket", le="0.0005") == 1
    assert value(s, "perps_bot_cycle_duration_seconds_bucket", le="+Inf") == 1
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= names(s)


def test_every_declared_metric_appears_once_a_full_report_is_seen(metrics: BotMetrics) -> None:
    metrics.set_fee_rates(maker=Decimal("0.006"), taker=Decimal("0.012"), tier="1")
    guard = GuardResult(
        "daily_loss",
        GuardLevel.WARNING,
        Decimal("-0.012"),
        Decimal("-0.01"),
        Decimal("-0.02"),
        GuardAction.WARN,
        "daily loss -1.2%",
    )
    full = report(
        submitted=1,
        blocked=1,
        block_reasons={"max_exposure": 1},
        fills=1,
        signals={"BTC-USD": "BUY"},
        guards=[guard],
    )
    stats = BrokerStats(
        requests={("/api/v3/brokerage/orders", "200"): 3},
        rate_limit_remaining=27,
        feeds={"ticker": FeedStatus(True, NOW)},
    )
    metrics.observe_cycle(full, now=NOW, broker_stats=stats, open_orders=0)
    metrics.observe_reconcile(breach=False, now=NOW)
    exported = names(parse(metrics.render()))
    for spec in METRICS:
        if spec.kind == "histogram":
            assert f"{spec.name}_count" in exported
        else:
            assert spec.name in exported, spec.name


def test_counters_accumulate_and_orders_carry_outcome_and_reason(metrics: BotMetrics) -> None:
    metrics.observe_cycle(
        report(
            submitted=2,
            blocked=3,
            block_reasons={"kill_switch": 2, "sizing": 1},
            rejected=1,
            reject_reasons={"INSUFFICIENT_FUNDS": 1},
            fills=2,
            operations=9,
            failures=1,
            errors=["BTC-USD: quote failed"],
            signals={"BTC-USD": "BUY", "ETH-USD": "SELL"},
        ),
        now=NOW,
    )
    metrics.observe_cycle(
        report(cycle=8, submitted=1, dry_run=2, fills=1, operations=4, signals={"X-USD": "BUY"}),
        now=NOW + timedelta(seconds=5),
    )
    metrics.observe_crash()
    s = parse(metrics.render())
    assert value(s, "perps_bot_orders_total", outcome="submitted", reason="none") == 3
    assert value(s, "perps_bot_orders_total", outcome="blocked", reason="kill_switch") == 2
    assert value(s, "perps_bot_orders_total", outcome="blocked", reason="sizing") == 1
    assert value(s, "perps_bot_orders_total", outcome="rejected", reason="INSUFFICIENT_FUNDS") == 1
    assert value(s, "perps_bot_orders_total", outcome="dry_run", reason="none") == 2
    assert value(s, "perps_bot_fills_total") == 3
    assert value(s, "perps_bot_operations_total") == 13
    assert value(s, "perps_bot_operation_failures_total") == 1
    assert value(s, "perps_bot_signals_total", action="buy") == 2
    assert value(s, "perps_bot_signals_total", action="sell") == 1
    assert value(s, "perps_bot_cycles_total", result="ok") == 1
    assert value(s, "perps_bot_cycles_total", result="error") == 1
    assert value(s, "perps_bot_cycles_total", result="crashed") == 1
    assert value(s, "perps_bot_last_cycle_number") == 8
    assert value(s, "perps_bot_cycle_duration_seconds_count") == 2
    assert value(s, "perps_bot_cycle_duration_seconds_sum") == pytest.approx(0.0008)


@dataclass(slots=True)
class ExtendedReport(CycleReport):
    """A report with the optional per-outcome counts BotMetrics reads when a report has them."""

    orders_filled: int = 0
    orders_cancelled: int = 0
    orders_failed: int = 0
    open_orders: int | None = None


def test_order_outcomes_the_report_may_carry_are_counted(metrics: BotMetrics) -> None:
    base = report()
    fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
    extended = ExtendedReport(
        **fields, orders_filled=2, orders_cancelled=1, orders_failed=1, open_orders=4
    )
    metrics.observe_cycle(extended, now=NOW)
    s = parse(metrics.render())
    assert value(s, "perps_bot_orders_total", outcome="filled", reason="none") == 2
    assert value(s, "perps_bot_orders_total", outcome="cancelled", reason="none") == 1
    assert value(s, "perps_bot_orders_total", outcome="failed", reason="none") == 1
    assert value(s, "perps_bot_open_orders") == 4
    plain = parse(BotMetrics(process_metrics=False).render())
    assert not any(name == "perps_bot_open_orders" for name, _ in plain)


def test_market_data_age_keeps_growing_while_a_symbol_has_no_quote(metrics: BotMetrics) -> None:
    metrics.observe_cycle(report(), now=NOW)
    later = NOW + timedelta(seconds=30)
    metrics.observe_cycle(
        report(quote_ages={"ETH-USD": 0.5}, stale_symbols=["BTC-USD"]),
        now=later,
    )
    s = parse(metrics.render())
    assert value(s, "perps_bot_market_data_age_seconds", symbol="BTC-USD") == 30.5
    assert value(s, "perps_bot_market_data_age_seconds", symbol="ETH-USD") == 0.5
    assert value(s, "perps_bot_market_data_stale", symbol="BTC-USD") == 1
    assert value(s, "perps_bot_market_data_stale", symbol="ETH-USD") == 0


def test_guards_modes_and_broker_stats(metrics: BotMetrics) -> None:
    guards = [
        GuardResult(
            "daily_loss",
            GuardLevel.CRITICAL,
            Decimal("-0.021"),
            Decimal("-0.01"),
            Decimal("-0.02"),
            GuardAction.REDUCE_ONLY,
            "daily loss -2.1%",
        ),
        GuardResult(
            "error_rate", GuardLevel.OK, None, None, Decimal("0.25"), GuardAction.NONE, "fine"
        ),
    ]
    stats = BrokerStats(
        requests={
            ("/api/v3/brokerage/orders/historical/0f3c1d2e-aaaa-4bbb-8ccc-123456789abc", "200"): 2,
            ("/api/v3/brokerage/orders/historical/11111111-2222-3333-4444-555555555555", "200"): 3,
            ("/api/v3/brokerage/accounts?limit=250", "429"): 1,
        },
        rate_limit_remaining=12.0,
        feeds={
            "ticker": FeedStatus(True, NOW - timedelta(seconds=2), reconnects=1, gaps=2),
            "user": FeedStatus(False, None),
        },
    )
    metrics.observe_cycle(report(), now=NOW - timedelta(seconds=60))  # metrics start here
    metrics.observe_cycle(
        report(guards=guards, modes="kill-switch,halted"), now=NOW, broker_stats=stats
    )
    s = parse(metrics.render())
    assert value(s, "perps_bot_guard_level", guard="daily_loss") == 2
    assert value(s, "perps_bot_guard_level", guard="error_rate") == 0
    assert value(s, "perps_bot_guard_value", guard="daily_loss") == -0.021
    assert ("perps_bot_guard_value", frozenset({("guard", "error_rate")})) not in s
    assert value(s, "perps_bot_guard_threshold", guard="daily_loss", level="critical") == -0.02
    assert value(s, "perps_bot_mode_active", mode="kill_switch") == 1
    assert value(s, "perps_bot_mode_active", mode="reduce_only") == 0
    assert value(s, "perps_bot_mode_active", mode="halted") == 1
    orders = "/api/v3/brokerage/orders/historical/:id"
    assert value(s, "perps_bot_api_requests_total", endpoint=orders, status="200") == 5
    accounts = "/api/v3/brokerage/accounts"
    assert value(s, "perps_bot_api_requests_total", endpoint=accounts, status="429") == 1
    assert value(s, "perps_bot_api_rate_limit_remaining") == 12
    assert value(s, "perps_bot_websocket_connected", feed="ticker") == 1
    assert value(s, "perps_bot_websocket_connected", feed="user") == 0
    assert value(s, "perps_bot_websocket_last_message_age_seconds", feed="ticker") == 2
    # never a message: counted from when metrics started
    assert value(s, "perps_bot_websocket_last_message_age_seconds", feed="user") == 60
    assert value(s, "perps_bot_websocket_reconnects_total", feed="ticker") == 1
    assert value(s, "perps_bot_websocket_sequence_gaps_total", feed="ticker") == 2


def test_no_secret_and_no_unbounded_label_reaches_prometheus(metrics: BotMetrics) -> None:
    secret = "s3cr3t-api-key-value-0123"
    register_secret(secret)
    try:
        reasons = {f"venue says no #{i}": 1 for i in range(40)}
        reasons[f"bad key {secret}"] = 1
        reasons["x" * 300] = 1
        metrics.observe_cycle(report(rejected=len(reasons), reject_reasons=reasons), now=NOW)
        text = metrics.render().decode()
    finally:
        clear_registered_secrets()
    assert secret not in text
    s = parse(text)
    rejected = {
        dict(labels)["reason"]: v
        for (name, labels), v in s.items()
        if name == "perps_bot_orders_total" and dict(labels)["outcome"] == "rejected"
    }
    assert len(rejected) == 33  # 32 distinct reasons, then "other"
    assert rejected["other"] == 10
    assert sum(rejected.values()) == 42
    assert all(len(reason) <= 64 for reason in rejected)


def test_label_helpers() -> None:
    assert endpoint_label("/api/v3/brokerage/orders/historical/abc123456789?x=1") == (
        "/api/v3/brokerage/orders/historical/:id"
    )
    assert endpoint_label("/api/v3/brokerage/products/BTC-USD/candles") == (
        "/api/v3/brokerage/products/BTC-USD/candles"
    )
    assert label_value("a\nb") == "a b"
    assert modes_flags("normal") == (False, False, False)
    assert modes_flags("kill-switch,reduce-only") == (True, True, False)
    assert modes_flags("halted") == (False, False, True)


def test_naive_now_is_refused(metrics: BotMetrics) -> None:
    with pytest.raises(ValueError, match="aware"):
        metrics.observe_cycle(report(), now=datetime(2026, 3, 2, 12, 0))


def test_before_the_first_cycle_only_counters_and_build_info(metrics: BotMetrics) -> None:
    s = parse(metrics.render())
    assert value(s, "perps_bot_operations_total") == 0
    assert value(s, "perps_bot_cycles_total", result="ok") == 0
    assert "perps_bot_equity_usd" not in names(s)  # no made-up numbers before a cycle


def test_a_given_registry_is_used_without_process_collectors() -> None:
    registry = CollectorRegistry()
    metrics = BotMetrics(registry)
    metrics.observe_cycle(report(), now=NOW)
    from prometheus_client import generate_latest

    s = parse(generate_latest(registry))
    assert value(s, "perps_bot_equity_usd") == 99000.125
    assert "process_cpu_seconds_total" not in names(s)
    with pytest.raises(ValueError):  # one BotMetrics per registry: names would clash
        BotMetrics(registry)


def test_observing_does_not_import_prometheus_client() -> None:
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from trading_core.telemetry.metrics import BotMetrics\n"
        "m = BotMetrics(profile='dev')\n"
        "assert 'prometheus_client' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "ok"


def test_serve_answers_curl_and_passes_promtool_check_metrics(metrics: BotMetrics) -> None:
    tool = promtool()
    guard = GuardResult(
        "position_count",
        GuardLevel.OK,
        Decimal(2),
        Decimal(10),
        Decimal(20),
        GuardAction.NONE,
        "2 positions",
    )
    stats = BrokerStats(
        requests={("/api/v3/brokerage/best_bid_ask", "200"): 10},
        rate_limit_remaining=29,
        feeds={"ticker": FeedStatus(True, NOW)},
    )
    metrics.set_fee_rates(maker=Decimal("0.006"), taker=Decimal("0.012"), tier="Intro 1")
    metrics.observe_cycle(
        report(
            guards=[guard],
            blocked=1,
            block_reasons={"reduce_only": 1},
            signals={"BTC-USD": "SELL"},
        ),
        now=NOW,
        broker_stats=stats,
        open_orders=0,
    )
    port = metrics.serve(port=0)
    assert metrics.port == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        body = response.read()
    assert b"perps_bot_equity_usd 99000.125" in body
    check = subprocess.run(
        [tool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    with pytest.raises(RuntimeError):
        metrics.serve(port=0)
    metrics.shutdown()
    assert metrics.port is None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_serve_on_a_taken_port_raises_at_once(metrics: BotMetrics) -> None:
    other = BotMetrics(process_metrics=False)
    port = other.serve(port=0)
    try:
        with pytest.raises(OSError):
            metrics.serve(port=port)
    finally:
        other.shutdown()


def test_write_snapshot_is_atomic_and_throttled(metrics: BotMetrics, tmp_path: Path) -> None:
    from trading_core.telemetry.snapshot import read_snapshot

    path = tmp_path / "m" / "metrics.prom"
    metrics.observe_cycle(report(), now=NOW)
    assert metrics.write_snapshot(path, written_at=1000.0)
    snap = read_snapshot(path)
    assert snap.written_at == 1000.0 and snap.cycle == 7
    assert value(parse(snap.body), "perps_bot_equity_usd") == 99000.125
    assert not metrics.write_snapshot(path, min_interval_s=3600, written_at=2000.0)
    assert read_snapshot(path).written_at == 1000.0
    assert [p.name for p in path.parent.iterdir()] == ["metrics.prom"]  # no temp files left


def test_reconciliations_are_counted_and_a_breach_stands_until_the_next_good_one(
    metrics: BotMetrics,
) -> None:
    def sample(name: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {
            tuple(sorted(labels)): v
            for (n, labels), v in parse(metrics.render()).items()
            if n == name
        }

    assert sample("perps_bot_reconciliation_breach") == {}  # not judged yet: no sample
    metrics.observe_reconcile(breach=True, now=NOW)
    metrics.observe_reconcile(breach=None, now=NOW)  # unreadable: the breach stands
    assert sample("perps_bot_reconciliation_breach") == {(): 1.0}
    metrics.observe_reconcile(breach=False, now=NOW)
    assert sample("perps_bot_reconciliation_breach") == {(): 0.0}
    assert sample("perps_bot_reconciliations_total") == {
        (("result", "ok"),): 1.0,
        (("result", "breach"),): 1.0,
        (("result", "unreadable"),): 1.0,
    }
    assert sample("perps_bot_last_reconciliation_timestamp_seconds") == {(): NOW.timestamp()}
