"""`perps-bot orders ...`: preview an order, preview and apply an edit, list and cancel orders,
on the profile's venue (the paper exchange on dev, Coinbase or the simulator otherwise).

- ``preview --symbol --side --type {market,limit,stop_limit} --quantity [--price] [--stop]
  [--tif GTC|GTD|IOC|FOK] [--end-time] [--post-only] [--client-id] [--reduce-only]``: the
  preview with its preview_id, estimated price, fee, slippage, and any errors (exit 0: the
  preview itself worked; the errors say what the venue would refuse).
- ``edit-preview --order-id --price --quantity``: what the edit would do, with a preview_id
  (remembered under the profile's data directory).
- ``apply-edit --order-id --preview-id``: apply a previewed edit (its price and size are the
  ones previewed unless --price/--quantity say otherwise).
- ``list [--symbol] [--all] [--limit]`` and ``cancel --order-id ID... | --all [--symbol]``.

Stop-limit orders take their stop direction from where the stop sits against the last price
(above: triggers on the way up; below: on the way down). ``--reduce-only`` on spot is enforced
here (Coinbase refuses the flag on spot): only a sell no larger than the position passes.
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BrokerError, ConfigError
from .account_cmd import add_common, broker_session, dump_json, table

if TYPE_CHECKING:
    from ..brokers.base import Broker
    from ..domain import Order, OrderPreview, OrderRequest, Product

EDIT_PREVIEWS_FILE = "edit_previews.json"
KEEP_EDIT_PREVIEWS = 50
TIFS = ("GTC", "GTD", "IOC", "FOK")


def _decimal(text: str | None, flag: str, *, positive: bool = True) -> Decimal | None:
    from ..domain import to_decimal

    if text is None:
        return None
    try:
        value = to_decimal(text, field=flag)
    except ValueError:
        raise ConfigError(f"{flag}: not a number: {text!r}") from None
    if positive and value <= 0:
        raise ConfigError(f"{flag}: must be positive (got {text})")
    return value


def _symbol(text: str) -> str:
    from ..domain import validate_symbol

    try:
        return validate_symbol(text)
    except ValueError as exc:
        raise ConfigError(f"--symbol: {exc}") from None


def build_request(args: argparse.Namespace, last_price: Decimal | None) -> OrderRequest:
    """The OrderRequest the flags describe; ConfigError naming the flag that is wrong."""
    from ..clock import parse_utc
    from ..domain import OrderRequest, OrderSide, OrderType, StopDirection, TimeInForce

    side = OrderSide(args.side.upper())
    kind = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}.get(
        args.type, OrderType.STOP_LIMIT
    )
    quantity = _decimal(args.quantity, "--quantity")
    price = _decimal(args.price, "--price")
    stop = _decimal(args.stop, "--stop")
    tif_name = (args.tif or ("IOC" if kind is OrderType.MARKET else "GTC")).upper()
    tif = {
        "GTC": TimeInForce.GTC,
        "GTD": TimeInForce.GTD,
        "IOC": TimeInForce.IOC,
        "FOK": TimeInForce.FOK,
    }[tif_name]
    if kind is OrderType.MARKET and (price is not None or stop is not None):
        raise ConfigError("--price/--stop: a market order takes no price")
    if kind is not OrderType.MARKET and price is None:
        raise ConfigError(f"--price: required for a {args.type} order")
    if kind is OrderType.STOP_LIMIT and stop is None:
        raise ConfigError("--stop: required for a stop_limit order")
    if kind is not OrderType.STOP_LIMIT and stop is not None:
        raise ConfigError("--stop: only for stop_limit orders")
    end_time = None
    if args.end_time:
        try:
            end_time = parse_utc(args.end_time)
        except ValueError:
            raise ConfigError(f"--end-time: not an ISO time: {args.end_time!r}") from None
    direction = None
    if stop is not None:
        if last_price is not None:
            direction = StopDirection.UP if stop > last_price else StopDirection.DOWN
        else:
            direction = StopDirection.DOWN if side is OrderSide.SELL else StopDirection.UP
    request = OrderRequest(
        client_order_id=args.client_id or f"cli-{uuid.uuid4()}",
        symbol=_symbol(args.symbol),
        side=side,
        order_type=kind,
        base_size=quantity,
        limit_price=price,
        stop_price=stop,
        stop_direction=direction,
        time_in_force=tif,
        end_time=end_time,
        post_only=bool(args.post_only),
        reduce_only=bool(args.reduce_only),
    )
    try:
        request.validate()
    except ValueError as exc:
        raise ConfigError(f"orders preview: {exc} (see --type/--tif/--end-time)") from None
    return request


def reduce_only_problem(broker: Broker, product: Product, request: OrderRequest) -> str | None:
    """Why a spot reduce-only request would not only reduce the position (None if it does)."""
    from ..domain import ZERO, OrderSide

    if not request.reduce_only or product.is_perp:
        return None
    if request.side is not OrderSide.SELL:
        return "reduce-only on spot: only a sell reduces a (long-only) position"
    held = next((p.quantity for p in broker.list_positions() if p.symbol == product.symbol), ZERO)
    size = request.base_size or ZERO
    if size > held:
        return (
            f"reduce-only: selling {_fmt(size)} {product.base_currency} but the "
            f"{product.symbol} position is {_fmt(held)}"
        )
    return None


def _fmt(value: Decimal | None) -> str:
    from ..domain import fmt

    return "-" if value is None else fmt(value)


def preview_doc(preview: OrderPreview, **extra: Any) -> dict[str, Any]:
    side = preview.side.value
    value, fee = preview.quote_size, preview.est_fee
    return {
        "preview_id": preview.preview_id,
        "symbol": preview.symbol,
        "side": side,
        "type": preview.order_type.value,
        "base_size": preview.base_size,
        "est_average_price": preview.est_average_price,
        "est_notional": value,
        "est_fee": fee,
        "est_total": value + fee if side == "BUY" else value - fee,
        "slippage": preview.slippage,
        "errors": list(preview.errors),
        "warnings": list(preview.warnings),
        **extra,
    }


def format_preview(title: str, doc: dict[str, Any], quote_ccy: str) -> str:
    slip = doc["slippage"]
    rows = [
        ("preview_id", doc["preview_id"] or "-"),
        ("est. price", f"{_fmt(doc['est_average_price'])} {quote_ccy}"),
        ("est. size", _fmt(doc["base_size"])),
        ("est. notional", f"{_fmt(doc['est_notional'])} {quote_ccy}"),
        ("est. fee", f"{_fmt(doc['est_fee'])} {quote_ccy}"),
        ("est. total", f"{_fmt(doc['est_total'])} {quote_ccy}"),
        ("slippage", f"{_fmt(slip)} ({slip * 10000:.2f} bps)"),
    ]
    if doc.get("client_order_id"):
        rows.append(("client_order_id", doc["client_order_id"]))
    if doc.get("stop_direction"):
        rows.append(("stop direction", doc["stop_direction"]))
    rows.append(("errors", ", ".join(doc["errors"]) or "none"))
    rows.append(("warnings", ", ".join(doc["warnings"]) or "none"))
    for note in doc.get("notes") or []:
        rows.append(("note", note))
    width = max(len(k) for k, _ in rows)
    return "\n".join([title, *(f"  {k.ljust(width)}  {v}" for k, v in rows)])


def _describe(request: OrderRequest) -> str:
    text = f"{request.side.value} {_fmt(request.base_size)} {request.symbol} "
    text += f"{request.order_type.value.lower()} {request.time_in_force.name}"
    if request.limit_price is not None:
        text += f" limit {_fmt(request.limit_price)}"
    if request.stop_price is not None:
        text += f" stop {_fmt(request.stop_price)}"
    if request.post_only:
        text += " post-only"
    if request.reduce_only:
        text += " reduce-only"
    return text


# --- handlers ------------------------------------------------------------------------------------
def cmd_preview(args: argparse.Namespace) -> int:
    from ..domain import is_perp_symbol

    with broker_session(args) as (settings, broker):
        symbol = _symbol(args.symbol)
        if is_perp_symbol(symbol) and not settings.coinbase.enable_derivatives:
            raise ConfigError(
                f"--symbol: {symbol} is a perpetual and derivatives are off: spot first (set "
                "COINBASE_ENABLE_DERIVATIVES=1 only after Coinbase grants INTX access)"
            )
        product = broker.get_product(symbol)
        last = None
        if args.type == "stop_limit":
            try:
                last = broker.get_quote(product.symbol).last
            except BrokerError:
                last = None
        request = build_request(args, last)
        notes: list[str] = []
        problem = reduce_only_problem(broker, product, request)
        preview = broker.preview_order(request)
        errors = list(preview.errors)
        if problem is not None:
            notes.append(problem)
            if "REDUCE_ONLY_VIOLATION" not in errors:
                errors.append("REDUCE_ONLY_VIOLATION")
        doc = preview_doc(
            preview,
            client_order_id=request.client_order_id if args.client_id else None,
            stop_direction=request.stop_direction.value if request.stop_direction else None,
            request=_describe(request),
            notes=notes,
        )
        doc["errors"] = errors
        quote_ccy = product.quote_currency
    if args.json:
        dump_json(doc)
    else:
        title = f"Preview {doc['request']} (profile {settings.profile}, {broker.name})"
        print(format_preview(title, doc, quote_ccy))
    return 0


def _previews_path(settings: Any) -> Path:
    return Path(settings.profile_dir) / EDIT_PREVIEWS_FILE


def _load_previews(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _save_preview(settings: Any, preview_id: str, entry: dict[str, Any]) -> None:
    from ..jsonutil import atomic_write_text

    path = _previews_path(settings)
    previews = _load_previews(path)
    previews[preview_id] = entry
    kept = dict(list(previews.items())[-KEEP_EDIT_PREVIEWS:])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(kept, indent=1))


def cmd_edit_preview(args: argparse.Namespace) -> int:
    price = _decimal(args.price, "--price")
    size = _decimal(args.quantity, "--quantity")
    if price is None and size is None:
        raise ConfigError("--price/--quantity: give the new price, the new size or both")
    with broker_session(args) as (settings, broker):
        order = broker.get_order(args.order_id)
        preview = broker.preview_edit(args.order_id, limit_price=price, base_size=size)
        new_price = price if price is not None else order.limit_price
        new_size = size if size is not None else order.base_size
        if preview.preview_id and not preview.errors:
            _save_preview(
                settings,
                preview.preview_id,
                {
                    "order_id": args.order_id,
                    "price": _fmt(new_price),
                    "quantity": _fmt(new_size),
                    "at": datetime.now(UTC).isoformat(),
                },
            )
        doc = preview_doc(preview, order_id=args.order_id, new_price=new_price, new_size=new_size)
        quote_ccy = broker.get_product(order.symbol).quote_currency
    if args.json:
        dump_json(doc)
    else:
        title = (
            f"Edit preview for order {args.order_id} ({order.symbol} {order.side.value}): "
            f"price {_fmt(order.limit_price)} -> {_fmt(new_price)}, size "
            f"{_fmt(order.base_size)} -> {_fmt(new_size)}"
        )
        print(format_preview(title, doc, quote_ccy))
        if not preview.errors:
            print(
                f"apply with: perps-bot orders apply-edit --order-id {args.order_id} "
                f"--preview-id {preview.preview_id}"
            )
    return 0


def cmd_apply_edit(args: argparse.Namespace) -> int:
    price = _decimal(args.price, "--price")
    size = _decimal(args.quantity, "--quantity")
    with broker_session(args, save=True) as (settings, broker):
        saved = _load_previews(_previews_path(settings)).get(args.preview_id)
        if saved is not None and saved.get("order_id") != args.order_id:
            raise ConfigError(
                f"--preview-id: {args.preview_id} previews an edit of order {saved.get('order_id')}"
            )
        if saved is None and price is None and size is None:
            raise ConfigError(
                f"--preview-id: {args.preview_id} is not a preview this profile made; run "
                "`perps-bot orders edit-preview` first or give --price/--quantity"
            )
        if saved is not None:
            price = price if price is not None else _decimal(saved.get("price"), "saved price")
            size = size if size is not None else _decimal(saved.get("quantity"), "saved size")
        order = broker.edit_order(
            args.order_id, limit_price=price, base_size=size, preview_id=args.preview_id
        )
    if args.json:
        dump_json(order_doc(order))
    else:
        print(
            f"order {order.order_id} edited: {order.symbol} {order.side.value} "
            f"{_fmt(order.base_size)} at {_fmt(order.limit_price)}, status {order.status.value}"
        )
    return 0


def order_doc(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.order_type.value,
        "time_in_force": order.time_in_force.name,
        "status": order.status.value,
        "base_size": order.base_size,
        "quote_size": order.quote_size,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "filled_size": order.filled_size,
        "avg_fill_price": order.avg_fill_price,
        "fees": order.fees,
        "created_at": order.created_at,
    }


def cmd_list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ConfigError(f"--limit: must be at least 1 (got {args.limit})")
    symbol = _symbol(args.symbol) if args.symbol else None
    with broker_session(args) as (_settings, broker):
        orders = broker.list_orders(symbol, open_only=not args.all)
    orders = orders[-args.limit :]
    if args.json:
        dump_json([order_doc(o) for o in orders])
        return 0
    if not orders:
        print("(no open orders)" if not args.all else "(no orders)")
        return 0
    from ..clock import isoformat_z

    print(
        table(
            [
                "CREATED",
                "ORDER_ID",
                "CLIENT_ID",
                "SYMBOL",
                "SIDE",
                "TYPE",
                "TIF",
                "SIZE",
                "PRICE",
                "STOP",
                "FILLED",
                "STATUS",
            ],
            [
                [
                    isoformat_z(o.created_at),
                    o.order_id,
                    o.client_order_id,
                    o.symbol,
                    o.side.value,
                    o.order_type.value,
                    o.time_in_force.name,
                    o.base_size if o.base_size is not None else o.quote_size,
                    o.limit_price,
                    o.stop_price,
                    o.filled_size,
                    o.status.value,
                ]
                for o in orders
            ],
        )
    )
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    if not args.order_id and not args.all:
        raise ConfigError("--order-id: name the orders to cancel, or pass --all")
    if args.order_id and args.all:
        raise ConfigError("--all: not together with --order-id")
    symbol = _symbol(args.symbol) if args.symbol else None
    with broker_session(args, save=True) as (_settings, broker):
        ids = list(args.order_id or [])
        if args.all:
            ids = [o.order_id for o in broker.list_orders(symbol, open_only=True)]
        result = broker.cancel_orders(ids) if ids else {}
    if args.json:
        dump_json(
            {
                "cancelled": [i for i, ok in result.items() if ok],
                "failed": [i for i, ok in result.items() if not ok],
            }
        )
    elif not result:
        print("nothing to cancel (no open orders)")
    else:
        for order_id, ok in result.items():
            print(f"{order_id}: {'cancelled' if ok else 'not cancelled (unknown or finished)'}")
    return 0 if all(result.values()) else 1


# --- parsers ------------------------------------------------------------------------------------
def register(subparsers: Any) -> None:
    """Hook for trading_core.cli.main.COMMAND_MODULES."""
    orders = subparsers.add_parser("orders", help="preview, edit, list and cancel orders")
    actions = orders.add_subparsers(dest="orders_command", metavar="ACTION")
    actions.required = True

    preview = actions.add_parser("preview", help="preview an order (nothing is placed)")
    preview.add_argument("--symbol", required=True, help="e.g. BTC-USD")
    preview.add_argument("--side", required=True, type=str.lower, choices=("buy", "sell"))
    preview.add_argument(
        "--type", required=True, type=str.lower, choices=("market", "limit", "stop_limit")
    )
    preview.add_argument("--quantity", required=True, help="size in the base currency")
    preview.add_argument("--price", help="limit price (limit, stop_limit)")
    preview.add_argument("--stop", help="stop price (stop_limit)")
    preview.add_argument("--tif", type=str.upper, choices=TIFS, help="time in force")
    preview.add_argument("--end-time", help="GTD expiry, ISO 8601 UTC")
    preview.add_argument("--post-only", action="store_true", help="maker only (GTC/GTD limits)")
    preview.add_argument("--client-id", help="client order id to place it with")
    preview.add_argument(
        "--reduce-only", action="store_true", help="only if it reduces the position"
    )
    add_common(preview)
    preview.set_defaults(handler=cmd_preview)

    edit = actions.add_parser("edit-preview", help="preview a change of a GTC limit order")
    edit.add_argument("--order-id", required=True)
    edit.add_argument("--price", help="new limit price")
    edit.add_argument("--quantity", help="new total size")
    add_common(edit)
    edit.set_defaults(handler=cmd_edit_preview)

    apply = actions.add_parser("apply-edit", help="apply an edit previewed with edit-preview")
    apply.add_argument("--order-id", required=True)
    apply.add_argument("--preview-id", required=True)
    apply.add_argument("--price", help="override the previewed price")
    apply.add_argument("--quantity", help="override the previewed size")
    add_common(apply)
    apply.set_defaults(handler=cmd_apply_edit)

    listing = actions.add_parser("list", help="open orders (--all: every order)")
    listing.add_argument("--symbol")
    listing.add_argument("--all", action="store_true", help="finished orders too")
    listing.add_argument("--limit", type=int, default=50, help="at most N, the newest")
    add_common(listing)
    listing.set_defaults(handler=cmd_list)

    cancel = actions.add_parser("cancel", help="cancel orders")
    cancel.add_argument("--order-id", nargs="+", metavar="ID")
    cancel.add_argument("--all", action="store_true", help="every open order (of --symbol)")
    cancel.add_argument("--symbol")
    add_common(cancel)
    cancel.set_defaults(handler=cmd_cancel)
