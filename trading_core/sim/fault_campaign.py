"""The fault campaign: the whole bot (``Bot``, profile canary) trading against the Coinbase
simulator while one fault at a time is injected, held, then cleared.

For each fault: a fresh simulator on a free 127.0.0.1 port, a fresh data and log directory, a Bot
in a thread on a short interval with a strategy that trades nearly every cycle; a few healthy
cycles, the fault, cycles through it, the fault cleared, cycles until the bot is healthy again
(health.json ok, modes normal), then a clean stop. Each run is judged on:

- **outcome**: the bot thread still running when told to stop (or stopped on purpose, with the
  reason health.json gives), recovered within ``RECOVERY_DEADLINE_S`` of the fault's end;
- **guard**: the guard (or adapter mechanism) the design says engages did: a persistent REST
  outage (5xx, garbage, refused credentials, a skewed clock) trips ``error_rate`` to critical
  (halt); short bursts are absorbed by the adapter's retries (429s waiting what the venue asked
  or, without headers, their own backoff; lost answers retried under the same client order id);
  feed drops reconnect, sequence gaps resync, a frozen feed falls back to REST quotes; a full
  disk under the log drops lines (counted, one notice) while trading goes on;
- **no unhandled exception**: no ``cycle failed`` event, no traceback in the log, no exception
  escaping any thread, nothing at CRITICAL but guard transitions;
- **no data lost**: ``PRAGMA integrity_check`` ok; every order the venue holds is in the store
  under its client order id, no client order id twice at the venue, and each order's filled
  size at the venue equals the fills the store recorded for it.

Clock skew, by design: the bot signs JWTs with its own clock; a venue whose clock is more than
the JWT leeway (5 s) ahead of ``nbf`` refuses them (401, ``token not yet valid``), which the
adapter classifies as AUTH (never retried), so the cycle's reads fail, the error-rate guard
halts trading and the bot stays up until the clocks agree again. The run's notes show the skew
the venue's ``/time`` reported against the local clock (what preflight's ``clock_drift`` check
measures before a session).

Used by ``tests/reliability/test_fault_campaign.py`` and ``bench/fault_campaign.py``. No Prefect,
no pytest: plain threads and loopback HTTP.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..clock import parse_utc
from ..config import load_settings
from ..config.settings import Settings
from ..store.health import read_health
from ..telemetry import logging_setup
from .admin_client import admin_request
from .server import SimContext, SimServer, SimVenue

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config" / "profiles"
INTERVAL_S = 0.2
HEALTHY_BEFORE = 3  # cycles before the fault
RECOVERY_DEADLINE_S = 12.0  # after the fault ends
AFTER_RECOVERY = 2  # healthy cycles after recovery before the stop
ORDERS = "/api/v3/brokerage/orders"


@dataclass(frozen=True, slots=True)
class FaultCase:
    """One row of the campaign."""

    name: str
    spec: str  # what is injected, as the table shows it
    rules: tuple[dict[str, Any], ...] = ()  # POST /sim/faults documents
    hold_s: float = 1.5  # how long the fault stays before it is cleared
    expect: str = ""  # the mechanism the design says engages (checked by ``check``)
    check: Callable[[Observation], bool] | None = None
    until_consumed: bool = False  # clear as soon as the rules are used up (hold_s at most)
    disk_full: bool = False  # the log file on a full disk (no simulator rule)
    extra_env: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Observation:
    """What one run saw (raw material for the judgement)."""

    guards: dict[str, str] = field(default_factory=dict)  # guard -> worst level after inject
    applied: dict[str, int] = field(default_factory=dict)  # the simulator's faults_applied
    requests: dict[str, int] = field(default_factory=dict)  # adapter: status -> count (delta)
    failed_calls: dict[str, int] = field(default_factory=dict)  # "endpoint status" -> count
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)  # stream status at the end
    ws_connections: int = 0
    rest_quotes_during: int = 0
    error_events: int = 0  # classified failures recorded as error events
    log_dropped: int = 0
    log_outages: int = 0
    log_notices: list[str] = field(default_factory=list)
    log_recovery_line: bool = False  # the log file itself says how many lines were lost
    skew_seen_s: float | None = None


@dataclass(slots=True)
class CaseResult:
    fault: str
    injected: str
    cycles_before: int = 0
    cycles_during: int = 0
    cycles_after: int = 0
    outcome: str = ""  # "recovered", "stopped on purpose: ...", or what went wrong
    recovered: bool = False
    stopped_on_purpose: bool = False
    recovery_s: float | None = None  # fault cleared -> healthy cycle, modes normal
    expect: str = ""
    guard: str = ""  # what engaged, as the table shows it
    guard_ok: bool = False
    orders: int = 0  # at the venue
    fills: int = 0
    consistent: bool = False
    consistency: str = ""
    exceptions: int = 0
    exception_notes: list[str] = field(default_factory=list)
    notes: str = ""
    seconds: float = 0.0
    observation: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            (self.recovered or self.stopped_on_purpose)
            and self.guard_ok
            and self.consistent
            and self.exceptions == 0
        )

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["passed"] = self.passed
        return doc


# --- the cases ----------------------------------------------------------------------------------
def _critical(guard: str) -> Callable[[Observation], bool]:
    return lambda o: o.guards.get(guard) == "critical"


def _retried(status: str) -> Callable[[Observation], bool]:
    def check(o: Observation) -> bool:
        return o.requests.get(status, 0) >= 1 and o.guards.get("error_rate") != "critical"

    return check


def _lost_order_answer(o: Observation) -> bool:
    """An order create's answer was lost (the venue had placed it) and the retry came back."""
    return o.failed_calls.get("/orders timeout", 0) >= 1 and _retried("timeout")(o)


