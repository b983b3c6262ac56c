"""The tasks' functions (`.fn`), without a Prefect server."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks.ops_tasks import run_preflight_checks, sweep
from trading_core.store.event_store import EventStore
from trading_core.store.health import write_health


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERPS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PERPS_LOG_DIR", str(tmp_path / "logs"))
    for name in ("RISK_KILL_SWITCH_ENABLED", "PERPS_PROFILE", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_sweep_without_a_store_says_the_bot_never_ran(env: Path) -> None:
    result = sweep.fn("dev")
    assert [r["name"] for r in result["results"]] == ["bot_offline", "reconciliation"]
    assert [r["level"] for r in result["results"]] == ["warning", "ok"]


def test_sweep_pages_a_reconciliation_breach_until_it_is_cleared(env: Path) -> None:
    store = EventStore(env / "data" / "dev" / "events.db")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    breach = "BTC-USD: the venue holds 0 but the bot's fills add up to 0.5"
    store.append_event(
        "reconcile", ts=now, severity="critical", payload={"breaches": [breach], "sev": "SEV-1"}
    )
    latch = {"on": True, "set_by": "reconcile", "reason": breach, "set_at": "2026-01-01T00:00:00Z"}
    store.set_state("modes", {"reduce_only": latch}, now)
    store.commit()
    found = {r["name"]: r for r in sweep.fn("dev")["results"]}["reconciliation"]
    assert (found["level"], found["severity"]) == ("critical", "SEV-1")
    assert breach in found["reason"] and "until an operator clears it" in found["reason"]
    store.set_state("modes", {"reduce_only": {**latch, "on": False, "set_by": "cli"}}, now)
    store.commit()
    store.close()
    cleared = {r["name"]: r for r in sweep.fn("dev")["results"]}["reconciliation"]
    assert cleared["level"] == "ok"


def test_sweep_finds_an_offline_bot_and_a_daily_loss(env: Path) -> None:
    data = env / "data" / "dev"
    store = EventStore(data / "events.db")
    old = datetime(2026, 1, 1, tzinfo=UTC)
    store.append_event(
        "cycle",
        ts=old,
        cycle=7,
        payload={
            "equity": "97500",
            "open_positions": 1,
            "operations": 13,
            "failures": 0,
            "exposures": {"BTC-USD": "5000"},
            "data_ages": {"BTC-USD": 0.5},
            "state": {"day_start_equity": "100000", "equity_peak": "100000"},
        },
    )
    store.commit()
    store.close()
    write_health(
        data / "health.json", ok=True, now=old, last_cycle=7, message="trading", running=True
    )
    levels = {r["name"]: (r["level"], r["severity"]) for r in sweep.fn("dev")["results"]}
    assert levels["bot_offline"] == ("critical", "SEV-1")
    assert levels["daily_loss"] == ("critical", "SEV-1")
    assert levels["market_data_staleness"][0] == "critical"  # the last data is a year old


def test_preflight_task_writes_its_report(env: Path) -> None:
    report = run_preflight_checks.fn("dev")
    assert report["verdict"] in ("READY", "REVIEW")
    assert Path(report["report_path"]).exists()
