"""Preflight: checks, verdicts, exit codes and the JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.config import load_settings
from trading_core.domain import Candle
from trading_core.preflight import CheckStatus, Verdict, run_preflight
from trading_core.preflight.checks import (
    PreflightContext,
    check_credentials,
    check_file_permissions,
    check_risk_settings,
)
from trading_core.preflight.data_quality import validate_candles

BIN = Path(sys.executable).parent
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def candle(
    i: int, o: str = "100", h: str = "101", lo: str = "99", c: str = "100.5", v: str = "1"
) -> Candle:
    return Candle(
        "BTC-USD",
        T0 + timedelta(minutes=i),
        60,
        Decimal(o),
        Decimal(h),
        Decimal(lo),
        Decimal(c),
        Decimal(v),
    )


def test_clean_candles_pass_every_expectation() -> None:
    summary = validate_candles([candle(i) for i in range(30)], granularity_s=60)
    assert summary == {"success": True, "rows": 30, "failed": [], "unexpected": {}}


def test_bad_candles_name_what_is_wrong() -> None:
    rows = [candle(i) for i in range(10)]
    rows[3] = candle(3, h="100.2")  # high below close
    rows[5] = candle(5, v="-1")  # negative volume
    rows = [*rows[:7], candle(20)]  # a 12-bar gap
    summary = validate_candles(rows, granularity_s=60)
    assert not summary["success"]
    assert set(summary["failed"]) == {
        "high_at_least_open_close",
        "non_negative_volume",
        "no_gap_beyond_tolerance",
    }
    assert summary["unexpected"]["high_at_least_open_close"] == 1


def settings(tmp_path: Path, profile: str = "dev", env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return load_settings(
        profile,
        cli={"data_dir": tmp_path / "data", "log_dir": tmp_path / "logs"},
        environ=env or {},
        dotenv_path=None,
    )


def test_dev_profile_is_ready_or_review_and_writes_the_report(tmp_path: Path) -> None:
    report = run_preflight(settings(tmp_path), env_file=tmp_path / ".env")
    names = [c.name for c in report.checks]
    assert names[:3] == ["python", "dependencies", "credentials"]
    assert "market_data" in names and "event_store" in names
    failed = [c for c in report.checks if c.status is CheckStatus.FAIL]
    assert failed == []
    # no store and no health.json yet: a first run is worth a look, not a failure
    assert report.verdict is Verdict.REVIEW
    path = report.write(tmp_path / "reports")
    doc = json.loads(path.read_text())
    assert doc["verdict"] == "REVIEW" and doc["exit_code"] == 1
    assert {c["name"] for c in doc["checks"]} == set(names)


def test_broken_credentials_fail_without_showing_them(tmp_path: Path) -> None:
    secret = "-----BEGIN EC PRIVATE KEY-----\nnot really\n-----END EC PRIVATE KEY-----"
    s = settings(tmp_path, "canary", {"COINBASE_API_KEY": "my-key", "COINBASE_API_SECRET": secret})
    result = check_credentials(PreflightContext(settings=s, clock=None))  # type: ignore[arg-type]
    assert result.status is CheckStatus.FAIL
    assert result.summary.startswith("COINBASE_API_SECRET: malformed")
    assert "my-key" not in result.summary and "not really" not in result.summary
    missing = check_credentials(PreflightContext(settings=settings(tmp_path, "canary"), clock=None))  # type: ignore[arg-type]
    assert missing.status is CheckStatus.FAIL and "COINBASE_API_KEY" in missing.summary


def test_good_credentials_pass(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        .decode()
    )
    key = (
        "organizations/11111111-2222-3333-4444-555555555555/"
        "apiKeys/66666666-7777-8888-9999-000000000000"
    )
    s = settings(tmp_path, "canary", {"COINBASE_API_KEY": key, "COINBASE_API_SECRET": pem})
    result = check_credentials(PreflightContext(settings=s, clock=None))  # type: ignore[arg-type]
    assert result.status is CheckStatus.PASS and "secp256r1" in result.summary
    odd = settings(tmp_path, "canary", {"COINBASE_API_KEY": "sim-key", "COINBASE_API_SECRET": pem})
    warned = check_credentials(PreflightContext(settings=odd, clock=None))  # type: ignore[arg-type]
    assert warned.status is CheckStatus.WARN and "CDP key name" in warned.summary


def test_loose_env_file_permissions_warn(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("COINBASE_API_SECRET=x\n")
    os.chmod(env_file, 0o644)
    ctx = PreflightContext(settings=settings(tmp_path), clock=None, env_file=env_file)  # type: ignore[arg-type]
    assert check_file_permissions(ctx).status is CheckStatus.WARN
    os.chmod(env_file, 0o600)
    assert check_file_permissions(ctx).status is CheckStatus.PASS


def test_risk_settings_flag_an_active_kill_switch(tmp_path: Path) -> None:
    s = settings(tmp_path, env={"RISK_KILL_SWITCH_ENABLED": "1"})
    result = check_risk_settings(PreflightContext(settings=s, clock=None))  # type: ignore[arg-type]
    assert result.status is CheckStatus.WARN and "kill switch is ON" in result.summary


def test_a_check_that_raises_is_a_failed_check(tmp_path: Path) -> None:
    def check_boom(ctx: PreflightContext) -> None:
        raise RuntimeError("kaput")

    report = run_preflight(settings(tmp_path), checks=[check_boom])  # type: ignore[list-item]
    assert report.verdict is Verdict.NOT_READY
    assert report.checks[0].name == "boom" and "kaput" in report.checks[0].summary


@pytest.mark.parametrize(("args", "code"), [(("--profile", "dev"), 1), (("--profile", "nope"), 2)])
def test_script_exit_codes(
    tmp_path: Path, bot_env: dict[str, str], args: tuple[str, ...], code: int
) -> None:
    script = Path(__file__).resolve().parents[2] / "scripts" / "production_preflight.py"
    result = subprocess.run(
        [str(BIN / "python"), str(script), *args, "--json"],
        cwd=tmp_path,
        env=bot_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == code, result.stderr
    if code != 2:
        doc = json.loads(result.stdout)
        assert Path(tmp_path / doc["report_path"]).exists()
