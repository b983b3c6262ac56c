"""`perps-bot sim ...`: the local Coinbase-compatible simulator.

- ``sim serve [--host 127.0.0.1] [--port 8765] [--scenario calm] [--seed 42] [--faults SPEC...]
  [--symbols ...] [--balance CCY=AMOUNT...] [--key-file PATH] [--rate-limit 30] [--intx]
  [--clock wall|virtual]``: serve until Ctrl-C. The keys it trusts: ``--key-file``, and
  COINBASE_API_KEY/COINBASE_API_SECRET or COINBASE_KEY_FILE from the environment; with none of
  those it creates a throwaway test key at var/sim/coinbase_key.json and says how to use it.
- ``sim fault SPEC... | --clear | --list [--url]``: switch faults on a running simulator.
- ``sim keygen [--out PATH] [--kind ec|ed25519]``: write a throwaway test key file.

Fault specs: see ``trading_core.sim.server.faults`` (e.g. ``latency:ms=200``,
``error:status=503,count=3``, ``timeout:seconds=15,path=/api/v3/brokerage/orders``,
``malformed:mode=truncated``, ``rate_limit:count=5``, ``ws_drop:code=1006,every=30``,
``ws_gap:skip=3``, ``ws_freeze:seconds=20``).
"""

from __future__ import annotations

import argparse
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import ConfigError

DEFAULT_KEY_FILE = Path("var/sim/coinbase_key.json")
DEFAULT_PORT = 8765


def _balances(items: list[str] | None) -> dict[str, Decimal] | None:
    from ..domain import to_decimal

    if not items:
        return None
    out: dict[str, Decimal] = {}
    for item in items:
        currency, sep, amount = item.partition("=")
        if not sep or not currency.strip():
            raise ConfigError(f"--balance: expected CCY=AMOUNT, got {item!r}")
        try:
            value = to_decimal(amount, field="--balance")
        except ValueError:
            raise ConfigError(f"--balance: not a number in {item!r}") from None
        if value < 0:
            raise ConfigError(f"--balance: negative amount in {item!r}")
        out[currency.strip().upper()] = value
    return out


def _trust_keys(ring: Any, key_file: Path | None) -> tuple[list[str], Path | None]:
    """Register the keys this simulator accepts; returns (where they came from, the test key
    file it created or reused when nothing was given)."""
    from ..brokers.coinbase.keys import (
        generate_key,
        make_api_key,
        read_key_file,
        write_key_file,
    )

    sources: list[str] = []
    if key_file is not None:
        key = read_key_file(key_file)
        ring.add_secret(key.name, key.secret)
        sources.append(str(key_file))
    env_key, env_secret = os.environ.get("COINBASE_API_KEY"), os.environ.get("COINBASE_API_SECRET")
    if env_key and env_secret:
        key = make_api_key(
            env_key, env_secret, name_var="COINBASE_API_KEY", secret_var="COINBASE_API_SECRET"
        )
        ring.add_secret(key.name, key.secret)
        sources.append("COINBASE_API_KEY/COINBASE_API_SECRET")
    env_file = os.environ.get("COINBASE_KEY_FILE")
    if env_file and Path(env_file) != key_file:
        key = read_key_file(Path(env_file))
        ring.add_secret(key.name, key.secret)
        sources.append(f"COINBASE_KEY_FILE ({env_file})")
    if sources:
        return sources, None
    path = DEFAULT_KEY_FILE
    if not path.exists():
        name, secret = generate_key("ec")
        write_key_file(path, name, secret)
    key = read_key_file(path)
    ring.add_secret(key.name, key.secret)
    return [f"{path} (throwaway test key)"], path


