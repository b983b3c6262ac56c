"""``PaperBroker``: the Broker protocol over the in-process simulated venue (trading_core.sim).

Every call first moves the simulated market to the injected clock's time (a no-op when the clock
has not moved), so a runner only has to advance its clock.

Durability is a venue's: every change (an order placed, edited, cancelled, filled, expired) is
appended to a journal (``paper_exchange.journal``, one JSON line per change, written before the
call returns), so a process killed at any instant restarts with every order and fill it had
answered for. ``save`` writes the whole venue (market, balances, orders, fills, positions) to
``paper_exchange.json`` and empties the journal; ``open`` reads the snapshot and replays the
journal entries written after it. Both files are private (0600).

One process owns the venue at a time (a lock on ``paper_exchange.lock``, released by the kernel
when the owner dies, even by SIGKILL): the bot, or a command that changes it. Commands that only
look (account snapshot, order previews and lists, preflight) open it ``readonly``: they see the
venue as of its last durable change, move its market in memory only, write nothing, and any
order change is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ..clock import Clock
from ..domain import (
    Balance,
    Candle,
    Fill,
    Order,
    OrderBook,
    OrderPreview,
    OrderRequest,
    Position,
    Product,
    Quote,
)
from ..errors import BrokerError, DataError, ErrorKind
from ..jsonutil import atomic_write_text, to_jsonable
from ..sim.engine import FeeSchedule, MatchingEngine
from ..sim.market import SimulatedMarket
from ..sim.replay import ReplayMarket
from ..sim.scenarios import get_scenario

JOURNAL_COMPACT_BYTES = 4 * 1024 * 1024  # past this, the next change writes a snapshot instead
PRIVATE = 0o600


def journal_path(state_path: Path) -> Path:
    return state_path.with_suffix(".journal")


def lock_path(state_path: Path) -> Path:
    return state_path.with_suffix(".lock")


class PaperBroker:
    """A Broker backed by a ``MatchingEngine``; ``state_path`` is where ``save`` writes."""

    cash_moves_outside = False  # only orders move money here: reconciliation's cash check is strict

    def __init__(
        self,
        engine: MatchingEngine,
        clock: Clock,
        name: str = "paper",
        *,
        state_path: Path | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.name = name
        self.state_path = state_path
        self.journal_seq = 0  # the last journal entry written (or replayed)
        self.readonly = False
        self._journal_fd: int | None = None
        self._journal_bytes = 0
        self._lock_fd: int | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        state_path: Path,
        *,
        symbols: Iterable[str],
        scenario: str = "calm",
        seed: int = 42,
        clock: Clock,
        starting_balances: Mapping[str, Decimal | int | str] | None = None,
        market_data: Path | None = None,
        fees: FeeSchedule | None = None,
        name: str = "paper",
        readonly: bool = False,
    ) -> PaperBroker:
        """Continue the venue saved at ``state_path`` if the file exists, else start a fresh one:
        a simulated market starting at ``clock.now()``, or a replay of ``market_data`` (a candle
        CSV) starting at its first candle (start the runner's clock at ``replay_start_time``).

        On a restore, ``seed`` and ``starting_balances`` are those saved; a different ``scenario``
        takes over from now with prices and balances kept; new ``symbols`` are added (symbols no
        longer asked for stay in the state).

        The owner (``readonly`` False) takes the venue's lock first: DataError naming the pid
        when another process owns it. ``readonly`` never writes (a venue that does not exist yet
        is a fresh one in memory)."""
        state_path = Path(state_path)
        symbols = list(symbols)
        get_scenario(scenario)  # an unknown name is a ValueError listing the choices
        lock_fd = None if readonly else _take_lock(state_path)
        with contextlib.ExitStack() as unlock_on_error:
            if lock_fd is not None:
                unlock_on_error.callback(os.close, lock_fd)
            journal_seq = 0
            if state_path.exists():
                try:
                    state = json.loads(state_path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise DataError(f"{state_path}: cannot read paper state: {exc}") from None
                saved_market = state.get("market") if isinstance(state, dict) else None
                kind = saved_market.get("kind") if isinstance(saved_market, dict) else None
                if kind == "sim" and market_data is not None:
                    raise DataError(f"{state_path}: holds a simulated market, not a replay")
                try:
                    engine = MatchingEngine.from_state(
                        state,
                        scenario=scenario,
                        now=clock.now(),
                        market_data=market_data,
                        fees=fees,
                    )
                except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
                    raise DataError(f"{state_path}: cannot restore paper state: {exc!r}") from None
                journal_seq = _replay_journal(engine, journal_path(state_path), state)
                fresh = False
            else:
                if market_data is not None:
                    market: SimulatedMarket | ReplayMarket = ReplayMarket(market_data, seed=seed)
                else:
                    market = SimulatedMarket(
                        symbols, scenario=scenario, seed=seed, start=clock.now()
                    )
                engine = MatchingEngine(market, starting_balances=starting_balances, fees=fees)
                fresh = True
            engine.market.add_symbols(symbols)
            broker = cls(engine, clock, name, state_path=state_path)
            broker.journal_seq = journal_seq
            broker.readonly = readonly
            if fresh and not readonly:  # a journal without its snapshot is a reset venue's: drop it
                broker.save()
            unlock_on_error.pop_all()
        broker._lock_fd = lock_fd
        return broker

    def save(self, path: Path | None = None) -> Path:
        """Write the venue's state atomically (to ``path`` or the ``state_path`` it was opened
        with); returns where it went."""
        target = Path(path) if path is not None else self.state_path
        if target is None:
            raise ValueError("no state path: pass one or open the broker with PaperBroker.open")
        if self.readonly and target == self.state_path:
            raise ValueError("a read-only paper venue is never saved over its owner's")
        self._sync()
        state = self.engine.to_state()
        state["journal_seq"] = self.journal_seq
        text = json.dumps(to_jsonable(state), separators=(",", ":"))
        atomic_write_text(target, text, mode=PRIVATE)
        if target == self.state_path:  # everything journalled so far is in the snapshot now
            if self._journal_fd is not None:
                os.ftruncate(self._journal_fd, 0)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.truncate(journal_path(target), 0)
            self._journal_bytes = 0
        return target

    def close(self) -> None:
        """Release the journal (every entry is already on its way to disk), then the lock. The
        broker still answers reads from memory afterwards, but changes nothing any more."""
        self.readonly = True
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _sync(self) -> None:
        self.engine.advance_to(self.clock.now())
        self._record()

    def _record(self) -> None:
        """Make the engine's changes durable before the call that made them returns: one
        journal line, appended with a single write (a kill leaves it whole or absent)."""
        entry = self.engine.journal_entry()
        if entry is None or self.state_path is None or self.readonly:
            return  # read-only: changes (market matching in memory) are the owner's to make
        self.journal_seq += 1
        entry["seq"] = self.journal_seq
        line = (json.dumps(to_jsonable(entry), separators=(",", ":")) + "\n").encode("utf-8")
        if self._journal_fd is None:
            path = journal_path(self.state_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._journal_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
            os.fchmod(self._journal_fd, PRIVATE)
            self._journal_bytes = os.fstat(self._journal_fd).st_size
        os.write(self._journal_fd, line)
        self._journal_bytes += len(line)
        if self._journal_bytes > JOURNAL_COMPACT_BYTES:
            self.save()

    # --- reference and market data -------------------------------------------------------------
    def server_time(self) -> datetime:
        self._sync()
        return self.engine.market.time

    def list_products(self) -> list[Product]:
        self._sync()
        return self.engine.market.products()

    def get_product(self, symbol: str) -> Product:
        self._sync()
        return self.engine.product(symbol)

    def get_quote(self, symbol: str) -> Quote:
        self._sync()
        return self.engine.quote(symbol)

    def get_order_book(self, symbol: str, depth: int = 10) -> OrderBook:
        self._sync()
        return self.engine.market.order_book(self.engine.product(symbol).symbol, depth)

    def get_candles(
        self, symbol: str, granularity_s: int, limit: int = 300, end: datetime | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first, at most ``limit`` of them ending at or before ``end``."""
        self._sync()
        product = self.engine.product(symbol)
        return self.engine.market.candles(product.symbol, granularity_s, limit, end)

    # --- account -------------------------------------------------------------------------------
    def list_balances(self) -> list[Balance]:
        self._sync()
        return self.engine.list_balances()

    def list_positions(self) -> list[Position]:
        """Open (non-zero) positions: on spot, the holdings bought through this venue."""
        self._sync()
        return self.engine.list_positions()

    # --- orders --------------------------------------------------------------------------------
    def preview_order(self, request: OrderRequest) -> OrderPreview:
        self._sync()
        return self.engine.preview_order(request)

    def _refuse_if_readonly(self, what: str) -> None:
        if self.readonly:
            raise BrokerError(
                f"{what}: the paper venue is open read-only (the bot owns it); stop the bot "
                "or place orders through it",
                kind=ErrorKind.REJECTED,
            )

    def submit_order(self, request: OrderRequest) -> Order:
        self._refuse_if_readonly("submit_order")
        self._sync()
        try:
            return self.engine.submit_order(request)
        finally:
            self._record()

    def preview_edit(
        self, order_id: str, *, limit_price: Decimal | None = None, base_size: Decimal | None = None
    ) -> OrderPreview:
        self._sync()
        return self.engine.preview_edit(order_id, limit_price=limit_price, base_size=base_size)

    def edit_order(
        self,
        order_id: str,
        *,
        limit_price: Decimal | None = None,
        base_size: Decimal | None = None,
        preview_id: str | None = None,
    ) -> Order:
        self._refuse_if_readonly("edit_order")
        self._sync()
        try:
            return self.engine.edit_order(
                order_id, limit_price=limit_price, base_size=base_size, preview_id=preview_id
            )
        finally:
            self._record()

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """Cancel each order; maps order id -> whether the cancel succeeded."""
        self._refuse_if_readonly("cancel_orders")
        self._sync()
        try:
            return self.engine.cancel_orders(order_ids)
        finally:
            self._record()

    def get_order(self, order_id: str) -> Order:
        self._sync()
        return self.engine.get_order(order_id)

    def find_order_by_client_id(self, client_order_id: str) -> Order | None:
        self._sync()
        return self.engine.find_order_by_client_id(client_order_id)

    def list_orders(
        self, symbol: str | None = None, *, open_only: bool = False, since: datetime | None = None
    ) -> list[Order]:
        self._sync()
        if symbol is not None:
            symbol = self.engine.product(symbol).symbol
        return self.engine.list_orders(symbol, open_only=open_only, since=since)

    def list_fills(
        self,
        symbol: str | None = None,
        *,
        order_id: str | None = None,
        since: datetime | None = None,
    ) -> list[Fill]:
        """Fills oldest first (``since`` is exclusive)."""
        self._sync()
        if symbol is not None:
            symbol = self.engine.product(symbol).symbol
        return self.engine.list_fills(symbol, order_id=order_id, since=since)


