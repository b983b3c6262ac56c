"""`perps-bot preflight --profile P [--json]` (and scripts/production_preflight.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "preflight", help="the morning checklist: READY/REVIEW/NOT READY"
    )
    parser.add_argument("--profile", default=None, help="default: $PERPS_PROFILE or dev")
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    parser.add_argument("--reports-dir", default="var/reports", help="where the report is written")
    parser.set_defaults(handler=run_preflight_cmd)


def run_preflight_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..config import load_settings
    from ..preflight import run_preflight

    settings = load_settings(args.profile)
    report = run_preflight(settings)
    path = report.write(Path(args.reports_dir))
    if args.json:
        print(json.dumps({**report.to_dict(), "report_path": str(path)}, indent=2, default=str))
    else:
        print(report.table())
        print(f"Report: {path}")
    return report.verdict.exit_code
