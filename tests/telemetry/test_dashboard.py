"""The terminal dashboard (`scripts/perps_dashboard.py`, `perps-bot dashboard`): one frame of a
simulated session shows every section, guards and latches are shown, positions follow new fills,
and every query stays bounded and indexed on a large store."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from trading_core.brokers.paper import PaperBroker
from trading_core.clock import VirtualClock
from trading_core.config import load_settings
from trading_core.cycle import TradingContext, run_cycle
from trading_core.domain import Fill, Liquidity, OrderSide
from trading_core.store.event_store import EventStore
from trading_core.store.health import write_health
from trading_core.telemetry.dashboard import build_parser, run
from trading_core.telemetry.dashboard_data import DashboardSource
from trading_core.telemetry.metrics import BotMetrics

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts/perps_dashboard.py"
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECTIONS = ("Health", "Account", "Orders", "Guards and modes", "Positions", "Market data", "Last ")


@dataclass
class Session:
    data_dir: Path
    profile_dir: Path
    equity: Decimal
    last_cycle: int
    held: set[str]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A simulated session run in process, with health.json and the metrics snapshot written the
    way the runner writes them."""
    tmp = tmp_path_factory.mktemp("dash")
    settings = load_settings(
        "dev",
        cli={"data_dir": tmp / "data", "log_dir": tmp / "logs", "sim": {"scenario": "trend"}},
        environ={},
        dotenv_path=None,
    )
    clock = VirtualClock(START)
    broker = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        scenario="trend",
        seed=settings.sim.seed,
        clock=clock,
        starting_balances={"USD": settings.sim.starting_cash},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store)
    metrics = BotMetrics(profile="dev", broker=broker.name)
    for _ in range(300):
        clock.advance(settings.interval_seconds)
        report = run_cycle(ctx, clock)
        metrics.observe_cycle(report, now=report.started_at)
    write_health(
        settings.health_path,
        ok=report.ok,
        now=report.started_at,
        last_cycle=report.cycle,
        message="trading",
        profile="dev",
        broker=broker.name,
        equity=report.equity.quantize(Decimal("0.01")),
        daily_pnl=report.daily_pnl.quantize(Decimal("0.01")),
        daily_pnl_pct=report.daily_pnl_pct,
        open_positions=report.open_positions,
        modes=report.modes,
        stale_symbols=report.stale_symbols,
        cycle_duration_ms=round(report.duration_s * 1000, 3),
    )
    metrics.write_snapshot(settings.profile_dir / "metrics.prom")
    held = {s for s, p in store.positions().items() if not p.is_flat}
    store.close()
    yield Session(tmp / "data", settings.profile_dir, report.equity, report.cycle, held)


def frame(data_dir: Path, *argv: str, width: int = 160) -> tuple[int, str]:
    args = build_parser("perps_dashboard.py").parse_args(
        ["--data-dir", str(data_dir), "--once", *argv]
    )
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False)
    code = run(args, console=console)
    return code, out.getvalue()


def test_one_frame_shows_every_section(session: Session) -> None:
    code, text = frame(session.data_dir, "--profile", "dev")
    assert code == 0
    for title in SECTIONS:
        assert title in text, title
    assert f"{session.equity.quantize(Decimal('0.01')):,.2f}" in text  # equity
    assert f"#{session.last_cycle}" in text  # last cycle
    assert "OK" in text and "trading" in text  # health
    for symbol in session.held:  # positions with unrealized PnL
        assert symbol in text
    assert "unrealized" in text
    assert "daily_loss" in text and "position_count" in text  # guard levels
    assert "modes in force" in text and "normal" in text
    assert "fill rate" in text and "rejection rate" in text  # order rates over the window
    assert "BTC-USD" in text and "fresh" in text  # market data ages (from the snapshot)
    assert "snapshot" in text
    assert "cycle 300:" in text  # the last events


def test_a_narrow_terminal_stacks_the_panels(session: Session) -> None:
    code, text = frame(session.data_dir, "--profile", "dev", width=80)
    assert code == 0
    assert all(len(line) <= 80 for line in text.splitlines())
    for title in SECTIONS:
        assert title in text, title


