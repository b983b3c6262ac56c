"""scripts/validation/verify_core.py: the offline sweep of core surfaces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trading_core.validation import core_checks
from trading_core.validation.core_checks import CHECKS, CoreResult, run_core_checks

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "validation" / "verify_core.py"


def test_every_check_passes() -> None:
    results = run_core_checks(list(CHECKS))
    assert [r.name for r in results] == list(CHECKS)
    assert all(r.ok for r in results), [r for r in results if not r.ok]


def test_a_failing_surface_fails_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(box: core_checks.Sandbox) -> CoreResult:
        raise RuntimeError("store is gone")

    monkeypatch.setitem(core_checks.CHECKS, "state", broken)
    results = run_core_checks(["risk", "state"])
    assert results[0].ok and not results[1].ok and "store is gone" in results[1].detail


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--check", "all", "--json"], 0),
        (["--check", "orders", "--check", "risk"], 0),
        (["--check", "bogus"], 2),
    ],
)
def test_script(args: list[str], code: int, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    if "--json" in args:
        assert {r["name"] for r in json.loads(result.stdout)} == set(CHECKS)
    if code == 2:
        assert result.stderr.count("\n") == 1 and "invalid choice: 'bogus'" in result.stderr
