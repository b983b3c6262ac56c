"""The dashboard's command-line options and where a profile's files are (stdlib only, so that
`perps-bot` can register the `dashboard` subcommand without importing rich)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..argtypes import positive_int, positive_number

DEFAULT_DATA_DIR = Path("var/data/perps_bot")
DEFAULT_PROFILE = "dev"
PROFILE_ENV = "PERPS_PROFILE"
DATA_DIR_ENV = "PERPS_DATA_DIR"
#: telemetry.snapshot.SNAPSHOT_NAME (repeated here: building the CLI parser imports only this)
SNAPSHOT_NAME = "metrics.prom"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--profile, --data-dir, --refresh, --window-min, --events, --metrics-file, --once."""
    parser.add_argument("--profile", help=f"profile to watch (default: ${PROFILE_ENV} or dev)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help=f"store root: DATA_DIR/PROFILE/events.db (default: ${DATA_DIR_ENV} or "
        f"{DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--refresh",
        type=positive_number,
        default=5.0,
        metavar="S",
        help="seconds between frames (default 5)",
    )
    parser.add_argument(
        "--window-min",
        type=positive_number,
        default=15.0,
        metavar="M",
        help="minutes of order activity to count (default 15)",
    )
    parser.add_argument(
        "--events",
        type=positive_int,
        default=12,
        metavar="N",
        help="show the last N events (default 12)",
    )
    parser.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help=f"the bot's metrics snapshot (default: {SNAPSHOT_NAME} beside the store)",
    )
    parser.add_argument("--once", action="store_true", help="print one frame and exit")


def profile_dir(args: argparse.Namespace) -> Path:
    """DATA_DIR/PROFILE: where the profile's events.db, health.json and metrics.prom live."""
    profile = getattr(args, "profile", None) or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    data_dir = getattr(args, "data_dir", None) or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(data_dir) / profile


__all__ = ["SNAPSHOT_NAME", "add_arguments", "profile_dir"]
