"""Event retention: the store's routine ``cycle`` events thinned past a horizon.

One cycle event per cycle is most of the store (about 25 MiB a day at 5 s cycles). Past
``keep_days`` (default 120: longer than the quarterly review's window), quiet cycles are thinned
to the first of each UTC hour; every cycle that acted or was not clean, every other event type,
orders and fills stay forever (EventStore.thin_cycle_events). Safe while the bot runs: one UTC
day per transaction. SQLite reuses the freed pages, so the file stops growing; ``vacuum`` (with
the bot stopped) gives the space back to the file system."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..store.errors import StoreError
from ..store.event_store import EventStore

DEFAULT_KEEP_DAYS = 120.0


@dataclass(frozen=True, slots=True)
class RetentionResult:
    store: Path
    before: datetime
    deleted: int
    cycles_left: int
    bytes_before: int
    bytes_after: int
    vacuumed: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "store": str(self.store),
            "before": self.before.isoformat(),
            "deleted": self.deleted,
            "cycles_left": self.cycles_left,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "vacuumed": self.vacuumed,
        }

    def summary(self) -> str:
        line = (
            f"thinned {self.deleted} quiet cycle event(s) older than {self.before:%Y-%m-%d %H:%M}Z "
            f"(kept the first of each hour and every cycle that acted); {self.cycles_left} cycle "
            f"event(s) left"
        )
        if self.vacuumed:
            line += f"; file {self.bytes_before} -> {self.bytes_after} bytes"
        return line


def thin_events(
    store_path: Path, *, now: datetime, keep_days: float = DEFAULT_KEEP_DAYS, vacuum: bool = False
) -> RetentionResult:
    """Thin the store at ``store_path``; StoreError if it is missing or unreadable (never
    creates one), or, with ``vacuum``, if another connection (a running bot) holds it."""
    if keep_days < 0:
        raise ValueError("keep_days must not be negative")
    store_path = Path(store_path)
    if not store_path.exists():
        raise StoreError(f"event store {store_path} does not exist")
    before = now - timedelta(days=keep_days)
    size_before = store_path.stat().st_size
    with EventStore(store_path) as store:
        deleted = store.thin_cycle_events(before)
        if vacuum:
            store.vacuum()
        cycles_left = store.count_events("cycle")
    return RetentionResult(
        store=store_path,
        before=before,
        deleted=deleted,
        cycles_left=cycles_left,
        bytes_before=size_before,
        bytes_after=store_path.stat().st_size,
        vacuumed=vacuum,
    )
