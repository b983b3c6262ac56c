#!/usr/bin/env python3
"""Serve the bot's metrics snapshot on /metrics (for a bot running elsewhere).

    python scripts/monitoring/export_metrics.py --metrics-file var/data/perps_bot/dev/metrics.prom \
        [--port 9102] [--host 127.0.0.1] [--stale-after 60]
    curl http://localhost:9102/metrics
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trading_core.telemetry.exporter import main

if __name__ == "__main__":
    raise SystemExit(main(prog="export_metrics.py"))