def _take_lock(state_path: Path) -> int:
    """Own the venue at ``state_path``: an exclusive lock on its lock file, held (by the open
    descriptor) until ``close`` or the process's death. DataError naming the owner if taken."""
    path = lock_path(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise DataError(
            f"{state_path}: the paper venue is in use by process {owner} (the bot?); one owner "
            "at a time: stop it first, or use a read-only command"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
    return fd


def _replay_journal(engine: MatchingEngine, path: Path, state: Mapping[str, object]) -> int:
    """Apply the journal entries written after the snapshot ``state`` (by sequence number), then
    move the market to the last entry's time (without re-matching: those steps were matched
    before the entries were written). Returns the last sequence number. A torn last line (a
    write the kill interrupted, never answered for) is ignored; a torn line before the end is
    damage, a DataError."""
    saved_seq = state.get("journal_seq", 0)
    seq = saved_seq if isinstance(saved_seq, int) else 0
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return seq
    except OSError as exc:
        raise DataError(f"{path}: cannot read the paper journal: {exc.strerror or exc}") from None
    last_time: datetime | None = None
    for number, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
            entry_seq = int(entry["seq"])
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                break
            raise DataError(f"{path}: line {number} is damaged") from None
        if entry_seq <= seq:
            continue  # already in the snapshot
        try:
            engine.apply_journal_entry(entry)
            last_time = datetime.fromisoformat(entry["time"])
        except (AttributeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise DataError(f"{path}: line {number} cannot be replayed: {exc!r}") from None
        seq = entry_seq
    if last_time is not None and last_time > engine.market.time:
        engine.market.advance_to(last_time)
    return seq
