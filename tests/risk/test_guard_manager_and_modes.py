"""The guard manager (events, logs, latches, hysteresis, fail-closed) and the mode sources."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.config import RiskSettings
from trading_core.risk.guards.base import GuardLevel, GuardResult
from trading_core.risk.guards.inputs import GuardInputs
from trading_core.risk.guards.manager import GUARDS_KEY, GuardManager
from trading_core.risk.modes import ModeController, TradingModes
from trading_core.store.event_store import EventStore

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
D = Decimal


def snapshot(equity: str = "100000", **kw: object) -> GuardInputs:
    base: dict[str, object] = {
        "now": NOW,
        "equity": D(equity),
        "day_start_equity": D(100000),
        "equity_peak": D(100000),
        "open_positions": 1,
        "exposures": {"BTC-USD": D(5000)},
        "data_ages": {"BTC-USD": 1.0},
    }
    base.update(kw)
    return GuardInputs(**base)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = EventStore(tmp_path / "events.db")
    yield s
    s.close()


def manager(store: EventStore, **risk: object) -> GuardManager:
    modes = ModeController(store, env_file=None, environ={})
    return GuardManager(RiskSettings(**risk), store, modes)  # type: ignore[arg-type]


def test_trip_latches_reduce_only_writes_event_and_critical_log(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    m = manager(store)
    caplog.set_level(logging.WARNING, logger="trading_core.risk.guards")
    m.apply(m.evaluate(snapshot("97900")), now=NOW, cycle=1)
    store.commit()
    modes = m.modes.current(NOW)
    assert modes.reduce_only and "guard:daily_loss" in modes.sources["reduce_only"]
    events = store.events(type="guard")
    assert [e.payload["guard"] for e in events] == ["daily_loss"]
    assert events[0].severity == "critical" and events[0].payload["sev"] == "SEV-1"
    assert any(
        r.levelno == logging.CRITICAL and "daily_loss" in r.getMessage() for r in caplog.records
    )
    assert store.get_state(GUARDS_KEY)["daily_loss"]["level"] == "critical"


def test_no_event_while_level_unchanged_and_stepping_down_needs_three_evaluations(
    store: EventStore,
) -> None:
    m = manager(store)
    m.apply(m.evaluate(snapshot("98900")), now=NOW, cycle=1)  # warning
    for cycle in (2, 3):
        m.apply(m.evaluate(snapshot("98900")), now=NOW, cycle=cycle)
    assert len(store.events(type="guard")) == 1
    for cycle in (4, 5):  # back above -1 %: not yet
        m.apply(m.evaluate(snapshot("99500")), now=NOW, cycle=cycle)
    assert len(store.events(type="guard")) == 1
    m.apply(m.evaluate(snapshot("99500")), now=NOW, cycle=6)
    levels = [e.payload["level"] for e in store.events(type="guard")]
    assert levels == ["warning", "ok"]


def test_a_raising_guard_fails_closed_without_latching(store: EventStore) -> None:
    class Broken:
        name = "daily_loss"

        def evaluate(self, inputs: GuardInputs) -> GuardResult:
            raise ZeroDivisionError("boom")

    modes = ModeController(store, env_file=None, environ={})
    m = GuardManager(RiskSettings(), store, modes, guards=[Broken()])
    results = m.evaluate(snapshot())
    assert results[0].level is GuardLevel.CRITICAL and "boom" in results[0].reason
    restrictions = m.apply(results, now=NOW, cycle=1)
    assert restrictions.reduce_only  # protected orders blocked this cycle
    assert not modes.current(NOW).reduce_only  # but nothing latched
    assert store.events(type="guard")[0].severity == "error"


def test_error_rate_halt_holds_then_lapses_after_cooldown(store: EventStore) -> None:
    m = manager(store, halt_cooldown_seconds=600)
    m.apply(m.evaluate(snapshot(operations=100, failures=30)), now=NOW, cycle=1)
    assert m.modes.current(NOW).halted
    assert m.modes.current(NOW + timedelta(seconds=599)).halted
    assert not m.modes.current(NOW + timedelta(seconds=601)).halted


def test_a_short_halt_cooldown_holds_while_the_guard_stays_critical(store: EventStore) -> None:
    m = manager(store, halt_cooldown_seconds=10)
    for step in range(11):  # critical every 3 s for 30 s: three cooldowns' worth
        now = NOW + timedelta(seconds=3 * step)
        m.apply(m.evaluate(snapshot(operations=100, failures=30)), now=now, cycle=step + 1)
        assert m.modes.current(now + timedelta(seconds=2.9)).halted, step
    last = NOW + timedelta(seconds=30)
    assert not m.modes.current(last + timedelta(seconds=11)).halted  # lapses once it stops


def test_kill_switch_at_extreme_volatility(store: EventStore) -> None:
    m = manager(store)
    m.apply(m.evaluate(snapshot(volatility={"SOL-USD": 9.0})), now=NOW, cycle=1)
    assert m.modes.current(NOW).kill_switch


def test_stale_symbols_restricted_only_while_stale(store: EventStore) -> None:
    m = manager(store)
    stale = m.apply(
        m.evaluate(snapshot(data_ages={"BTC-USD": 1000.0, "ETH-USD": 3.0})), now=NOW, cycle=1
    )
    assert stale.blocked_symbols == {"BTC-USD"}
    fresh = m.apply(m.evaluate(snapshot(data_ages={"BTC-USD": 1.0})), now=NOW, cycle=2)
    assert fresh.blocked_symbols == frozenset()


def test_guard_state_survives_a_restart(store: EventStore, tmp_path: Path) -> None:
    m = manager(store)
    m.apply(m.evaluate(snapshot("97000")), now=NOW, cycle=1)
    store.commit()
    store.close()
    again = EventStore(tmp_path / "events.db")
    try:
        m2 = manager(again)
        assert m2.states()["daily_loss"]["level"] == "critical"
        assert m2.modes.current(NOW).reduce_only
        # still critical after the restart: no duplicate event
        m2.apply(m2.evaluate(snapshot("97000")), now=NOW, cycle=2)
        assert len(again.events(type="guard")) == 1
    finally:
        again.close()


def test_modes_follow_the_env_file_within_a_cycle(store: EventStore, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("RISK_KILL_SWITCH_ENABLED=0\n")
    controller = ModeController(store, env_file=env_file, environ={})
    assert not controller.current(NOW).kill_switch
    env_file.write_text("RISK_KILL_SWITCH_ENABLED=1\n")
    os.utime(env_file, (time.time() + 5, time.time() + 5))  # a new mtime even on coarse clocks
    modes = controller.current(NOW)
    assert modes.kill_switch and modes.sources["kill_switch"] == "RISK_KILL_SWITCH_ENABLED"


def test_start_flag_from_the_command_line_holds_for_the_run(store: EventStore) -> None:
    controller = ModeController(
        store, start=TradingModes(reduce_only=True), env_file=None, environ={}
    )
    assert controller.current(NOW).reduce_only
    # a start flag that the environment explains follows the environment instead
    env = {"RISK_REDUCE_ONLY_MODE": "1"}
    follows = ModeController(
        store, start=TradingModes(reduce_only=True), env_file=None, environ=env
    )
    env["RISK_REDUCE_ONLY_MODE"] = "0"
    assert not follows.current(NOW).reduce_only


def test_latch_cleared_explicitly(store: EventStore) -> None:
    controller = ModeController(store, env_file=None, environ={})
    controller.set_latch("kill_switch", True, now=NOW, set_by="cli:ops", reason="incident")
    assert controller.current(NOW).kill_switch
    controller.set_latch("kill_switch", False, now=NOW, set_by="cli:ops", reason="resolved")
    assert not controller.current(NOW).kill_switch
    with pytest.raises(ValueError, match="unknown mode"):
        controller.set_latch("turbo", True, now=NOW, set_by="x", reason="y")
