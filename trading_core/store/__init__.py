"""Durable state: the EventStore (SQLite, WAL) for events, orders, fills and state; health.json."""

from .errors import StoreError
from .event_store import EVENT_TYPES, SEVERITIES, EventStore, StoredEvent, normalize_severity
from .health import health_age_seconds, read_health, write_health
from .timespec import parse_since, parse_span

__all__ = [
    "EVENT_TYPES",
    "SEVERITIES",
    "EventStore",
    "StoreError",
    "StoredEvent",
    "health_age_seconds",
    "normalize_severity",
    "parse_since",
    "parse_span",
    "read_health",
    "write_health",
]
