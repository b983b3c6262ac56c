"""The live terminal dashboard (rich): ``scripts/perps_dashboard.py`` and ``perps-bot dashboard``.

    perps_dashboard.py --profile dev [--refresh 5] [--window-min 15] [--once]

Reads the profile's EventStore (read-only: safe while the bot runs), health.json and, when
present, the metrics snapshot; never writes anything. Sections: health and last cycle age, equity
and daily PnL, positions with unrealized PnL, guard levels and modes, order rates over the window,
market data ages (and streaming feeds), the last events. ``--once`` prints one frame and exits.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..argtypes import OneLineParser
from ..clock import isoformat_z
from ..domain.money import fmt
from ..store.errors import StoreError
from .dashboard_args import SNAPSHOT_NAME, add_arguments, profile_dir
from .dashboard_data import DashboardData, DashboardSource
from .redaction import redact

CENT = Decimal("0.01")
_LEVEL_STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red"}
_SEVERITY_STYLE = {"warning": "yellow", "error": "red", "critical": "bold red", "debug": "dim"}


# ---------------------------------------------------------------------- formatting helpers


def _money(value: Any, signed: bool = False) -> str:
    if value is None:
        return "-"
    try:
        amount = Decimal(str(value)).quantize(CENT)
    except ArithmeticError:
        return str(value)
    text = f"{amount:,.2f}"
    return f"+{text}" if signed and amount > 0 else text


def _pct(value: Any) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):+.2%}"
    except (TypeError, ValueError):
        return str(value)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0:
        return f"{seconds:.0f}s (clock ahead)"
    if seconds < 120:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def _pnl_style(value: Any) -> str:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return ""
    return "green" if amount > 0 else "red" if amount < 0 else ""


def _kv(rows: Sequence[tuple[str, RenderableType]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    return grid


# ---------------------------------------------------------------------- sections


def health_panel(data: DashboardData, wall_now: datetime) -> Panel:
    health = data.health
    rows: list[tuple[str, RenderableType]] = []
    if health is None:
        rows.append(("health", Text("no health.json", style="bold red")))
    else:
        ok = bool(health.get("ok"))
        running = health.get("running", True)
        status = "OK" if ok else "NOT OK"
        style = "bold green" if ok else "bold red"
        if running is False:
            status, style = status + " (stopped)", "yellow"
        rows.append(("health", Text(status, style=style)))
        rows.append(("message", Text(redact(str(health.get("message", "")))[:80])))
        written = data.health_written_age_s
        fresh = written is not None and written <= 60
        rows.append(
            (
                "updated",
                Text(f"{_age(written)} ago", style="" if fresh or running is False else "bold red"),
            )
        )
        if health.get("profile"):
            rows.append(("profile", f"{health.get('profile')} ({health.get('broker', '?')})"))
        if health.get("cycle_duration_ms") is not None:
            rows.append(("cycle time", f"{health['cycle_duration_ms']} ms"))
    last = data.last_cycle
    if last is not None:
        rows.append(("last cycle", f"#{last.cycle} at {isoformat_z(last.ts)}"))
        rows.append(("cycle age", _age((wall_now - last.ts).total_seconds())))
    else:
        rows.append(("last cycle", Text("none yet", style="yellow")))
    return Panel(_kv(rows), title="Health", box=box.ROUNDED)


def account_panel(data: DashboardData) -> Panel:
    payload = data.cycle_payload
    health = data.health or {}
    equity = payload.get("equity", health.get("equity"))
    daily = payload.get("daily_pnl", health.get("daily_pnl"))
    daily_pct = payload.get("daily_pnl_pct", health.get("daily_pnl_pct"))
    rows: list[tuple[str, RenderableType]] = [
        ("equity", _money(equity)),
        (
            "daily PnL",
            Text(f"{_money(daily, signed=True)} ({_pct(daily_pct)})", style=_pnl_style(daily)),
        ),
        ("realized", _money(payload.get("realized_pnl"), signed=True)),
        ("unrealized", _money(payload.get("unrealized_pnl"), signed=True)),
        ("fees", _money(payload.get("fees"))),
        ("exposure", _money(payload.get("exposure"))),
        ("positions", str(payload.get("open_positions", health.get("open_positions", "-")))),
        ("open orders", str(data.open_orders)),
    ]
    return Panel(_kv(rows), title="Account", box=box.ROUNDED)


def _modes_text(data: DashboardData) -> Text:
    modes = data.modes
    return Text(modes, style="green" if modes == "normal" else "bold red")


def guards_panel(data: DashboardData) -> Panel:
    body: list[RenderableType] = [_kv([("modes in force", _modes_text(data))])]
    for latch in data.latches:
        line = Text(f"latched {latch.mode}", style="bold red")
        line.append(f" by {latch.set_by}", style="")
        if latch.set_at:
            line.append(f" at {latch.set_at[:19]}Z", style="")
        if latch.until:
            line.append(f" until {latch.until[:19]}Z", style="")
        if latch.reason:
            line.append(f": {redact(latch.reason)[:80]}", style="")
        body.append(line)
    if data.guards:
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        for column in ("guard", "level", "value", "warn", "crit", "action", "since", "reason"):
            table.add_column(column, no_wrap=column != "reason", overflow="ellipsis")
        for row in data.guards:
            table.add_row(
                row.name,
                Text(row.level, style=_LEVEL_STYLE.get(row.level, "")),
                row.value,
                row.warning,
                row.critical,
                row.action,
                "-" if row.since is None else row.since[5:19].replace("T", " "),
                redact(row.reason)[:80],
            )
        body.append(table)
    else:
        body.append(Text("no guard state recorded", style="dim"))
    return Panel(Group(*body), title="Guards and modes", box=box.ROUNDED)


def positions_panel(data: DashboardData) -> Panel:
    if not data.positions:
        return Panel(Text("flat: no open positions", style="dim"), title="Positions")
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    for column in ("symbol", "qty", "avg entry", "mark", "notional", "unrealized"):
        table.add_column(column, justify="left" if column == "symbol" else "right", no_wrap=True)
    for row in data.positions:
        table.add_row(
            row.symbol,
            fmt(row.quantity.quantize(Decimal("0.000001")).normalize()),
            fmt(row.avg_entry.quantize(Decimal("0.0001"))),
            "-" if row.mark is None else fmt(row.mark),
            _money(row.notional),
            Text(_money(row.unrealized, signed=True), style=_pnl_style(row.unrealized or 0)),
        )
    return Panel(table, title=f"Positions ({len(data.positions)})")


def _rate(value: float | None, of: str, *, alarm: float | None = None) -> Text:
    if value is None:
        return Text("-")
    return Text(f"{value:.0%} of {of}", style="red" if alarm is not None and value >= alarm else "")


def orders_panel(data: DashboardData) -> Panel:
    counts = data.window_counts
    minutes = data.window.total_seconds() / 60
    anchor = "" if data.anchor is None else f" to {isoformat_z(data.anchor)[11:19]}"
    cycles = f"{counts.get('cycles', 0)}" + (" (newest only)" if data.window_truncated else "")
    rows: list[tuple[str, RenderableType]] = [
        ("window", f"{minutes:g} min{anchor}"),
        ("cycles", cycles),
        ("signals", str(counts.get("signals", 0))),
        ("submitted", str(counts.get("submitted", 0))),
        ("filled", str(counts.get("filled", 0))),
        ("rejected", str(counts.get("rejected", 0))),
        ("blocked", str(counts.get("blocked", 0))),
        ("dry run", str(counts.get("dry_run", 0))),
        ("errors", Text(str(counts.get("errors", 0)), style="red" if counts.get("errors") else "")),
        ("fill rate", _rate(data.rate("filled", "submitted"), "submitted")),
        (
            "rejection rate",
            _rate(data.rate("rejected", "submitted", "rejected"), "sent", alarm=0.01),
        ),
        ("blocked rate", _rate(data.rate("blocked", "signals"), "signals")),
        ("error rate", _rate(data.rate("failures", "operations"), "operations", alarm=0.10)),
    ]
    return Panel(_kv(rows), title="Orders")


def market_panel(data: DashboardData) -> Panel:
    body: list[RenderableType] = []
    if data.market:
        table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        table.add_column("symbol")
        table.add_column("age", justify="right")
        table.add_column("status")
        for row in data.market:
            table.add_row(
                row.symbol,
                _age(row.age_s),
                Text("STALE", style="bold red") if row.stale else Text("fresh", style="green"),
            )
        body.append(table)
    else:
        body.append(Text("no market data yet", style="dim"))
    if data.feeds:
        feeds = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
        feeds.add_column("feed")
        feeds.add_column("connected")
        feeds.add_column("last message", justify="right")
        for feed in data.feeds:
            feeds.add_row(
                feed.feed,
                Text("yes", style="green") if feed.connected else Text("NO", style="bold red"),
                _age(feed.age_s),
            )
        body.append(feeds)
    notes = []
    if data.rate_limit_remaining is not None:
        notes.append(f"API rate limit remaining: {data.rate_limit_remaining:g}")
    if data.snapshot_age_s is not None:
        notes.append(f"ages at the last cycle; snapshot {_age(data.snapshot_age_s)} old")
    elif not data.market or all(row.age_s is None for row in data.market):
        notes.append("ages need the bot's metrics snapshot")
    if notes:
        body.append(Text("; ".join(notes), style="dim"))
    return Panel(Group(*body), title="Market data")


def events_panel(data: DashboardData) -> Panel:
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    table.add_column("time", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("symbol", no_wrap=True)
    table.add_column("message", overflow="ellipsis", no_wrap=True, ratio=1)
    for event in data.recent:
        message = redact(event.message or "").replace("\n", " ")
        table.add_row(
            isoformat_z(event.ts)[5:19].replace("T", " "),
            Text(event.type, style=_SEVERITY_STYLE.get(event.severity, "")),
            event.symbol or "",
            message[:160],
        )
    return Panel(table, title=f"Last {len(data.recent)} events (newest first)")


#: Below this many columns the panels are stacked instead of laid side by side.
WIDE = 110
#: Width of a frame printed to something that is not a terminal (a pipe, a file, a test).
PLAIN_WIDTH = 132


def render_frame(
    data: DashboardData, *, wall_now: datetime | None = None, width: int = PLAIN_WIDTH
) -> RenderableType:
    """One dashboard frame, laid out for ``width`` columns."""
    wall_now = wall_now or datetime.now(UTC)
    title = Text.assemble(
        ("perps-bot dashboard", "bold"),
        f"  {data.store_path}  ",
        (f"{isoformat_z(wall_now)}", "dim"),
    )
    health, account, orders = health_panel(data, wall_now), account_panel(data), orders_panel(data)
    positions, market = positions_panel(data), market_panel(data)
    if width < WIDE:
        return Group(
            title,
            health,
            account,
            guards_panel(data),
            orders,
            positions,
            market,
            events_panel(data),
        )
    top = Table.grid(expand=True, padding=(0, 1))
    for _ in range(3):
        top.add_column(ratio=1)
    top.add_row(health, account, orders)
    middle = Table.grid(expand=True, padding=(0, 1))
    middle.add_column(ratio=2)
    middle.add_column(ratio=1)
    middle.add_row(positions, market)
    return Group(title, top, guards_panel(data), middle, events_panel(data))


# ---------------------------------------------------------------------- command line


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=prog, description="Live terminal dashboard for perps-bot.")
    add_arguments(parser)
    return parser


def run(
    args: argparse.Namespace,
    *,
    console: Console | None = None,
    clock: Callable[[], datetime] | None = None,
    prog: str = "perps-bot dashboard",
) -> int:
    """Show the dashboard: one frame with ``--once``, else refresh until Ctrl-C. Exit 0, or 2
    with one line when there is no readable store."""
    clock = clock or (lambda: datetime.now(UTC))
    if console is None:
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(width=PLAIN_WIDTH)
    directory = profile_dir(args)
    metrics_path = args.metrics_file or directory / SNAPSHOT_NAME
    window = timedelta(minutes=args.window_min)
    source = DashboardSource(
        directory / "events.db",
        directory / "health.json",
        metrics_path,
        events_shown=args.events,
    )
    try:
        source.open()
    except StoreError as exc:
        print(
            f"{prog}: error: {exc.message} (is the bot running with this --profile?)",
            file=sys.stderr,
        )
        return 2

    def frame() -> RenderableType:
        now = clock()
        data = source.collect(now, window, wall=now.timestamp())
        return render_frame(data, wall_now=now, width=console.width)

    with source:
        if args.once:
            console.print(frame())
            return 0
        try:
            if not console.is_terminal:  # a pipe or a file: one frame after another
                while True:
                    console.print(frame())
                    console.file.flush()
                    time.sleep(args.refresh)
            from rich.live import Live

            # full screen, like top: the frame is redrawn in place and the terminal restored
            with Live(frame(), console=console, auto_refresh=False, screen=True) as live:
                while True:
                    time.sleep(args.refresh)
                    live.update(frame(), refresh=True)
        except KeyboardInterrupt:
            return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "perps_dashboard.py") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return run(args, prog=prog)
    except StoreError as exc:
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        return 2


__all__ = ["add_arguments", "build_parser", "main", "render_frame", "run"]
