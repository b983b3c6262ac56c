"""Guard actions through run_cycle on the paper broker: cancels, halts, slippage refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading_core.brokers.paper import PaperBroker
from trading_core.clock import VirtualClock
from trading_core.config import load_settings
from trading_core.cycle import TradingContext, run_cycle
from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType
from trading_core.errors import BrokerError, ErrorKind
from trading_core.store.event_store import EventStore

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def rig(tmp_path: Path, broker_wrapper: Any = None, **cli: Any) -> tuple[Any, ...]:
    settings = load_settings(
        "dev", cli={"data_dir": tmp_path / "data", **cli}, environ={}, dotenv_path=None
    )
    clock = VirtualClock(START)
    paper = PaperBroker.open(
        settings.paper_state_path,
        symbols=list(settings.symbols),
        clock=clock,
        starting_balances={"USD": Decimal(100000)},
    )
    broker = broker_wrapper(paper) if broker_wrapper else paper
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, broker, store)
    return settings, clock, paper, store, ctx


def test_daily_loss_trip_cancels_resting_orders_that_add_exposure(tmp_path: Path) -> None:
    _, clock, paper, store, ctx = rig(tmp_path)
    bid = paper.get_quote("BTC-USD").bid
    resting = paper.submit_order(
        OrderRequest(
            "rest-1",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("0.01"),
            limit_price=(bid * Decimal("0.9")).quantize(Decimal("0.01")),
        )
    )
    assert resting.status is OrderStatus.OPEN
    clock.advance(5)
    run_cycle(ctx, clock)
    # the day started at 100k; now the account is worth 2.5 % less
    ctx.state.day_start_equity = Decimal("102600")
    clock.advance(5)
    report = run_cycle(ctx, clock)
    assert report.modes == "reduce-only"
    assert paper.get_order(resting.order_id).status is OrderStatus.CANCELLED
    cancels = [e for e in store.events(type="guard") if "cancelled" in (e.message or "")]
    assert cancels and cancels[0].payload["cancelled"] == [resting.order_id]
    store.close()


class FlakyQuotes:
    """The paper broker, but every quote fails while ``failing`` is set (a degraded venue)."""

    def __init__(self, inner: PaperBroker) -> None:
        self.inner = inner
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_quote(self, symbol: str) -> Any:
        if self.failing:
            raise BrokerError("503 from the venue", kind=ErrorKind.RETRYABLE)
        return self.inner.get_quote(symbol)


def test_error_rate_halts_trading_until_the_cooldown_passes(tmp_path: Path) -> None:
    _, clock, _, store, ctx = rig(tmp_path, FlakyQuotes, risk={"halt_cooldown_seconds": 120})
    broker = ctx.broker
    clock.advance(5)
    run_cycle(ctx, clock)
    broker.failing = True
    for _ in range(3):
        clock.advance(5)
        report = run_cycle(ctx, clock)
    assert report.failures == 10 and "halted" in report.modes
    critical = [e for e in store.events(type="guard") if e.payload.get("guard") == "error_rate"]
    assert critical and critical[-1].payload["level"] == "critical"
    broker.failing = False
    for _ in range(12):  # recovered, but the halt holds through its cooldown ...
        clock.advance(5)
        report = run_cycle(ctx, clock)
    assert "halted" in report.modes
    for _ in range(80):  # ... then lapses once the window has forgotten the failures
        clock.advance(5)
        report = run_cycle(ctx, clock)
    assert "halted" not in report.modes
    store.close()


def test_market_order_with_too_much_slippage_is_refused(tmp_path: Path, buy_when_flat: Any) -> None:
    settings = load_settings(
        "dev",
        cli={
            "data_dir": tmp_path / "data",
            "symbols": ["BTC-USD"],
            "risk": {
                "max_slippage_bps": "0.6",
                "max_position_pct": "1",
                "max_exposure_pct": "1",
                "max_symbol_notional": "1000000",
            },
            "strategy": {"position_fraction": "0.9"},
        },
        environ={},
        dotenv_path=None,
    )
    clock = VirtualClock(START)
    paper = PaperBroker.open(
        settings.paper_state_path,
        symbols=["BTC-USD"],
        clock=clock,
        starting_balances={"USD": Decimal(100000)},
    )
    store = EventStore(settings.store_path)
    ctx = TradingContext.build(settings, paper, store, strategy=buy_when_flat)
    clock.advance(5)
    report = run_cycle(ctx, clock)
    assert report.submitted == 0 and report.block_reasons == {"slippage": 1}
    assert paper.list_orders() == []
    store.close()


class FlakyAccount:
    """The paper broker whose account reads fail while ``failing`` is set."""

    def __init__(self, inner: PaperBroker) -> None:
        self.inner = inner
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_balances(self) -> Any:
        if self.failing:
            raise BrokerError("account endpoint timed out", kind=ErrorKind.RETRYABLE)
        return self.inner.list_balances()


def test_an_unreadable_account_is_not_a_loss(tmp_path: Path) -> None:
    _, clock, _, store, ctx = rig(tmp_path, FlakyAccount)
    clock.advance(5)
    report = run_cycle(ctx, clock)
    assert report.errors and "account read failed" in report.errors[0]
    assert report.modes == "normal"
    assert not [e for e in store.events(type="guard") if e.payload.get("guard") == "daily_loss"]
    ctx.broker.failing = False
    clock.advance(5)
    good = run_cycle(ctx, clock)
    assert good.ok and good.day_start_equity == Decimal(100000) and good.daily_pnl == 0
    ctx.broker.failing = True  # a later hiccup: the last good read stands in
    clock.advance(5)
    again = run_cycle(ctx, clock)
    assert again.equity == good.equity and again.modes == "normal"
    store.close()
