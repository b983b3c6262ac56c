"""health.json: the bot's heartbeat file, written atomically each cycle and read by dashboards,
preflight and alerting (a stale or ``ok: false`` file means trouble).

The document holds::

    ok             bool      the last cycle (or the bot's state) was healthy
    timestamp      str       when the file was written (ISO UTC 'Z')
    last_cycle     int|null  the last cycle number completed
    last_cycle_at  str|null  when that cycle completed (ISO UTC 'Z')
    message        str       one line for operators (redacted)
    pid            int       the writing process
    ...extra       anything passed as keyword arguments (JSON-able, redacted)
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import isoformat_z, parse_utc
from ..jsonutil import atomic_write_text, to_jsonable
from ..telemetry.redaction import redact, redact_mapping

CORE_FIELDS = frozenset({"ok", "timestamp", "last_cycle", "last_cycle_at", "message", "pid"})


def write_health(
    path: Path | str,
    *,
    ok: bool,
    now: datetime,
    last_cycle: int | None,
    message: str,
    last_cycle_at: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Write health.json atomically (readers see the old or the new document, never half of one)
    and return the document written. ``last_cycle_at`` defaults to ``now`` when ``last_cycle`` is
    given. ``extra`` keys must not collide with the core fields (ValueError)."""
    clash = CORE_FIELDS & extra.keys()
    if clash:
        raise ValueError(f"health fields {sorted(clash)} are set by write_health itself")
    if last_cycle_at is None and last_cycle is not None:
        last_cycle_at = now
    doc: dict[str, Any] = {
        "ok": bool(ok),
        "timestamp": isoformat_z(now),
        "last_cycle": last_cycle,
        "last_cycle_at": None if last_cycle_at is None else isoformat_z(last_cycle_at),
        "message": redact(message),
        "pid": os.getpid(),
    }
    doc.update(redact_mapping(to_jsonable(extra)))
    # rewritten every cycle: atomic for readers, not worth an fsync each time
    atomic_write_text(Path(path), json.dumps(doc, indent=2, sort_keys=True) + "\n", fsync=False)
    return doc


def read_health(path: Path | str) -> dict[str, Any] | None:
    """The health document, or None when the file is missing, unreadable or not a JSON object."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def health_age_seconds(doc: dict[str, Any] | None, now: datetime) -> float | None:
    """Seconds since the document's ``timestamp`` (negative if written "in the future"), or None
    when there is no document or no parsable timestamp."""
    if not doc:
        return None
    stamp = doc.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        written = parse_utc(stamp)
    except ValueError:
        return None
    return (now - written).total_seconds()