def _reconnected(o: Observation) -> bool:
    return o.ws_connections >= 2 and any(f.get("reconnects", 0) >= 1 for f in o.feeds.values())


def _resynced(o: Observation) -> bool:
    return any(f.get("gaps", 0) >= 1 for f in o.feeds.values())


def _rest_fallback(o: Observation) -> bool:
    return o.rest_quotes_during >= 1


def _log_dropped(o: Observation) -> bool:
    return (
        o.log_dropped >= 1
        and o.log_outages == 1
        and len(o.log_notices) == 2
        and o.log_recovery_line
    )


def _skew_refused(o: Observation) -> bool:
    return _critical("error_rate")(o) and o.requests.get("401", 0) >= 1


CASES: tuple[FaultCase, ...] = (
    FaultCase(
        "429 with headers",
        "rate_limit count=6 retry_after=0.2",
        ({"kind": "rate_limit", "count": 6, "retry_after": 0.2},),
        hold_s=1.0,
        expect="retried after Retry-After",
        check=_retried("429"),
    ),
    FaultCase(
        "429 without headers",
        "rate_limit count=6 headers=0",
        ({"kind": "rate_limit", "count": 6, "headers": 0},),
        hold_s=1.0,
        expect="retried with own backoff",
        check=_retried("429"),
    ),
    FaultCase(
        "5xx",
        "error status=503 until cleared",
        ({"kind": "error", "status": 503, "count": None},),
        hold_s=3.0,
        expect="error_rate critical (halt)",
        check=_critical("error_rate"),
    ),
    FaultCase(
        "timeout (lost response)",
        "timeout 1s: 2 order creates, 2 any",
        (
            {"kind": "timeout", "seconds": 1.0, "path": ORDERS + "$", "method": "POST", "count": 2},
            {"kind": "timeout", "seconds": 1.0, "count": 2},
        ),
        hold_s=8.0,
        until_consumed=True,
        expect="retried, same client id",
        check=_lost_order_answer,
    ),
    FaultCase(
        "malformed JSON (garbage)",
        "malformed mode=garbage until cleared",
        ({"kind": "malformed", "mode": "garbage", "count": None},),
        hold_s=3.0,
        expect="error_rate critical (halt)",
        check=_critical("error_rate"),
    ),
    FaultCase(
        "truncated JSON",
        "malformed mode=truncated until cleared",
        ({"kind": "malformed", "mode": "truncated", "count": None},),
        hold_s=3.0,
        expect="error_rate critical (halt)",
        check=_critical("error_rate"),
    ),
    FaultCase(
        "empty body",
        "malformed mode=empty until cleared",
        ({"kind": "malformed", "mode": "empty", "count": None},),
        hold_s=3.0,
        expect="error_rate critical (halt)",
        check=_critical("error_rate"),
    ),
    FaultCase(
        "auth failure",
        "auth (401) until cleared",
        ({"kind": "auth", "count": None},),
        hold_s=3.0,
        expect="AUTH, error_rate critical (halt)",
        check=_critical("error_rate"),
    ),
    FaultCase(
        "WS drop 1000",
        "ws_drop code=1000",
        ({"kind": "ws_drop", "code": 1000},),
        hold_s=1.0,
        expect="feed reconnects, resubscribes",
        check=_reconnected,
    ),
    FaultCase(
        "WS drop 1006",
        "ws_drop code=1006",
        ({"kind": "ws_drop", "code": 1006},),
        hold_s=1.0,
        expect="feed reconnects, resubscribes",
        check=_reconnected,
    ),
    FaultCase(
        "WS sequence gap",
        "ws_gap skip=5",
        ({"kind": "ws_gap", "skip": 5},),
        hold_s=1.0,
        expect="gap detected, books resynced",
        check=_resynced,
    ),
    FaultCase(
        "frozen feed",
        "ws_freeze until cleared",
        ({"kind": "ws_freeze"},),
        hold_s=2.5,
        expect="stale stream -> REST quotes",
        check=_rest_fallback,
    ),
    FaultCase(
        "clock skew",
        "clock_skew seconds=-30 until cleared",
        ({"kind": "clock_skew", "seconds": -30},),
        hold_s=3.0,
        expect="401 not yet valid, error_rate halt",
        check=_skew_refused,
    ),
    FaultCase(
        "disk full (log)",
        "log file writes ENOSPC (/dev/full)",
        disk_full=True,
        extra_env=(("PERPS_PNL_LOG_EVERY", "1"),),  # a log line every cycle, so some are lost
        expect="lines dropped, one notice, trading on",
        check=_log_dropped,
    ),
)


