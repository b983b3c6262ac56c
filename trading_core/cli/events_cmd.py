"""`perps-bot events list`: read the event store (read-only, safe while the bot runs) and print
the newest events as a compact table or as JSON lines. `perps-bot events prune`: the retention
(trading_core.maintenance.retention): quiet cycle events past --keep-days thinned to one an hour.

The main CLI wires it with ``add_events_parser(subparsers)`` and calls ``run_events(args)`` for
``args.command == "events"``; ConfigError (bad --since/--until/--limit) becomes its one-line error
and exit 2. Stdlib and trading_core only: starting it stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from ..argtypes import non_negative_number
from ..clock import isoformat_z
from ..errors import ConfigError, one_line
from ..maintenance.retention import DEFAULT_KEEP_DAYS, thin_events
from ..store.errors import StoreError
from ..store.event_store import EventStore, StoredEvent, normalize_severity
from ..store.timespec import parse_since
from ..telemetry.redaction import redact

DEFAULT_DATA_DIR = Path("var/data/perps_bot")
DEFAULT_PROFILE = "dev"
DEFAULT_LIMIT = 50
PROFILE_ENV = "PERPS_PROFILE"
DATA_DIR_ENV = "PERPS_DATA_DIR"
_MESSAGE_WIDTH = 120


def add_events_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``events list`` on the main CLI's subparsers; returns the ``events`` parser.
    Sets ``handler=run_events`` as a default on ``events`` for dispatch by attribute."""
    events = subparsers.add_parser("events", help="inspect the event store")
    events.set_defaults(handler=run_events)
    actions = events.add_subparsers(dest="events_command", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list",
        help="print the newest events (oldest of them first)",
        description="Print the newest events of a profile's store, oldest of them first.",
    )
    listing.add_argument(
        "--profile", help=f"profile whose store to read (default: ${PROFILE_ENV} or dev)"
    )
    listing.add_argument(
        "--data-dir",
        type=Path,
        help=f"store root: the store is DATA_DIR/PROFILE/events.db (default: ${DATA_DIR_ENV} or "
        f"{DEFAULT_DATA_DIR})",
    )
    listing.add_argument(
        "--type",
        dest="types",
        action="extend",
        nargs="+",
        metavar="TYPE",
        help="only these event types (repeatable, or comma-separated): fill order_filled error ...",
    )
    listing.add_argument("--symbol", help="only events of this symbol, e.g. BTC-USD")
    listing.add_argument("--since", metavar="WHEN", help="ISO time or a span back: 30m, 1h, 2d")
    listing.add_argument("--until", metavar="WHEN", help="ISO time or a span back (exclusive)")
    listing.add_argument(
        "--severity", metavar="LEVEL", help="at least this severity: debug info warning error ..."
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N events, the newest (default {DEFAULT_LIMIT})",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    prune = actions.add_parser(
        "prune",
        help="thin quiet cycle events past the retention (safe while the bot runs)",
        description="Delete the quiet cycle events older than --keep-days, keeping the first of "
        "each UTC hour, every cycle that acted or was not clean, and the newest one. Orders, "
        "fills and every other event stay.",
    )
    prune.add_argument("--profile", help=f"profile whose store (default: ${PROFILE_ENV} or dev)")
    prune.add_argument("--data-dir", type=Path, help="store root (as for list)")
    prune.add_argument(
        "--keep-days",
        type=non_negative_number,
        default=DEFAULT_KEEP_DAYS,
        metavar="DAYS",
        help=f"keep every cycle event younger than this (default {DEFAULT_KEEP_DAYS:g})",
    )
    prune.add_argument(
        "--vacuum", action="store_true", help="then shrink the file (needs the bot stopped)"
    )
    prune.add_argument("--json", action="store_true", help="the result as one JSON object")
    return events


def store_path(args: argparse.Namespace) -> Path:
    """Where the store for ``args`` lives: DATA_DIR/PROFILE/events.db."""
    profile = getattr(args, "profile", None) or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    data_dir = getattr(args, "data_dir", None) or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(data_dir) / profile / "events.db"


def _types(raw: Sequence[str] | None) -> list[str] | None:
    if not raw:
        return None
    types = [t.strip() for item in raw for t in item.split(",") if t.strip()]
    return types or None


def run_events(
    args: argparse.Namespace,
    *,
    now: datetime | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``events list``: 0 after printing (even when nothing matched), 2 when there is no
    readable store (one line on stderr). Bad --since/--until/--limit/--severity raise ConfigError.
    ``now`` (default: the wall clock) anchors relative times."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    now = now or datetime.now(UTC)
    if getattr(args, "events_command", "list") == "prune":
        return _prune(args, now=now, out=out, err=err)
    since = parse_since(args.since, now, option="--since") if args.since else None
    until = parse_since(args.until, now, option="--until") if args.until else None
    if args.limit < 1:
        raise ConfigError(f"--limit: must be at least 1 (got {args.limit})")
    severity = getattr(args, "severity", None)
    if severity:
        try:
            severity = normalize_severity(severity)
        except ValueError as exc:
            raise ConfigError(f"--severity: {exc}") from None
    symbol = args.symbol.strip().upper() if args.symbol else None
    path = store_path(args)
    try:
        with EventStore.open_readonly(path) as store:
            found = store.events(
                _types(args.types),
                since=since,
                until=until,
                symbol=symbol,
                severity_at_least=severity or None,
                limit=args.limit,
                newest_first=True,
            )
    except StoreError as exc:
        print(f"perps-bot events list: {one_line(exc.message)}", file=err)
        return 2
    found.reverse()  # the newest N, printed oldest first like a log tail
    try:
        if args.json:
            for event in found:
                out.write(json.dumps(_redacted(event.as_dict()), ensure_ascii=False) + "\n")
        else:
            out.write(format_table(found))
        out.flush()
    except BrokenPipeError:  # `| head` closed the pipe: that is fine
        _silence_stdout()
    return 0


def _prune(args: argparse.Namespace, *, now: datetime, out: TextIO, err: TextIO) -> int:
    path = store_path(args)
    try:
        result = thin_events(path, now=now, keep_days=args.keep_days, vacuum=args.vacuum)
    except StoreError as exc:
        print(f"perps-bot events prune: {one_line(exc.message)}", file=err)
        return 2
    if args.json:
        out.write(json.dumps(result.to_dict()) + "\n")
    else:
        out.write(result.summary() + "\n")
    return 0


def _redacted(doc: dict[str, Any]) -> dict[str, Any]:
    if doc.get("message"):
        doc["message"] = redact(doc["message"])
    return doc


def format_table(events: Sequence[StoredEvent]) -> str:
    """A compact fixed-width table: ts, type, severity, symbol, message (one line each)."""
    if not events:
        return "(no events)\n"
    rows = [
        (
            isoformat_z(e.ts),
            e.type,
            e.severity,
            e.symbol or "-",
            _one_line(redact(e.message or "")),
        )
        for e in events
    ]
    header = ("TS", "TYPE", "SEVERITY", "SYMBOL", "MESSAGE")
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(4)]
    lines = []
    for row in (header, *rows):
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    text = text.replace("\r", " ").replace("\n", " ")
    if len(text) > _MESSAGE_WIDTH:
        text = text[: _MESSAGE_WIDTH - 3] + "..."
    return text


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def register(subparsers: Any) -> None:
    """Hook for trading_core.cli.main.COMMAND_MODULES."""
    add_events_parser(subparsers)
