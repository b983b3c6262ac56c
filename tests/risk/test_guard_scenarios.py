"""Guards against the simulated market's scenarios, on the virtual clock, end to end."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading_core.brokers.paper import PaperBroker
from trading_core.clock import VirtualClock
from trading_core.config import load_settings
from trading_core.cycle import TradingContext, run_cycle
from trading_core.risk.modes import ModeController
from trading_core.store.event_store import EventStore

BIN = Path(sys.executable).parent
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def perps_bot(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "perps-bot"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_crash_trips_daily_loss_into_reduce_only(tmp_path: Path, bot_env: dict[str, str]) -> None:
    run = perps_bot(
        tmp_path,
        bot_env,
        "run",
        "--profile",
        "dev",
        "--cycles",
        "2000",
        "--fast-forward",
        "--scenario",
        "crash",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    status = perps_bot(tmp_path, bot_env, "guards", "status", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    daily = next(g for g in doc["guards"] if g["name"] == "daily_loss")
    assert daily["level"] == "critical"
    assert doc["modes"]["reduce_only"]["on"] is True
    assert "guard:daily_loss" in doc["modes"]["reduce_only"]["source"]
    conn = sqlite3.connect(tmp_path / "var/data/perps_bot/dev/events.db")
    tripped_at = conn.execute(
        "select min(ts) from events where type='guard' "
        "and message like 'guard daily_loss % -> critical%'"
    ).fetchone()[0]
    assert tripped_at is not None
    # nothing that adds exposure went out after the trip (sells may, to reduce)
    buys_after = conn.execute(
        "select count(*) from orders where side='BUY' and created_at > ?", (tripped_at,)
    ).fetchone()[0]
    assert buys_after == 0
    # the protective refusals were recorded (once per symbol and reason, not every cycle)
    blocks = conn.execute(
        "select message from events where type='risk_block' and "
        "(message like '%reduce_only%' or message like '%kill_switch%')"
    ).fetchall()
    assert 0 < len(blocks) <= 40
    log = (tmp_path / "var/logs/perps_bot.log").read_text()
    assert "CRITICAL" in log and "guard daily_loss" in log

    # the latch survives a restart, and `guards set ... off` clears it
    again = perps_bot(
        tmp_path, bot_env, "run", "--profile", "dev", "--cycles", "3", "--fast-forward", "--quiet"
    )
    assert again.returncode == 0
    assert (
        json.loads(perps_bot(tmp_path, bot_env, "guards", "status", "--json").stdout)["modes"][
            "reduce_only"
        ]["on"]
        is True
    )
    cleared = perps_bot(
        tmp_path, bot_env, "guards", "set", "reduce-only", "off", "--reason", "post-mortem done"
    )
    assert cleared.returncode == 0, cleared.stderr
    doc = json.loads(perps_bot(tmp_path, bot_env, "guards", "status", "--json").stdout)
    assert doc["modes"]["reduce_only"]["on"] is False
    event = conn.execute(
        "select payload from events where type='guard' order by id desc limit 1"
    ).fetchone()[0]
    assert json.loads(event)["why"] == "post-mortem done"


def test_stale_feed_trips_staleness_and_no_order_on_stale_symbols(
    tmp_path: Path, bot_env: dict[str, str]
) -> None:
    run = perps_bot(
        tmp_path,
        bot_env,
        "run",
        "--profile",
        "dev",
        "--cycles",
        "400",
        "--fast-forward",
        "--scenario",
        "stale",
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    conn = sqlite3.connect(tmp_path / "var/data/perps_bot/dev/events.db")
    rows = conn.execute(
        "select ts, payload from events where type='guard' and message like "
        "'guard market_data_staleness % -> critical%'"
    ).fetchall()
    assert rows, "the staleness guard never went critical"
    symbols = json.loads(rows[0][1])["symbols"]
    assert len(symbols) == 10
    first_stale = conn.execute(
        "select min(ts) from events where message like 'market_data_staleness:%'"
    ).fetchone()[0]
    assert first_stale is not None
    late_orders = conn.execute(
        "select count(*) from orders where created_at >= ?", (first_stale,)
    ).fetchone()[0]
    assert late_orders == 0


def test_kill_switch_set_while_running_stops_orders_from_the_next_cycle(
    tmp_path: Path, buy_when_flat: Any
) -> None:
    settings = load_settings(
        "dev",
        cli={"data_dir": tmp_path / "data", "strategy": {"position_fraction": "0.01"}},
        environ={},
        dotenv_path=None,
    )
    clock = VirtualClock(START)
    broker = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        clock=clock,
        starting_balances={"USD": Decimal(100000)},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store, strategy=buy_when_flat)
    clock.advance(5)
    assert run_cycle(ctx, clock).submitted > 0
    # an operator flips the switch from another process (its own store connection)
    operator = EventStore(settings.store_path)
    ModeController(operator, env_file=None, environ={}).set_latch(
        "kill_switch", True, now=clock.now(), set_by="cli:ops", reason="incident"
    )
    operator.commit()
    operator.close()
    orders_before = len(broker.list_orders())
    for _ in range(20):
        clock.advance(5)
        report = run_cycle(ctx, clock)
        assert report.submitted == 0 and report.modes.startswith("kill-switch")
    assert len(broker.list_orders()) == orders_before
    store.close()


def test_daily_figures_reset_at_utc_midnight_and_latches_do_not(tmp_path: Path) -> None:
    settings = load_settings(
        "dev", cli={"data_dir": tmp_path / "data"}, environ={}, dotenv_path=None
    )
    clock = VirtualClock(datetime(2026, 6, 1, 23, 59, 30, tzinfo=UTC))
    broker = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        clock=clock,
        starting_balances={"USD": Decimal(100000)},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store)
    ctx.mode_control.set_latch("reduce_only", True, now=clock.now(), set_by="test", reason="t")
    reports = []
    for _ in range(12):
        clock.advance(5)
        reports.append(run_cycle(ctx, clock))
    after = [r for r in reports if r.started_at.day == 2]
    assert after and after[0].day_start_equity == after[0].equity
    assert all(r.modes == "reduce-only" for r in reports)
    store.close()


def test_guard_events_carry_severity(tmp_path: Path) -> None:
    """Every guard event names its runbook severity."""
    settings = load_settings(
        "dev",
        cli={"data_dir": tmp_path / "data", "sim": {"scenario": "stale"}},
        environ={},
        dotenv_path=None,
    )
    clock = VirtualClock(START)
    broker = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        scenario="stale",
        clock=clock,
        starting_balances={"USD": Decimal(100000)},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store)
    for _ in range(250):
        clock.advance(5)
        run_cycle(ctx, clock)
    events = store.events(type="guard")
    assert events
    assert all(e.payload["sev"] in ("SEV-1", "SEV-2", "SEV-3") for e in events)
    stale = [e for e in events if e.payload["guard"] == "market_data_staleness"]
    assert [e.payload["level"] for e in stale] == ["warning", "critical"]
    assert stale[-1].payload["sev"] == "SEV-2" and stale[-1].severity == "error"
    store.close()


def test_guards_cli_bad_input(tmp_path: Path, bot_env: dict[str, str]) -> None:
    for args, message in (
        (("guards", "status"), "no event store for profile 'dev'"),
        (("guards", "status", "--profile", "nope"), "unknown profile 'nope'"),
        (("guards", "set", "kill-switch", "on"), "the following arguments are required: --reason"),
        (("guards", "set", "turbo", "on", "--reason", "x"), "invalid choice: 'turbo'"),
    ):
        result = perps_bot(tmp_path, bot_env, *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
