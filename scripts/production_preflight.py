#!/usr/bin/env python3
"""The runbook's morning preflight: `python scripts/production_preflight.py --profile canary`.

Exit code: 0 READY, 1 REVIEW (warnings), 2 NOT READY (a check failed, or bad input)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trading_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["preflight", *sys.argv[1:]]))
