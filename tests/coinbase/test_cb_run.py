"""`perps-bot run --profile canary` trading against the simulator: marks from the WebSocket
feed, an order placed and filled through the real SDK, and the feed killed mid-run (the bot
reconnects, resubscribes and carries on)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from cb_helpers import PERPS_BOT, Sim, wait_for


def test_canary_trades_cycles_on_streamed_marks_through_a_dropped_feed(
    tmp_path: Path, cli_env: dict[str, str], sim: Sim, ec_key: tuple[str, str]
) -> None:
    env = {
        **cli_env,
        **sim.env(ec_key),
        # the venue seeds BTC and ETH holdings; a trailing stop this tight sells a position at
        # its first downtick, so the run places (and fills) an order within a few cycles (both
        # marks rising at each of the 7 readings after the first: about 1 in 16000)
        "STRATEGY_TRAILING_STOP_PCT": "0.0000001",
    }
    bot = subprocess.Popen(
        [PERPS_BOT, "run", "--profile", "canary", "--cycles", "8", "--interval", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: sim.state()["ws_sessions"] >= 1, timeout=30, interval=0.05)
        wait_for(lambda: (tmp_path / "var/data/perps_bot/canary/health.json").exists(), timeout=30)
        sim.fault(kind="ws_drop", code=1006)  # kill the feed mid-run
        out, err = bot.communicate(timeout=60)
    finally:
        if bot.poll() is None:
            bot.kill()
    assert bot.returncode == 0, err
    assert "stopped after 8 cycle(s)" in out

    state = sim.state()
    assert state["ws_connections"] >= 2  # reconnected after the drop
    counts = sim.ctx.requests
    rest_quotes = sum(n for (label, _), n in counts.items() if label == "/best_bid_ask")
    assert rest_quotes <= 2  # marks came from the stream, not REST polling (16 reads)

    conn = sqlite3.connect(tmp_path / "var/data/perps_bot/canary/events.db")
    cycles = conn.execute("select count(*) from events where type='cycle'").fetchone()[0]
    filled = conn.execute("select count(*) from events where type='order_filled'").fetchone()[0]
    errors = conn.execute("select message from events where type='error'").fetchall()
    conn.close()
    assert cycles == 8 and errors == []
    assert filled >= 1 and state["orders"] >= 1 and state["fills"] >= filled

    log = (tmp_path / "var/logs/perps_bot.log").read_text()
    assert "coinbase stream connected" in log and "after a reconnect" in log
    assert "close code 1006" in log
    assert " ERROR " not in log and "filled at" in log
    assert ec_key[0] not in log + out + err
