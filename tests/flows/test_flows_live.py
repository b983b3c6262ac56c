"""The flows on a real local Prefect server: deployments served from one process, runs watched
with the Prefect CLI, notifications to a loopback webhook receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from trading_core.store.event_store import EventStore
from trading_core.store.health import write_health

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def stack(
    prefect_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    work = tmp_path_factory.mktemp("ops")
    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env = {
        **prefect_server,
        "PERPS_DATA_DIR": str(work / "var/data/perps_bot"),
        "PERPS_LOG_DIR": str(work / "var/logs"),
        "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_port}/hook/secret-token",
        "WORK": str(work),
    }
    serve = subprocess.Popen(
        [sys.executable, str(ROOT / "deployments" / "serve.py")],
        env=env,
        cwd=work,
        stdout=open(work / "serve.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    _wait_for(env, "guard-sweep/dev")
    yield env
    serve.terminate()
    serve.wait(timeout=60)
    receiver.shutdown()


def _wait_for(env: dict[str, str], name: str, timeout: float = 90) -> None:
    import httpx

    flow, _, deployment = name.partition("/")
    url = f"{env['PREFECT_API_URL']}/deployments/name/{flow}/{deployment}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(url, timeout=5).status_code == 200:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} never registered")


def run_deployment(env: dict[str, str], name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", name, "--watch", "--watch-timeout", "240"],
        env=env,
        cwd=env["WORK"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_preflight_dev_completes(stack: dict[str, str]) -> None:
    result = run_deployment(stack, "preflight/dev")
    assert result.returncode == 0, result.stdout[-2000:]
    reports = list((Path(stack["WORK"]) / "var/reports").glob("preflight_dev_*.json"))
    assert reports


def _state_message(env: dict[str, str], output: str) -> str:
    import re

    import httpx

    run_id = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert run_id, output
    run = httpx.get(f"{env['PREFECT_API_URL']}/flow_runs/{run_id.group(1)}", timeout=10).json()
    return str(run["state"]["message"])


def _critical_store(env: dict[str, str]) -> None:
    data = Path(env["PERPS_DATA_DIR"]) / "dev"
    store = EventStore(data / "events.db")
    now = datetime.now(UTC)
    store.append_event(
        "cycle",
        ts=now,
        cycle=42,
        message="cycle 42",
        payload={
            "equity": "97000",
            "open_positions": 2,
            "operations": 13,
            "failures": 0,
            "exposures": {"BTC-USD": "5000", "ETH-USD": "5000"},
            "data_ages": {"BTC-USD": 1.0, "ETH-USD": 1.0},
            "state": {"cycle": 42, "day_start_equity": "100000", "equity_peak": "100000"},
        },
    )
    store.commit()
    store.close()
    write_health(
        data / "health.json",
        ok=True,
        now=now,
        last_cycle=42,
        message="trading",
        running=True,
        equity=Decimal(97000),
    )


def test_critical_guard_fails_the_sweep_and_pages_once(stack: dict[str, str]) -> None:
    _critical_store(stack)
    first = run_deployment(stack, "guard-sweep/dev")
    assert first.returncode == 1, first.stdout[-2000:]
    message = _state_message(stack, first.stdout)
    assert "GuardCritical: critical guard: daily_loss (daily PnL -3000.00" in message, message
    second = run_deployment(stack, "guard-sweep/dev")
    assert second.returncode == 1
    pages = [m for m in Receiver.received if m.get("guard") == "daily_loss"]
    assert len(pages) == 1, Receiver.received
    page = pages[0]
    assert page["level"] == "critical" and page["severity"] == "SEV-1"
    assert page["profile"] == "dev" and Decimal(page["threshold"]) == Decimal("-0.02")
    assert Decimal(page["value"]) == Decimal("-0.03") and "daily_loss" in page["text"]
    log = (Path(stack["WORK"]) / "serve.log").read_text()
    assert "secret-token" not in log


def test_trading_loop_runs_a_bounded_session(stack: dict[str, str]) -> None:
    result = subprocess.run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "trading-loop/dev",
            "--param",
            "max_cycles=5",
            "--param",
            "fast_forward=true",
            "--param",
            "summary_every=1",
            "--watch",
            "--watch-timeout",
            "240",
        ],
        env=stack,
        cwd=stack["WORK"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    store = EventStore.open_readonly(Path(stack["PERPS_DATA_DIR"]) / "dev" / "events.db")
    try:
        stops = [e for e in store.events(type="lifecycle") if e.payload.get("event") == "stop"]
        assert stops and stops[-1].payload["cycles_this_run"] == 5
    finally:
        store.close()


@pytest.fixture(scope="module")
def coinbase_sim() -> Iterator[tuple[Any, tuple[str, str]]]:
    from trading_core.brokers.coinbase.keys import generate_key
    from trading_core.sim.server import SimContext, SimServer, SimVenue

    key = generate_key("ec")
    ctx = SimContext(SimVenue.create(seed=3))
    ctx.keys.add_secret(*key)
    server = SimServer(ctx).start()
    yield server, key
    server.stop()


def _write_env(work: Path, server: Any, name: str, secret: str) -> None:
    env_file = work / ".env"
    env_file.write_text(
        f"COINBASE_API_KEY={name}\n"
        f'COINBASE_API_SECRET="{secret.replace(chr(10), chr(92) + "n")}"\n'
        f"COINBASE_API_BASE={server.base_url}\n"
        f"COINBASE_WS_URL={server.ws_url}\n"
    )
    env_file.chmod(0o600)


def test_preflight_canary_against_the_coinbase_simulator(
    stack: dict[str, str], coinbase_sim: tuple[Any, tuple[str, str]]
) -> None:
    import httpx

    server, (name, secret) = coinbase_sim
    work = Path(stack["WORK"])
    _write_env(work, server, name, secret)
    ok = run_deployment(stack, "preflight/canary")
    assert ok.returncode == 0, ok.stdout[-3000:]
    report = json.loads(
        sorted((work / "var/reports").glob("preflight_canary_*.json"))[-1].read_text()
    )
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["connectivity"] == "pass" and statuses["clock_drift"] == "pass"
    assert statuses["market_data"] == "pass"

    _write_env(
        work, server, name, "-----BEGIN EC PRIVATE KEY-----\nbroken\n-----END EC PRIVATE KEY-----"
    )
    broken = run_deployment(stack, "preflight/canary")
    assert broken.returncode == 1, broken.stdout[-3000:]
    artifact = httpx.get(
        f"{stack['PREFECT_API_URL']}/artifacts/preflight-canary/latest", timeout=10
    ).json()
    data = artifact["data"]
    rows = {row["check"]: row for row in (json.loads(data) if isinstance(data, str) else data)}
    assert rows["credentials"]["status"] == "FAIL"
    assert "COINBASE_API_SECRET" in rows["credentials"]["summary"]
    assert "broken" not in json.dumps(artifact)
    (work / ".env").unlink()


def test_a_killed_trading_session_is_crashed_and_pages_sev1(stack: dict[str, str]) -> None:
    import signal as sig

    import httpx

    before = len(Receiver.received)
    started = subprocess.run(
        [
            str(BIN / "prefect"),
            "deployment",
            "run",
            "trading-loop/dev",
            "--param",
            "metrics_port=0",
            "--param",
            "until_utc=null",
        ],
        env=stack,
        cwd=stack["WORK"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stdout
    import re

    run_id = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout).group(1)  # type: ignore[union-attr]
    health = Path(stack["PERPS_DATA_DIR"]) / "dev" / "health.json"
    deadline = time.monotonic() + 120
    pid = None
    while time.monotonic() < deadline:
        state = httpx.get(f"{stack['PREFECT_API_URL']}/flow_runs/{run_id}", timeout=10).json()
        if state["state"]["type"] == "RUNNING" and health.exists():
            doc = json.loads(health.read_text())
            if doc.get("running", True) and doc.get("pid"):
                pid = int(doc["pid"])
                break
        time.sleep(0.5)
    assert pid is not None, "the trading session never started"
    os.kill(pid, sig.SIGKILL)
    deadline = time.monotonic() + 120
    final = ""
    while time.monotonic() < deadline:
        final = httpx.get(f"{stack['PREFECT_API_URL']}/flow_runs/{run_id}", timeout=10).json()[
            "state"
        ]["type"]
        if final in ("CRASHED", "FAILED", "COMPLETED", "CANCELLED"):
            break
        time.sleep(0.5)
    assert final == "CRASHED"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(Receiver.received) == before:
        time.sleep(0.5)
    pages = Receiver.received[before:]
    assert pages and all(p["severity"] == "SEV-1" for p in pages), pages
    assert any("crashed" in p["text"] for p in pages)
