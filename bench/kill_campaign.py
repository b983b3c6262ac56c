#!/usr/bin/env python3
"""The SIGKILL campaign: the trading bot killed at seeded random points, restarted, audited.

Each run forks a bot (the real ``Bot`` loop, trading every few cycles: a 1/2-bar MA crossover)
and kills it with SIGKILL, either after a random delay or at a chosen point of the order path
(just before an order request leaves, just after the venue accepted it, just before or after a
store commit, and on the paper venue just before its journal write). Then a clean restart (a
bot that reconciles and runs one cycle) and an audit of the store against the venue
(trading_core/audit.py): zero duplicate orders, zero lost or phantom fills, positions equal to
the venue's, cash consistent, store integrity ok. Any failed invariant, breached reconciliation
or failed restart fails the campaign (exit 1).

Targets: ``paper`` (the in-process paper venue, fast-forward clock) and ``coinbase`` (the bot
on the real Coinbase SDK against ``perps-bot sim serve`` on 127.0.0.1, wall clock). Prints a
table, or one JSON document with ``--json``.
    .venv/bin/python bench/kill_campaign.py [--target paper|coinbase|both] [--kills 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading_core.audit import CHECKS, audit  # noqa: E402
from trading_core.brokers.base import Broker  # noqa: E402
from trading_core.clock import SystemClock, VirtualClock  # noqa: E402
from trading_core.config import load_settings  # noqa: E402
from trading_core.config.settings import Settings  # noqa: E402
from trading_core.runner import Bot, RunOptions  # noqa: E402
from trading_core.store.event_store import EventStore  # noqa: E402
from trading_core.telemetry.logging_setup import setup_logging  # noqa: E402

STARTING_CASH = Decimal("100000")
SYMBOLS = "BTC-USD,ETH-USD"
PERPS_BOT = str(Path(sys.executable).parent / "perps-bot")
# a strategy that trades every few cycles, and guards loose enough not to stop it
TRADING_ENV = {
    "STRATEGY_SHORT_WINDOW": "1",
    "STRATEGY_LONG_WINDOW": "2",
    "STRATEGY_BAR_SECONDS": "0",
    "STRATEGY_POSITION_FRACTION": "0.02",
    "RISK_MAX_EXPOSURE_PCT": "0.9",
    "RISK_MAX_POSITION_PCT": "0.5",
    "RISK_MAX_SYMBOL_NOTIONAL": "50000",
    "RISK_DAILY_LOSS_WARNING_PCT": "0.5",
    "RISK_DAILY_LOSS_CRITICAL_PCT": "0.9",
    "RISK_DRAWDOWN_WARNING_PCT": "0.5",
    "RISK_DRAWDOWN_CRITICAL_PCT": "0.9",
    "RISK_VOLATILITY_WARNING": "1000",
    "RISK_VOLATILITY_CRITICAL": "2000",
    "RISK_VOLATILITY_KILL": "4000",
    "RISK_CONCENTRATION_WARNING": "0.99",
    "RISK_CONCENTRATION_CRITICAL": "1",
}


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    fast_forward: bool
    delay: tuple[float, float]  # seconds after the fork for a timed kill
    deadline: float  # a point kill not reached by then is a timed kill
    points: tuple[str, ...]


TARGETS = {
    "paper": Target(
        "paper",
        True,
        (0.15, 0.7),
        1.5,
        ("submit:before", "submit:after", "commit:before", "commit:after", "journal:before"),
    ),
    "coinbase": Target(
        "coinbase",
        False,
        (0.6, 2.5),
        4.0,
        ("submit:before", "submit:after", "commit:before", "commit:after"),
    ),
}


@dataclass(slots=True)
class Tally:
    target: str
    kills: int = 0
    timed: int = 0
    points: Counter[str] = field(default_factory=Counter)
    finished_before_kill: int = 0
    in_flight_at_kill: int = 0
    resolved_at_restart: int = 0
    fills_applied_at_restart: int = 0
    restarts_failed: int = 0
    breaches: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    orders: int = 0
    fills: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.restarts_failed or self.breaches or sum(self.failures.values()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kills": self.kills,
            "timed_kills": self.timed,
            "point_kills": dict(sorted(self.points.items())),
            "finished_before_kill": self.finished_before_kill,
            "kills_with_order_in_flight": self.in_flight_at_kill,
            "in_flight_resolved_at_restart": self.resolved_at_restart,
            "missed_fills_applied_at_restart": self.fills_applied_at_restart,
            "restarts_failed": self.restarts_failed,
            "reconcile_breaches": self.breaches,
            "invariant_failures": {c: self.failures.get(c, 0) for c in CHECKS},
            "venue_orders": self.orders,
            "venue_fills": self.fills,
            "seconds": round(self.seconds, 1),
            "ok": self.ok,
            "examples": self.examples[:5],
        }


# --- the child: a bot that is killed -----------------------------------------------------------
def _arm(bot: Bot, point: str, nth: int) -> None:
    """Make the bot SIGKILL itself at the ``nth`` pass through ``point``."""
    where, when = point.split(":")
    owners: dict[str, tuple[Any, str]] = {
        "submit": (bot.broker, "submit_order"),
        "commit": (bot.store, "commit"),
        "journal": (bot.broker, "_record"),
    }
    owner, name = owners[where]
    original: Callable[..., Any] = getattr(owner, name)
    seen = 0

    def die() -> NoReturn:
        os.kill(os.getpid(), signal.SIGKILL)
        raise SystemExit(99)  # not reached

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal seen
        if where == "journal" and bot.broker.engine._changed == {}:  # type: ignore[attr-defined]
            return original(*args, **kwargs)  # nothing to journal: not a pass that counts
        seen += 1
        if seen == nth and when == "before":
            die()
        result = original(*args, **kwargs)
        if seen == nth:
            die()
        return result

    setattr(owner, name, wrapper)


def _child(
    settings: Settings, options: RunOptions, workdir: Path, arm: tuple[str, int] | None
) -> NoReturn:
    code = 70
    try:
        out = os.open(workdir / "children.err", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        setup_logging(settings.log_dir / "perps_bot.log", console=True, console_level="ERROR")
        bot = Bot(settings, options)
        if arm is not None:
            _arm(bot, *arm)
        code = bot.run().exit_code
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _fork(
    settings: Settings, options: RunOptions, workdir: Path, arm: tuple[str, int] | None
) -> int:
    pid = os.fork()
    if pid == 0:
        _child(settings, options, workdir, arm)
    return pid


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit code (negative: killed by that signal), None if it outlived ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)


# --- the venue, seen from the parent -------------------------------------------------------------
@contextlib.contextmanager
def _venue(target: str, settings: Settings) -> Iterator[Broker]:
    if target == "paper":
        from trading_core.brokers.paper import PaperBroker

        # a clock behind the market: opening it moves nothing (no order is matched from here)
        broker = PaperBroker.open(
            settings.paper_state_path,
            symbols=list(settings.symbols),
            clock=VirtualClock(datetime(1970, 1, 2, tzinfo=UTC)),
            readonly=True,
        )
        try:
            yield broker
        finally:
            broker.close()
        return
    from trading_core.brokers.coinbase import open_coinbase_broker

    broker = open_coinbase_broker(settings, streaming=False, clock=SystemClock())
    try:
        yield broker
    finally:
        broker.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _simulator(workdir: Path, seed: int) -> Iterator[dict[str, str]]:
    """``perps-bot sim serve`` in its own process (the venue outlives every kill)."""
    key_file = workdir / "cdp_api_key.json"
    subprocess.run(
        [PERPS_BOT, "sim", "keygen", "--out", str(key_file)], check=True, capture_output=True
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            PERPS_BOT,
            "sim",
            "serve",
            "--port",
            str(port),
            "--seed",
            str(seed),
            "--key-file",
            str(key_file),
            "--symbols",
            *SYMBOLS.split(","),
            "--balance",
            f"USD={STARTING_CASH}",
            "--rate-limit",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "sim.err", "w"),  # noqa: SIM115
        cwd=workdir,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the simulator did not start: " + (workdir / "sim.err").read_text()
                )
            time.sleep(0.05)
        yield {
            "COINBASE_KEY_FILE": str(key_file),
            "COINBASE_API_BASE": f"http://127.0.0.1:{port}",
            "COINBASE_WS_URL": f"ws://127.0.0.1:{port}/ws",
            "COINBASE_TIMEOUT_SECONDS": "5",
            "COINBASE_BACKOFF_SECONDS": "0.05",
        }
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(10)
        if server.poll() is None:
            server.kill()


# --- the campaign --------------------------------------------------------------------------------
def _settings(target: str, workdir: Path, env: dict[str, str]) -> Settings:
    profile = "dev" if target == "paper" else "canary"
    cli: dict[str, Any] = {
        "data_dir": str(workdir / "data"),
        "log_dir": str(workdir / "logs"),
        "symbols": SYMBOLS,
        "interval_seconds": 5 if target == "paper" else 0.25,
    }
    return load_settings(profile, cli=cli, environ={**TRADING_ENV, **env}, dotenv_path=None)


def _store_facts(settings: Settings) -> tuple[int, dict[str, Any] | None]:
    """Open orders in the store (in flight at the kill) and the last reconciliation's payload."""
    store = EventStore.open_readonly(settings.store_path)
    try:
        in_flight = len(store.list_orders(open_only=True))
        last = store.last_event("reconcile")
        payload = last.payload if last is not None and isinstance(last.payload, dict) else None
        return in_flight, payload
    finally:
        store.close()


