#!/usr/bin/env python3
"""Benchmark: run_cycle latency on the paper broker, and the wall time of a --dev-fast run.

Prints one JSON document. Not a test: figures vary with the machine; compare them over time.
    .venv/bin/python bench/cycle.py [--cycles 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.brokers.paper import PaperBroker  # noqa: E402
from trading_core.clock import VirtualClock  # noqa: E402
from trading_core.config import TOP_TEN_USD, load_settings  # noqa: E402
from trading_core.cycle import TradingContext, run_cycle  # noqa: E402
from trading_core.store.event_store import EventStore  # noqa: E402

logging.getLogger().addHandler(logging.NullHandler())  # no lastResort lines on stderr


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def cycle_latency(
    symbols: list[str], cycles: int, scenario: str, *, guards: bool = True
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            "dev",
            cli={"symbols": symbols, "data_dir": tmp, "sim": {"scenario": scenario}},
            environ={},
            dotenv_path=None,
        )
        from datetime import UTC, datetime

        clock = VirtualClock(datetime(2026, 1, 5, tzinfo=UTC))
        broker = PaperBroker.open(
            settings.paper_state_path,
            symbols=symbols,
            scenario=scenario,
            seed=7,
            clock=clock,
            starting_balances={"USD": settings.sim.starting_cash},
        )
        store = EventStore(settings.store_path)
        ctx = TradingContext.build(settings, broker, store)
        if not guards:
            ctx.guards.guards = []  # to measure what the runtime guards cost per cycle
        gc.collect()
        gc.freeze()  # as the runner does: start-up objects out of the collector's way
        durations: list[float] = []
        trading: list[bool] = []
        orders = 0
        for _ in range(cycles):
            clock.advance(settings.interval_seconds)
            # the simulated exchange lives through the interval before the cycle starts (its
            # price walk is the venue's work, not the bot's latency)
            broker.server_time()
            t0 = time.perf_counter()
            report = run_cycle(ctx, clock)
            durations.append(time.perf_counter() - t0)
            trading.append(bool(report.submitted or report.fills or report.blocked))
            orders += report.submitted
            if report.cycle % 20 == 0:
                store.checkpoint()  # as the runner does, between cycles
        store.close()
    ms = [d * 1000 for d in durations[20:]]  # skip the first cycles (caches filling)
    quiet = [d for d, t in zip(ms, trading[20:], strict=True) if not t]
    active = [d for d, t in zip(ms, trading[20:], strict=True) if t]

    def figures(values: list[float]) -> dict[str, float]:
        if not values:
            return {"cycles": 0}
        return {
            "cycles": len(values),
            "p50_ms": round(percentile(values, 50), 4),
            "p90_ms": round(percentile(values, 90), 4),
            "p99_ms": round(percentile(values, 99), 4),
            "max_ms": round(max(values), 4),
        }

    return {
        "symbols": len(symbols),
        "orders": orders,
        "all_cycles": figures(ms),
        "cycles_without_orders": figures(quiet),
        "cycles_with_orders": figures(active),
    }


def dev_fast_wall(runs: int) -> dict[str, float]:
    exe = Path(sys.executable).with_name("perps-bot")
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PERPS_DATA_DIR": f"{tmp}/data", "PERPS_LOG_DIR": f"{tmp}/logs"}
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(
                [str(exe), "run", "--profile", "dev", "--dev-fast", "--quiet"],
                check=True,
                env=env,
                cwd=tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - t0)
    return {
        "runs": runs,
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "first_run_s": round(times[0], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scenario", default="calm")
    args = parser.parse_args()
    ten = list(TOP_TEN_USD)
    with_guards = cycle_latency(ten, args.cycles, args.scenario)
    without = cycle_latency(ten, args.cycles, args.scenario, guards=False)
    p50_with = with_guards["cycles_without_orders"]["p50_ms"]  # type: ignore[index]
    p50_without = without["cycles_without_orders"]["p50_ms"]  # type: ignore[index]
    result = {
        "benchmark": "cycle",
        "python": sys.version.split()[0],
        "run_cycle_10_symbols": with_guards,
        "guard_overhead_10_symbols": {
            "p50_ms_with_guards": p50_with,
            "p50_ms_without_guards": p50_without,
            "overhead_ms": round(p50_with - p50_without, 4),
        },
        "run_cycle_100_symbols": cycle_latency(
            [f"S{i:03d}-USD" for i in range(100)], max(200, args.cycles // 4), args.scenario
        ),
        "dev_fast_wall": dev_fast_wall(args.runs),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
