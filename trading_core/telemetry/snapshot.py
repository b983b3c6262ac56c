"""The metrics snapshot file: the bot's /metrics output, written atomically each cycle, for
``scripts/monitoring/export_metrics.py --metrics-file PATH`` (a bot running elsewhere) and the
dashboard.

The file is the Prometheus text exposition format preceded by one comment line that says when it
was written (Unix seconds, wall clock) and after which cycle::

    # perps_bot_snapshot written_at=1767225600.123456 cycle=42 pid=4242
    # HELP perps_bot_equity_usd ...
    ...

Comment lines are ignored by Prometheus parsers, so the file is itself a valid exposition (a
node_exporter textfile collector can read it too). Stdlib only.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: The snapshot's file name in the profile's directory (beside events.db and health.json).
SNAPSHOT_NAME = "metrics.prom"
HEADER_PREFIX = "# perps_bot_snapshot "
_HEADER = re.compile(
    r"^# perps_bot_snapshot written_at=(?P<written_at>[0-9.eE+-]+)"
    r"(?: cycle=(?P<cycle>\d+|-))?(?: pid=(?P<pid>\d+))?\s*$"
)
#: Largest snapshot read (a bot's metrics are a few tens of KB).
MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024


class SnapshotError(Exception):
    """The snapshot file is missing, unreadable or not a snapshot; ``str()`` says which."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    written_at: float  # Unix seconds
    cycle: int | None
    pid: int | None
    body: str  # the exposition text (without the header line)

    def age(self, now: float) -> float:
        return now - self.written_at


def format_snapshot(body: bytes | str, written_at: float, cycle: int | None) -> str:
    """The file's text: the header line, then the exposition ``body``."""
    if not math.isfinite(written_at):
        raise ValueError("written_at must be a finite Unix time")
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if text and not text.endswith("\n"):
        text += "\n"
    shown = "-" if cycle is None else str(int(cycle))
    return f"{HEADER_PREFIX}written_at={written_at:.6f} cycle={shown} pid={os.getpid()}\n{text}"


def parse_snapshot(text: str) -> Snapshot:
    """Split a snapshot file's text into its header fields and body (SnapshotError if the first
    line is not a snapshot header)."""
    first, _, body = text.partition("\n")
    match = _HEADER.match(first)
    if match is None:
        raise SnapshotError("not a perps-bot metrics snapshot (no header line)")
    try:
        written_at = float(match["written_at"])
    except ValueError:
        raise SnapshotError("snapshot header has a bad written_at") from None
    if not math.isfinite(written_at):
        raise SnapshotError("snapshot header has a bad written_at")
    cycle = match["cycle"]
    pid = match["pid"]
    return Snapshot(
        written_at=written_at,
        cycle=int(cycle) if cycle and cycle != "-" else None,
        pid=int(pid) if pid else None,
        body=body,
    )


def read_snapshot(path: Path | str) -> Snapshot:
    """Read and parse the snapshot at ``path`` (SnapshotError naming the problem otherwise)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SNAPSHOT_BYTES + 1)
    except FileNotFoundError:
        raise SnapshotError(f"no metrics snapshot at {path}") from None
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"{path} is larger than {MAX_SNAPSHOT_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SnapshotError(f"{path} is not UTF-8 text") from None
    try:
        return parse_snapshot(text)
    except SnapshotError as exc:
        raise SnapshotError(f"{path}: {exc}") from None


__all__ = [
    "HEADER_PREFIX",
    "SNAPSHOT_NAME",
    "Snapshot",
    "SnapshotError",
    "format_snapshot",
    "parse_snapshot",
    "read_snapshot",
]
