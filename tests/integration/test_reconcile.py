"""Reconciliation at start: the store brought in line with the venue before any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading_core.brokers.paper import PaperBroker
from trading_core.clock import VirtualClock
from trading_core.config import Settings, load_settings
from trading_core.domain import Fill, Liquidity, OrderRequest, OrderSide, OrderType, TimeInForce
from trading_core.errors import BrokerError, ErrorKind
from trading_core.runner import Bot, RunOptions
from trading_core.store.event_store import EventStore

START = datetime(2030, 5, 4, 10, 0, tzinfo=UTC)  # ahead of the wall clock: no catch-up between runs


def settings_for(tmp_path: Path) -> Settings:
    return load_settings(
        "dev",
        cli={
            "data_dir": tmp_path / "data",
            "log_dir": tmp_path / "logs",
            "sim": {"start_time": START.isoformat()},
        },
        environ={},
        dotenv_path=None,
    )


def run(settings: Settings, cycles: int = 1) -> Any:
    return Bot(settings, RunOptions(max_cycles=cycles, fast_forward=True)).run()


def venue(settings: Settings) -> tuple[PaperBroker, VirtualClock]:
    """The paper exchange as an operator would reach it between two runs of the bot."""
    import json

    saved = json.loads(settings.paper_state_path.read_text())
    clock = VirtualClock(
        datetime.fromisoformat(saved["market"]["time"].replace("Z", "+00:00"))
        if "time" in saved.get("market", {})
        else START
    )
    broker = PaperBroker.open(
        settings.paper_state_path, symbols=list(settings.symbols), clock=clock
    )
    return broker, clock


def reconcile_events(settings: Settings) -> list[Any]:
    store = EventStore.open_readonly(settings.store_path)
    try:
        return store.events(type="reconcile")
    finally:
        store.close()


def test_hand_placed_orders_are_adopted_and_missed_fills_applied_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run(settings)
    broker, _ = venue(settings)
    bid = broker.get_quote("ETH-USD").bid
    resting = broker.submit_order(
        OrderRequest(
            "by-hand-1",
            "ETH-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("0.5"),
            limit_price=(bid * Decimal("0.9")).quantize(Decimal("0.01")),
        )
    )
    broker.submit_order(
        OrderRequest(
            "by-hand-2",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.MARKET,
            base_size=Decimal("0.01"),
            time_in_force=TimeInForce.IOC,
        )
    )
    broker.save()
    broker.close()
    run(settings)
    event = reconcile_events(settings)[-1]
    assert event.severity == "info" and event.payload["breaches"] == []
    assert resting.order_id in event.payload["adopted"]
    assert event.payload["fills_applied"] >= 1
    store = EventStore.open_readonly(settings.store_path)
    try:
        assert store.get_order("by-hand-1") is not None
        assert store.positions()["BTC-USD"].quantity == Decimal("0.01")
    finally:
        store.close()
    run(settings)  # a second start applies nothing twice
    assert reconcile_events(settings)[-1].payload["fills_applied"] == 0


def test_a_fill_the_venue_never_made_is_a_sev1_breach_and_reduce_only(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run(settings)
    store = EventStore(settings.store_path)
    store.record_fill(
        Fill(
            "ghost-1",
            "o-ghost",
            "c-ghost",
            "SOL-USD",
            OrderSide.BUY,
            Decimal("180"),
            Decimal("3"),
            Decimal("0"),
            Liquidity.TAKER,
            START + timedelta(seconds=1),
        )
    )
    store.commit()
    store.close()
    summary = run(settings, cycles=2)
    event = reconcile_events(settings)[-1]
    assert event.severity == "critical" and event.payload["sev"] == "SEV-1"
    assert "SOL-USD" in event.payload["breaches"][0]
    assert summary.last is not None and "reduce-only" in summary.last.modes


class UnreadableVenue:
    """The paper broker whose order listing fails while ``failing`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_orders(self, *args: Any, **kwargs: Any) -> Any:
        if self.failing:
            raise BrokerError("venue unreachable", kind=ErrorKind.RETRYABLE)
        return self.inner.list_orders(*args, **kwargs)


def test_no_order_before_reconciliation_passes(tmp_path: Path, monkeypatch: Any) -> None:
    import trading_core.brokers.factory as factory

    real_open = factory.open_broker
    wrappers: list[UnreadableVenue] = []

    def open_unreadable(settings: Settings, **kwargs: Any) -> Any:
        broker, clock = real_open(settings, **kwargs)
        wrapper = UnreadableVenue(broker)
        wrappers.append(wrapper)
        return wrapper, clock

    monkeypatch.setattr(factory, "open_broker", open_unreadable)
    settings = load_settings(
        "dev",
        cli={
            "data_dir": tmp_path / "data",
            "log_dir": tmp_path / "logs",
            "sim": {"start_time": START.isoformat(), "scenario": "trend"},
            "strategy": {"bar_seconds": 60},
        },
        environ={},
        dotenv_path=None,
    )
    summary = run(settings, cycles=200)
    assert summary.orders == 0
    assert summary.last is not None and summary.last.modes == "kill-switch"
    assert summary.blocked > 0  # the strategy wanted to trade all along


def test_cash_moved_outside_the_fills_is_reported_once_not_a_breach(
    tmp_path: Path, monkeypatch: Any
) -> None:
    # a venue where deposits happen (Coinbase says so; the paper venue, made to say so here)
    monkeypatch.setattr(PaperBroker, "cash_moves_outside", True)
    settings = settings_for(tmp_path)
    run(settings, cycles=3)
    assert reconcile_events(settings)[-1].payload["cash_unexplained"] == {}
    broker, _ = venue(settings)
    broker.engine.accounts.credit("USD", Decimal("2500"))  # an operator's deposit
    broker.save()
    broker.close()
    run(settings)
    event = reconcile_events(settings)[-1]
    assert event.severity == "warning" and event.payload["breaches"] == []
    assert {k: Decimal(v) for k, v in event.payload["cash_unexplained"].items()} == {
        "USD": Decimal("2500")
    }
    assert "cash moved outside the bot's fills: USD 2500" in event.message
    store = EventStore.open_readonly(settings.store_path)
    try:
        latches = store.get_state("modes") or {}
        assert not (latches.get("reduce_only") or {}).get("on")
    finally:
        store.close()
    run(settings)  # the deposit is the new baseline
    assert reconcile_events(settings)[-1].payload["cash_unexplained"] == {}


def test_cash_no_fill_explains_on_the_paper_venue_is_a_breach(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run(settings, cycles=3)
    broker, _ = venue(settings)
    broker.engine.accounts.debit("USD", Decimal("12.34"))  # money vanished: a venue bug
    broker.save()
    broker.close()
    run(settings)
    event = reconcile_events(settings)[-1]
    assert event.severity == "critical" and event.payload["sev"] == "SEV-1"
    assert event.payload["breaches"] == [
        "USD: cash moved by -12.34 that no fill explains, on a venue where only the bot's fills "
        "move it"
    ]
    store = EventStore.open_readonly(settings.store_path)
    try:
        latch = (store.get_state("modes") or {}).get("reduce_only") or {}
        assert latch.get("on") and latch.get("set_by") == "reconcile"
    finally:
        store.close()
