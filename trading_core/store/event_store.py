"""EventStore: the bot's durable record (events, orders, fills, small state documents) in one SQLite
file, e.g. ``var/data/perps_bot/<profile>/events.db``.

Durability and transactions
---------------------------
The store runs SQLite in WAL mode with ``synchronous=NORMAL``. Writes are never autocommitted one by
one: the first write opens a transaction (``BEGIN IMMEDIATE``) and every later write joins it until
``commit()`` (or the end of a ``transaction()`` block, or ``close()``). The intended use is one
transaction per cycle::

    with store.transaction():          # commits at the end, rolls back if the block raises
        store.append_event("decision", ts=now, ...)
        store.upsert_order(order)
        store.set_state("cycle", n, now)

Data is durable once ``commit()`` (or the ``transaction()`` block) returns: it survives the process
being killed at any point after that. Writes not yet committed are lost if the process dies, and
never partially applied. With ``synchronous=NORMAL`` an operating-system crash or power loss may
additionally roll back the last few commits (the file stays consistent); a process crash cannot.

Pending writes hold SQLite's write lock, so other writers wait (up to ``busy_timeout``); readers in
other processes (dashboard, ``perps-bot events list``) are never blocked and see the last commit.
Use ``EventStore.open_readonly(path)`` for them.

Times are stored as fixed-width UTC text (``2026-11-23T12:00:00.123456Z``), money and sizes as
``str(Decimal)``; orders and fills come back equal to what was stored. Event messages and payloads
pass through ``telemetry.redaction`` before they are written: a secret never reaches the store.

One EventStore may be shared by threads (calls are serialised by a lock), not by processes: each
process opens its own.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..domain import Fill, Order, Position, positions_from_fills
from ..domain.orders import TERMINAL_STATUSES
from ..errors import ErrorKind
from ..jsonutil import to_jsonable
from ..telemetry.redaction import redact, redact_jsonable
from .errors import StoreError
from .rows import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    fill_from_row,
    fill_row,
    order_from_row,
    order_row,
    ts_text,
    ts_value,
)
from .schema import MIGRATIONS, SCHEMA_VERSION, TABLES

#: Event types the bot writes (others are accepted: this list documents, it does not restrict).
EVENT_TYPES: tuple[str, ...] = (
    "decision",
    "order_submitted",
    "order_filled",
    "order_rejected",
    "order_cancelled",
    "order_update",
    "fill",
    "risk_block",
    "dry_run",
    "error",
    "guard",
    "cycle",
    "pnl",
    "lifecycle",
    "data_quality",
    "reconcile",
)

#: Severities, least to most severe.
SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
_SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_SEVERITY_ALIASES = {"warn": "warning", "fatal": "critical"}

DEFAULT_BUSY_TIMEOUT_MS = 5000
#: The WAL file is truncated back to this size after checkpoints.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

_EVENT_COLUMNS = "id, ts, type, severity, symbol, cycle, message, payload"
_INSERT_EVENT = (
    "INSERT INTO events (ts, type, severity, symbol, cycle, message, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_ORDER = (
    f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ORDER_COLUMNS)}) "
    "ON CONFLICT (client_order_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ORDER_COLUMNS[1:])
)
_SELECT_ORDERS = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders"
_INSERT_FILL = (
    f"INSERT OR IGNORE INTO fills ({', '.join(FILL_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in FILL_COLUMNS)})"
)
_FIRST_CYCLE_TS = "SELECT MIN(ts) FROM events WHERE type = 'cycle'"
# quiet cycles in [start, end) that are neither the first of their hour nor the newest of all
_THIN_CYCLES = """
DELETE FROM events WHERE id IN (
    SELECT id FROM events
    WHERE type = 'cycle' AND ts >= ? AND ts < ? AND severity = 'info'
      AND id <> (SELECT MAX(id) FROM events WHERE type = 'cycle')
      AND id NOT IN (
          SELECT MIN(id) FROM events WHERE type = 'cycle' AND ts >= ? AND ts < ?
          GROUP BY substr(ts, 1, 13)
      )
      AND coalesce(json_extract(payload, '$.submitted'), 0) = 0
      AND coalesce(json_extract(payload, '$.fills'), 0) = 0
      AND coalesce(json_extract(payload, '$.blocked'), 0) = 0
      AND coalesce(json_extract(payload, '$.rejected'), 0) = 0
      AND coalesce(json_extract(payload, '$.failures'), 0) = 0
      AND coalesce(json_extract(payload, '$.signals'), '{}') = '{}'
)
"""
_SELECT_FILLS = f"SELECT {', '.join(FILL_COLUMNS)} FROM fills"
_UPSERT_STATE = (
    "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of the events table: ``ts`` aware UTC, ``payload`` the decoded JSON object (Decimals
    and times in it come back as strings), ``{}`` when the event had none."""

    id: int
    ts: datetime
    type: str
    severity: str
    symbol: str | None
    cycle: int | None
    message: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A plain JSON-ready dict (ts as ISO 'Z' with microseconds)."""
        return {
            "id": self.id,
            "ts": ts_text(self.ts),
            "type": self.type,
            "severity": self.severity,
            "symbol": self.symbol,
            "cycle": self.cycle,
            "message": self.message,
            "payload": self.payload,
        }


def normalize_severity(severity: str) -> str:
    """The canonical severity name (``warn`` -> ``warning``); ValueError for anything unknown."""
    name = severity.strip().lower()
    name = _SEVERITY_ALIASES.get(name, name)
    if name not in _SEVERITY_RANK:
        raise ValueError(f"unknown severity {severity!r} (expected one of {', '.join(SEVERITIES)})")
    return name


def _event_from_row(row: Sequence[Any]) -> StoredEvent:
    event_id, ts, type_, severity, symbol, cycle, message, payload = row
    return StoredEvent(
        id=event_id,
        ts=ts_value(ts),
        type=type_,
        severity=severity,
        symbol=symbol,
        cycle=cycle,
        message=message,
        payload=json.loads(payload) if payload else {},
    )


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _payload_text(payload: Mapping[str, Any] | None) -> str | None:
    if payload is None:
        return None
    return _JSON.encode(redact_jsonable(payload))


P = ParamSpec("P")
R = TypeVar("R")


def _guarded(
    method: Callable[Concatenate[EventStore, P], R],
) -> Callable[Concatenate[EventStore, P], R]:
    """Run ``method`` under the store's lock and turn sqlite3 errors into StoreError."""

    @functools.wraps(method)
    def wrapper(self: EventStore, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"event store {self.path} is closed")
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    return wrapper


