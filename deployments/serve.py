#!/usr/bin/env python3
"""Serve every deployment in prefect.yaml from this one process (no worker needed).

python deployments/serve.py [--profile dev --profile canary]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", help="only these profiles' deployments")
    args = parser.parse_args()

    from prefect import serve

    from deployments.specs import load_specs, to_deployments

    deployments = to_deployments(load_specs(), set(args.profile) if args.profile else None)
    serve(*deployments, print_starting_message=True)


if __name__ == "__main__":
    main()
