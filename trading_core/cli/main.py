"""`perps-bot`: parse, build, call, print. Fast to start: no Prefect, pandas or GX imports here.

Exit codes: 0 done, 1 failed while running, 2 bad input (one line on stderr, nothing lost)."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..argtypes import OneLineParser, number, one_line, positive_int
from ..argtypes import port as port_number
from ..errors import ConfigError, TradingError

PROG = "perps-bot"

#: Subcommand modules beside this one. Each has ``register(subparsers)``, which adds its parser
#: and sets ``handler=<function(args) -> exit code>`` as the parser default. Heavy imports go
#: inside the handlers, so building the parser stays cheap.
COMMAND_MODULES: tuple[str, ...] = (
    "events_cmd",
    "guards_cmd",
    "preflight_cmd",
    "ops_cmd",
    "dashboard_cmd",
    "sim_cmd",
    "account_cmd",
    "orders_cmd",
    "backup_cmd",
    "dr_cmd",
    "review_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="GPT-Trader: the Coinbase trading bot.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", parser_class=OneLineParser)

    run = commands.add_parser("run", help="run the trading loop")
    run.add_argument("--profile", help="dev, canary, spot or prod (default: $PERPS_PROFILE or dev)")
    run.add_argument("--dev-fast", action="store_true", help="run one cycle and exit")
    run.add_argument("--dry-run", action="store_true", help="decide and log, send no order")
    run.add_argument("--reduce-only", action="store_true", help="only orders that reduce exposure")
    run.add_argument("--symbols", nargs="+", metavar="SYMBOL", help="e.g. BTC-USD ETH-USD")
    run.add_argument("--interval", type=number, metavar="S", help="seconds between cycles")
    run.add_argument("--cycles", type=positive_int, metavar="N", help="stop after N cycles")
    run.add_argument(
        "--scenario", help="simulated market: calm, trend, crash, flash-crash, stale, gappy"
    )
    run.add_argument("--seed", type=int, help="simulated market seed")
    run.add_argument("--market-data", type=Path, metavar="CSV", help="replay candles from a CSV")
    run.add_argument(
        "--fast-forward",
        action="store_true",
        help="run cycles on a virtual clock without sleeping (simulated market only)",
    )
    run.add_argument("--data-dir", type=Path, help="store root (default var/data/perps_bot)")
    run.add_argument("--log-dir", type=Path, help="log directory (default var/logs)")
    run.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")
    run.add_argument("--quiet", action="store_true", help="no per-cycle lines on stdout")
    run.add_argument(
        "--metrics-port",
        type=port_number,
        default=None,
        metavar="PORT",
        help="serve /metrics on this port (default $PERPS_METRICS_PORT or 9102; 0: off)",
    )
    run.add_argument("--metrics-host", default="127.0.0.1", help="bind address for /metrics")
    run.add_argument("--metrics-file", type=Path, help="metrics snapshot for export_metrics.py")

    run.set_defaults(handler=cmd_run)

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        module.register(commands)
    return parser


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    cli: dict[str, Any] = {}
    if args.dry_run:
        cli["dry_run"] = True
    if args.symbols:
        cli["symbols"] = [part for item in args.symbols for part in item.split(",") if part]
    if args.interval is not None:
        cli["interval_seconds"] = args.interval
    if args.data_dir is not None:
        cli["data_dir"] = args.data_dir
    if args.log_dir is not None:
        cli["log_dir"] = args.log_dir
    if args.log_level is not None:
        cli["log_level"] = args.log_level
    risk: dict[str, Any] = {}
    if args.reduce_only:
        risk["reduce_only_mode"] = True
    if risk:
        cli["risk"] = risk
    sim: dict[str, Any] = {}
    if args.scenario is not None:
        sim["scenario"] = args.scenario
    if args.seed is not None:
        sim["seed"] = args.seed
    if args.market_data is not None:
        sim["market_data"] = args.market_data
    if sim:
        cli["sim"] = sim
    return cli


CLI_FLAGS = {
    "symbols": "--symbols",
    "interval_seconds": "--interval",
    "data_dir": "--data-dir",
    "log_dir": "--log-dir",
    "log_level": "--log-level",
    "sim.scenario": "--scenario",
    "sim.seed": "--seed",
    "sim.market_data": "--market-data",
}


def cmd_run(args: argparse.Namespace) -> int:
    from ..config import BrokerKind, load_settings
    from ..runner import Bot, RunOptions
    from ..telemetry.logging_setup import setup_logging

    overrides = _run_overrides(args)
    settings = load_settings(args.profile, cli=overrides, cli_flags=CLI_FLAGS)
    if settings.sim.market_data is not None and "symbols" not in overrides:
        # a candle file holds one product: trade that one unless --symbols says which
        from ..errors import DataError
        from ..sim.replay import infer_symbol

        try:
            symbol = infer_symbol(settings.sim.market_data)
        except DataError as exc:
            raise ConfigError(f"--symbols: {exc.message}; name the symbol") from None
        overrides["symbols"] = [symbol]
        settings = load_settings(args.profile, cli=overrides, cli_flags=CLI_FLAGS)
    if args.fast_forward and settings.broker is not BrokerKind.PAPER:
        raise ConfigError("--fast-forward: only on the simulated market (broker paper)")
    max_cycles = 1 if args.dev_fast else args.cycles
    setup_logging(
        settings.log_path,
        level=settings.log_level,
        console=True,
        console_level="WARNING" if args.quiet else "INFO",
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C while finishing: the cycle is short, keep waiting
            return
        print(
            f"{signal.Signals(signum).name}: finishing the current cycle, then stopping",
            file=sys.stderr,
            flush=True,
        )
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    echo = (lambda _line: None) if args.quiet else (lambda line: print(line, flush=True))
    explicit_port = args.metrics_port is not None
    port = args.metrics_port if explicit_port else int(os.environ.get("PERPS_METRICS_PORT", 9102))
    options = RunOptions(
        max_cycles=max_cycles,
        fast_forward=args.fast_forward,
        metrics_port=port or None,
        metrics_host=args.metrics_host,
        metrics_port_required=explicit_port,
        metrics_file=args.metrics_file,
    )
    bot = Bot(settings, options, stop=stop, echo=echo)
    summary = bot.run()
    last = summary.last
    tail = ""
    if last is not None:
        tail = (
            f"; equity {last.equity:.2f}, day PnL {last.daily_pnl:+.2f} "
            f"({last.daily_pnl_pct:+.2%}), open positions {last.open_positions}"
        )
    print(
        f"stopped after {summary.cycles} cycle(s): {summary.orders} order(s), "
        f"{summary.fills} fill(s), {summary.blocked} blocked, {summary.rejected} rejected"
        f"{tail}",
        flush=True,
    )
    return summary.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from .. import __version__

        print(f"{PROG} {__version__}")
        return 0
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except TradingError as exc:
        print(f"{PROG}: error: {one_line(exc.message)}", file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) or exc.kind.value in ("rejected", "auth") else 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `perps-bot ... | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (stdout must stay valid until exit)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
