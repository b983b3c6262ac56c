"""`perps-bot ops up` / `ops down`: the README's stack, started and stopped for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from flows_support import free_port

BIN = Path(sys.executable).parent


def test_ops_up_trades_and_ops_down_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "PERPS_", "RISK_", "ALERT_"))
    }
    env["STRATEGY_BAR_SECONDS"] = "60"
    up = subprocess.run(
        [str(BIN / "perps-bot"), "ops", "up", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"Prefect UI:  http://127.0.0.1:{port}" in up.stdout
        assert "trading session started" in up.stdout
        state = json.loads((tmp_path / "var/prefect/ops.json").read_text())
        assert set(state["pids"]) == {"server", "serve"}
        health = tmp_path / "var/data/perps_bot/dev/health.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if health.exists() and json.loads(health.read_text()).get("last_cycle", 0) >= 2:
                break
            time.sleep(1)
        doc = json.loads(health.read_text())
        assert doc["last_cycle"] >= 2 and doc["ok"] is True
        names = httpx.post(
            f"http://127.0.0.1:{port}/api/deployments/filter", json={}, timeout=10
        ).json()
        assert {d["name"] for d in names} == {"canary", "dev"}
    finally:
        down = subprocess.run(
            [str(BIN / "perps-bot"), "ops", "down"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert down.returncode == 0 and "stack stopped" in down.stdout
    final = json.loads((tmp_path / "var/data/perps_bot/dev/health.json").read_text())
    assert final["running"] is False and final["message"] == "stopped"
    assert not (tmp_path / "var/prefect/ops.json").exists()
    for pid in state["pids"].values():
        try:
            os.kill(pid, 0)
        except OSError:
            continue
        raise AssertionError(f"pid {pid} still running after ops down")
