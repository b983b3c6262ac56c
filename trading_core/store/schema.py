"""The event store's schema as forward-only migrations, versioned by ``PRAGMA user_version``.

Entry ``n`` of ``MIGRATIONS`` (counted from 1) takes the database from version ``n - 1`` to ``n``.
Entries are never edited once released: a change is a new entry appended at the end.

Every money or size column is TEXT holding ``str(Decimal)`` (exact, never REAL), and every time
column is TEXT holding ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, fixed width: text order is time order).
Tables keyed by text are WITHOUT ROWID: one B-tree fewer to write per upsert, so cheaper commits.
"""

from __future__ import annotations

MIGRATION_1: tuple[str, ...] = (
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        type TEXT NOT NULL,
        severity TEXT NOT NULL,
        symbol TEXT,
        cycle INTEGER,
        message TEXT,
        payload TEXT
    )
    """,
    "CREATE INDEX idx_events_ts ON events (ts)",
    "CREATE INDEX idx_events_type_ts ON events (type, ts)",
    "CREATE INDEX idx_events_symbol_ts ON events (symbol, ts)",
    """
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        order_type TEXT NOT NULL,
        time_in_force TEXT NOT NULL,
        status TEXT NOT NULL,
        base_size TEXT,
        quote_size TEXT,
        filled_size TEXT NOT NULL,
        filled_value TEXT NOT NULL,
        fees TEXT NOT NULL,
        avg_price TEXT,
        limit_price TEXT,
        stop_price TEXT,
        stop_direction TEXT,
        end_time TEXT,
        post_only INTEGER NOT NULL DEFAULT 0,
        reduce_only INTEGER NOT NULL DEFAULT 0,
        reject_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        payload TEXT
    ) WITHOUT ROWID
    """,
    "CREATE INDEX idx_orders_order_id ON orders (order_id)",
    "CREATE INDEX idx_orders_status ON orders (status)",
    "CREATE INDEX idx_orders_symbol ON orders (symbol)",
    """
    CREATE TABLE fills (
        fill_id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL,
        client_order_id TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        size TEXT NOT NULL,
        fee TEXT NOT NULL,
        liquidity TEXT NOT NULL,
        ts TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX idx_fills_ts ON fills (ts)",
    "CREATE INDEX idx_fills_symbol_ts ON fills (symbol, ts)",
    "CREATE INDEX idx_fills_order_id ON fills (order_id)",
    """
    CREATE TABLE state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID
    """,
)

#: Migration n (1-based) is MIGRATIONS[n - 1]; the schema version is len(MIGRATIONS).
MIGRATIONS: tuple[tuple[str, ...], ...] = (MIGRATION_1,)

SCHEMA_VERSION = len(MIGRATIONS)

#: The tables an event store holds (used to tell an event store from some other SQLite file).
TABLES = frozenset({"events", "orders", "fills", "state"})