# --- running one case ---------------------------------------------------------------------------
def campaign_env(key: tuple[str, str], server: SimServer, **extra: str) -> dict[str, str]:
    """The environment a campaign bot runs with: pointed at ``server``, quick to retry, trading
    nearly every cycle (one bar per cycle, 1/2 crossover), guards scaled to seconds."""
    return {
        "COINBASE_API_KEY": key[0],
        "COINBASE_API_SECRET": key[1],
        "COINBASE_API_BASE": server.base_url,
        "COINBASE_WS_URL": server.ws_url,
        "COINBASE_TIMEOUT_SECONDS": "0.5",
        "COINBASE_BACKOFF_SECONDS": "0.01",
        "COINBASE_QUOTE_MAX_AGE_SECONDS": "1",
        "STRATEGY_SHORT_WINDOW": "1",
        "STRATEGY_LONG_WINDOW": "2",
        "STRATEGY_BAR_SECONDS": "0",
        # the error-rate guard on a scale of seconds, so an outage trips it and its end clears it
        "RISK_ERROR_RATE_WINDOW_SECONDS": "2",
        "RISK_ERROR_RATE_MIN_OPERATIONS": "10",
        "RISK_HALT_COOLDOWN_SECONDS": "2",
        # the campaign judges faults, not the market: sub-second samples of a random walk on a
        # tick grid read as huge annualised volatility
        "RISK_VOLATILITY_WARNING": "1000000",
        "RISK_VOLATILITY_CRITICAL": "2000000",
        "RISK_VOLATILITY_KILL": "4000000",
        **extra,
    }


def _admin(server: SimServer, method: str, path: str, body: Any = None) -> Any:
    return admin_request(server.base_url, method, path, body)


