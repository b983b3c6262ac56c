"""A real paper Bot runs while its broker hands back garbage on calls hypothesis picks: insane,
NaN, crossed, huge, stale and future quotes, odd balances, classified failures, even None.
Typed garbage never crashes a cycle (it is recorded as data_quality or error events); untyped
garbage (None) is caught by the loop and recorded as a classified "cycle failed" error. After
every run the SQLite store passes PRAGMA integrity_check and still holds, unchanged, every event
committed before the run.

Absurd magnitudes (a price of 1e30, a balance of 1e40) are garbage too: quotes beyond
domain.money.MAX_PRICE are insane, an account read beyond MAX_AMOUNT is a failed read (the last
good one stands in), so no rounding to cents can overflow Decimal's 28 digits."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from prop_support import few

from trading_core.brokers.base import Broker
from trading_core.clock import Clock
from trading_core.config import Settings, load_settings
from trading_core.domain import Balance, Quote
from trading_core.errors import BrokerError, ErrorKind
from trading_core.runner import Bot, RunOptions
from trading_core.store.event_store import EventStore

CYCLES = 4
QUOTE_GARBAGE = (
    "ok",
    "raise",
    "nan",
    "negative",
    "zero",
    "crossed",
    "huge",
    "tiny",
    "stale",
    "future",
    "jump",
)
ACCOUNT_GARBAGE = (
    "ok",
    "raise",
    "negative",
    "zero",
    "huge",
    "absurd",
    "empty",
    "unknown_currency",
)
FILL_GARBAGE = ("ok", "raise")
UNTYPED = "none"


class GarbageBroker:
    """The paper broker, but each call of the methods below follows the next step of its plan
    (then "ok" once the plan runs out)."""

    def __init__(self, inner: Broker, plans: dict[str, list[str]]) -> None:
        self.inner = inner
        self.plans = {name: list(plan) for name, plan in plans.items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _next(self, method: str) -> str:
        plan = self.plans.get(method) or []
        step = plan.pop(0) if plan else "ok"
        if step == "raise":
            raise BrokerError(f"{method}: venue hiccup", kind=ErrorKind.RETRYABLE)
        return step

    def get_quote(self, symbol: str) -> Any:
        step = self._next("get_quote")
        quote: Quote = self.inner.get_quote(symbol)
        big = Decimal("1e30")  # far beyond any price: an insane quote, not an overflow
        changed: dict[str, Quote | None] = {
            "nan": replace(quote, bid=Decimal("NaN"), last=Decimal("NaN")),
            "negative": replace(quote, bid=-quote.bid, ask=-quote.ask, last=-quote.last),
            "zero": replace(quote, bid=Decimal(0), ask=Decimal(0), last=Decimal(0)),
            "crossed": replace(quote, bid=quote.ask * 2),
            "huge": replace(quote, bid=big, ask=big + 1, last=big),
            "tiny": replace(
                quote, bid=Decimal("1e-30"), ask=Decimal("2e-30"), last=Decimal("1e-30")
            ),
            "stale": replace(quote, time=quote.time - timedelta(days=3)),
            "future": replace(quote, time=quote.time + timedelta(days=3)),
            "jump": replace(quote, bid=quote.bid * 3, ask=quote.ask * 3, last=quote.last * 3),
            UNTYPED: None,
        }
        return changed.get(step, quote)

    def list_balances(self) -> Any:
        step = self._next("list_balances")
        balances: list[Balance] = self.inner.list_balances()
        changed: dict[str, list[Balance] | None] = {
            "negative": [Balance(b.currency, -b.available, b.hold) for b in balances],
            "zero": [Balance(b.currency, Decimal(0), Decimal(0)) for b in balances],
            "huge": [Balance(b.currency, Decimal("1e20"), b.hold) for b in balances],
            "absurd": [Balance(b.currency, Decimal("1e40"), b.hold) for b in balances],
            "empty": [],
            "unknown_currency": [*balances, Balance("???", Decimal(5), Decimal(0))],
            UNTYPED: None,
        }
        return changed.get(step, balances)

    def list_positions(self) -> Any:
        step = self._next("list_positions")
        return None if step == UNTYPED else self.inner.list_positions()

    def list_fills(self, *args: Any, **kwargs: Any) -> Any:
        step = self._next("list_fills")
        return None if step == UNTYPED else self.inner.list_fills(*args, **kwargs)


class GarbageBot(Bot):
    plans: ClassVar[dict[str, list[str]]] = {}

    def _open_broker(self) -> tuple[Broker, Clock]:
        broker, clock = super()._open_broker()
        return GarbageBroker(broker, self.plans), clock  # type: ignore[return-value]


@pytest.fixture
def loop_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(("RISK_", "SIM_", "TRADING_", "PERPS_", "COINBASE_", "STRATEGY_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def settings_in(root: Path) -> Settings:
    return load_settings(
        "dev",
        cli={
            "data_dir": root / "data",
            "log_dir": root / "logs",
            "symbols": ["BTC-USD", "ETH-USD"],
            "strategy": {"short_window": 1, "long_window": 2, "bar_seconds": 0},
            "sim": {"scenario": "trend", "start_time": datetime(2026, 3, 2, 12, tzinfo=UTC)},
        },
        environ={},
        dotenv_path=None,
    )


def rows(path: Path) -> tuple[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        found = conn.execute("select * from events order by id").fetchall()
    finally:
        conn.close()
    return check, found


def plans_of(steps: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(steps, max_size=CYCLES * 4)


@st.composite
def plans(draw: st.DrawFn, *, untyped: bool) -> dict[str, list[str]]:
    # None only where the cycle reads (reconciliation, at start, trusts the Broker protocol)
    extra = (UNTYPED,) if untyped else ()
    return {
        "get_quote": draw(plans_of(st.sampled_from(QUOTE_GARBAGE + extra))),
        "list_balances": draw(plans_of(st.sampled_from(ACCOUNT_GARBAGE))),
        "list_positions": draw(plans_of(st.sampled_from(("ok", "raise")))),
        "list_fills": draw(plans_of(st.sampled_from(FILL_GARBAGE))),
    }


def run_with(root: Path, plan: dict[str, list[str]]) -> tuple[int, int, list[Any], Path]:
    settings = settings_in(root)
    store = EventStore(settings.store_path)
    try:  # history that must survive whatever the run goes through
        store.append_event("note", ts=datetime(2026, 1, 1, tzinfo=UTC), message="kept")
        store.commit()
    finally:
        store.close()
    _, before = rows(settings.store_path)
    GarbageBot.plans = plan
    bot = GarbageBot(settings, RunOptions(max_cycles=CYCLES, fast_forward=True))
    summary = bot.run()
    check, after = rows(settings.store_path)
    assert check == "ok"
    assert after[: len(before)] == before, "an event committed before the run changed"
    return summary.cycles, summary.exit_code, after, settings.store_path


def crashes(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [e for e in events if any(isinstance(v, str) and "cycle failed" in v for v in e)]


@few(25)
@given(plan=plans(untyped=False))
@example(plan={"get_quote": ["nan"] * 8})
@example(plan={"list_positions": ["raise"] * 8})
@example(plan={"get_quote": ["negative", "zero", "crossed", "huge", "tiny", "stale"] * 2})
@example(plan={"list_balances": ["negative", "huge", "zero", "empty"]})
@example(plan={"list_balances": ["absurd", "absurd", "ok", "absurd"]})
@example(plan={"get_quote": ["raise"] * 8, "list_balances": ["raise"] * 4, "list_fills": ["raise"]})
def test_typed_garbage_never_crashes_a_cycle(loop_dir: Path, plan: dict[str, list[str]]) -> None:
    root = Path(os.getcwd()) / f"run{len(list(loop_dir.iterdir()))}"
    cycles, exit_code, events, _ = run_with(root, plan)
    assert (cycles, exit_code) == (CYCLES, 0)
    assert crashes(events) == [], crashes(events)
    if "raise" in plan.get("get_quote", [])[: 2 * CYCLES]:
        assert any(e[2] == "error" for e in events)  # a failed quote read is an error event


@few(10)
@given(plan=plans(untyped=True))
@example(plan={"get_quote": [UNTYPED] * 8})
@example(plan={"get_quote": ["ok", UNTYPED] * 4})
def test_untyped_garbage_is_a_recorded_cycle_failure(
    loop_dir: Path, plan: dict[str, list[str]]
) -> None:
    root = Path(os.getcwd()) / f"run{len(list(loop_dir.iterdir()))}"
    cycles, exit_code, events, _ = run_with(root, plan)
    assert cycles == CYCLES and exit_code == 0  # fewer than five failures in a row
    failed = crashes(events)
    if UNTYPED in plan["get_quote"][:2]:  # the first cycle read None: recorded, classified
        assert failed and all(e[2] == "error" for e in failed), failed