def run_target(target: Target, kills: int, seed: int, workdir: Path) -> Tally:
    tally = Tally(target.name)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        if target.name == "coinbase":
            env = stack.enter_context(_simulator(workdir, seed))
        settings = _settings(target.name, workdir, env)
        rng = random.Random(f"{target.name}:{seed}")
        for run in range(kills):
            arm: tuple[str, int] | None = None
            if rng.random() < 0.5:
                point = rng.choice(target.points)
                nth = (
                    rng.randint(1, 3)
                    if point.startswith(("submit", "journal"))
                    else rng.randint(1, 60)
                )
                arm = (point, nth)
            delay = rng.uniform(*target.delay)
            options = RunOptions(
                max_cycles=10**6,
                fast_forward=target.fast_forward,
                save_every_s=rng.choice((0.05, 0.3, 60.0)),  # snapshots at random moments too
                reconcile_every_s=rng.choice((0.2, 600.0)),
            )
            pid = _fork(settings, options, workdir, arm)
            status = _wait(pid, target.deadline if arm else delay)
            if status is None:
                os.kill(pid, signal.SIGKILL)
                status = _wait(pid, 30)
                tally.timed += 1
            elif arm is not None and status == -signal.SIGKILL:
                tally.points[arm[0]] += 1
            if status != -signal.SIGKILL:
                tally.finished_before_kill += 1
                tally.examples.append(f"run {run}: the bot ended with {status} before the kill")
                continue
            tally.kills += 1
            in_flight, _ = _store_facts(settings)
            tally.in_flight_at_kill += in_flight > 0

            # the restart: reconcile, one cycle, a clean stop
            restart = _fork(
                settings, RunOptions(max_cycles=1, fast_forward=target.fast_forward), workdir, None
            )
            code = _wait(restart, 60)
            if code != 0:
                if code is None:
                    os.kill(restart, signal.SIGKILL)
                    _wait(restart, 30)
                tally.restarts_failed += 1
                tally.examples.append(f"run {run}: the restart ended with {code}")
                continue
            _, reconciled = _store_facts(settings)
            if reconciled is None or reconciled.get("breaches"):
                tally.breaches += 1
                tally.examples.append(f"run {run}: reconciliation {reconciled}")
            else:
                tally.resolved_at_restart += len(reconciled.get("resolved") or {})
                tally.fills_applied_at_restart += int(reconciled.get("fills_applied") or 0)

            store = EventStore.open_readonly(settings.store_path)
            try:
                with _venue(target.name, settings) as venue:
                    report = audit(
                        store, venue, symbols=settings.symbols, starting_cash=STARTING_CASH
                    )
            finally:
                store.close()
            tally.orders, tally.fills = report.orders, report.fills
            for name in report.failed():
                tally.failures[name] += 1
            if not report.ok:
                tally.examples.append(f"run {run} ({arm or 'timed'}): {report.summary()}")
    tally.seconds = time.monotonic() - started
    return tally