class EventStore:
    """Events, orders, fills and state in one SQLite file (see the module docstring for durability).

    ``EventStore(path)`` opens for writing, creating the file and its parent directories and
    migrating the schema forward. ``EventStore.open_readonly(path)`` opens for reading only and
    never creates anything. A file that is not a readable event store raises StoreError naming the
    path and is left untouched."""

    def __init__(
        self,
        path: Path | str,
        *,
        readonly: bool = False,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._depth = 0  # nesting of transaction() blocks
        self._conn: sqlite3.Connection | None = None
        if readonly:
            if not self.path.is_file():
                raise StoreError(f"no event store at {self.path}")
            target, uri = self.path.resolve().as_uri() + "?mode=ro", True
        else:
            if self.path.exists() and not self.path.is_file():
                raise StoreError(f"event store {self.path} is not a file")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory for {self.path}: {exc}") from None
            target, uri = str(self.path), False
            if not self.path.exists():
                # the store holds the account's history: private from the start (SQLite gives
                # its -wal and -shm files the database file's permissions)
                self.path.touch(mode=0o600)
        try:
            conn = sqlite3.connect(
                target,
                uri=uri,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # shared between threads under self._lock
                timeout=busy_timeout_ms / 1000,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open event store {self.path}: {exc}") from None
        self._conn = conn
        try:
            self._setup(busy_timeout_ms)
        except BaseException as exc:
            conn.close()
            self._conn = None
            if isinstance(exc, StoreError):
                raise
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise

    # ------------------------------------------------------------------ opening

    @classmethod
    def open_readonly(
        cls, path: Path | str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> EventStore:
        """Open an existing store for reading (dashboards, CLI); StoreError if there is none. Never
        creates the database (SQLite may add the ``-wal``/``-shm`` companions WAL readers use)."""
        return cls(path, readonly=True, busy_timeout_ms=busy_timeout_ms)

    def _setup(self, busy_timeout_ms: int) -> None:
        conn = self._connection()
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # A read first: a file that is not SQLite fails here, before anything could be written.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"event store {self.path} has schema version {version}, newer than this code "
                f"supports ({SCHEMA_VERSION}); upgrade the bot"
            )
        if version == 0 and tables:
            raise StoreError(f"{self.path} is an SQLite file but not an event store")
        if version > 0 and not tables >= TABLES:
            missing = ", ".join(sorted(TABLES - tables))
            raise StoreError(f"{self.path} is not a complete event store (missing: {missing})")
        if self.readonly:
            if version < SCHEMA_VERSION:
                raise StoreError(
                    f"event store {self.path} has schema version {version}; open it once for "
                    f"writing to migrate it to {SCHEMA_VERSION}"
                )
            conn.execute("PRAGMA query_only = ON")
            return
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"event store {self.path}: cannot enable WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        self._migrate(version)

    def _migrate(self, version: int) -> None:
        """Apply migrations ``version + 1 .. SCHEMA_VERSION``, each in its own transaction."""
        conn = self._connection()
        for target in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                if current >= target:  # another process migrated meanwhile
                    conn.execute("ROLLBACK")
                    continue
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"event store {self.path} is closed")
        return self._conn

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            return StoreError(f"event store {self.path} is busy: {text}", kind=ErrorKind.RETRYABLE)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return StoreError(f"{self.path} is not a readable event store: {text}")
        return StoreError(f"event store {self.path}: {text}")

    # ------------------------------------------------------------------ transactions

    def _begin_write(self) -> sqlite3.Connection:
        conn = self._connection()
        if self.readonly:
            raise StoreError(f"event store {self.path} is open read-only")
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[EventStore]:
        """Group writes: commit when the outermost block ends, roll back the block's writes if it
        raises. Blocks nest (inner blocks are savepoints). Writes made before the block and not yet
        committed are committed with it, and kept pending (not rolled back) if the block raises.
        Durable once the outermost block has returned. Holds the store's lock for its duration."""
        with self._lock:
            conn = self._connection()
            # The common case (outermost block, nothing pending) needs no savepoint.
            savepoint = f"sp{self._depth + 1}" if conn.in_transaction else None
            try:
                self._begin_write()
                if savepoint is not None:
                    conn.execute(f"SAVEPOINT {savepoint}")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                with contextlib.suppress(sqlite3.Error):
                    if savepoint is None:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute(f"ROLLBACK TO {savepoint}")
                        conn.execute(f"RELEASE {savepoint}")
                raise
            self._depth -= 1
            try:
                if savepoint is not None:
                    conn.execute(f"RELEASE {savepoint}")
                if self._depth == 0:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                raise self._error(exc) from exc

    @_guarded
    def commit(self) -> None:
        """Commit every pending write; durable when this returns. A no-op when nothing is pending.
        Refused inside ``transaction()`` (the block commits when it ends). If the commit itself
        fails (disk full...), the pending writes are rolled back and StoreError is raised."""
        if self._depth:
            raise StoreError(f"event store {self.path}: commit() inside transaction()")
        conn = self._connection()
        if conn.in_transaction:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    @_guarded
    def rollback(self) -> None:
        """Discard every pending (uncommitted) write. Refused inside ``transaction()``."""
        if self._depth:
            raise StoreError(f"event store {self.path}: rollback() inside transaction()")
        conn = self._connection()
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    @property
    def pending(self) -> bool:
        """Whether there are uncommitted writes."""
        return self._conn is not None and self._conn.in_transaction

    # ------------------------------------------------------------------ events

    @_guarded
    def append_event(
        self,
        type: str,
        *,
        ts: datetime,
        severity: str = "info",
        symbol: str | None = None,
        cycle: int | None = None,
        message: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> int:
        """Buffer one event (pending until commit) and return its id. ``ts`` must be aware;
        ``payload`` is any JSON-able mapping (Decimals, datetimes and enums are converted);
        message and payload are redacted. An optional incident label goes in the payload (e.g.
        ``{"sev": "SEV-2"}``). ValueError for an empty type, an unknown severity or a naive ts."""
        row = self._event_row(type, ts, severity, symbol, cycle, message, payload)
        cursor = self._begin_write().execute(_INSERT_EVENT, row)
        return int(cursor.lastrowid or 0)

    @_guarded
    def append_events(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Buffer many events at once (executemany): each mapping holds ``append_event``'s
        arguments (``type``, ``ts`` and optionally ``severity``, ``symbol``, ``cycle``, ``message``,
        ``payload``). Returns how many were added. For replays, imports and tests."""
        rows = [
            self._event_row(
                e["type"],
                e["ts"],
                e.get("severity", "info"),
                e.get("symbol"),
                e.get("cycle"),
                e.get("message"),
                e.get("payload"),
            )
            for e in events
        ]
        self._begin_write().executemany(_INSERT_EVENT, rows)
        return len(rows)

    @staticmethod
    def _event_row(
        type_: str,
        ts: datetime,
        severity: str,
        symbol: str | None,
        cycle: int | None,
        message: str | None,
        payload: Mapping[str, Any] | None,
    ) -> tuple[Any, ...]:
        if not type_ or not isinstance(type_, str):
            raise ValueError("event type must be a non-empty string")
        if severity not in _SEVERITY_RANK:
            severity = normalize_severity(severity)
        return (
            ts_text(ts),
            type_,
            severity,
            symbol,
            cycle,
            None if message is None else redact(message),
            _payload_text(payload),
        )

    def _events_query(
        self,
        *,
        select: str,
        type: str | Sequence[str] | None,
        since: datetime | None,
        until: datetime | None,
        symbol: str | None,
        severity_at_least: str | None,
        limit: int | None,
        newest_first: bool,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if type is not None:
            types = [type] if isinstance(type, str) else list(type)
            if len(types) == 1:
                clauses.append("type = ?")
            else:
                clauses.append(f"type IN ({', '.join('?' for _ in types)})")
            params.extend(types)
        if symbol is not None:
            clauses.append("symbol = ?")
            params.append(symbol)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(ts_text(since))
        if until is not None:
            clauses.append("ts < ?")
            params.append(ts_text(until))
        if severity_at_least is not None:
            floor = _SEVERITY_RANK[normalize_severity(severity_at_least)]
            allowed = SEVERITIES[floor:]
            clauses.append(f"severity IN ({', '.join('?' for _ in allowed)})")
            params.extend(allowed)
        sql = f"SELECT {select} FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if limit is not None:
            direction = "DESC" if newest_first else "ASC"
            sql += f" ORDER BY ts {direction}, id {direction} LIMIT ?"
            params.append(int(limit))
        return sql, params

    @_guarded
    def events(
        self,
        type: str | Sequence[str] | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        symbol: str | None = None,
        severity_at_least: str | None = None,
        limit: int = 1000,
        newest_first: bool = False,
    ) -> list[StoredEvent]:
        """Events matching every given filter, ordered by (ts, id): oldest first, or newest first
        with ``newest_first``. ``since`` is inclusive, ``until`` exclusive; ``type`` is one type or
        several. At most ``limit`` events (the oldest or the newest ones, per ``newest_first``)."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        sql, params = self._events_query(
            select=_EVENT_COLUMNS,
            type=type,
            since=since,
            until=until,
            symbol=symbol,
            severity_at_least=severity_at_least,
            limit=limit,
            newest_first=newest_first,
        )
        return [_event_from_row(row) for row in self._connection().execute(sql, params)]

    @_guarded
    def explain_events(self, type: str | Sequence[str] | None = None, **filters: Any) -> list[str]:
        """SQLite's ``EXPLAIN QUERY PLAN`` lines for ``events(type, **filters)`` (to check that a
        query is served by an index)."""
        sql, params = self._events_query(
            select=_EVENT_COLUMNS,
            type=type,
            since=filters.get("since"),
            until=filters.get("until"),
            symbol=filters.get("symbol"),
            severity_at_least=filters.get("severity_at_least"),
            limit=filters.get("limit", 1000),
            newest_first=filters.get("newest_first", False),
        )
        rows = self._connection().execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return [str(row[-1]) for row in rows]

    @_guarded
    def count_events(
        self, type: str | Sequence[str] | None = None, *, since: datetime | None = None
    ) -> int:
        """How many events of ``type`` (any type when None) have ``ts >= since``."""
        sql, params = self._events_query(
            select="count(*)",
            type=type,
            since=since,
            until=None,
            symbol=None,
            severity_at_least=None,
            limit=None,
            newest_first=False,
        )
        return int(self._connection().execute(sql, params).fetchone()[0])

    def last_event(self, type: str | Sequence[str] | None = None) -> StoredEvent | None:
        """The newest event of ``type`` (of any type when None), or None."""
        found = self.events(type, limit=1, newest_first=True)
        return found[0] if found else None

    # ------------------------------------------------------------------ orders

    @_guarded
    def upsert_order(self, order: Order) -> None:
        """Insert or replace the order with ``order.client_order_id`` (pending until commit)."""
        self._begin_write().execute(_UPSERT_ORDER, order_row(order))

    @_guarded
    def get_order(self, client_order_id: str) -> Order | None:
        row = (
            self._connection()
            .execute(_SELECT_ORDERS + " WHERE client_order_id = ?", (client_order_id,))
            .fetchone()
        )
        return None if row is None else order_from_row(row)

    @_guarded
    def get_order_by_id(self, order_id: str) -> Order | None:
        """The order the venue knows as ``order_id`` (None if unknown)."""
        if not order_id:
            return None
        row = (
            self._connection()
            .execute(_SELECT_ORDERS + " WHERE order_id = ? LIMIT 1", (order_id,))
            .fetchone()
        )
        return None if row is None else order_from_row(row)

    @_guarded
    def list_orders(self, open_only: bool = False, symbol: str | None = None) -> list[Order]:
        """Orders oldest first; ``open_only`` keeps those not in a terminal status."""
        clauses: list[str] = []
        params: list[Any] = []
        if open_only:
            terminal = sorted(s.value for s in TERMINAL_STATUSES)
            clauses.append(f"status NOT IN ({', '.join('?' for _ in terminal)})")
            params.extend(terminal)
        if symbol is not None:
            clauses.append("symbol = ?")
            params.append(symbol)
        sql = _SELECT_ORDERS
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_at, client_order_id"
        return [order_from_row(row) for row in self._connection().execute(sql, params)]

    # ------------------------------------------------------------------ fills and positions

    @_guarded
    def record_fill(self, fill: Fill) -> bool:
        """Store ``fill`` (pending until commit); False, changing nothing, when a fill with the same
        ``fill_id`` is already stored, so a fill is never applied twice."""
        cursor = self._begin_write().execute(_INSERT_FILL, fill_row(fill))
        return cursor.rowcount == 1

    @_guarded
    def list_fills(self, symbol: str | None = None, since: datetime | None = None) -> list[Fill]:
        """Fills oldest first (by time, then fill id), optionally of one symbol, from ``since``."""
        clauses: list[str] = []
        params: list[Any] = []
        if symbol is not None:
            clauses.append("symbol = ?")
            params.append(symbol)
        if since is not None:
            clauses.append("ts >= ?")
            params.append(ts_text(since))
        sql = _SELECT_FILLS
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY ts, fill_id"
        return [fill_from_row(row) for row in self._connection().execute(sql, params)]

    def positions(self) -> dict[str, Position]:
        """Positions rebuilt from every stored fill (``domain.positions_from_fills``)."""
        return positions_from_fills(self.list_fills())

    # ------------------------------------------------------------------ state

    @_guarded
    def set_state(self, key: str, value: Any, now: datetime) -> None:
        """Store a small JSON document under ``key`` (pending until commit). Decimals, datetimes
        and enums are converted (they come back from ``get_state`` as strings)."""
        text = _JSON.encode(to_jsonable(value))
        self._begin_write().execute(_UPSERT_STATE, (key, text, ts_text(now)))

    @_guarded
    def get_state(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key`` (plain JSON types), or ``default``."""
        row = self._connection().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    @_guarded
    def state_updated_at(self, key: str) -> datetime | None:
        """When ``key`` was last set (the ``now`` given to ``set_state``), or None."""
        row = (
            self._connection()
            .execute("SELECT updated_at FROM state WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else ts_value(row[0])

    @_guarded
    def delete_state(self, key: str) -> bool:
        """Remove ``key`` (pending until commit); False when it was not there."""
        return self._begin_write().execute("DELETE FROM state WHERE key = ?", (key,)).rowcount == 1

    # ------------------------------------------------------------------ maintenance

    @_guarded
    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    @_guarded
    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """Copy committed WAL content into the database file now (``PASSIVE`` never waits for
        readers; ``TRUNCATE`` also empties the WAL file). Commits otherwise trigger this themselves
        every ``wal_autocheckpoint`` pages, paying its fsyncs inside a cycle: a runner may call
        this while idle between cycles instead. Refused while writes are pending. Returns SQLite's
        (busy, wal pages, pages checkpointed)."""
        mode = mode.upper()
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"unknown checkpoint mode {mode!r}")
        if self.readonly:
            raise StoreError(f"event store {self.path} is open read-only")
        if self.pending:
            raise StoreError(f"event store {self.path}: checkpoint() with uncommitted writes")
        row = self._connection().execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def thin_cycle_events(self, before: datetime) -> int:
        """Retention: delete the quiet ``cycle`` events older than ``before``, one UTC day per
        transaction (a running bot waits at most that long for the write lock). Kept: the first
        cycle of every UTC hour (the equity curve at hourly resolution), every cycle that acted
        or was not clean (signals, orders, blocks, rejections, fills, failures, severity above
        info), and the newest cycle event of all (the bot resumes from its state). Returns how
        many were deleted. Orders, fills and every other event type are never touched."""
        first = self._first_cycle_ts()
        if first is None:
            return 0
        deleted = 0
        day = datetime(first.year, first.month, first.day, tzinfo=UTC)
        while day < before:
            end = min(day + timedelta(days=1), before)
            deleted += self._thin_window(ts_text(day), ts_text(end))
            day += timedelta(days=1)
        return deleted

    @_guarded
    def _first_cycle_ts(self) -> datetime | None:
        row = self._connection().execute(_FIRST_CYCLE_TS).fetchone()
        return None if row is None or row[0] is None else ts_value(row[0])

    @_guarded
    def _thin_window(self, start: str, end: str) -> int:
        if self._depth or self.pending:
            raise StoreError(f"event store {self.path}: thinning with uncommitted writes")
        conn = self._begin_write()
        try:
            cursor = conn.execute(_THIN_CYCLES, (start, end, start, end))
            conn.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return int(cursor.rowcount)

    @_guarded
    def vacuum(self) -> None:
        """Give the space freed by deletions back to the file system (rewrites the file; needs
        the store to itself: StoreError when another connection holds it)."""
        if self.pending:
            raise StoreError(f"event store {self.path}: vacuum() with uncommitted writes")
        self._connection().execute("VACUUM")

    @_guarded
    def integrity_check(self) -> str:
        """``"ok"`` or the problems found (one per line; damage too bad to list comes back as
        SQLite's error, e.g. "database disk image is malformed"). Reads the whole file."""
        try:
            rows = self._connection().execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
                raise
            return text or type(exc).__name__
        return "\n".join(str(row[0]) for row in rows)

    def close(self) -> None:
        """Commit pending writes (if not inside ``transaction()``) and close. Idempotent."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK" if self._depth else "COMMIT")
            except sqlite3.Error as exc:
                raise self._error(exc) from exc
            finally:
                self._conn = None
                conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "ro" if self.readonly else "rw"
        return f"EventStore({str(self.path)!r}, {mode})"


__all__ = [
    "EVENT_TYPES",
    "SEVERITIES",
    "EventStore",
    "StoreError",
    "StoredEvent",
    "normalize_severity",
]
