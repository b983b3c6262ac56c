"""EventStore on real SQLite files: round trips, dedupe, transactions, queries, indexes, damage."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.domain import (
    Fill,
    Liquidity,
    Order,
    OrderEvent,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    StopDirection,
    TimeInForce,
)
from trading_core.errors import TradingError
from trading_core.store import EventStore, StoreError
from trading_core.store.schema import SCHEMA_VERSION

T0 = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = EventStore(tmp_path / "data" / "dev" / "events.db")
    yield s
    s.close()


def make_order(cid: str = "c-1", **changes: object) -> Order:
    fields: dict[str, object] = {
        "order_id": "venue-1",
        "client_order_id": cid,
        "symbol": "BTC-USD",
        "side": OrderSide.BUY,
        "order_type": OrderType.STOP_LIMIT,
        "time_in_force": TimeInForce.GTD,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1, microseconds=7),
        "base_size": Decimal("0.01000000"),
        "limit_price": Decimal("95000.12"),
        "stop_price": Decimal("94999.5E0"),
        "stop_direction": StopDirection.UP,
        "end_time": T0 + timedelta(days=1),
        "post_only": False,
        "reduce_only": True,
        "filled_size": Decimal("0.004"),
        "filled_value": Decimal("380.0004800"),
        "fees": Decimal("1.52000192"),
        "reject_reason": None,
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


def make_fill(fill_id: str, side: OrderSide, size: str, price: str, minutes: int = 0) -> Fill:
    return Fill(
        fill_id=fill_id,
        order_id="venue-1",
        client_order_id="c-1",
        symbol="BTC-USD",
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal("0.25"),
        liquidity=Liquidity.TAKER,
        time=T0 + timedelta(minutes=minutes),
    )


# ---------------------------------------------------------------- opening and schema


def test_new_store_creates_dirs_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "events.db"
    with EventStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"events", "orders", "fills", "state"} <= tables
    finally:
        conn.close()


def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store:
        store.append_event("lifecycle", ts=T0, message="start")
    with EventStore(path) as store:
        assert [e.message for e in store.events()] == ["start"]
        assert store.schema_version() == SCHEMA_VERSION


def test_schema_newer_than_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    EventStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this code"):
        EventStore(path)


def test_foreign_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE cats (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an event store"):
        EventStore(path)
    assert path.read_bytes() == before


def test_garbage_file_raises_one_line_error_naming_path_and_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    garbage = b"this is not a database\n" * 300
    path.write_bytes(garbage)
    for opener in (EventStore, EventStore.open_readonly):
        with pytest.raises(StoreError) as info:
            opener(path)
        assert isinstance(info.value, TradingError)
        assert str(path) in info.value.message
        assert "\n" not in info.value.message
        assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.db"]  # no -wal/-shm created


def test_corrupted_schema_page_raises_and_file_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store:
        store.append_event("cycle", ts=T0, message="x")
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # page 1 after the header: the schema table
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as info:
        EventStore(path)
    assert str(path) in info.value.message and "\n" not in info.value.message
    assert path.read_bytes() == bytes(data)


def test_integrity_check_reports_damaged_pages(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store:
        store.append_events(
            {"type": "cycle", "ts": T0 + timedelta(seconds=i), "message": "m" * 50}
            for i in range(2000)
        )
        store.commit()
        assert store.integrity_check() == "ok"
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 10 * page
    data[5 * page : 6 * page] = b"\x00\xff" * (page // 2)  # trash one page in the middle
    path.write_bytes(bytes(data))
    with EventStore.open_readonly(path) as store:
        assert store.integrity_check() != "ok"


def test_open_readonly_never_creates(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "dev" / "events.db"
    with pytest.raises(StoreError, match="no event store at"):
        EventStore.open_readonly(missing)
    assert not (tmp_path / "nowhere").exists()


def test_readonly_store_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    EventStore(path).close()
    with EventStore.open_readonly(path) as ro:
        with pytest.raises(StoreError, match="read-only"):
            ro.append_event("cycle", ts=T0)
        with pytest.raises(StoreError, match="read-only"):
            ro.set_state("k", 1, T0)
        assert ro.events() == []


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "events.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.events()


# ---------------------------------------------------------------- orders, fills, state


def test_order_round_trip_is_exact(store: EventStore) -> None:
    order = make_order()
    order.history.extend([OrderStatus.INITIALIZED, OrderStatus.SUBMITTED])
    store.upsert_order(order)
    store.commit()
    back = store.get_order("c-1")
    assert back == order
    assert back is not None
    assert back.history == order.history
    assert str(back.base_size) == "0.01000000"  # trailing zeros kept: TEXT, never REAL
    assert str(back.stop_price) == "94999.5"
    assert back.created_at == T0 and back.created_at.tzinfo is not None
    assert store.get_order_by_id("venue-1") == order
    assert store.get_order("nope") is None
    assert store.get_order_by_id("") is None


def test_order_with_minimal_fields_round_trips(store: EventStore) -> None:
    order = Order(
        order_id="",
        client_order_id="m-1",
        symbol="ETH-USD",
        side=OrderSide.SELL,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.IOC,
        created_at=T0,
        updated_at=T0,
        quote_size=Decimal("25.00"),
    )
    store.upsert_order(order)
    assert store.get_order("m-1") == order


def test_upsert_replaces_and_list_orders_filters(store: EventStore) -> None:
    working = make_order("c-1", status=OrderStatus.OPEN)
    store.upsert_order(working)
    store.upsert_order(make_order("c-2", order_id="venue-2", status=OrderStatus.FILLED))
    store.upsert_order(
        make_order("c-3", order_id="venue-3", symbol="ETH-USD", status=OrderStatus.SUBMITTED)
    )
    store.commit()
    assert [o.client_order_id for o in store.list_orders()] == ["c-1", "c-2", "c-3"]
    assert [o.client_order_id for o in store.list_orders(open_only=True)] == ["c-1", "c-3"]
    assert [o.client_order_id for o in store.list_orders(symbol="ETH-USD")] == ["c-3"]

    working.apply(OrderEvent.FILL, T0 + timedelta(minutes=5))
    store.upsert_order(working)
    store.commit()
    assert store.get_order("c-1") == working
    assert store.get_order("c-1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert [o.client_order_id for o in store.list_orders(open_only=True)] == ["c-3"]


def test_fill_dedupe_and_positions(store: EventStore) -> None:
    buy = make_fill("f-1", OrderSide.BUY, "0.5", "100.10", minutes=0)
    sell = make_fill("f-2", OrderSide.SELL, "0.2", "110.30", minutes=1)
    assert store.record_fill(buy) is True
    assert store.record_fill(sell) is True
    assert store.record_fill(buy) is False  # same fill id: never applied twice
    changed = make_fill("f-1", OrderSide.SELL, "9", "1", minutes=9)
    assert store.record_fill(changed) is False
    store.commit()
    assert store.list_fills() == [buy, sell]
    assert store.list_fills(since=T0 + timedelta(seconds=30)) == [sell]
    assert store.list_fills(symbol="ETH-USD") == []
    positions = store.positions()
    expected = Position("BTC-USD").apply_fill(buy).apply_fill(sell)
    assert positions == {"BTC-USD": expected}
    assert positions["BTC-USD"].quantity == Decimal("0.3")
    assert positions["BTC-USD"].realized_pnl == Decimal("2.040")
    assert positions["BTC-USD"].fees == Decimal("0.50")


def test_state_round_trip(store: EventStore) -> None:
    assert store.get_state("missing") is None
    assert store.get_state("missing", {"d": 1}) == {"d": 1}
    doc = {"window": [Decimal("1.10"), Decimal("2")], "mode": "normal", "at": T0, "n": 3}
    store.set_state("strategy", doc, T0)
    store.set_state("cycle", 41, T0)
    store.set_state("cycle", 42, T0 + timedelta(seconds=5))
    store.commit()
    assert store.get_state("strategy") == {
        "window": ["1.10", "2"],
        "mode": "normal",
        "at": "2026-11-23T12:00:00.123Z",
        "n": 3,
    }
    assert store.get_state("cycle") == 42
    assert store.state_updated_at("cycle") == T0 + timedelta(seconds=5)
    assert store.delete_state("cycle") is True
    assert store.delete_state("cycle") is False
    assert store.get_state("cycle") is None


# ---------------------------------------------------------------- transactions


def test_transaction_commits_at_end_and_rolls_back_on_exception(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store, EventStore.open_readonly(path) as reader:
        with store.transaction():
            store.append_event("decision", ts=T0, message="kept")
            store.set_state("k", 1, T0)
            assert reader.count_events() == 0  # not visible before the commit
        assert reader.count_events() == 1
        assert not store.pending

        with pytest.raises(RuntimeError), store.transaction():
            store.append_event("decision", ts=T0, message="lost")
            store.set_state("k", 2, T0)
            store.upsert_order(make_order())
            raise RuntimeError("boom")
        assert not store.pending
        assert [e.message for e in store.events()] == ["kept"]
        assert store.get_state("k") == 1
        assert store.get_order("c-1") is None
        assert reader.count_events() == 1


def test_nested_transaction_rolls_back_only_inner_block(store: EventStore) -> None:
    with store.transaction():
        store.append_event("cycle", ts=T0, message="outer")
        with pytest.raises(ValueError), store.transaction():
            store.append_event("cycle", ts=T0, message="inner")
            raise ValueError("inner fails")
        store.append_event("cycle", ts=T0, message="outer again")
    assert [e.message for e in store.events()] == ["outer", "outer again"]


def test_failed_block_keeps_writes_pending_from_before(store: EventStore) -> None:
    store.append_event("cycle", ts=T0, message="before")
    assert store.pending
    with pytest.raises(KeyError), store.transaction():
        store.append_event("cycle", ts=T0, message="block")
        raise KeyError("x")
    assert store.pending
    store.commit()
    assert [e.message for e in store.events()] == ["before"]


def test_writes_are_buffered_until_commit_and_rollback_discards(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore(path) as store, EventStore.open_readonly(path) as reader:
        store.append_event("cycle", ts=T0)
        store.append_event("cycle", ts=T0)
        assert store.pending and reader.count_events() == 0
        store.commit()
        assert not store.pending and reader.count_events() == 2
        store.append_event("cycle", ts=T0)
        store.rollback()
        assert store.count_events() == 2
        store.commit()  # nothing pending: a no-op


def test_commit_inside_transaction_is_refused(store: EventStore) -> None:
    with pytest.raises(StoreError, match="inside transaction"), store.transaction():
        store.append_event("cycle", ts=T0)
        store.commit()
    assert store.count_events() == 0


def test_close_commits_pending_writes(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = EventStore(path)
    store.append_event("lifecycle", ts=T0, message="stop")
    store.close()
    with EventStore.open_readonly(path) as reader:
        assert [e.message for e in reader.events()] == ["stop"]


# ---------------------------------------------------------------- events and queries


def test_append_event_round_trip_and_validation(store: EventStore) -> None:
    event_id = store.append_event(
        "order_filled",
        ts=T0,
        severity="warn",
        symbol="BTC-USD",
        cycle=7,
        message="order BTC-USD BUY 0.01 filled at 95000.12",
        payload={"price": Decimal("95000.12"), "side": OrderSide.BUY, "at": T0, "sev": "SEV-3"},
    )
    store.commit()
    (event,) = store.events()
    assert event.id == event_id
    assert event.ts == T0
    assert (event.type, event.severity, event.symbol, event.cycle) == (
        "order_filled",
        "warning",
        "BTC-USD",
        7,
    )
    assert event.payload == {
        "price": "95000.12",
        "side": "BUY",
        "at": "2026-11-23T12:00:00.123Z",
        "sev": "SEV-3",
    }
    assert store.append_event("cycle", ts=T0) > event_id
    with pytest.raises(ValueError, match="severity"):
        store.append_event("cycle", ts=T0, severity="loud")
    with pytest.raises(ValueError, match="naive"):
        store.append_event("cycle", ts=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="type"):
        store.append_event("", ts=T0)


def test_events_are_redacted_before_storage(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    secret = "organizations/0f0e0d0c-1111-2222-3333-444455556666/apiKeys/9a8b7c6d-1111-2222"
    with EventStore(path) as store:
        store.append_event(
            "error",
            ts=T0,
            severity="error",
            message=f"auth failed for {secret}",
            payload={"api_secret": "hunter2hunter2", "detail": {"url": "https://x/y?token=abc123"}},
        )
    raw = path.read_bytes()
    for leftover in (path.with_name("events.db-wal"),):
        if leftover.exists():
            raw += leftover.read_bytes()
    assert b"apiKeys" not in raw and b"hunter2hunter2" not in raw and b"abc123" not in raw
    with EventStore.open_readonly(path) as reader:
        (event,) = reader.events()
    assert event.message == "auth failed for [REDACTED]"
    assert event.payload == {
        "api_secret": "[REDACTED]",
        "detail": {"url": "https://x/y?token=[REDACTED]"},
    }


def test_event_queries_filter_and_order(store: EventStore) -> None:
    rows = [
        ("decision", "info", "BTC-USD", 0),
        ("order_filled", "info", "BTC-USD", 1),
        ("error", "error", None, 2),
        ("guard", "critical", None, 3),
        ("decision", "debug", "ETH-USD", 4),
        ("pnl", "info", None, 5),
    ]
    for type_, severity, symbol, minute in rows:
        store.append_event(
            type_,
            ts=T0 + timedelta(minutes=minute),
            severity=severity,
            symbol=symbol,
            cycle=minute,
            message=f"{type_} {minute}",
        )
    store.append_event("pnl", ts=T0 + timedelta(minutes=5), message="same ts, later id")
    store.commit()

    def cycles(events: list) -> list[int | None]:
        return [e.cycle for e in events]

    assert cycles(store.events()) == [0, 1, 2, 3, 4, 5, None]
    assert cycles(store.events("decision")) == [0, 4]
    assert cycles(store.events(["error", "guard"])) == [2, 3]
    assert cycles(store.events(symbol="BTC-USD")) == [0, 1]
    assert cycles(store.events(since=T0 + timedelta(minutes=2))) == [2, 3, 4, 5, None]
    assert cycles(store.events(until=T0 + timedelta(minutes=2))) == [0, 1]
    assert cycles(store.events(severity_at_least="error")) == [2, 3]
    assert cycles(store.events(severity_at_least="warning", type="guard")) == [3]
    assert cycles(store.events(limit=2)) == [0, 1]
    assert cycles(store.events(limit=3, newest_first=True)) == [None, 5, 4]
    assert store.count_events() == 7
    assert store.count_events("decision") == 2
    assert store.count_events(["pnl", "error"], since=T0 + timedelta(minutes=3)) == 2
    last = store.last_event("pnl")
    assert last is not None and last.message == "same ts, later id"
    assert store.last_event("nothing") is None
    assert store.last_event() == last
    assert store.events(limit=0) == []


def test_large_store_queries_use_indexes(tmp_path: Path) -> None:
    """~200k events in one executemany transaction; bounded queries are served by an index."""
    store = EventStore(tmp_path / "events.db")
    types = ("decision", "cycle", "pnl", "fill", "order_filled", "error", "guard", "risk_block")
    symbols = ("BTC-USD", "ETH-USD", "SOL-USD", None)
    total = 200_000
    added = store.append_events(
        {
            "type": types[i % len(types)],
            "ts": T0 + timedelta(seconds=i),
            "symbol": symbols[i % len(symbols)],
            "cycle": i,
        }
        for i in range(total)
    )
    store.commit()
    assert added == total
    assert store.count_events() == total

    since = T0 + timedelta(seconds=total - 1000)
    queries = [
        {"type": "fill", "since": since, "limit": 100},
        {"type": "error", "limit": 50, "newest_first": True},
        {"symbol": "ETH-USD", "since": since, "limit": 100},
        {"since": since, "limit": 100},
        {"limit": 50, "newest_first": True},
    ]
    for query in queries:
        plan = " | ".join(store.explain_events(**query))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (query, plan)
        assert "SCAN events" not in plan or "USING INDEX idx_events_ts" in plan, (query, plan)

    fills = store.events("fill", since=since, limit=100)
    assert len(fills) == 100  # 125 match; the limit bounds the answer
    assert all(e.type == "fill" and e.ts >= since for e in fills)
    assert [e.ts for e in fills] == sorted(e.ts for e in fills)
    newest = store.events(limit=3, newest_first=True)
    assert [e.cycle for e in newest] == [total - 1, total - 2, total - 3]
    assert store.count_events("fill", since=since) == 125
    conn = store._connection()
    count_plan = " ".join(
        str(r[-1])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM events WHERE type = ? AND ts >= ?",
            ("fill", "2026"),
        )
    )
    assert "USING COVERING INDEX idx_events_type_ts" in count_plan
    store.close()