def test_script_and_cli_print_a_frame(session: Session) -> None:
    env = {**os.environ, "PERPS_DATA_DIR": str(session.data_dir), "COLUMNS": "150"}
    for command in (
        [sys.executable, str(SCRIPT), "--profile", "dev", "--once"],
        [sys.executable, "-m", "trading_core.cli.main", "dashboard", "--profile", "dev", "--once"],
    ):
        result = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        for title in SECTIONS:
            assert title in result.stdout, (command, title)


def test_the_live_mode_refreshes_until_ctrl_c(session: Session) -> None:
    env = {**os.environ, "PERPS_DATA_DIR": str(session.data_dir), "COLUMNS": "150"}
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--profile", "dev", "--refresh", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    chunks: list[bytes] = []

    def read() -> None:
        assert proc.stdout is not None
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
            chunks.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while b"".join(chunks).count(b"Guards and modes") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"".join(chunks).count(b"Guards and modes") >= 2, "no second frame"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)


def test_the_dashboard_looks_for_the_snapshot_where_the_bot_writes_it() -> None:
    from trading_core.telemetry import dashboard_args, snapshot

    assert dashboard_args.SNAPSHOT_NAME == snapshot.SNAPSHOT_NAME


def test_no_store_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = frame(tmp_path, "--profile", "canary")
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no event store" in err[0] and "canary" in err[0]