def table(rows: list[dict[str, Any]]) -> str:
    """The campaign's table from each target's ``Tally.as_dict()`` (as ``--json`` prints it)."""
    keys = [
        ("kills", "SIGKILLs"),
        ("timed_kills", "  at a random moment"),
        ("point_kills", "  at a chosen point"),
        ("kills_with_order_in_flight", "kills with an order in flight"),
        ("in_flight_resolved_at_restart", "in-flight orders resolved at restart"),
        ("missed_fills_applied_at_restart", "missed fills applied at restart"),
        ("venue_orders", "orders on the venue (end)"),
        ("venue_fills", "fills on the venue (end)"),
        ("restarts_failed", "restarts failed"),
        ("reconcile_breaches", "reconciliation breaches"),
    ]
    lines = [f"{'':40}" + "".join(f"{r['target']:>24}" for r in rows)]
    for key, label in keys:
        cells = []
        for r in rows:
            value = r[key]
            if isinstance(value, dict):
                value = sum(value.values())
            cells.append(f"{value:>24}")
        lines.append(f"{label:40}" + "".join(cells))
    for check in CHECKS:
        lines.append(
            f"{'failed: ' + check:40}"
            + "".join(f"{r['invariant_failures'][check]:>24}" for r in rows)
        )
    lines.append(f"{'seconds':40}" + "".join(f"{r['seconds']:>24}" for r in rows))
    lines.append(f"{'result':40}" + "".join(f"{'PASS' if r['ok'] else 'FAIL':>24}" for r in rows))
    for r in rows:
        for example in r["examples"]:
            lines.append(f"  {r['target']}: {example}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("paper", "coinbase", "both"), default="both")
    parser.add_argument("--kills", type=int, default=100, help="per target")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    names = ["paper", "coinbase"] if args.target == "both" else [args.target]
    tallies = []
    for name in names:
        workdir = Path(tempfile.mkdtemp(prefix=f"kill-{name}-"))
        os.chdir(workdir)  # the bot reads .env from its working directory: none here
        tally = run_target(TARGETS[name], args.kills, args.seed, workdir)
        tallies.append(tally)
        if args.keep or not tally.ok:
            print(f"{name}: working directory kept: {workdir}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps({"seed": args.seed, "targets": [t.as_dict() for t in tallies]}, indent=2))
    else:
        print(table([t.as_dict() for t in tallies]))
    return 0 if all(t.ok for t in tallies) else 1


if __name__ == "__main__":
    sys.exit(main())
