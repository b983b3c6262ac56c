#!/usr/bin/env python3
"""Benchmark: the reviews. A 2000-cycle simulated session, then the weekly, monthly and
quarterly reviews over it; the quarterly one replays the full 20-set parameter grid (MA windows x
trailing stop) through the trading_core Bot over the Kraken 5-minute BTC-USD fixture (1137 bars).

Prints one JSON document. Not a test: figures vary with the machine.
    .venv/bin/python bench/reviews.py [--cycles 2000] [--grid-size 20] [--grid-cycles N]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.config import load_settings  # noqa: E402
from trading_core.jsonutil import to_jsonable  # noqa: E402
from trading_core.maintenance.reviews import default_grid, run_review  # noqa: E402
from trading_core.runner import Bot, RunOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--grid-size", type=int, default=20)
    parser.add_argument("--grid-cycles", type=int, default=None, help="default: every bar")
    args = parser.parse_args()
    logging.getLogger("trading_core").addHandler(logging.NullHandler())
    work = Path(tempfile.mkdtemp(prefix="bench-reviews-"))
    settings = load_settings(
        "dev",
        cli={
            "data_dir": work / "data",
            "log_dir": work / "logs",
            "strategy": {"bar_seconds": 60},
            "sim": {"maker_fee": "0.0004", "taker_fee": "0.0008"},
        },
        environ={},
        dotenv_path=None,
    )
    started = time.perf_counter()
    Bot(settings, RunOptions(max_cycles=args.cycles, fast_forward=True)).run()
    session_s = time.perf_counter() - started
    out: dict[str, object] = {"session_cycles": args.cycles, "session_s": round(session_s, 2)}
    for kind in ("weekly", "monthly", "quarterly"):
        started = time.perf_counter()
        review = run_review(
            kind,
            settings.store_path,
            reports_dir=work / "reports",
            settings=settings,
            grid=default_grid(args.grid_size),
            grid_cycles=args.grid_cycles,
        )
        out[f"{kind}_s"] = round(time.perf_counter() - started, 2)
        if kind == "quarterly":
            grid = review.metrics["grid"]
            runs = [r["seconds"] for r in review.tables["grid"]]
            out["grid"] = {
                "candidates": grid["candidates"],
                "cycles_each": review.tables["grid"][0]["cycles"],
                "seconds": grid["seconds"],
                "per_candidate_s": round(sum(runs) / len(runs), 3),
                "best": grid["best"],
            }
            out["report"] = str(review.markdown_path)
    print(json.dumps(to_jsonable(out), indent=2))


if __name__ == "__main__":
    main()
