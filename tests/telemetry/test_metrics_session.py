"""A simulated session, in process: every cycle's report goes to BotMetrics; at the end the numbers
/metrics gives (directly, and through the snapshot file and the standalone exporter) equal the
numbers the store holds."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from trading_core.brokers.paper import PaperBroker
from trading_core.clock import VirtualClock
from trading_core.config import load_settings
from trading_core.cycle import CycleReport, TradingContext, run_cycle
from trading_core.store.event_store import EventStore
from trading_core.telemetry.metrics import BotMetrics

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CYCLES = 400
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Session:
    store: EventStore
    metrics: BotMetrics
    reports: list[CycleReport]
    snapshot: Path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp = tmp_path_factory.mktemp("session")
    settings = load_settings(
        "dev",
        cli={"data_dir": tmp / "data", "log_dir": tmp / "logs", "sim": {"scenario": "trend"}},
        environ={},
        dotenv_path=None,
    )
    clock = VirtualClock(START)
    broker = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        scenario=settings.sim.scenario,
        seed=settings.sim.seed,
        clock=clock,
        starting_balances={"USD": settings.sim.starting_cash},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store)
    metrics = BotMetrics(profile=settings.profile, broker=broker.name)
    metrics.set_fee_rates(maker=settings.sim.maker_fee, taker=settings.sim.taker_fee)
    reports = []
    for _ in range(CYCLES):
        clock.advance(settings.interval_seconds)
        report = run_cycle(ctx, clock)
        reports.append(report)
        open_orders = len(store.list_orders(open_only=True))
        metrics.observe_cycle(report, now=report.started_at, open_orders=open_orders)
    snapshot = settings.profile_dir / "metrics.prom"
    metrics.write_snapshot(snapshot)
    yield Session(store, metrics, reports, snapshot)
    store.close()


def parse(text: bytes | str) -> Samples:
    if isinstance(text, bytes):
        text = text.decode()
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for (n, k), v in samples.items() if n == name}


def one(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def store_figures(store: EventStore) -> dict[str, Any]:
    """The figures an operator would read from the store for the same session."""
    cycles = store.events("cycle", limit=CYCLES * 2)
    last = cycles[-1].payload
    submitted = store.events("order_submitted", limit=100_000)
    marks = {s: Decimal(v) for s, v in last["state"]["last_mid"].items()}
    positions = {s: p for s, p in store.positions().items() if not p.is_flat}
    return {
        "cycles": len(cycles),
        "last_cycle": cycles[-1].cycle,
        "last_cycle_ts": cycles[-1].ts.timestamp(),
        "equity": Decimal(last["equity"]),
        "daily_pnl": Decimal(last["daily_pnl"]),
        "daily_pnl_pct": Decimal(last["daily_pnl_pct"]),
        "realized": Decimal(last["realized_pnl"]),
        "unrealized": Decimal(last["unrealized_pnl"]),
        "fees": Decimal(last["fees"]),
        "exposure": Decimal(last["exposure"]),
        "open_positions": last["open_positions"],
        "positions": len(positions),
        "exposures": {s: abs(p.quantity) * marks[s] for s, p in positions.items()},
        "operations": sum(e.payload["operations"] for e in cycles),
        "failures": sum(e.payload["failures"] for e in cycles),
        "fills": len(store.list_fills()),
        "fill_events": store.count_events("fill"),
        "submitted": sum(1 for e in submitted if e.payload.get("status") != "REJECTED"),
        "rejected": store.count_events("order_rejected")
        + sum(1 for e in submitted if e.payload.get("status") == "REJECTED"),
        "open_orders": len(store.list_orders(open_only=True)),
        "guards": {name: text.partition(":") for name, text in (last.get("guards") or {}).items()},
        "modes": last["modes"],
    }


def assert_metrics_equal_store(samples: Samples, figures: dict[str, Any]) -> None:
    cent = 0.005 + 1e-9  # the cycle event stores money rounded to cents
    assert sum(by_label(samples, "perps_bot_cycles_total", "result").values()) == figures["cycles"]
    assert one(samples, "perps_bot_last_cycle_number") == figures["last_cycle"]
    assert one(samples, "perps_bot_last_cycle_timestamp_seconds") == figures["last_cycle_ts"]
    for metric, key in (
        ("perps_bot_equity_usd", "equity"),
        ("perps_bot_daily_pnl_usd", "daily_pnl"),
        ("perps_bot_realized_pnl_usd", "realized"),
        ("perps_bot_unrealized_pnl_usd", "unrealized"),
        ("perps_bot_fees_usd", "fees"),
        ("perps_bot_gross_exposure_usd", "exposure"),
    ):
        assert abs(one(samples, metric) - float(figures[key])) <= cent, metric
    assert one(samples, "perps_bot_daily_pnl_ratio") == pytest.approx(
        float(figures["daily_pnl_pct"]), abs=5e-7
    )
    assert one(samples, "perps_bot_positions_open") == figures["open_positions"]
    assert figures["open_positions"] == figures["positions"]  # the venue's and the books agree
    exposures = {
        s: v for s, v in by_label(samples, "perps_bot_exposure_usd", "symbol").items() if v
    }
    assert exposures.keys() == figures["exposures"].keys()
    for symbol, notional in figures["exposures"].items():
        assert exposures[symbol] == pytest.approx(float(notional), rel=1e-9), symbol
    assert one(samples, "perps_bot_operations_total") == figures["operations"]
    assert one(samples, "perps_bot_operation_failures_total") == figures["failures"]
    assert one(samples, "perps_bot_fills_total") == figures["fills"] == figures["fill_events"]
    orders = {
        (dict(k)["outcome"]): v for (n, k), v in samples.items() if n == "perps_bot_orders_total"
    }
    assert orders.get("submitted", 0) == figures["submitted"]
    assert (
        sum(
            v
            for (n, k), v in samples.items()
            if n == "perps_bot_orders_total" and dict(k)["outcome"] == "rejected"
        )
        == figures["rejected"]
    )
    assert one(samples, "perps_bot_open_orders") == figures["open_orders"]
    levels = by_label(samples, "perps_bot_guard_level", "guard")
    values = by_label(samples, "perps_bot_guard_value", "guard")
    assert levels.keys() == figures["guards"].keys()
    for name, (level, _, text) in figures["guards"].items():
        assert levels[name] == {"ok": 0, "warning": 1, "critical": 2}[level], name
        if text:
            assert values[name] == pytest.approx(float(Decimal(text)), rel=1e-12), name
    modes = by_label(samples, "perps_bot_mode_active", "mode")
    active = {m for m, v in modes.items() if v}
    expected = {m.replace("-", "_") for m in figures["modes"].split(",") if m != "normal"}
    assert active == expected


def test_the_session_traded(session: Session) -> None:
    assert sum(r.fills for r in session.reports) > 0
    assert sum(r.submitted for r in session.reports) > 0
    assert session.reports[-1].open_positions > 0


def test_metrics_equal_the_store(session: Session) -> None:
    samples = parse(session.metrics.render())
    assert_metrics_equal_store(samples, store_figures(session.store))


def test_exporter_serves_the_same_numbers_from_the_snapshot(session: Session) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts/monitoring/export_metrics.py"),
            "--metrics-file",
            str(session.snapshot),
            "--port",
            "0",
            "--stale-after",
            "3600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", line)
        assert match, f"no serving line: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        url = f"http://localhost:{match[1]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    samples = parse(body)
    assert one(samples, "perps_bot_snapshot_up") == 1
    assert_metrics_equal_store(samples, store_figures(session.store))
