"""run_cycle on the paper broker, in process: real SQLite store, real simulated exchange."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading_core.brokers.paper import PaperBroker
from trading_core.clock import VirtualClock
from trading_core.config import Settings, load_settings
from trading_core.cycle import TradingContext, load_bot_state, run_cycle
from trading_core.domain import Order, OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from trading_core.risk import TradingModes
from trading_core.runner import Bot, RunOptions
from trading_core.store.event_store import EventStore

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def settings_for(tmp_path: Path, **cli: Any) -> Settings:
    """Settings for in-process runs: 1-minute bars so a few hundred 5 s cycles trade."""
    cli.setdefault("strategy", {"bar_seconds": 60})
    cli.setdefault("data_dir", tmp_path / "data")
    cli.setdefault("log_dir", tmp_path / "logs")
    return load_settings("dev", cli=cli, environ={}, dotenv_path=None)


@dataclass
class Rig:
    settings: Settings
    clock: VirtualClock
    broker: PaperBroker
    store: EventStore
    ctx: TradingContext

    def cycles(self, n: int) -> list[Any]:
        reports = []
        for _ in range(n):
            self.clock.advance(self.settings.interval_seconds)
            reports.append(run_cycle(self.ctx, self.clock))
        return reports


def make_rig(
    tmp_path: Path, *, start: datetime = START, modes: TradingModes | None = None, **cli: Any
) -> Rig:
    settings = settings_for(tmp_path, **cli)
    clock = VirtualClock(start)
    broker = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        scenario=settings.sim.scenario,
        seed=settings.sim.seed,
        clock=clock,
        starting_balances={"USD": settings.sim.starting_cash},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store, modes=modes)
    return Rig(settings, clock, broker, store, ctx)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = make_rig(tmp_path, sim={"scenario": "trend"})
    yield r
    r.store.close()


def test_one_cycle_end_to_end(rig: Rig) -> None:
    report = rig.cycles(1)[0]
    assert report.ok and report.cycle == 1 and report.quotes_ok == 10
    assert report.equity == Decimal("100000")
    # durable before the report: a second, read-only connection sees the cycle
    reader = EventStore.open_readonly(rig.settings.store_path)
    try:
        assert [e.type for e in reader.events(type="cycle")] == ["cycle"]
        assert load_bot_state(reader)["cycle"] == 1  # type: ignore[index]
    finally:
        reader.close()


def test_trading_cycles_fill_orders_and_books_match_the_venue(rig: Rig) -> None:
    reports = rig.cycles(400)
    assert sum(r.fills for r in reports) > 0
    # the bot's books (from its own fills) equal the venue's positions
    venue = {p.symbol: p.quantity for p in rig.broker.list_positions() if not p.is_flat}
    books = {s: p.quantity for s, p in rig.store.positions().items() if not p.is_flat}
    assert books == venue
    for order in rig.store.list_orders():
        assert order.status is OrderStatus.FILLED
    # a fill is never applied twice
    fill_ids = [f.fill_id for f in rig.store.list_fills()]
    assert len(fill_ids) == len(set(fill_ids))


def test_kill_switch_blocks_every_order(tmp_path: Path) -> None:
    r = make_rig(tmp_path, modes=TradingModes(kill_switch=True), sim={"scenario": "trend"})
    reports = r.cycles(300)
    assert sum(r_.submitted for r_ in reports) == 0
    assert sum(r_.blocked for r_ in reports) > 0
    assert r.broker.list_orders() == [] and r.store.list_orders() == []
    r.store.close()


def test_reduce_only_sells_but_never_buys(tmp_path: Path) -> None:
    r = make_rig(tmp_path, sim={"scenario": "trend"})
    r.cycles(300)
    held = {p.symbol for p in r.broker.list_positions() if not p.is_flat}
    assert held, "the trend scenario should leave positions"
    buys_before = len([o for o in r.broker.list_orders() if o.side is OrderSide.BUY])
    r.ctx.mode_control.set_latch(
        "reduce_only", True, now=r.clock.now(), set_by="test", reason="operator says so"
    )
    r.store.commit()
    r.ctx.strategy.trailing_stop_pct = Decimal("0.0001")  # type: ignore[attr-defined]
    r.ctx.strategy._keep = Decimal("0.9999")  # type: ignore[attr-defined]
    r.cycles(200)
    buys_after = len([o for o in r.broker.list_orders() if o.side is OrderSide.BUY])
    sells = [o for o in r.broker.list_orders() if o.side is OrderSide.SELL]
    assert buys_after == buys_before
    assert sells  # exits still go through
    r.store.close()


def test_utc_midnight_resets_the_day(tmp_path: Path) -> None:
    r = make_rig(
        tmp_path, start=datetime(2026, 3, 2, 23, 58, tzinfo=UTC), sim={"scenario": "trend"}
    )
    reports = r.cycles(60)  # 5 minutes across midnight
    days = {rep.started_at.date() for rep in reports}
    assert len(days) == 2
    first_new = next(rep for rep in reports if rep.started_at.day == 3)
    assert first_new.daily_pnl == 0 and first_new.day_start_equity == first_new.equity
    pnl_events = [e.message for e in r.store.events(type="pnl")]
    assert any("closed" in (m or "") for m in pnl_events)
    assert load_bot_state(r.store)["day"] == "2026-03-03"  # type: ignore[index]
    r.store.close()


def _trace(tmp_path: Path) -> list[tuple[str, str | None, str | None]]:
    r = make_rig(tmp_path, sim={"scenario": "trend", "seed": 11})
    r.cycles(250)
    trace = [(e.type, e.symbol, e.message) for e in r.store.events(limit=100000)]
    r.store.close()
    return trace


def test_same_seed_same_events(tmp_path: Path) -> None:
    a = _trace(tmp_path / "a")
    b = _trace(tmp_path / "b")
    assert any(t[0] == "order_filled" for t in a)
    assert a == b


def test_different_seed_different_events(tmp_path: Path) -> None:
    a = _trace(tmp_path / "a")
    r = make_rig(tmp_path / "c", sim={"scenario": "trend", "seed": 12})
    r.cycles(250)
    c = [(e.type, e.symbol, e.message) for e in r.store.events(limit=100000)]
    r.store.close()
    assert a != c


def test_restart_continues_positions_orders_and_day(tmp_path: Path) -> None:
    # a market ahead of the wall clock does not catch up between runs: the day stays the same
    start = datetime(2030, 3, 2, 12, 0, tzinfo=UTC).isoformat()
    settings = settings_for(tmp_path, sim={"scenario": "trend", "start_time": start})
    first = Bot(settings, RunOptions(max_cycles=300, fast_forward=True)).run()
    assert first.fills > 0 and first.last is not None
    before = first.last
    second = Bot(settings, RunOptions(max_cycles=1, fast_forward=True)).run()
    after = second.last
    assert after is not None
    assert after.cycle == before.cycle + 1
    assert after.day_start_equity == before.day_start_equity
    assert after.open_positions == before.open_positions


def test_intent_left_in_flight_is_resolved_before_trading(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, sim={"start_time": START.isoformat()})
    Bot(settings, RunOptions(max_cycles=1, fast_forward=True)).run()
    store = EventStore(settings.store_path)
    never_sent = Order.from_request(
        OrderRequest(
            "crash-1",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.MARKET,
            base_size=Decimal("0.001"),
            time_in_force=TimeInForce.IOC,
        ),
        order_id="",
        now=START,
    )
    store.upsert_order(never_sent)
    store.commit()
    store.close()
    Bot(settings, RunOptions(max_cycles=1, fast_forward=True)).run()
    store = EventStore(settings.store_path)
    resolved = store.get_order("crash-1")
    store.close()
    assert resolved is not None and resolved.status is OrderStatus.CANCELLED


def test_stop_event_finishes_cleanly(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, interval_seconds=0.05)
    stop = threading.Event()
    bot = Bot(settings, RunOptions(), stop=stop)
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    summary = bot.run()
    timer.join()
    assert summary.exit_code == 0 and summary.cycles >= 2
    store = EventStore.open_readonly(settings.store_path)
    try:
        assert store.last_event("lifecycle").payload["event"] == "stop"  # type: ignore[union-attr]
    finally:
        store.close()


def test_orders_in_one_cycle_respect_the_total_exposure_cap(
    tmp_path: Path, buy_when_flat: Any
) -> None:
    settings = settings_for(
        tmp_path,
        risk={"max_exposure_pct": "0.12"},
        strategy={"position_fraction": "0.05"},
    )
    clock = VirtualClock(START)
    broker = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        clock=clock,
        starting_balances={"USD": settings.sim.starting_cash},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store, strategy=buy_when_flat)
    clock.advance(5)
    report = run_cycle(ctx, clock)
    store.close()
    assert report.submitted == 2  # 5% + 5% fit under 12%; the third would make 15%
    assert report.blocked == 8
    assert report.exposure / report.equity <= Decimal("0.12")
