#!/usr/bin/env python3
"""Soak: the trading loop over a long simulated session on the virtual clock.

Reports RSS, store size and run_cycle latency at regular points, so memory growth and latency
drift show. Prints one JSON document.
    .venv/bin/python bench/soak.py [--days 7] [--interval 5] [--points 8]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.brokers.paper import PaperBroker  # noqa: E402
from trading_core.clock import VirtualClock  # noqa: E402
from trading_core.config import load_settings  # noqa: E402
from trading_core.cycle import TradingContext, run_cycle  # noqa: E402
from trading_core.store.event_store import EventStore  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--points", type=int, default=8)
    args = parser.parse_args()
    logging.getLogger().addHandler(logging.NullHandler())
    cycles = int(args.days * 86400 / args.interval)
    every = max(cycles // args.points, 1)
    points = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            "dev",
            cli={"data_dir": tmp, "interval_seconds": args.interval},
            environ={},
            dotenv_path=None,
        )
        clock = VirtualClock(datetime(2026, 1, 5, tzinfo=UTC))
        broker = PaperBroker.open(
            settings.paper_state_path,
            symbols=list(settings.symbols),
            clock=clock,
            starting_balances={"USD": settings.sim.starting_cash},
        )
        store = EventStore(settings.store_path)
        ctx = TradingContext.build(settings, broker, store)
        window: list[float] = []
        orders = 0
        started = time.perf_counter()
        for i in range(1, cycles + 1):
            clock.advance(args.interval)
            broker.server_time()  # the venue's own time passing is not the bot's latency
            t0 = time.perf_counter()
            report = run_cycle(ctx, clock)
            window.append((time.perf_counter() - t0) * 1000)
            orders += report.submitted
            if i % 20 == 0:
                store.checkpoint()
            if i % every == 0 or i == cycles:
                window.sort()
                points.append(
                    {
                        "cycle": i,
                        "simulated_days": round(i * args.interval / 86400, 2),
                        "rss_mib": round(rss_mib(), 1),
                        "store_mib": round(settings.store_path.stat().st_size / 2**20, 1),
                        "p50_ms": round(window[len(window) // 2], 4),
                        "p99_ms": round(window[int(len(window) * 0.99)], 4),
                        "orders_so_far": orders,
                    }
                )
                window = []
        wall = time.perf_counter() - started
        store.close()
    print(
        json.dumps(
            {
                "benchmark": "soak",
                "cycles": cycles,
                "interval_s": args.interval,
                "wall_s": round(wall, 1),
                "points": points,
                "rss_growth_mib": round(points[-1]["rss_mib"] - points[0]["rss_mib"], 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
