"""`perps-bot dashboard`: the live terminal dashboard (the same as scripts/perps_dashboard.py).

rich and the dashboard are imported inside the handler, so building the CLI parser stays cheap."""

from __future__ import annotations

import argparse
from typing import Any


def run_dashboard(args: argparse.Namespace) -> int:
    from ..telemetry.dashboard import run

    return run(args)


def register(subparsers: Any) -> None:
    """Hook for trading_core.cli.main.COMMAND_MODULES."""
    parser = subparsers.add_parser(
        "dashboard",
        help="live terminal dashboard (EventStore + health.json, read-only)",
        description="Live terminal dashboard: health, equity and daily PnL, positions, guards "
        "and modes, order rates, market data ages, the last events.",
    )
    from ..telemetry.dashboard_args import add_arguments

    add_arguments(parser)
    parser.set_defaults(handler=run_dashboard)
