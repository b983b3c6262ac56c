"""Errors raised by the event store."""

from __future__ import annotations

from ..errors import ErrorKind, TradingError


class StoreError(TradingError):
    """The event store cannot be opened, read or written.

    The message is one line and names the database path. ``kind`` is RETRYABLE when another
    process holds the write lock (busy/locked) and FATAL otherwise (corrupt file, not an event
    store, schema newer than this code, disk full, write on a read-only store)."""

    kind = ErrorKind.FATAL
