#!/usr/bin/env python3
"""Create or reuse .venv, install the project with the pinned constraints, then run or test.

Only the standard library: this is what `make run` / `make test` call on a fresh machine.
    python3 scripts/bootstrap.py run      the whole local stack (Prefect server, deployments,
                                          the dev trading session) until Ctrl-C
    python3 scripts/bootstrap.py bot [perps-bot run flags...]   just the trading loop
    python3 scripts/bootstrap.py test [pytest flags...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"
INPUTS = (ROOT / "pyproject.toml", ROOT / "constraints.txt")


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (this script must explain itself on old Pythons)
        sys.exit(f"bootstrap: error: Python 3.11+ is required (this is {sys.version.split()[0]})")
    if not (BIN / "python").exists():
        print("bootstrap: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    newest_input = max(p.stat().st_mtime for p in INPUTS if p.exists())
    if STAMP.exists() and STAMP.stat().st_mtime >= newest_input:
        return
    print("bootstrap: installing GPT-Trader and its pinned dependencies into .venv", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run(
        [*pip, "install", "-q", "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[dev]"],
        check=True,
    )
    STAMP.touch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "bot", "test", "install"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_venv()
    os.chdir(ROOT)
    command, rest = argv[0], argv[1:]
    if command == "install":
        return 0
    if command in ("run", "bot"):
        if command == "run":
            args = [str(BIN / "perps-bot"), "ops", "up", "--foreground", *rest]
        else:
            args = [str(BIN / "perps-bot"), "run", *(rest or ["--profile", "dev"])]
        try:
            return subprocess.call(args)
        except KeyboardInterrupt:  # the child got the same Ctrl-C and stops cleanly on its own
            return 0
    steps = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [str(BIN / "python"), "-m", "pytest", "-q", *rest],
    ]
    for step in steps:
        print(
            "$ " + " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
            flush=True,
        )
        code = subprocess.call(step)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
