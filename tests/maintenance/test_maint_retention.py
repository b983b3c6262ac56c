"""Event retention: quiet cycle events past the horizon thinned to one an hour, nothing else."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.cli.events_cmd import run_events
from trading_core.cli.main import build_parser
from trading_core.domain import Fill, Liquidity, OrderSide
from trading_core.maintenance.retention import thin_events
from trading_core.runner import Bot, RunOptions
from trading_core.store.event_store import EventStore

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)


def acted(n: int) -> bool:
    """Whether seeded cycle n+1 acted or warned (see ``seed``): those are always kept."""
    return n % 50 == 7 or n % 97 == 13 or n % 61 == 5


def quiet(**extra: object) -> dict[str, object]:
    return {
        "submitted": 0,
        "fills": 0,
        "blocked": 0,
        "rejected": 0,
        "failures": 0,
        "signals": {},
        "state": {"cycle": 0},
        **extra,
    }


def seed(path: Path) -> dict[str, int]:
    """Two days of cycles every 5 minutes (576): some acted, some warned; other events; a fill."""
    expected = {"kept_active": 0}
    with EventStore(path) as store:
        for n in range(576):
            ts = DAY0 + timedelta(minutes=5 * n)
            payload = quiet(state={"cycle": n + 1})
            severity = "info"
            if n % 50 == 7:
                payload["signals"] = {"BTC-USD": "BUY"}
                payload["submitted"] = 1
                expected["kept_active"] += 1
            elif n % 97 == 13:
                severity = "warning"
                expected["kept_active"] += 1
            elif n % 61 == 5:
                payload["fills"] = 1  # a fill of a resting order, no signal
                expected["kept_active"] += 1
            store.append_event("cycle", ts=ts, cycle=n + 1, severity=severity, payload=payload)
            if n % 100 == 0:
                store.append_event("guard", ts=ts, message="a guard event")
        store.record_fill(
            Fill(
                "f-1",
                "o-1",
                "c-1",
                "BTC-USD",
                OrderSide.BUY,
                Decimal("50000"),
                Decimal("0.01"),
                Decimal("0.6"),
                Liquidity.TAKER,
                DAY0 + timedelta(hours=1),
            )
        )
        store.commit()
    return expected


def test_quiet_cycles_thin_to_one_an_hour_and_nothing_else_goes(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    expected = seed(path)
    # the horizon: the end of the first day, so only day one is thinned
    result = thin_events(path, now=DAY0 + timedelta(days=1, hours=1), keep_days=1 / 24)
    with EventStore.open_readonly(path) as store:
        cycles = store.events("cycle", limit=10_000)
        day_one = [e.cycle for e in cycles if e.ts < DAY0 + timedelta(days=1)]
        day_two = [e for e in cycles if e.ts >= DAY0 + timedelta(days=1)]
        # cycle n+1 ran at minute 5n: the first of an hour is n % 12 == 0
        assert day_one == [n + 1 for n in range(288) if n % 12 == 0 or acted(n)]
        assert len(day_two) == 288  # younger than the horizon: untouched
        assert result.deleted == 576 - len(cycles) and result.cycles_left == len(cycles)
        assert store.count_events("guard") == 6 and len(store.list_fills()) == 1
        assert store.integrity_check() == "ok"
    assert expected["kept_active"] > 0


def test_the_newest_cycle_survives_and_the_bot_resumes_from_it(tmp_path: Path) -> None:
    from trading_core.config import load_settings

    settings = load_settings(
        "dev",
        cli={
            "data_dir": tmp_path / "data",
            "log_dir": tmp_path / "logs",
            "interval_seconds": 60,
            "sim": {"start_time": "2031-01-06T00:00:00+00:00"},
        },
        environ={},
        dotenv_path=None,
    )
    Bot(settings, RunOptions(max_cycles=400, fast_forward=True)).run()
    far_future = datetime(2040, 1, 1, tzinfo=UTC)
    result = thin_events(settings.store_path, now=far_future, keep_days=0, vacuum=True)
    assert result.deleted > 300 and result.cycles_left < 100
    assert result.bytes_after < result.bytes_before
    summary = Bot(settings, RunOptions(max_cycles=2, fast_forward=True)).run()
    assert summary.exit_code == 0
    with EventStore.open_readonly(settings.store_path) as store:
        last = store.last_event("cycle")
        assert last is not None and last.cycle == 402  # carried on from the kept state


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["events", "prune", *argv])


def test_prune_command(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "events.db"
    path.parent.mkdir()
    seed(path)
    out, err = io.StringIO(), io.StringIO()
    args = _args("--data-dir", str(tmp_path), "--keep-days", "0.5", "--json")
    assert run_events(args, now=DAY0 + timedelta(days=3), stdout=out, stderr=err) == 0
    assert '"deleted": ' in out.getvalue() and err.getvalue() == ""
    missing = _args("--data-dir", str(tmp_path / "nowhere"))
    assert run_events(missing, now=DAY0, stdout=out, stderr=err) == 2
    assert err.getvalue().count("\n") == 1 and "does not exist" in err.getvalue()
    assert not (tmp_path / "nowhere").exists()  # never creates a store
    with pytest.raises(SystemExit) as bad:
        _args("--keep-days", "-1")
    assert bad.value.code == 2
