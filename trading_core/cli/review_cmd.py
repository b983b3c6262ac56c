"""`perps-bot review weekly|monthly|quarterly`: the runbook's reviews from the EventStore.

    perps-bot review weekly [--since 7d|ISO] [--until ISO] [--profile P] [--reports-dir DIR]
    perps-bot review quarterly [--market-data CSV] [--grid-size N] [--grid-cycles N]

Writes review_<kind>_<profile>_<stamp>.md/.png/.json under var/reports and prints the summary.
Nothing is applied: the quarterly grid only reports candidates."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    review = subparsers.add_parser("review", help="weekly, monthly, quarterly reviews")
    review.add_argument("kind", choices=("weekly", "monthly", "quarterly"))
    review.add_argument("--profile", default=None, help="default: $PERPS_PROFILE or dev")
    review.add_argument("--data-dir", type=Path, default=None, help="default var/data/perps_bot")
    review.add_argument("--since", help="window start: ISO time or a span back (7d, 30d)")
    review.add_argument("--until", help="window end (ISO time; default: after the last event)")
    review.add_argument("--reports-dir", type=Path, default=Path("var/reports"))
    review.add_argument("--market-data", type=Path, help="quarterly grid: candle CSV to replay")
    review.add_argument("--grid-size", type=int, default=20, help="quarterly: parameter sets")
    review.add_argument("--grid-cycles", type=int, default=None, help="quarterly: cycles per set")
    review.add_argument("--json", action="store_true", help="the figures as one JSON document")
    review.set_defaults(handler=run_review_cmd)


def run_review_cmd(args: argparse.Namespace) -> int:
    from ..config import load_settings
    from ..errors import ConfigError
    from ..maintenance.reviews import default_grid, run_review
    from ..store.timespec import parse_since

    settings = load_settings(
        args.profile, cli={"data_dir": args.data_dir} if args.data_dir else None
    )
    now = datetime.now(UTC)
    since = parse_since(args.since, now) if args.since else None
    until = parse_since(args.until, now, option="--until") if args.until else None
    if not settings.store_path.is_file():
        raise ConfigError(f"--profile: no event store at {settings.store_path}")
    if args.market_data is not None and not args.market_data.is_file():
        raise ConfigError(f"--market-data: no such file: {args.market_data}")
    if not 1 <= args.grid_size <= 20:
        raise ConfigError(f"--grid-size: 1 to 20 (got {args.grid_size})")
    review = run_review(
        args.kind,
        settings.store_path,
        profile=settings.profile,
        since=since,
        until=until,
        reports_dir=args.reports_dir,
        settings=settings,
        market_data=args.market_data,
        grid=default_grid(args.grid_size),
        grid_cycles=args.grid_cycles,
        now=now,
    )
    if args.json:
        print(json.dumps(review.to_dict(), indent=2))
    else:
        perf = review.metrics["performance"]
        mdd = perf["max_drawdown_pct"]
        print(
            f"{args.kind} review {settings.profile}: {perf['cycles']} cycles, PnL {perf['pnl']}, "
            f"fees {perf['fees']}, {perf['trades']} trades, max drawdown "
            f"{'n/a' if mdd is None else format(mdd, '.2%')}"
        )
        if "grid" in review.metrics and review.metrics["grid"]["best"]:
            best = review.metrics["grid"]["best"]
            print(
                f"grid: {review.metrics['grid']['candidates']} sets in "
                f"{review.metrics['grid']['seconds']:.1f} s; best short {best['short_window']} "
                f"long {best['long_window']} trailing {best['trailing_stop_pct']}: "
                f"PnL {best['pnl']} (not applied)"
            )
        print(f"report {review.markdown_path}; chart {review.chart_path}")
    return 0
