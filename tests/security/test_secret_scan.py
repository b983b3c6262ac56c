"""Secrets never reach what a session writes: logs, the store, reports, metrics, health.json,
command output. The scan looks for the test key's material everywhere; it must find nothing,
and it must find a secret planted on purpose (so it can fail)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_core.brokers.coinbase.keys import generate_key
from trading_core.sim.server import SimContext, SimServer, SimVenue

BIN = Path(sys.executable).parent


def fragments(name: str, secret: str) -> list[str]:
    """What would give the key away: its name, the secret, every long line of a PEM body."""
    pieces = [name, secret, secret.replace("\n", "\\n")]
    pieces += [line for line in secret.splitlines() if len(line) >= 16 and "-----" not in line]
    return pieces


def scan(root: Path, texts: list[str], needles: list[str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if not path.is_file() or path.name == "coinbase_key.json":
            continue
        data = path.read_bytes()
        for needle in needles:
            if needle.encode() in data:
                hits.append(f"{path.relative_to(root)} holds {needle[:12]}...")
    for i, text in enumerate(texts):
        for needle in needles:
            if needle in text:
                hits.append(f"output #{i} holds {needle[:12]}...")
    return hits


@pytest.fixture
def sim_and_key() -> Iterator[tuple[SimServer, tuple[str, str]]]:
    key = generate_key("ec")
    ctx = SimContext(SimVenue.create(seed=5))
    ctx.keys.add_secret(*key)
    server = SimServer(ctx).start()
    yield server, key
    server.stop()


def test_a_session_writes_no_secret(
    tmp_path: Path, bot_env: dict[str, str], sim_and_key: tuple[SimServer, tuple[str, str]]
) -> None:
    server, (name, secret) = sim_and_key
    env = {
        **bot_env,
        "COINBASE_API_KEY": name,
        "COINBASE_API_SECRET": secret,
        "COINBASE_API_BASE": server.base_url,
        "COINBASE_WS_URL": server.ws_url,
        "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hooks/T000/B000/very-secret-token",
    }
    outputs: list[str] = []
    for args in (
        ["run", "--profile", "canary", "--cycles", "3", "--interval", "0.3"],
        ["account", "snapshot", "--profile", "canary", "--json"],
        ["preflight", "--profile", "canary", "--json"],
        [
            "orders",
            "preview",
            "--profile",
            "canary",
            "--symbol",
            "BTC-USD",
            "--side",
            "buy",
            "--type",
            "market",
            "--quantity",
            "0.001",
        ],
        ["events", "list", "--profile", "canary", "--json", "--limit", "500"],
        ["guards", "status", "--profile", "canary", "--json"],
        ["review", "weekly", "--profile", "canary", "--json"],
        ["backup", "create", "--profile", "canary", "--json"],
    ):
        result = subprocess.run(
            [str(BIN / "perps-bot"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode in (0, 1), (args, result.stderr)
        outputs += [result.stdout, result.stderr]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "perps_bot.log" for p in written)
    assert any(p.name.startswith("preflight_canary") for p in written)
    assert any(p.name == "MANIFEST.json" for p in written)  # a backup was taken and scanned
    assert any("review" in p.name and p.suffix == ".md" for p in written)
    needles = [*fragments(name, secret), "very-secret-token"]
    assert scan(tmp_path, outputs, needles) == []
    # the store, health.json, reports and backups are the operator's alone; the metrics
    # snapshot (for a textfile collector) and the log (redacted) are the exceptions
    exposed = [
        f"{p.relative_to(tmp_path)} {stat.S_IMODE(p.stat().st_mode):04o}"
        for p in written
        if p.stat().st_mode & 0o077 and p.name != "metrics.prom" and p.suffix != ".log"
    ]
    assert exposed == []


def test_the_scan_catches_a_planted_secret(tmp_path: Path) -> None:
    name, secret = generate_key("ec")
    log = tmp_path / "var" / "logs" / "perps_bot.log"
    log.parent.mkdir(parents=True)
    log.write_text("2026-01-01T00:00:00Z INFO x: key body " + secret.splitlines()[1] + "\n")
    assert scan(tmp_path, [], fragments(name, secret))


def test_secret_files_are_private(tmp_path: Path, bot_env: dict[str, str]) -> None:
    """The simulator's throwaway key file and the store are not readable by others."""
    result = subprocess.run(
        [str(BIN / "perps-bot"), "sim", "keygen", "--help"],
        cwd=tmp_path,
        env=bot_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    run = subprocess.run(
        [str(BIN / "perps-bot"), "run", "--profile", "dev", "--dev-fast"],
        cwd=tmp_path,
        env=bot_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0
    db = tmp_path / "var/data/perps_bot/dev/events.db"
    assert not os.stat(db).st_mode & 0o007, oct(os.stat(db).st_mode)