def _status_counts(requests: dict[tuple[str, str], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for (_, status), n in requests.items():
        out[status] = out.get(status, 0) + n
    return out


class _ThreadErrors:
    """Exceptions escaping any thread while installed (threading.excepthook)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        previous = threading.excepthook

        def hook(args: threading.ExceptHookArgs) -> None:
            name = args.thread.name if args.thread is not None else "?"
            self.errors.append(f"{name}: {args.exc_type.__name__}: {args.exc_value}")

        threading.excepthook = hook
        try:
            yield
        finally:
            threading.excepthook = previous


@contextlib.contextmanager
def _disk_full(handler: logging_setup.ResilientFileHandler | None) -> Iterator[None]:
    """The log file on a full disk: the handler's (re)opens land on /dev/full, whose writes fail
    with ENOSPC from the kernel, until the block ends."""
    if handler is None:
        raise RuntimeError("no log file handler installed")

    def full_disk() -> Any:  # the handler owns (and closes) what it opens
        return open("/dev/full", "a", encoding="utf-8")

    handler._open = full_disk  # type: ignore[method-assign]
    handler.reopen()
    try:
        yield
    finally:
        del handler._open
        handler.reopen()


def run_case(case: FaultCase, key: tuple[str, str], workdir: Path, seed: int = 7) -> CaseResult:
    """Run one fault against a fresh simulator and bot; never raises for what the bot does."""
    from ..runner import Bot, RunOptions

    result = CaseResult(case.name, case.spec, expect=case.expect)
    started = time.monotonic()
    venue = SimVenue.create(seed=seed)
    ctx = SimContext(venue, tick_s=0.05)
    ctx.heartbeat_s = 0.5
    ctx.keys.add_secret(*key)
    server = SimServer(ctx).start()
    errors = _ThreadErrors()
    notices = io.StringIO()
    settings: Settings | None = None
    try:
        env = campaign_env(key, server, **dict(case.extra_env))
        settings = load_settings(
            "canary",
            environ=env,
            dotenv_path=None,
            config_dir=CONFIG_DIR,
            cli={
                "data_dir": str(workdir / "data"),
                "log_dir": str(workdir / "logs"),
                "interval_seconds": INTERVAL_S,
            },
        )
        logging_setup.setup_logging(settings.log_path, console=False)
        handler = logging_setup.file_handler()
        if handler is not None:
            handler.notice_stream = notices
        with errors.installed():
            _drive(case, settings, server, result, notices, Bot, RunOptions)
    except Exception as exc:  # the campaign itself failed: a row that says so
        result.outcome = f"campaign error: {type(exc).__name__}: {exc}"
        result.exceptions += 1
        result.exception_notes.append(result.outcome)
    finally:
        logging_setup.teardown_logging()
        server.stop()
    result.exceptions += len(errors.errors)
    result.exception_notes.extend(errors.errors)
    if settings is not None:
        _judge_log(settings, result)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _drive(
    case: FaultCase,
    settings: Settings,
    server: SimServer,
    result: CaseResult,
    notices: io.StringIO,
    bot_type: Any,
    options_type: Any,
) -> None:
    stop = threading.Event()
    bot = bot_type(settings, options_type(), stop=stop)
    box: dict[str, Any] = {}

    def run() -> None:
        box["summary"] = bot.run()

    thread = threading.Thread(target=run, name=f"campaign-bot-{case.name}", daemon=True)
    thread.start()
    try:
        _wait(lambda: bot.ctx.state.cycle >= HEALTHY_BEFORE, 20.0, thread)
        before_stats = bot.broker.stats().requests
        before_requests = _status_counts(before_stats)
        rest_before = getattr(bot.broker, "quotes_rest", 0)
        injected_at = datetime.now(UTC)
        if case.disk_full:
            with _disk_full(logging_setup.file_handler()):
                _hold(case.hold_s, thread)
        else:
            for rule in case.rules:
                _admin(server, "POST", "/sim/faults", rule)
            skew = _skew(server, case)
            _hold(case.hold_s, thread, server if case.until_consumed else None)
            _admin(server, "DELETE", "/sim/faults")
            result.observation["skew_seen_s"] = skew
        cleared_at = datetime.now(UTC)
        rest_during = getattr(bot.broker, "quotes_rest", 0) - rest_before
        recovered_at = _wait_recovered(settings, cleared_at, thread)
        if recovered_at is not None:
            target = bot.ctx.state.cycle + AFTER_RECOVERY
            _wait(lambda: bot.ctx.state.cycle >= target, 5.0, thread)
        stats = bot.broker.stats()
        after_requests = _status_counts(stats.requests)
        state = _admin(server, "GET", "/sim/state")
        alive = thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=15)
    obs = Observation(
        applied=dict(state.get("faults_applied", {})),
        requests={
            k: after_requests.get(k, 0) - before_requests.get(k, 0)
            for k in after_requests
            if after_requests.get(k, 0) - before_requests.get(k, 0)
        },
        feeds={
            name: {"reconnects": f.reconnects, "gaps": f.gaps, "connected": f.connected}
            for name, f in stats.feeds.items()
        },
        failed_calls={
            f"{label} {status}": n - before_stats.get((label, status), 0)
            for (label, status), n in stats.requests.items()
            if status != "200" and n - before_stats.get((label, status), 0)
        },
        ws_connections=int(state.get("ws_connections", 0)),
        rest_quotes_during=rest_during,
        skew_seen_s=result.observation.get("skew_seen_s"),
    )
    handler = logging_setup.file_handler()
    if handler is not None:
        obs.log_dropped = handler.dropped_total
        obs.log_outages = handler.outages
    obs.log_notices = [line for line in notices.getvalue().splitlines() if line]
    with contextlib.suppress(OSError):
        obs.log_recovery_line = "writable again" in settings.log_path.read_text(encoding="utf-8")
    _judge_store(settings, server, result, obs, injected_at, cleared_at, recovered_at)
    health = read_health(settings.health_path) or {}
    if thread.is_alive():
        result.outcome = "bot did not stop when told to"
        result.exceptions += 1
    elif not alive:
        reason = health.get("message", "no health.json")
        summary = box.get("summary")
        code = getattr(summary, "exit_code", None)
        result.stopped_on_purpose = code == 0 and bool(reason)
        result.outcome = f"stopped by itself ({reason}, exit {code})"
    elif recovered_at is None:
        result.outcome = f"not recovered within {RECOVERY_DEADLINE_S:.0f}s"
    else:
        result.recovered = True
        result.recovery_s = round((recovered_at - cleared_at).total_seconds(), 2)
        result.outcome = "recovered"
    if "summary" not in box and not thread.is_alive():
        result.exceptions += 1
        result.exception_notes.append("Bot.run raised (see the thread errors)")
    result.guard_ok = case.check(obs) if case.check is not None else True
    result.guard = _describe_guard(case, obs)
    result.observation = asdict(obs)


def _skew(server: SimServer, case: FaultCase) -> float | None:
    """What the venue's /time says against the local clock (the clock_skew row's note)."""
    if not any(r.get("kind") == "clock_skew" for r in case.rules):
        return None
    before = time.time()
    doc = _admin(server, "GET", "/api/v3/brokerage/time")
    after = time.time()
    return round(float(doc["epochMillis"]) / 1000 - (before + after) / 2, 1)


def _hold(seconds: float, thread: threading.Thread, server: SimServer | None = None) -> None:
    """Keep the fault on for ``seconds`` (with ``server``: until its rules are used up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and thread.is_alive():
        if server is not None and not server.ctx.faults.rules():
            return
        time.sleep(0.02)


def _wait(predicate: Callable[[], bool], timeout: float, thread: threading.Thread) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if not thread.is_alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _wait_recovered(
    settings: Settings, cleared_at: datetime, thread: threading.Thread
) -> datetime | None:
    """When health.json first showed a healthy cycle, modes normal, after ``cleared_at``."""
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    while thread.is_alive() and time.monotonic() < deadline:
        doc = read_health(settings.health_path) or {}
        at = doc.get("last_cycle_at") or doc.get("timestamp")
        if doc.get("ok") and doc.get("modes", "normal") == "normal" and at:
            when = parse_utc(str(at))
            if when > cleared_at:
                return when
        time.sleep(0.02)
    return None


def _judge_store(
    settings: Settings,
    server: SimServer,
    result: CaseResult,
    obs: Observation,
    injected_at: datetime,
    cleared_at: datetime,
    recovered_at: datetime | None,
) -> None:
    conn = sqlite3.connect(f"file:{settings.store_path}?mode=ro", uri=True)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        cycles = [
            (parse_utc(ts), severity)
            for ts, severity in conn.execute(
                "SELECT ts, severity FROM events WHERE type='cycle' ORDER BY id"
            )
        ]
        for ts, payload_text in conn.execute(
            "SELECT ts, payload FROM events WHERE type='guard' ORDER BY id"
        ):
            if parse_utc(ts) < injected_at:
                continue
            payload = json.loads(payload_text or "{}")
            name, level = payload.get("guard"), payload.get("level")
            if name and level:
                order = ("ok", "warning", "critical")
                worst = obs.guards.get(name, "ok")
                if order.index(level) >= order.index(worst):
                    obs.guards[name] = level
        crashes = conn.execute(
            "SELECT message FROM events WHERE type='error' AND message LIKE 'cycle failed%'"
        ).fetchall()
        obs.error_events = conn.execute(
            "SELECT count(*) FROM events WHERE type='error'"
        ).fetchone()[0]
        stored = {
            cid: Decimal(filled)
            for cid, filled in conn.execute("SELECT client_order_id, filled_size FROM orders")
        }
        fills: dict[str, Decimal] = {}
        for cid, size in conn.execute("SELECT client_order_id, size FROM fills"):
            fills[cid] = fills.get(cid, Decimal(0)) + Decimal(size)
    finally:
        conn.close()
    for (message,) in crashes:
        result.exceptions += 1
        result.exception_notes.append(message)
    result.cycles_before = sum(1 for t, _ in cycles if t < injected_at)
    result.cycles_during = sum(1 for t, _ in cycles if injected_at <= t <= cleared_at)
    result.cycles_after = sum(1 for t, _ in cycles if t > cleared_at)

    venue_orders = server.ctx.venue.orders()
    result.orders = len(venue_orders)
    result.fills = len(server.ctx.venue.fills())
    problems: list[str] = []
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    seen: set[str] = set()
    for order in venue_orders:
        cid = order.client_order_id
        if cid in seen:
            problems.append(f"client id {cid} twice at the venue")
        seen.add(cid)
        if cid not in stored:
            problems.append(f"venue order {cid} missing from the store")
        elif fills.get(cid, Decimal(0)) != order.filled_size:
            problems.append(
                f"{cid}: venue filled {order.filled_size}, store fills {fills.get(cid, 0)}"
            )
    result.consistent = not problems
    result.consistency = "; ".join(problems[:3]) or (
        f"{result.orders} orders, {result.fills} fills match"
    )


def _judge_log(settings: Settings, result: CaseResult) -> None:
    """Tracebacks and CRITICAL lines other than guard transitions count as exceptions."""
    try:
        text = settings.log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if line.startswith("Traceback"):
            result.exceptions += 1
            result.exception_notes.append("traceback in the log")
        elif " CRITICAL " in line and ": guard " not in line:
            result.exceptions += 1
            result.exception_notes.append(line[:200])


def _describe_guard(case: FaultCase, obs: Observation) -> str:
    parts = [f"{name} {level}" for name, level in sorted(obs.guards.items()) if level != "ok"]
    if case.disk_full:
        parts.append(f"{obs.log_dropped} log lines dropped, {len(obs.log_notices)} notices")
    fault_statuses = {s: n for s, n in obs.requests.items() if s not in ("200",)}
    if fault_statuses:
        parts.append(" ".join(f"{s}x{n}" for s, n in sorted(fault_statuses.items())))
    lost_orders = obs.failed_calls.get("/orders timeout", 0)
    if lost_orders:
        parts.append(f"order answers lost {lost_orders}")
    reconnects = sum(f.get("reconnects", 0) for f in obs.feeds.values())
    gaps = sum(f.get("gaps", 0) for f in obs.feeds.values())
    if reconnects:
        parts.append(f"reconnects {reconnects}")
    if gaps:
        parts.append(f"gaps {gaps}")
    if obs.rest_quotes_during:
        parts.append(f"REST quotes {obs.rest_quotes_during}")
    if obs.skew_seen_s is not None:
        parts.append(f"/time skew {obs.skew_seen_s:+.0f}s")
    return ", ".join(parts) or "none"


# --- the campaign -------------------------------------------------------------------------------
def run_campaign(
    cases: tuple[FaultCase, ...] = CASES,
    *,
    workdir: Path | None = None,
    progress: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Every case in turn (each on its own simulator and directory); the results in order."""
    from ..brokers.coinbase.keys import generate_key

    key = generate_key("ec", "organizations/campaign/apiKeys/fault-campaign")
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="fault-campaign-")) if own else Path(workdir)  # type: ignore[arg-type]
    results: list[CaseResult] = []
    try:
        for index, case in enumerate(cases):
            result = run_case(case, key, root / f"{index:02d}", seed=7 + index)
            results.append(result)
            if progress is not None:
                progress(result)
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
    return results


COLUMNS = (
    ("fault", 24),
    ("injected", 36),
    ("before", 6),
    ("during", 6),
    ("after", 5),
    ("outcome", 10),
    ("recov s", 7),
    ("expected", 34),
    ("engaged", 46),
    ("orders/fills", 22),
    ("exc", 3),
    ("ok", 4),
)


def table(results: list[CaseResult]) -> str:
    """The campaign's results as a fixed-width text table."""

    def row(values: list[str]) -> str:
        return " | ".join(v[:w].ljust(w) for v, (_, w) in zip(values, COLUMNS, strict=True))

    lines = [row([c for c, _ in COLUMNS]), "-+-".join("-" * w for _, w in COLUMNS)]
    for r in results:
        lines.append(
            row(
                [
                    r.fault,
                    r.injected,
                    str(r.cycles_before),
                    str(r.cycles_during),
                    str(r.cycles_after),
                    r.outcome,
                    "" if r.recovery_s is None else f"{r.recovery_s:.2f}",
                    r.expect,
                    r.guard,
                    (f"{r.orders}/{r.fills} ok" if r.consistent else r.consistency),
                    str(r.exceptions),
                    "PASS" if r.passed else "FAIL",
                ]
            )
        )
    passed = sum(1 for r in results if r.passed)
    lines.append(f"{passed}/{len(results)} faults recovered or stopped on purpose, as designed")
    return "\n".join(lines)