@pytest.mark.parametrize("bad", [["--refresh", "0"], ["--window-min", "x"], ["--events", "0"]])
def test_bad_options_exit_2(bad: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--once", *bad],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_latched_modes_and_critical_guards_are_shown(tmp_path: Path) -> None:
    now = START
    with EventStore(tmp_path / "dev" / "events.db") as store:
        store.append_event(
            "cycle",
            ts=now,
            cycle=9,
            message="cycle 9",
            payload={
                "equity": "98000.00",
                "daily_pnl": "-2000.00",
                "daily_pnl_pct": "-0.02",
                "modes": "reduce-only,halted",
                "guards": {"daily_loss": "critical:-0.02", "error_rate": "ok:0.0000"},
                "stale": ["ETH-USD"],
                "state": {"last_mid": {"BTC-USD": "95000", "ETH-USD": "3000"}},
            },
        )
        store.set_state(
            "guards",
            {
                "daily_loss": {
                    "level": "critical",
                    "value": "-0.02",
                    "warning": "-0.01",
                    "critical": "-0.02",
                    "action": "reduce_only",
                    "reason": "daily loss -2.00% of start-of-day equity",
                    "severity": "SEV-2",
                    "since": "2026-03-02T11:59:00.000Z",
                    "updated_at": "2026-03-02T11:59:00.000Z",
                }
            },
            now,
        )
        store.set_state(
            "modes",
            {
                "reduce_only": {
                    "on": True,
                    "set_by": "guard:daily_loss",
                    "reason": "daily loss -2.00%",
                    "set_at": "2026-03-02T11:59:00.000Z",
                    "until": None,
                },
                "kill_switch": {"on": False, "set_by": "operator", "reason": ""},
            },
            now,
        )
    code, text = frame(tmp_path, "--profile", "dev")
    assert code == 0
    assert "reduce-only,halted" in text
    assert "latched reduce_only by guard:daily_loss" in text
    assert "kill_switch" not in text.split("Guards and modes", 1)[1].split("guard ", 1)[0]
    row = next(line for line in text.splitlines() if "daily_loss" in line and "critical" in line)
    assert "-0.01" in row and "reduce_only" in row
    assert "ETH-USD" in text and "STALE" in text
    assert "no health.json" in text  # missing health is shown, not fatal
    assert "-2,000.00 (-2.00%)" in text


def _fill(
    n: int,
    ts: datetime,
    symbol: str = "BTC-USD",
    side: OrderSide = OrderSide.BUY,
    size: str = "1",
    price: str = "100",
) -> Fill:
    return Fill(
        fill_id=f"f{n:06d}",
        order_id=f"o{n}",
        client_order_id=f"c{n}",
        symbol=symbol,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal("0.1"),
        liquidity=Liquidity.TAKER,
        time=ts,
    )


def _books(store: EventStore) -> dict[str, tuple[Decimal, Decimal]]:
    return {
        s: (p.quantity, p.avg_entry_price) for s, p in store.positions().items() if not p.is_flat
    }


def _shown(source: DashboardSource) -> dict[str, tuple[Decimal, Decimal]]:
    data = source.collect(START, timedelta(minutes=15), wall=0)
    return {r.symbol: (r.quantity, r.avg_entry) for r in data.positions}


def test_positions_follow_new_fills_between_frames(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store:
        store.append_event("cycle", ts=START, cycle=1, payload={"state": {"last_mid": {}}})
        for n in range(3):
            store.record_fill(_fill(n, START))
    source = DashboardSource(path, tmp_path / "health.json")
    with source:
        assert _shown(source) == {"BTC-USD": (Decimal(3), Decimal(100))}
        with EventStore(path) as store:
            store.record_fill(_fill(3, START, price="104"))  # same instant, later id: new
            store.record_fill(_fill(4, START + timedelta(seconds=5), side=OrderSide.SELL))
            store.record_fill(_fill(5, START + timedelta(seconds=5), symbol="ETH-USD"))
            expected = _books(store)
        assert (
            _shown(source)
            == expected
            == {
                "BTC-USD": (Decimal(3), Decimal(101)),
                "ETH-USD": (Decimal(1), Decimal(100)),
            }
        )
        assert source._books.rebuilds == 1  # the new fills were applied, not replayed
        assert _shown(source) == expected  # nothing new: the same
        with EventStore(path) as store:  # a late fill, older than the newest: rebuilt
            store.record_fill(_fill(6, START - timedelta(seconds=5), size="2", price="90"))
            expected = _books(store)
        assert _shown(source) == expected
        assert source._books.rebuilds == 2


def test_positions_equal_the_full_replay_through_flats_and_flips(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    path = tmp_path / "events.db"
    held = {"BTC-USD": Decimal(0), "ETH-USD": Decimal(0), "SOL-USD": Decimal(0)}
    with EventStore(path) as store:
        store.append_event("cycle", ts=START, cycle=1, payload={})
        for n in range(600):
            symbol = rng.choice(sorted(held))
            if held[symbol] and rng.random() < 0.2:  # close exactly: a flat point
                side = OrderSide.SELL if held[symbol] > 0 else OrderSide.BUY
                size = abs(held[symbol])
            else:  # flips happen when a sell is larger than the holding
                side = rng.choice([OrderSide.BUY, OrderSide.SELL])
                size = Decimal(rng.randint(1, 40)) / 10
            held[symbol] += size if side is OrderSide.BUY else -size
            price = str(Decimal(rng.randint(9000, 11000)) / 100)
            ts = START + timedelta(seconds=n // 2)  # pairs of fills share an instant
            store.record_fill(_fill(n, ts, symbol, side, str(size), price))
        expected = _books(store)
    assert expected  # the sequence ends with open positions
    with DashboardSource(path, tmp_path / "health.json") as source:
        assert _shown(source) == expected


def test_order_rates_sum_the_cycles_of_the_window(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "events.db"
    with EventStore(path) as store:
        for n in range(30):  # one cycle a minute; the window holds the last 15
            ts = START - timedelta(minutes=29 - n)
            store.append_event(
                "cycle",
                ts=ts,
                cycle=n,
                payload={
                    "signals": {"BTC-USD": "BUY"},
                    "submitted": 1,
                    "blocked": 1 if n % 3 == 0 else 0,
                    "rejected": 1 if n % 5 == 0 else 0,
                    "fills": 1,
                    "operations": 10,
                    "failures": 2 if n % 2 else 0,
                },
            )
            store.append_event("order_filled", ts=ts, symbol="BTC-USD", message="filled")
    with DashboardSource(path, tmp_path / "health.json") as source:
        data = source.collect(START, timedelta(minutes=15), wall=0)
    counts = data.window_counts
    window = range(14, 30)  # cycles at START-15min .. START
    assert counts["cycles"] == 16 and counts["signals"] == 16 and counts["filled"] == 16
    assert counts["blocked"] == sum(1 for n in window if n % 3 == 0)
    assert counts["rejected"] == sum(1 for n in window if n % 5 == 0)
    assert counts["failures"] == sum(2 for n in window if n % 2)
    assert data.rate("failures", "operations") == counts["failures"] / 160
    code, text = frame(tmp_path, "--profile", "dev")
    assert code == 0
    assert "error rate" in text and f"{counts['failures'] / 160:.0%} of operations" in text


def test_positions_carried_by_the_cycle_event_need_no_fills(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store:
        store.record_fill(_fill(1, START))  # the books in the event win: no replay
        store.append_event(
            "cycle",
            ts=START,
            cycle=1,
            payload={
                "positions": {
                    "ETH-USD": {
                        "quantity": "2",
                        "avg_entry_price": "3000",
                        "realized_pnl": "5",
                        "fees": "1",
                    }
                },
                "state": {"last_mid": {"ETH-USD": "3100"}},
            },
        )
    with DashboardSource(path, tmp_path / "health.json") as source:
        data = source.collect(START, timedelta(minutes=15), wall=0)
    [row] = data.positions
    assert (row.symbol, row.quantity, row.mark) == ("ETH-USD", Decimal(2), Decimal(3100))
    assert (row.notional, row.unrealized) == (Decimal(6200), Decimal(200))


def _big_store(path: Path, events: int) -> None:
    """A store with ``events`` events (five-second cycles and their companions) and fills."""
    EventStore(path).close()  # schema
    conn = sqlite3.connect(path)
    types = ["cycle"] * 6 + ["decision", "order_submitted", "order_filled", "fill", "risk_block"]
    t0 = START - timedelta(seconds=5 * events)
    payload = json.dumps({"equity": "100000.00", "state": {"last_mid": {"BTC-USD": "95000"}}})
    rows = (
        (
            (t0 + timedelta(seconds=5 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            types[i % len(types)],
            "info",
            "BTC-USD" if i % 3 else None,
            i,
            f"event {i}",
            payload if types[i % len(types)] == "cycle" else None,
        )
        for i in range(events)
    )
    conn.executemany(
        "INSERT INTO events (ts, type, severity, symbol, cycle, message, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.commit()
    conn.close()


def test_a_large_store_is_read_with_bounded_indexed_queries(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    _big_store(path, 100_000)
    with EventStore.open_readonly(path) as store:
        since = START - timedelta(minutes=15)
        plans = {
            "window count": store.explain_events("order_filled", since=since),
            "window cycles": store.explain_events(
                "cycle", since=since, limit=2000, newest_first=True
            ),
            "last cycle": store.explain_events("cycle", limit=1, newest_first=True),
            "last events": store.explain_events(limit=12, newest_first=True),
        }
    for what, plan in plans.items():
        text = " ".join(plan)
        assert "USING INDEX" in text or "USING COVERING INDEX" in text, (what, plan)
        assert "TEMP B-TREE" not in text, (what, plan)
    source = DashboardSource(path, tmp_path / "health.json")
    with source:
        data = source.collect(START, timedelta(minutes=15), wall=0)
    assert data.last_cycle is not None and data.anchor == data.last_cycle.ts
    conn = sqlite3.connect(path)
    since_text = (data.anchor - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expected = dict(
        conn.execute(
            "SELECT type, count(*) FROM events WHERE ts >= ? GROUP BY type", (since_text,)
        ).fetchall()
    )
    conn.close()
    assert data.window_counts["filled"] == expected["order_filled"] > 0
    assert data.window_counts["cycles"] == expected["cycle"] > 0
    assert len(data.recent) == 12
