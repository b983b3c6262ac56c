"""Open positions rebuilt from the store's fills, cheaply enough for a dashboard frame.

``store.positions()`` replays every fill ever recorded (about 15 µs each: a store with 20,000
fills costs a third of a second). A dashboard only needs the open positions' quantity and average
entry, and those depend only on the fills since the symbol was last flat. So ``BookKeeper``:

1. scans ``(symbol, side, size)`` of every fill once, in the store's order (time, fill id), keeping
   an exact Decimal running quantity per symbol and where it last returned to zero;
2. replays, with ``Position.apply_fill``, only the fills after that point for symbols not flat;
3. on later frames counts the fills (one indexed count) and applies only the new ones, or
   rebuilds when one arrived out of order.

Realized PnL and fees in these positions count from the last flat point only: show them as "since
opened", or take the account totals from the cycle event. Reads through its own read-only SQLite
connection, with the store's row helpers (``store.rows``) for the schema.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from ..domain import Position
from ..store.rows import FILL_COLUMNS, fill_from_row

_ZERO = Decimal(0)
_COLUMNS = ", ".join(FILL_COLUMNS)
_KEY = "ts, fill_id"  # the store's order of fills


class BookKeeper:
    """Open positions from a store's fills (read-only), kept current across calls."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = Path(store_path)
        self._conn: sqlite3.Connection | None = None
        self._positions: dict[str, Position] = {}
        self._count: int | None = None  # fills accounted for
        self._last: tuple[str, str] | None = None  # (ts text, fill id) of the newest applied
        self.rebuilds = 0

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            uri = self.store_path.resolve().as_uri() + "?mode=ro"
            self._conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA query_only = ON")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def positions(self) -> dict[str, Position]:
        """The open positions now (symbol -> Position; flat symbols left out)."""
        conn = self._connection()
        conn.execute("BEGIN")  # one snapshot for the count and the reads
        try:
            count = int(conn.execute("SELECT count(*) FROM fills").fetchone()[0])
            if count != self._count and not self._catch_up(conn, count):
                self._rebuild(conn, count)
        finally:
            conn.execute("COMMIT")
        return {s: p for s, p in self._positions.items() if not p.is_flat}

    def _catch_up(self, conn: sqlite3.Connection, count: int) -> bool:
        """Apply the fills recorded since the last call; False when a rebuild is needed (first
        call, fewer fills than before, or a new fill older than the newest applied one)."""
        if self._count is None or self._last is None or count < self._count:
            return False
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM fills WHERE (ts, fill_id) > (?, ?) ORDER BY {_KEY}",
            self._last,
        ).fetchall()
        if self._count + len(rows) != count:
            return False  # some new fill sorts before the newest applied one
        for row in rows:
            fill = fill_from_row(row)
            held = self._positions.get(fill.symbol) or Position(fill.symbol)
            self._positions[fill.symbol] = held.apply_fill(fill)
            self._last = (row[-1], row[0])
        self._count = count
        return True

    def _rebuild(self, conn: sqlite3.Connection, count: int) -> None:
        self.rebuilds += 1
        running: dict[str, Decimal] = {}
        flat_at: dict[str, tuple[str, str]] = {}  # symbol -> key of the fill that made it flat
        last: tuple[str, str] | None = None
        seen = 0
        for fill_id, symbol, side, size, ts in conn.execute(
            f"SELECT fill_id, symbol, side, size, ts FROM fills ORDER BY {_KEY}"
        ):
            amount = Decimal(size)
            quantity = running.get(symbol, _ZERO) + (amount if side == "BUY" else -amount)
            running[symbol] = quantity
            if not quantity:
                flat_at[symbol] = (ts, fill_id)
            last = (ts, fill_id)
            seen += 1
        positions: dict[str, Position] = {}
        for symbol, quantity in running.items():
            if not quantity:
                continue
            start = flat_at.get(symbol, ("", ""))
            held = Position(symbol)
            for row in conn.execute(
                f"SELECT {_COLUMNS} FROM fills WHERE symbol = ? AND (ts, fill_id) > (?, ?) "
                f"ORDER BY {_KEY}",
                (symbol, *start),
            ):
                held = held.apply_fill(fill_from_row(row))
            positions[symbol] = held
        self._positions, self._count, self._last = positions, seen, last
        if seen != count:  # cannot happen inside one snapshot; be safe on the next call
            self._count = None


__all__ = ["BookKeeper"]
