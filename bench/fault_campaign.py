#!/usr/bin/env python3
"""The fault campaign: the bot (profile canary) against the Coinbase simulator, one fault at a
time (429s with and without headers, 5xx, lost answers, malformed/truncated/empty bodies, refused
credentials, feed drops 1000/1006, a sequence gap, a frozen feed, clock skew, a full disk under
the log), each judged on staying up, guards, exceptions, data and recovery
(``trading_core/sim/fault_campaign.py``). Prints the table; ``--json`` prints one JSON document
instead. Exit 1 when a fault did not recover or stop on purpose as designed.
    .venv/bin/python bench/fault_campaign.py [--json] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.sim.fault_campaign import CASES, CaseResult, run_campaign, table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true", help="one JSON document, no table")
    parser.add_argument("--only", nargs="*", default=None, help="fault names (see the table)")
    args = parser.parse_args()
    cases = CASES
    if args.only:
        cases = tuple(c for c in CASES if c.name in args.only)
        if not cases:
            print(f"no such fault; choose from: {', '.join(c.name for c in CASES)}")
            return 2

    def progress(result: CaseResult) -> None:
        if not args.json:
            state = "PASS" if result.passed else "FAIL"
            print(f"  {result.fault}: {result.outcome} ({result.seconds:.1f}s) {state}", flush=True)

    started = time.monotonic()
    results = run_campaign(cases, progress=progress)
    if args.json:
        doc = {
            "faults": [r.as_dict() for r in results],
            "passed": sum(1 for r in results if r.passed),
            "total": len(results),
            "seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(table(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