def cmd_serve(args: argparse.Namespace) -> int:
    from ..sim.scenarios import SCENARIOS

    if args.scenario not in SCENARIOS:
        choices = ", ".join(SCENARIOS)
        raise ConfigError(f"--scenario: unknown {args.scenario!r} (choose from: {choices})")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port: {args.port} is not a port")
    if args.rate_limit < 0:
        raise ConfigError("--rate-limit: must not be negative (0 turns it off)")

    from ..clock import SystemClock, VirtualClock
    from ..sim.server import DEFAULT_SYMBOLS, FaultError, SimContext, SimVenue, parse_spec, serve
    from ..sim.server.limits import SlidingWindowLimiter

    try:
        faults = [parse_spec(spec) for spec in args.faults or []]
    except FaultError as exc:
        raise ConfigError(f"--faults: {exc}") from None
    symbols = [s for item in (args.symbols or []) for s in item.split(",") if s] or list(
        DEFAULT_SYMBOLS
    )
    clock = VirtualClock(SystemClock().now()) if args.clock == "virtual" else SystemClock()
    try:
        venue = SimVenue.create(
            symbols=symbols,
            scenario=args.scenario,
            seed=args.seed,
            clock=clock,
            balances=_balances(args.balance),
            intx=args.intx,
        )
    except ValueError as exc:
        raise ConfigError(f"--symbols: {exc}") from None
    ctx = SimContext(venue, private_limiter=SlidingWindowLimiter(args.rate_limit))
    sources, created = _trust_keys(ctx.keys, args.key_file)
    for fault in faults:
        ctx.faults.add(fault)
    host = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{host}:{args.port}"
    print(
        f"Coinbase simulator on {base} (scenario {args.scenario}, seed {args.seed}, "
        f"{len(venue.products())} products, {args.clock} clock"
        f"{', INTX portfolio' if args.intx else ''})",
        flush=True,
    )
    print(f"  export COINBASE_API_BASE={base}", flush=True)
    print(f"  export COINBASE_WS_URL=ws://{host}:{args.port}/ws", flush=True)
    if created is not None:
        print(f"  export COINBASE_KEY_FILE={created}", flush=True)
    print(f"trusted keys: {', '.join(sources)}", flush=True)
    print(
        "faults: "
        + (", ".join(f.kind for f in faults) if faults else "none")
        + f" (switch with: perps-bot sim fault --url {base} SPEC)",
        flush=True,
    )
    try:
        serve(ctx, host=args.host, port=args.port, log_level=args.log_level)
    except OSError as exc:
        raise ConfigError(f"--port: cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0


def _admin(url: str, method: str, path: str, body: Any = None) -> Any:
    import urllib.error

    from ..sim.admin_client import admin_request

    try:
        return admin_request(url, method, path, body)
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:200]
        raise ConfigError(f"sim fault: the simulator said {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(f"--url: no simulator at {url} ({exc})") from None


def cmd_fault(args: argparse.Namespace) -> int:
    from ..sim.server.faults import FaultError, make_fault, spec_document

    url = args.url or os.environ.get("COINBASE_API_BASE") or f"http://127.0.0.1:{DEFAULT_PORT}"
    if "://" not in url:
        url = f"http://{url}"
    if args.clear:
        _admin(url, "DELETE", "/sim/faults")
    if args.specs:
        try:
            docs = [spec_document(spec) for spec in args.specs]
            for doc in docs:
                make_fault(dict(doc))  # refuse a bad spec here, with its message
        except FaultError as exc:
            raise ConfigError(f"sim fault: {exc}") from None
        _admin(url, "POST", "/sim/faults", {"rules": docs})
    state = _admin(url, "GET", "/sim/state")
    active = state.get("faults") or []
    print(f"faults at {url}: " + (json.dumps(active) if active else "none"))
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from ..brokers.coinbase.keys import generate_key, write_key_file

    if args.out.exists() and not args.force:
        raise ConfigError(f"--out: {args.out} exists (pass --force to replace it)")
    name, secret = generate_key(args.kind)
    write_key_file(args.out, name, secret)
    print(f"test key written to {args.out} (mode 600); export COINBASE_KEY_FILE={args.out}")
    return 0


def register(subparsers: Any) -> None:
    """Hook for trading_core.cli.main.COMMAND_MODULES."""
    sim = subparsers.add_parser("sim", help="the local Coinbase-compatible simulator")
    actions = sim.add_subparsers(dest="sim_command", metavar="ACTION")
    actions.required = True

    serve = actions.add_parser(
        "serve",
        help="serve the Coinbase Advanced Trade API on loopback",
        description="Serve /api/v3/brokerage/... and the /ws feed, backed by the matching "
        "engine, until Ctrl-C.",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--scenario", default="calm", help="calm, trend, crash, flash-crash, ...")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument(
        "--faults", action="append", metavar="SPEC", help="e.g. latency:ms=200 (repeatable)"
    )
    serve.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="products to list")
    serve.add_argument(
        "--balance", action="append", metavar="CCY=AMOUNT", help="starting balances (repeatable)"
    )
    serve.add_argument("--key-file", type=Path, help="a Coinbase key JSON file to trust")
    serve.add_argument(
        "--rate-limit", type=int, default=30, help="private requests/s per key (0: off)"
    )
    serve.add_argument("--intx", action="store_true", help="the key has an INTX portfolio")
    serve.add_argument("--clock", choices=("wall", "virtual"), default="wall")
    serve.add_argument("--log-level", default="warning", help="uvicorn's log level")
    serve.set_defaults(handler=cmd_serve)

    fault = actions.add_parser("fault", help="switch faults on a running simulator")
    fault.add_argument("specs", nargs="*", metavar="SPEC", help="e.g. error:status=503,count=3")
    fault.add_argument("--url", help="the simulator (default $COINBASE_API_BASE or :8765)")
    fault.add_argument("--clear", action="store_true", help="remove every fault first")
    fault.set_defaults(handler=cmd_fault)

    keygen = actions.add_parser("keygen", help="write a throwaway test key file")
    keygen.add_argument("--out", type=Path, default=DEFAULT_KEY_FILE)
    keygen.add_argument("--kind", choices=("ec", "ed25519"), default="ec")
    keygen.add_argument("--force", action="store_true")
    keygen.set_defaults(handler=cmd_keygen)
