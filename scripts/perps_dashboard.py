#!/usr/bin/env python3
"""The live terminal dashboard (reads the EventStore and health.json; never writes).

python scripts/perps_dashboard.py --profile dev [--refresh 5] [--window-min 15] [--once]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trading_core.telemetry.dashboard import main

if __name__ == "__main__":
    raise SystemExit(main(prog="perps_dashboard.py"))
