#!/usr/bin/env python3
"""Benchmark: what telemetry costs. Prints one JSON document (figures vary with the machine).

- observe_cycle per cycle, measured on a real paper session beside run_cycle (10 symbols), and
  its share of the cycle time (target: under 2%);
- render() and write_snapshot() (a scrape, and the per-cycle snapshot file), and the one-time
  cost of importing prometheus_client;
- the dashboard's frame time on a store of 1,000,000 events (first frame, then refreshes).

    .venv/bin/python bench/metrics.py [--cycles 2000] [--events 1000000]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.brokers.base import BrokerStats, FeedStatus  # noqa: E402
from trading_core.brokers.paper import PaperBroker  # noqa: E402
from trading_core.clock import VirtualClock  # noqa: E402
from trading_core.config import TOP_TEN_USD, load_settings  # noqa: E402
from trading_core.cycle import CycleReport, TradingContext, run_cycle  # noqa: E402
from trading_core.store.event_store import EventStore  # noqa: E402
from trading_core.telemetry.metrics import BotMetrics  # noqa: E402

logging.getLogger().addHandler(logging.NullHandler())
START = datetime(2026, 1, 5, tzinfo=UTC)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def us(values: list[float]) -> dict[str, float]:
    return {
        "p50_us": round(percentile(values, 50) * 1e6, 2),
        "p90_us": round(percentile(values, 90) * 1e6, 2),
        "p99_us": round(percentile(values, 99) * 1e6, 2),
    }


def broker_stats(now: datetime) -> BrokerStats:
    """What a Coinbase adapter might report: 20 endpoint/status pairs, three feeds."""
    requests = {
        (f"/api/v3/brokerage/endpoint{i}", status): 100 * i
        for i in range(10)
        for status in ("200", "429")
    }
    feeds = {
        name: FeedStatus(True, now - timedelta(seconds=1)) for name in ("ticker", "user", "l2")
    }
    return BrokerStats(requests=requests, rate_limit_remaining=25, feeds=feeds)


def session(cycles: int) -> tuple[list[CycleReport], list[float], list[float], BotMetrics]:
    """A paper session: run_cycle then observe_cycle each cycle, both timed."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            "dev",
            cli={"symbols": list(TOP_TEN_USD), "data_dir": tmp, "sim": {"scenario": "calm"}},
            environ={},
            dotenv_path=None,
        )
        clock = VirtualClock(START)
        broker = PaperBroker.open(
            settings.paper_state_path,
            symbols=list(TOP_TEN_USD),
            scenario="calm",
            seed=7,
            clock=clock,
            starting_balances={"USD": settings.sim.starting_cash},
        )
        store = EventStore(settings.store_path)
        ctx = TradingContext.build(settings, broker, store)
        metrics = BotMetrics(profile="dev", broker="paper")
        gc.collect()
        gc.freeze()
        cycle_s: list[float] = []
        observe_s: list[float] = []
        reports = []
        for _ in range(cycles):
            clock.advance(settings.interval_seconds)
            broker.server_time()
            t0 = time.perf_counter()
            report = run_cycle(ctx, clock)
            t1 = time.perf_counter()
            metrics.observe_cycle(report, now=report.started_at)
            t2 = time.perf_counter()
            cycle_s.append(t1 - t0)
            observe_s.append(t2 - t1)
            reports.append(report)
            if report.cycle % 20 == 0:
                store.checkpoint()
        store.close()
        gc.unfreeze()
    return reports, cycle_s[20:], observe_s[20:], metrics


def tight_loop(reports: list[CycleReport], stats: BrokerStats | None, rounds: int) -> float:
    """Mean seconds per observe_cycle over many calls (timer overhead amortised)."""
    metrics = BotMetrics()
    n = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for report in reports:
            metrics.observe_cycle(report, now=report.started_at, broker_stats=stats)
            n += 1
    return (time.perf_counter() - t0) / n


