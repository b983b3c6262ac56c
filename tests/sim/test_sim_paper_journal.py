"""The paper venue's journal: every answered change survives a kill without a save."""

from __future__ import annotations

import os
import shutil
import stat
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading_core.brokers.paper import PaperBroker, journal_path
from trading_core.clock import VirtualClock
from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType, TimeInForce
from trading_core.errors import BrokerError, DataError
from trading_core.sim.codec import encode_fill, encode_order

START = datetime(2025, 3, 1, tzinfo=UTC)
SYMBOLS = ["BTC-USD", "ETH-USD"]


def market(cid: str, side: OrderSide, size: str = "0.01") -> OrderRequest:
    return OrderRequest(
        cid,
        "BTC-USD",
        side,
        OrderType.MARKET,
        base_size=Decimal(size),
        time_in_force=TimeInForce.IOC,
    )


def limit(cid: str, side: OrderSide, price: Decimal) -> OrderRequest:
    return OrderRequest(
        cid,
        "BTC-USD",
        side,
        OrderType.LIMIT,
        base_size=Decimal("0.01"),
        limit_price=price.quantize(Decimal("0.01")),
    )


def venue(broker: PaperBroker) -> dict[str, Any]:
    """Everything the venue answers for (the market's own path aside)."""
    engine = broker.engine
    return {
        "orders": sorted(
            (encode_order(o) for o in engine.list_orders(None, open_only=False)),
            key=lambda d: d["order_id"],
        ),
        "fills": [encode_fill(f) for f in engine.list_fills(None)],
        "balances": engine.accounts.to_state(),
        "positions": [(p.symbol, p.quantity, p.avg_entry_price) for p in engine.list_positions()],
        "counters": dict(engine._counters),
    }


def open_broker(path: Path, clock: VirtualClock) -> PaperBroker:
    return PaperBroker.open(path, symbols=SYMBOLS, scenario="trend", seed=3, clock=clock)


def trade(broker: PaperBroker, clock: VirtualClock, tag: str) -> None:
    """A market buy, a resting offer the rising market fills, a bid cancelled, a market sell."""
    broker.submit_order(market(f"{tag}-b1", OrderSide.BUY))
    clock.advance(30)
    mid = broker.get_quote("BTC-USD").mid
    broker.submit_order(limit(f"{tag}-rest", OrderSide.SELL, mid * Decimal("1.0005")))
    doomed = broker.submit_order(limit(f"{tag}-doomed", OrderSide.BUY, mid * Decimal("0.5")))
    for _ in range(40):
        clock.advance(15)
        broker.get_quote("BTC-USD")
    broker.cancel_orders([doomed.order_id])
    broker.submit_order(market(f"{tag}-b2", OrderSide.BUY, "0.02"))
    broker.submit_order(market(f"{tag}-s1", OrderSide.SELL, "0.005"))


def test_every_answered_change_survives_without_a_save(tmp_path: Path) -> None:
    path = tmp_path / "paper_exchange.json"
    clock = VirtualClock(START)
    a = open_broker(path, clock)
    trade(a, clock, "x")
    expected = venue(a)
    statuses = {o.client_order_id: o.status for o in a.list_orders()}
    assert statuses["x-rest"] is OrderStatus.FILLED  # matched while the market moved
    assert statuses["x-doomed"] is OrderStatus.CANCELLED
    # "killed": no save, the journal is all there is besides the opening snapshot
    assert journal_path(path).stat().st_size > 0
    a.close()  # what a kill does to its descriptors (the lock goes with them)
    b = open_broker(path, VirtualClock(START))
    assert venue(b) == expected
    assert b.server_time() >= a.engine.list_fills(None)[-1].time  # never before its own fills
    # and the restored venue carries on: ids continue, nothing is reused
    b.clock = VirtualClock(b.server_time())
    order = b.submit_order(market("y-b1", OrderSide.BUY))
    assert order.order_id not in {o["order_id"] for o in expected["orders"]}


def test_save_empties_the_journal_and_a_stale_journal_is_not_replayed_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "paper_exchange.json"
    clock = VirtualClock(START)
    a = open_broker(path, clock)
    trade(a, clock, "x")
    kept = tmp_path / "journal.before-save"
    shutil.copy(journal_path(path), kept)
    a.save()
    assert journal_path(path).stat().st_size == 0
    trade(a, clock, "y")
    expected = venue(a)
    # a crash between the snapshot and the truncate: old entries in front of the new ones
    a.close()
    journal = journal_path(path)
    journal.write_bytes(kept.read_bytes() + journal.read_bytes())
    assert venue(open_broker(path, VirtualClock(START))) == expected


def test_a_torn_last_line_is_ignored_and_damage_before_it_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "paper_exchange.json"
    clock = VirtualClock(START)
    a = open_broker(path, clock)
    a.submit_order(market("x-1", OrderSide.BUY))
    expected = venue(a)
    a.close()
    journal = journal_path(path)
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"time": "2025-03-01T00:0')  # a write the kill cut short
    b = open_broker(path, VirtualClock(START))
    assert venue(b) == expected
    b.close()
    journal.write_bytes(b"garbage\n" + whole)
    with pytest.raises(DataError, match="line 1 is damaged"):
        open_broker(path, VirtualClock(START))


def test_a_fresh_venue_drops_a_journal_left_without_its_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "paper_exchange.json"
    clock = VirtualClock(START)
    first = open_broker(path, clock)
    first.submit_order(market("x-1", OrderSide.BUY))
    first.close()
    path.unlink()  # an operator resetting the paper venue
    fresh = open_broker(path, VirtualClock(START))
    assert fresh.list_orders() == [] and journal_path(path).stat().st_size == 0


def test_venue_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "paper_exchange.json"
    broker = open_broker(path, VirtualClock(START))
    broker.submit_order(market("x-1", OrderSide.BUY))
    broker.save()
    broker.close()
    for file in (path, journal_path(path)):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_one_owner_at_a_time_and_readers_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "paper_exchange.json"
    clock = VirtualClock(START)
    owner = open_broker(path, clock)
    owner.submit_order(market("x-1", OrderSide.BUY))
    with pytest.raises(DataError, match=rf"in use by process {os.getpid()}"):
        open_broker(path, VirtualClock(START))
    reader = PaperBroker.open(
        path, symbols=SYMBOLS, scenario="trend", seed=3, clock=clock, readonly=True
    )
    assert [o.client_order_id for o in reader.list_orders()] == ["x-1"]
    before = {p: p.read_bytes() for p in (path, journal_path(path))}
    clock.advance(600)
    reader.get_quote("BTC-USD")  # its market moves in memory only
    with pytest.raises(BrokerError, match="read-only"):
        reader.submit_order(market("x-2", OrderSide.BUY))
    with pytest.raises(ValueError, match="read-only"):
        reader.save()
    assert {p: p.read_bytes() for p in before} == before
    owner.close()  # released: the next owner may come
    open_broker(path, VirtualClock(START)).close()
