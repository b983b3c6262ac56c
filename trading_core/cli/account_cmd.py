"""`perps-bot account snapshot`: balances, positions, equity, key permissions, fee schedule,
portfolios and (derivatives on, INTX key) the INTX summary of a profile's venue; a table by
default, ``--json`` for one JSON document. Secrets are never printed.

Also home of ``broker_session``, which every one-shot venue command (account, orders) uses:
settings for ``--profile`` (default $PERPS_PROFILE or dev), logging to the profile's log file,
the broker from ``factory.open_broker`` without streaming, the paper exchange saved after a
command that changed it, the Coinbase session closed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BrokerError, one_line

if TYPE_CHECKING:
    from ..brokers.base import Broker
    from ..config.settings import Settings

CENT = Decimal("0.01")


# --- shared by the venue commands -----------------------------------------------------------------
def add_common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    parser.add_argument(
        "--profile", help="dev, canary, spot or prod (default: $PERPS_PROFILE or dev)"
    )
    parser.add_argument("--data-dir", type=Path, help="store root (default var/data/perps_bot)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


@contextmanager
def broker_session(args: argparse.Namespace, *, save: bool = False) -> Iterator[tuple[Any, Any]]:
    """(settings, broker) for the command's profile. ``save``: the command changes the venue
    (the paper venue is then owned for the command's duration and saved after it); otherwise
    it is opened read-only, safe beside a running bot."""
    from ..brokers.factory import open_broker
    from ..config import load_settings
    from ..telemetry.logging_setup import setup_logging

    cli: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        cli["data_dir"] = args.data_dir
    settings = load_settings(args.profile, cli=cli, cli_flags={"data_dir": "--data-dir"})
    setup_logging(settings.log_path, level=settings.log_level, console=True, console_level="ERROR")
    broker, _clock = open_broker(settings, streaming=False, readonly=not save)
    try:
        yield settings, broker
        if save:
            saver = getattr(broker, "save", None)
            if saver is not None:
                saver()
    finally:
        closer = getattr(broker, "close", None)
        if closer is not None:
            closer()


def dump_json(doc: Any) -> None:
    from ..jsonutil import to_jsonable
    from ..telemetry.redaction import redact_jsonable

    print(json.dumps(redact_jsonable(to_jsonable(doc)), indent=2))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A fixed-width text table (right-aligned numbers)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], (Decimal, int)) for row in rows) if rows else False
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(list(headers)), *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    from ..domain import fmt

    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return fmt(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- the snapshot ---------------------------------------------------------------------------
def _marks(broker: Broker, currencies: Sequence[str], quote_ccy: str) -> dict[str, Decimal]:
    marks: dict[str, Decimal] = {}
    for currency in currencies:
        if currency == quote_ccy:
            continue
        try:
            marks[currency] = broker.get_quote(f"{currency}-{quote_ccy}").mid
        except (BrokerError, ValueError):
            continue  # not a product of this venue: left unvalued
    return marks


def _details(broker: Broker, settings: Settings) -> dict[str, Any]:
    details = getattr(broker, "account_details", None)
    if details is not None:
        result: dict[str, Any] = details()
        return result
    return {
        "permissions": {
            "can_view": True,
            "can_trade": True,
            "can_transfer": False,
            "portfolio_type": "PAPER",
        },
        "fees": {
            "pricing_tier": "paper",
            "maker_fee_rate": settings.sim.maker_fee,
            "taker_fee_rate": settings.sim.taker_fee,
            "total_volume_30d": None,
            "total_fees_30d": None,
        },
        "portfolios": [{"name": "paper exchange", "uuid": None, "type": "PAPER"}],
        "intx": None,
    }


def _last_cycle(settings: Settings) -> dict[str, Any] | None:
    from ..store.errors import StoreError
    from ..store.event_store import EventStore

    if not settings.store_path.exists():
        return None
    try:
        with EventStore.open_readonly(settings.store_path) as store:
            event = store.last_event("cycle")
    except StoreError:
        return None
    if event is None:
        return None
    payload = event.payload
    return {
        "cycle": event.cycle,
        "at": event.ts,
        "equity": payload.get("equity"),
        "daily_pnl": payload.get("daily_pnl"),
        "daily_pnl_pct": payload.get("daily_pnl_pct"),
        "realized_pnl": payload.get("realized_pnl"),
        "fees": payload.get("fees"),
    }


def build_snapshot(broker: Broker, settings: Settings) -> dict[str, Any]:
    quote_ccy = settings.sim.quote_currency
    now = broker.server_time()
    balances = broker.list_balances()
    positions = broker.list_positions()
    marks = _marks(broker, [b.currency for b in balances], quote_ccy)
    equity = Decimal(0)
    balance_rows = []
    for b in balances:
        mark = Decimal(1) if b.currency == quote_ccy else marks.get(b.currency)
        value = None if mark is None else (b.total * mark).quantize(CENT)
        if value is not None:
            equity += value
        balance_rows.append(
            {
                "currency": b.currency,
                "available": b.available,
                "hold": b.hold,
                "total": b.total,
                f"value_{quote_ccy.lower()}": value,
            }
        )
    position_rows = []
    for p in positions:
        mark = marks.get(p.symbol.split("-", 1)[0])
        position_rows.append(
            {
                "symbol": p.symbol,
                "quantity": p.quantity,
                "avg_entry_price": p.avg_entry_price or None,
                "mark": mark,
                "notional": None if mark is None else p.notional(mark).quantize(CENT),
                "unrealized_pnl": None
                if mark is None or not p.avg_entry_price
                else p.unrealized_pnl(mark).quantize(CENT),
            }
        )
    return {
        "profile": settings.profile,
        "broker": broker.name,
        "time": now,
        "equity": equity.quantize(CENT),
        "quote_currency": quote_ccy,
        "balances": balance_rows,
        "positions": position_rows,
        **_details(broker, settings),
        "last_cycle": _last_cycle(settings),
    }


def format_snapshot(snap: dict[str, Any]) -> str:
    from ..clock import isoformat_z

    ccy = snap["quote_currency"]
    out = [
        f"Account snapshot: profile {snap['profile']} on {snap['broker']} at "
        f"{isoformat_z(snap['time'])}",
        f"equity {_cell(snap['equity'])} {ccy}",
        "",
        "Balances",
        table(
            ["CURRENCY", "AVAILABLE", "HOLD", "TOTAL", f"VALUE {ccy}"],
            [
                [b["currency"], b["available"], b["hold"], b["total"], b[f"value_{ccy.lower()}"]]
                for b in snap["balances"]
            ],
        ),
        "",
        "Positions",
    ]
    if snap["positions"]:
        out.append(
            table(
                ["SYMBOL", "QUANTITY", "ENTRY", "MARK", "NOTIONAL", "UNREALIZED"],
                [
                    [
                        p["symbol"],
                        p["quantity"],
                        p["avg_entry_price"],
                        p["mark"],
                        p["notional"],
                        p["unrealized_pnl"],
                    ]
                    for p in snap["positions"]
                ],
            )
        )
    else:
        out.append("(none)")
    perms = snap["permissions"]
    fees = snap["fees"]
    out += [
        "",
        "Key permissions",
        f"  view {_cell(perms.get('can_view'))}  trade {_cell(perms.get('can_trade'))}  "
        f"transfer {_cell(perms.get('can_transfer'))}  portfolio {perms.get('portfolio_type')}",
        "",
        "Fee schedule",
        f"  tier {fees.get('pricing_tier')}  maker {_rate(fees.get('maker_fee_rate'))}  "
        f"taker {_rate(fees.get('taker_fee_rate'))}  30d volume "
        f"{_cell(fees.get('total_volume_30d'))}  30d fees {_cell(fees.get('total_fees_30d'))}",
        "",
        "Portfolios",
        table(
            ["NAME", "TYPE", "UUID"],
            [[p.get("name"), p.get("type"), p.get("uuid")] for p in snap["portfolios"]],
        ),
    ]
    intx = snap.get("intx")
    if intx:
        out += [
            "",
            "INTX (perpetuals)",
            f"  total balance {_cell(intx.get('total_balance'))}  buying power "
            f"{_cell(intx.get('buying_power'))}  unrealized {_cell(intx.get('unrealized_pnl'))}",
        ]
        for p in intx.get("positions") or []:
            out.append(f"  {p['symbol']} {_cell(p['quantity'])}")
    last = snap.get("last_cycle")
    if last:
        pct = last.get("daily_pnl_pct")
        shown = f" ({Decimal(str(pct)) * 100:+.2f}%)" if pct not in (None, "") else ""
        out += [
            "",
            f"Bot (last cycle {last['cycle']} at {isoformat_z(last['at'])}): equity "
            f"{last.get('equity')}  day PnL {last.get('daily_pnl')}{shown}  realized "
            f"{last.get('realized_pnl')}  fees {last.get('fees')}",
        ]
    return "\n".join(out)


def _rate(value: Any) -> str:
    if value in (None, ""):
        return "-"
    return f"{Decimal(str(value)) * 100:.2f}%"


def cmd_snapshot(args: argparse.Namespace) -> int:
    with broker_session(args) as (settings, broker):
        snap = build_snapshot(broker, settings)
    try:
        if args.json:
            dump_json(snap)
        else:
            print(format_snapshot(snap))
    except BrokenPipeError:
        return 0
    return 0


def register(subparsers: Any) -> None:
    """Hook for trading_core.cli.main.COMMAND_MODULES."""
    account = subparsers.add_parser("account", help="inspect the trading account")
    actions = account.add_subparsers(dest="account_command", metavar="ACTION")
    actions.required = True
    snap = actions.add_parser(
        "snapshot",
        help="balances, positions, permissions, fee schedule, portfolios",
        description="Print the account as the venue reports it (read-only).",
    )
    add_common(snap)
    snap.set_defaults(handler=cmd_snapshot)


def fail(message: str) -> int:
    """One line on stderr, exit code 1 (a command that ran but did not succeed)."""
    print(f"perps-bot: {one_line(message)}", file=sys.stderr)
    return 1