def exposition(metrics: BotMetrics, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metrics.prom"
        metrics.render()  # first call builds the registry
        render = []
        for _ in range(runs):
            t0 = time.perf_counter()
            body = metrics.render()
            render.append(time.perf_counter() - t0)
        snap = []
        for _ in range(runs):
            t0 = time.perf_counter()
            metrics.write_snapshot(path)
            snap.append(time.perf_counter() - t0)
        size = path.stat().st_size
    return {
        "render_p50_ms": round(statistics.median(render) * 1000, 3),
        "write_snapshot_p50_ms": round(statistics.median(snap) * 1000, 3),
        "exposition_bytes": len(body),
        "snapshot_bytes": size,
        "samples": sum(1 for line in body.decode().splitlines() if not line.startswith("#")),
    }


def import_cost(runs: int = 5) -> dict[str, float]:
    def wall(code: str) -> float:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    base = wall("import trading_core.telemetry.metrics")
    full = wall("import trading_core.telemetry.metrics, trading_core.telemetry.metrics_collector")
    return {"prometheus_client_import_ms": round((full - base) * 1000, 1)}


# ---------------------------------------------------------------------- dashboard on 1M events

EVENT_MIX = (
    ["cycle"] * 70
    + ["decision"] * 6
    + ["order_submitted"] * 4
    + ["order_filled"] * 4
    + ["fill"] * 4
    + ["risk_block"] * 5
    + ["data_quality"] * 4
    + ["error"] * 2
    + ["guard"]
)


def build_store(path: Path, events: int, fills: int) -> float:
    """A store of ``events`` events (several per five-second cycle), plus ``fills`` fills (round
    trips, the last one of each symbol open) and their orders."""
    t0 = time.perf_counter()
    EventStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    marks = {s: "100.5" for s in TOP_TEN_USD}
    cycle_payload = json.dumps(
        {
            "equity": "100123.45",
            "daily_pnl": "123.45",
            "daily_pnl_pct": "0.001235",
            "realized_pnl": "10.00",
            "unrealized_pnl": "113.45",
            "fees": "12.00",
            "exposure": "25000.00",
            "open_positions": 5,
            "operations": 13,
            "failures": 0,
            "modes": "normal",
            "guards": {"daily_loss": "ok:0.001235", "position_count": "ok:5"},
            "state": {"cycle": 1, "last_mid": marks},
        },
        separators=(",", ":"),
    )
    begin = START - timedelta(seconds=events)  # several events per five-second cycle

    def ts(i: int) -> str:
        return (begin + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    rows = (
        (
            ts(i),
            EVENT_MIX[i % len(EVENT_MIX)],
            "info",
            None if EVENT_MIX[i % len(EVENT_MIX)] == "cycle" else TOP_TEN_USD[i % 10],
            i // 5,
            f"{EVENT_MIX[i % len(EVENT_MIX)]} {i}",
            cycle_payload if EVENT_MIX[i % len(EVENT_MIX)] == "cycle" else None,
        )
        for i in range(events)
    )
    conn.executemany(
        "INSERT INTO events (ts, type, severity, symbol, cycle, message, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    step = max(1, events // max(fills, 1))
    fill_rows = []
    order_rows = []
    for n in range(fills):
        symbol = TOP_TEN_USD[n % 10]
        # round trips per symbol (buy 1, buy 1, sell 2: flat again), as the strategy trades;
        # the last trip of each symbol is left open
        side = "SELL" if (n // 10) % 3 == 2 else "BUY"
        size = "2" if side == "SELL" else "1"
        when = ts(n * step)
        fill_rows.append(
            (f"f{n}", f"o{n}", f"c{n}", symbol, side, "100", size, "0.1", "TAKER", when)
        )
        order_rows.append(
            (
                f"c{n}",
                f"o{n}",
                symbol,
                side,
                "MARKET",
                "IOC",
                "FILLED",
                "1",
                None,
                "1",
                "100",
                "0.1",
                "100",
                None,
                None,
                None,
                None,
                0,
                side == "SELL",
                None,
                when,
                when,
                None,
            )
        )
    conn.executemany("INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", fill_rows)
    conn.executemany("INSERT INTO orders VALUES (" + ", ".join("?" * 23) + ")", order_rows)
    conn.commit()
    conn.close()
    return time.perf_counter() - t0


def _frames(path: Path, refreshes: int) -> dict[str, float]:
    from rich.console import Console

    from trading_core.telemetry.dashboard import render_frame
    from trading_core.telemetry.dashboard_data import DashboardSource

    console = Console(file=io.StringIO(), width=160, color_system=None)
    window = timedelta(minutes=15)
    times: list[float] = []
    queries: list[float] = []
    with DashboardSource(path, path.parent / "health.json") as source:
        for _ in range(1 + refreshes):
            t0 = time.perf_counter()
            data = source.collect(START, window, wall=START.timestamp())
            t1 = time.perf_counter()
            console.print(render_frame(data, wall_now=START, width=160))
            times.append(time.perf_counter() - t0)
            queries.append(t1 - t0)
    assert data.last_cycle is not None and len(data.recent) == 12 and data.positions
    return {
        "first_frame_ms": round(times[0] * 1000, 1),
        "first_frame_queries_ms": round(queries[0] * 1000, 1),
        "refresh_frame_p50_ms": round(statistics.median(times[1:]) * 1000, 1),
        "refresh_frame_max_ms": round(max(times[1:]) * 1000, 1),
        "refresh_queries_p50_ms": round(statistics.median(queries[1:]) * 1000, 1),
    }


def dashboard_frames(events: int, fills: int, refreshes: int) -> dict[str, object]:
    """Frame times on a big store: positions rebuilt from the fills (what the bot's cycle events
    allow today), then with the books carried in the newest cycle event."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        built = build_store(path, events, fills)
        size_mb = path.stat().st_size / 1e6
        replay = _frames(path, refreshes)
        with EventStore(path) as store:
            positions = {
                s: {
                    "quantity": str(p.quantity),
                    "avg_entry_price": str(p.avg_entry_price),
                    "realized_pnl": str(p.realized_pnl),
                    "fees": str(p.fees),
                }
                for s, p in store.positions().items()
                if not p.is_flat
            }
            last = store.last_event("cycle")
            assert last is not None
            store.append_event(
                "cycle", ts=START, cycle=events, payload={**last.payload, "positions": positions}
            )
        carried = _frames(path, refreshes)
    return {
        "events": events,
        "fills": fills,
        "store_mb": round(size_mb, 1),
        "build_s": round(built, 2),
        "positions_from_fills": replay,
        "positions_in_cycle_event": carried,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--fills", type=int, default=5_000)
    parser.add_argument("--refreshes", type=int, default=5)
    args = parser.parse_args()

    reports, cycle_s, observe_s, metrics = session(args.cycles)
    stats = broker_stats(START)
    mean_plain = tight_loop(reports, None, 20)
    mean_stats = tight_loop(reports, stats, 20)
    cycle_p50 = percentile(cycle_s, 50)
    observe_p50 = percentile(observe_s, 50)
    result = {
        "benchmark": "metrics",
        "python": sys.version.split()[0],
        "observe_cycle_10_symbols": {
            "cycles": len(observe_s),
            "in_session": us(observe_s),
            "tight_loop_mean_us": round(mean_plain * 1e6, 2),
            "tight_loop_mean_with_broker_stats_us": round(mean_stats * 1e6, 2),
            "run_cycle_p50_us": round(cycle_p50 * 1e6, 1),
            "share_of_run_cycle_p50_pct": round(observe_p50 / cycle_p50 * 100, 2),
        },
        "exposition": exposition(metrics, 50),
        "import": import_cost(),
        "dashboard": dashboard_frames(args.events, args.fills, args.refreshes),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
