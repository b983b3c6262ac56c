"""The core sweep: each check exercises one surface on a throwaway paper exchange and store.

Offline and deterministic: a fresh simulated market (fixed seed and start) in a temporary
directory, so it never touches a profile's real data."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from ..brokers.paper import PaperBroker
from ..clock import VirtualClock
from ..config.settings import RiskSettings
from ..domain import (
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    positions_from_fills,
)
from ..risk import PreTradeRisk, RiskContext, TradingModes
from ..store.event_store import EventStore

START = datetime(2026, 1, 5, 12, tzinfo=UTC)
SYMBOLS = ["BTC-USD", "ETH-USD"]


@dataclass(frozen=True, slots=True)
class CoreResult:
    name: str
    ok: bool
    detail: str


@dataclass
class Sandbox:
    root: Path
    clock: VirtualClock
    broker: PaperBroker

    @classmethod
    def create(cls, root: Path) -> Sandbox:
        clock = VirtualClock(START)
        broker = PaperBroker.open(
            root / "paper.json",
            symbols=SYMBOLS,
            seed=7,
            clock=clock,
            starting_balances={"USD": Decimal(100000)},
        )
        return cls(root, clock, broker)


def _market(cid: str, side: OrderSide, size: str, symbol: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(
        cid, symbol, side, OrderType.MARKET, base_size=Decimal(size), time_in_force=TimeInForce.IOC
    )


def check_broker(box: Sandbox) -> CoreResult:
    products = {p.symbol for p in box.broker.list_products()}
    usd = next((b for b in box.broker.list_balances() if b.currency == "USD"), None)
    ok = set(SYMBOLS) <= products and usd is not None and usd.available == Decimal(100000)
    return CoreResult(
        "broker", ok, f"{len(products)} products, USD {usd.available if usd else '?'}"
    )


def check_market_data(box: Sandbox) -> CoreResult:
    quotes = [box.broker.get_quote(s) for s in SYMBOLS]
    candles = box.broker.get_candles("BTC-USD", 60, limit=50)
    sane = all(q.is_sane() for q in quotes) and len(candles) == 50
    sane = sane and all(not c.problems() for c in candles)
    return CoreResult(
        "market_data", sane, f"{len(quotes)} sane quotes, {len(candles)} clean candles"
    )


def check_streaming(box: Sandbox) -> CoreResult:
    first = box.broker.get_quote("BTC-USD")
    box.clock.advance(30)
    later = box.broker.get_quote("BTC-USD")
    moved = later.time > first.time
    return CoreResult(
        "streaming", moved, f"quote time advanced {(later.time - first.time).total_seconds():.0f}s"
    )


def check_orders(box: Sandbox) -> CoreResult:
    order = box.broker.submit_order(_market("vc-buy", OrderSide.BUY, "0.01"))
    again = box.broker.submit_order(_market("vc-buy", OrderSide.BUY, "0.01"))
    bid = box.broker.get_quote("BTC-USD").bid
    limit = box.broker.submit_order(
        OrderRequest(
            "vc-limit",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("0.01"),
            limit_price=(bid * Decimal("0.8")).quantize(Decimal("0.01")),
        )
    )
    cancelled = box.broker.cancel_orders([limit.order_id])
    ok = (
        order.status is OrderStatus.FILLED
        and again.order_id == order.order_id
        and limit.status is OrderStatus.OPEN
        and cancelled == {limit.order_id: True}
        and box.broker.get_order(limit.order_id).status is OrderStatus.CANCELLED
    )
    return CoreResult(
        "orders", ok, "market order filled, client id idempotent, limit rested and cancelled"
    )


def check_positions(box: Sandbox) -> CoreResult:
    box.broker.submit_order(_market("vc-p1", OrderSide.BUY, "0.02", "ETH-USD"))
    box.clock.advance(60)
    box.broker.submit_order(_market("vc-p2", OrderSide.SELL, "0.01", "ETH-USD"))
    fills = box.broker.list_fills("ETH-USD")
    buys = [f for f in fills if f.side is OrderSide.BUY]
    sells = [f for f in fills if f.side is OrderSide.SELL]
    avg = sum((f.price * f.size for f in buys), Decimal(0)) / sum(
        (f.size for f in buys), Decimal(0)
    )
    expected = sum(((f.price - avg) * f.size for f in sells), Decimal(0))
    ledger = positions_from_fills(fills)["ETH-USD"]
    venue = next(p for p in box.broker.list_positions() if p.symbol == "ETH-USD")
    ok = (
        ledger.quantity == Decimal("0.01")
        and venue.quantity == ledger.quantity
        and abs(ledger.realized_pnl - expected) < Decimal("0.0000001")
    )
    return CoreResult(
        "positions",
        ok,
        f"position {ledger.quantity}, realized {ledger.realized_pnl:.4f} (expected {expected:.4f})",
    )


def check_risk(box: Sandbox) -> CoreResult:
    risk = PreTradeRisk(RiskSettings())
    ctx = RiskContext(
        equity=Decimal(100000),
        price=Decimal(100),
        position_qty=Decimal(1),
        exposures={"BTC-USD": Decimal(100)},
        modes=TradingModes(reduce_only=True),
    )
    buy = risk.check(_market("r1", OrderSide.BUY, "1"), ctx)
    sell = risk.check(_market("r2", OrderSide.SELL, "1"), ctx)
    killed = risk.check(
        _market("r3", OrderSide.SELL, "1"),
        RiskContext(
            equity=Decimal(100000),
            price=Decimal(100),
            position_qty=Decimal(1),
            exposures={},
            modes=TradingModes(kill_switch=True),
        ),
    )
    ok = not buy.allowed and sell.allowed and not killed.allowed
    return CoreResult(
        "risk", ok, "reduce-only blocks a buy, allows the exit; kill switch blocks all"
    )


def check_state(box: Sandbox) -> CoreResult:
    store = EventStore(box.root / "events.db")
    try:
        order = box.broker.submit_order(_market("vc-s1", OrderSide.BUY, "0.001"))
        fill = box.broker.list_fills(order_id=order.order_id)[0]
        store.upsert_order(order)
        first = store.record_fill(fill)
        second = store.record_fill(fill)
        store.append_event("lifecycle", ts=box.clock.now(), message="verify_core")
        store.set_state("verify", {"n": 1}, box.clock.now())
        store.commit()
        back = store.get_order(order.client_order_id)
        ok = (
            back == order
            and first
            and not second
            and store.get_state("verify") == {"n": 1}
            and store.integrity_check() == "ok"
        )
    finally:
        store.close()
    return CoreResult("state", ok, "order, fill (once), event and state round-trip; integrity ok")


CHECKS: dict[str, Callable[[Sandbox], CoreResult]] = {
    "broker": check_broker,
    "market_data": check_market_data,
    "streaming": check_streaming,
    "orders": check_orders,
    "positions": check_positions,
    "risk": check_risk,
    "state": check_state,
}


def run_core_checks(names: list[str]) -> list[CoreResult]:
    results: list[CoreResult] = []
    with tempfile.TemporaryDirectory(prefix="verify_core_") as tmp:
        box = Sandbox.create(Path(tmp))
        for name in names:
            try:
                results.append(CHECKS[name](box))
            except Exception as exc:  # a surface that raises has failed its check
                results.append(CoreResult(name, False, f"raised {type(exc).__name__}: {exc}"))
            box.clock.advance(5)
    return results
