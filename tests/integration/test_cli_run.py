"""`perps-bot run` end to end, as a user runs it: a real subprocess, real files under tmp_path."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

PERPS_BOT = str(BIN / "perps-bot")


def run_bot(
    tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PERPS_BOT, "run", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def db(tmp_path: Path, profile: str = "dev") -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "var/data/perps_bot" / profile / "events.db")


def count(conn: sqlite3.Connection, sql: str, *params: object) -> int:
    return int(conn.execute(sql, params).fetchone()[0])


def log_text(tmp_path: Path) -> str:
    return (tmp_path / "var/logs/perps_bot.log").read_text()


def test_dev_fast_leaves_events_health_and_log(tmp_path: Path, bot_env: dict[str, str]) -> None:
    result = run_bot(tmp_path, bot_env, "--profile", "dev", "--dev-fast")
    assert result.returncode == 0, result.stderr
    assert "stopped after 1 cycle(s)" in result.stdout
    health = json.loads((tmp_path / "var/data/perps_bot/dev/health.json").read_text())
    assert health["ok"] is True and health["last_cycle"] == 1
    conn = db(tmp_path)
    assert count(conn, "select count(*) from events where type='cycle'") == 1
    assert count(conn, "select count(*) from events where type='lifecycle'") == 2
    text = log_text(tmp_path)
    assert "bot start" in text and "PnL equity=" in text and "bot stop" in text


def test_fast_forward_trend_trades_and_restart_continues(
    tmp_path: Path, bot_env: dict[str, str]
) -> None:
    args = ("--profile", "dev", "--cycles", "500", "--fast-forward", "--scenario", "trend")
    first = run_bot(tmp_path, bot_env, *args)
    assert first.returncode == 0, first.stderr
    conn = db(tmp_path)
    filled = count(conn, "select count(*) from events where type='order_filled'")
    assert filled > 0
    text = log_text(tmp_path)
    assert re.search(r"order .* filled", text)
    assert len(re.findall(r"PnL equity=", text)) >= 500 // 12
    stop = json.loads(
        conn.execute(
            "select payload from events where type='lifecycle' order by id desc limit 1"
        ).fetchone()[0]
    )
    assert stop["event"] == "stop" and stop["cycle"] == 500
    held = stop["positions"]
    conn.close()

    second = run_bot(tmp_path, bot_env, *args[:2], "--cycles", "5", "--fast-forward")
    assert second.returncode == 0, second.stderr
    conn = db(tmp_path)
    start = json.loads(
        conn.execute(
            "select payload from events where type='lifecycle' and payload like '%\"start\"%' "
            "order by id desc limit 1"
        ).fetchone()[0]
    )
    assert start["positions"] == held  # the same positions, not a blank slate
    assert start["cycle"] == 500  # the cycle counter continues
    last_cycle = count(conn, "select max(cycle) from events where type='cycle'")
    assert last_cycle == 505
    # the day's PnL continues from the same day-start equity
    days = conn.execute(
        "select count(*) from events where type='pnl' and message like 'PnL day % starts%'"
    ).fetchone()[0]
    assert days == 1


def test_kill_switch_places_no_order(tmp_path: Path, bot_env: dict[str, str]) -> None:
    env = {**bot_env, "RISK_KILL_SWITCH_ENABLED": "1"}
    result = run_bot(
        tmp_path,
        env,
        "--profile",
        "dev",
        "--cycles",
        "200",
        "--fast-forward",
        "--scenario",
        "trend",
    )
    assert result.returncode == 0, result.stderr
    conn = db(tmp_path)
    assert count(conn, "select count(*) from orders") == 0
    assert count(conn, "select count(*) from fills") == 0
    assert count(conn, "select count(*) from events where type like 'order_%'") == 0
    blocks = count(
        conn, "select count(*) from events where type='risk_block' and message like '%kill_switch%'"
    )
    assert blocks > 0  # the strategy wanted to trade and was stopped every time
    state = json.loads((tmp_path / "var/data/perps_bot/dev/paper_exchange.json").read_text())
    assert "kill-switch" in (tmp_path / "var/logs/perps_bot.log").read_text()
    assert state  # the paper exchange never saw an order either
    assert not any(True for _ in _orders_in_paper_state(state))


def _orders_in_paper_state(state: object) -> list[object]:
    found: list[object] = []
    if isinstance(state, dict):
        for key, value in state.items():
            if key == "orders" and isinstance(value, (list, dict)) and value:
                found.append(value)
            else:
                found.extend(_orders_in_paper_state(value))
    elif isinstance(state, list):
        for item in state:
            found.extend(_orders_in_paper_state(item))
    return found


def test_reduce_only_never_buys(tmp_path: Path, bot_env: dict[str, str]) -> None:
    result = run_bot(
        tmp_path,
        bot_env,
        "--profile",
        "dev",
        "--cycles",
        "200",
        "--fast-forward",
        "--scenario",
        "trend",
        "--reduce-only",
    )
    assert result.returncode == 0, result.stderr
    conn = db(tmp_path)
    assert count(conn, "select count(*) from orders where side='BUY'") == 0
    assert (
        count(
            conn,
            "select count(*) from events where type='risk_block' and message like '%reduce_only%'",
        )
        > 0
    )


def test_dry_run_sends_nothing(tmp_path: Path, bot_env: dict[str, str]) -> None:
    result = run_bot(
        tmp_path,
        bot_env,
        "--profile",
        "dev",
        "--cycles",
        "200",
        "--fast-forward",
        "--scenario",
        "trend",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    conn = db(tmp_path)
    assert count(conn, "select count(*) from orders") == 0
    assert count(conn, "select count(*) from events where type='dry_run'") > 0
    assert "DRY RUN: would BUY" in log_text(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--profile", "nope"), "profile: unknown profile 'nope'"),
        (("--profile", "dev", "--symbols", "BTC-PERP"), "symbols: BTC-PERP is a perpetual"),
        (
            ("--profile", "dev", "--interval", "-1"),
            "interval_seconds: Input should be greater than 0",
        ),
        (("--profile", "dev", "--cycles", "0"), "argument --cycles: must be at least 1"),
        (("--profile", "dev", "--scenario", "moon"), "sim.scenario: unknown scenario 'moon'"),
        (("--profile", "dev", "--bogus"), "unrecognized arguments: --bogus"),
        (("--profile", "dev", "--market-data", "nope.csv"), "sim.market_data"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, bot_env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = run_bot(tmp_path, bot_env, *args, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var/data").exists()  # nothing was created, nothing touched


def test_bad_input_keeps_what_is_stored(tmp_path: Path, bot_env: dict[str, str]) -> None:
    assert run_bot(tmp_path, bot_env, "--profile", "dev", "--dev-fast").returncode == 0
    store = tmp_path / "var/data/perps_bot/dev/events.db"
    before = store.read_bytes()
    assert run_bot(tmp_path, bot_env, "--profile", "dev", "--interval", "-1").returncode == 2
    assert store.read_bytes() == before


def test_sigint_finishes_cycle_and_exits_0(tmp_path: Path, bot_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [PERPS_BOT, "run", "--profile", "dev", "--interval", "0.2"],
        cwd=tmp_path,
        env=bot_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    cycles_seen = 0
    while cycles_seen < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("cycle "):
            cycles_seen += 1
    assert cycles_seen == 3
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped after" in out
    health = json.loads((tmp_path / "var/data/perps_bot/dev/health.json").read_text())
    assert health["running"] is False and health["message"] == "stopped"
    conn = db(tmp_path)
    last = conn.execute(
        "select payload from events where type='lifecycle' order by id desc"
    ).fetchone()
    assert json.loads(last[0])["event"] == "stop"
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"


KRAKEN = (
    Path(__file__).resolve().parents[1] / "fixtures" / "kraken_btc_usd_5m_2023-02-20_2023-02-23.csv"
)


def test_replay_of_real_candles_infers_symbol_and_resumes(
    tmp_path: Path, bot_env: dict[str, str]
) -> None:
    args = ("--profile", "dev", "--market-data", str(KRAKEN), "--interval", "300", "--fast-forward")
    first = run_bot(tmp_path, bot_env, *args, "--cycles", "700")  # past 2023-02-22 01:30
    assert first.returncode == 0, first.stderr
    conn = db(tmp_path)
    symbols = {
        row[0]
        for row in conn.execute("select distinct symbol from events where symbol is not null")
    }
    assert symbols <= {"BTC-USD"}
    first_cycles = conn.execute("select min(ts), max(ts) from events where type='cycle'").fetchone()
    assert first_cycles[0].startswith("2023-02-20")  # the replay's own time, not today
    # the real 15-bar gap on 2023-02-22 shows up as stale market data
    assert (
        count(conn, "select count(*) from events where message like 'market_data_staleness%'") >= 1
    )
    conn.close()
    second = run_bot(tmp_path, bot_env, *args, "--cycles", "10")
    assert second.returncode == 0, second.stderr
    conn = db(tmp_path)
    resumed = conn.execute(
        "select min(ts) from events where type='cycle' and cycle > 700"
    ).fetchone()[0]
    assert resumed > first_cycles[1]  # continues from its cursor


def test_metrics_served_while_running(tmp_path: Path, bot_env: dict[str, str]) -> None:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [PERPS_BOT, "run", "--profile", "dev", "--interval", "0.2", "--metrics-port", str(port)],
        cwd=tmp_path,
        env=bot_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for _ in range(3):
            proc.stdout.readline()
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        text = body.decode()
        assert "perps_bot_equity" in text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert (tmp_path / "var/data/perps_bot/dev/metrics.prom").exists()
    # the same port, asked for explicitly while taken: one line, exit 2
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = run_bot(
            tmp_path, bot_env, "--profile", "dev", "--dev-fast", "--metrics-port", str(port)
        )
    assert taken.returncode == 2 and "--metrics-port: cannot serve" in taken.stderr
