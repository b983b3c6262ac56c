#!/usr/bin/env python3
"""Quick health sweep of core surfaces, offline against the simulated market.

    python scripts/validation/verify_core.py --check all [--json]
    (checks: all, broker, market_data, streaming, orders, positions, risk, state; repeatable)

Exit 0 only if every selected check passes (1 otherwise, 2 on bad input)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from trading_core.argtypes import OneLineParser
from trading_core.validation.core_checks import CHECKS, run_core_checks


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="verify_core", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="append", choices=["all", *CHECKS], default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    chosen = args.check or ["all"]
    names = list(CHECKS) if "all" in chosen else list(dict.fromkeys(chosen))
    results = run_core_checks(names)
    if args.json:
        print(json.dumps([{"name": r.name, "ok": r.ok, "detail": r.detail} for r in results]))
    else:
        for r in results:
            print(f"{'PASS' if r.ok else 'FAIL'}  {r.name:<12} {r.detail}")
    ok = all(r.ok for r in results)
    print(
        f"verify_core: {'all passed' if ok else 'FAILED'} ({len(results)} checks)", file=sys.stderr
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
