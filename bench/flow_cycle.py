#!/usr/bin/env python3
"""Benchmark: run_cycle's cost inside the trading-loop flow versus the plain Bot loop.

Both run the same fast-forward session (fresh paper exchange, fixed start) in this process; the
per-cycle time of run_cycle is measured by a wrapper around it. The flow run talks to the Prefect
API at PREFECT_API_URL, or starts Prefect's ephemeral server. Prints one JSON document.
    .venv/bin/python bench/flow_cycle.py [--cycles 2000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import trading_core.runner as runner_module  # noqa: E402

DURATIONS: list[float] = []
_real_run_cycle = runner_module.run_cycle


def _timed_run_cycle(ctx, clock):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    report = _real_run_cycle(ctx, clock)
    DURATIONS.append(time.perf_counter() - t0)
    return report


runner_module.run_cycle = _timed_run_cycle


def session(kind: str, cycles: int) -> dict[str, float]:
    DURATIONS.clear()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PERPS_DATA_DIR"] = f"{tmp}/data"
        os.environ["PERPS_LOG_DIR"] = f"{tmp}/logs"
        os.environ["SIM_START_TIME"] = "2026-03-02T12:00:00Z"
        t0 = time.perf_counter()
        if kind == "plain":
            from trading_core.config import load_settings
            from trading_core.runner import Bot, RunOptions

            Bot(load_settings("dev"), RunOptions(max_cycles=cycles, fast_forward=True)).run()
        else:
            from flows.trading_loop import trading_loop

            trading_loop(
                profile="dev", max_cycles=cycles, fast_forward=True, until_utc=None, metrics_port=0
            )
        wall = time.perf_counter() - t0
    ms = sorted(d * 1000 for d in DURATIONS[20:])
    return {
        "cycles": len(DURATIONS),
        "p50_ms": round(statistics.median(ms), 4),
        "p90_ms": round(ms[int(len(ms) * 0.9)], 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "session_wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()
    logging.getLogger().addHandler(logging.NullHandler())
    session("plain", 300)  # warm-up: imports, caches, the first SQLite files
    runs: dict[str, list[dict[str, float]]] = {"plain": [], "flow": []}
    for _ in range(2):  # interleaved, so drift on a shared machine hits both alike
        for kind in ("plain", "flow"):
            runs[kind].append(session(kind, args.cycles))

    def best(kind: str, key: str) -> float:
        return min(r[key] for r in runs[kind])

    result = {
        "benchmark": "flow_cycle",
        "plain_bot": runs["plain"],
        "under_flow": runs["flow"],
        "p50_difference_pct": round(
            (best("flow", "p50_ms") / best("plain", "p50_ms") - 1) * 100, 2
        ),
        "mean_difference_pct": round(
            (best("flow", "mean_ms") / best("plain", "mean_ms") - 1) * 100, 2
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
