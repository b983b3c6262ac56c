"""The morning checklist as checks: each takes the PreflightContext and returns a CheckResult.

Checks never print or return a secret: credentials are judged (present, well-formed, parseable)
and described by shape only."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..brokers.base import Broker
from ..clock import Clock, parse_utc
from ..config.settings import BrokerKind, Settings
from ..domain.product import is_perp_symbol
from ..errors import BrokerError, ErrorKind, TradingError
from .report import CheckResult, CheckStatus

PASS, WARN, FAIL = CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL
KEY_NAME = re.compile(r"^organizations/[0-9a-f-]{36}/apiKeys/[0-9a-f-]{36}$")

#: Packages whose versions matter, with the range the project is pinned to (see DESIGN.md).
PINNED: dict[str, tuple[str, str | None]] = {
    "prefect": ("3.8.8", "3.8.9"),
    "fastapi": ("0.115", "0.151"),
    "sqlalchemy": ("2.0", "2.1"),
    "coinbase-advanced-py": ("1.7", "1.8"),
    "pydantic": ("2.8", "3"),
    "websockets": ("15", "17"),
}


@dataclass
class PreflightContext:
    settings: Settings
    clock: Clock
    env_file: Path = Path(".env")
    open_broker: Callable[[], Broker] | None = None
    retries: int = 3
    retry_delay_s: float = 0.5
    _broker: Broker | None = field(default=None, init=False)
    _broker_error: str | None = field(default=None, init=False)

    def broker(self) -> Broker | None:
        """The profile's broker, opened once; None (with the reason kept) when it cannot open."""
        if self._broker is None and self._broker_error is None and self.open_broker is not None:
            try:
                self._broker = self.open_broker()
            except TradingError as exc:
                self._broker_error = exc.message
        return self._broker

    @property
    def broker_error(self) -> str | None:
        return self._broker_error


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in re.split(r"[.\-+]", text):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def check_python(ctx: PreflightContext) -> CheckResult:
    version = sys.version.split()[0]
    if sys.version_info < (3, 11):  # noqa: UP036 (a preflight must say so on an old Python)
        return CheckResult("python", FAIL, f"Python {version}: 3.11+ is required")
    return CheckResult("python", PASS, f"Python {version}")


def check_dependencies(ctx: PreflightContext) -> CheckResult:
    problems: list[str] = []
    found: dict[str, str] = {}
    for package, (low, high) in PINNED.items():
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            problems.append(f"{package} missing")
            continue
        found[package] = version
        v = _version_tuple(version)
        if v < _version_tuple(low) or (high is not None and v >= _version_tuple(high)):
            problems.append(f"{package} {version} outside >={low},<{high}")
    if problems:
        return CheckResult("dependencies", FAIL, "; ".join(problems), {"versions": found})
    return CheckResult(
        "dependencies", PASS, f"{len(found)} pinned packages in range", {"versions": found}
    )


def check_credentials(ctx: PreflightContext) -> CheckResult:
    """Present and well-formed (COINBASE_API_KEY + COINBASE_API_SECRET, or COINBASE_KEY_FILE),
    the private key parses; judged by the adapter's own loader, described by shape only."""
    settings = ctx.settings
    if settings.broker is BrokerKind.PAPER:
        return CheckResult("credentials", PASS, "paper trading: no exchange credentials needed")
    from ..brokers.coinbase.keys import load_api_key

    try:
        key = load_api_key(settings.coinbase, profile=settings.profile)
    except TradingError as exc:
        return CheckResult("credentials", FAIL, exc.message)
    kind = _private_key_kind(key.private_key)
    source = "COINBASE_KEY_FILE" if settings.coinbase.key_file else "COINBASE_API_KEY/SECRET"
    if not KEY_NAME.match(key.name):
        return CheckResult(
            "credentials",
            WARN,
            f"{source}: {kind} key parses, but the key name is not "
            "organizations/<uuid>/apiKeys/<uuid> (a CDP key name)",
        )
    return CheckResult("credentials", PASS, f"{source}: key name well-formed; {kind} key parses")


def _private_key_kind(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "Ed25519"
    return type(key).__name__


def check_file_permissions(ctx: PreflightContext) -> CheckResult:
    loose = []
    checked = []
    for path in (ctx.env_file, ctx.settings.coinbase.key_file):
        if path is None or not path.exists():
            continue
        checked.append(str(path))
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path} is {mode:04o} (want 0600)")
    if loose:
        return CheckResult("file_permissions", WARN, "; ".join(loose), {"checked": checked})
    if not checked:
        return CheckResult("file_permissions", PASS, "no .env or key file to check")
    return CheckResult(
        "file_permissions", PASS, f"{len(checked)} secret file(s) are 0600", {"checked": checked}
    )


def check_derivatives(ctx: PreflightContext) -> CheckResult:
    settings = ctx.settings
    perps = [s for s in settings.symbols if is_perp_symbol(s)]
    enabled = settings.coinbase.enable_derivatives
    if perps and not enabled:
        return CheckResult("derivatives", FAIL, f"{perps[0]} listed but derivatives are off")
    if enabled and settings.profile in ("canary",) and not perps:
        return CheckResult(
            "derivatives", WARN, "COINBASE_ENABLE_DERIVATIVES=1 on the canary profile without perps"
        )
    if enabled:
        return CheckResult("derivatives", PASS, f"derivatives on: {', '.join(perps) or 'none'}")
    return CheckResult("derivatives", PASS, "spot only (COINBASE_ENABLE_DERIVATIVES unset)")


def _with_retries(ctx: PreflightContext, call: Callable[[], Any]) -> Any:
    last: BrokerError | None = None
    for attempt in range(ctx.retries):
        try:
            return call()
        except BrokerError as exc:
            last = exc
            if exc.kind not in (ErrorKind.RETRYABLE, ErrorKind.RATE_LIMITED):
                raise
            time.sleep(ctx.retry_delay_s * (attempt + 1))
    assert last is not None
    raise last


def check_connectivity(ctx: PreflightContext) -> CheckResult:
    broker = ctx.broker()
    if broker is None:
        return CheckResult("connectivity", FAIL, ctx.broker_error or "no broker configured")
    try:
        products = _with_retries(ctx, broker.list_products)
        balances = _with_retries(ctx, broker.list_balances)
    except BrokerError as exc:
        return CheckResult("connectivity", FAIL, f"{exc.kind.value}: {exc.message}")
    permissions = getattr(broker, "key_permissions", None)
    details: dict[str, Any] = {"products": len(products), "balances": len(balances)}
    if callable(permissions):
        try:
            perms = _with_retries(ctx, permissions)
        except BrokerError as exc:
            return CheckResult("connectivity", FAIL, f"key permissions: {exc.message}")
        details["permissions"] = perms
        can_view = bool(_field(perms, "can_view"))
        can_trade = bool(_field(perms, "can_trade"))
        if not can_view or not can_trade:
            return CheckResult(
                "connectivity",
                FAIL,
                f"key permissions: can_view={can_view} can_trade={can_trade}",
                details,
            )
        if ctx.settings.coinbase.enable_derivatives:
            portfolio = str(_field(perms, "portfolio_type") or "")
            if portfolio.upper() != "INTX":
                return CheckResult(
                    "connectivity",
                    FAIL,
                    f"derivatives on but the key's portfolio is {portfolio or '?'}, not INTX",
                    details,
                )
    missing = [s for s in ctx.settings.symbols if s not in {p.symbol for p in products}]
    if missing:
        return CheckResult(
            "connectivity", FAIL, f"venue does not list {', '.join(missing)}", details
        )
    return CheckResult(
        "connectivity",
        PASS,
        f"{broker.name}: {len(products)} products, {len(balances)} balances",
        details,
    )


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def check_clock_drift(ctx: PreflightContext) -> CheckResult:
    broker = ctx.broker()
    if broker is None:
        return CheckResult("clock_drift", FAIL, ctx.broker_error or "no broker configured")
    if ctx.settings.broker is BrokerKind.PAPER:
        return CheckResult("clock_drift", PASS, "simulated market: its own clock")
    try:
        before = time.time()
        server = _with_retries(ctx, broker.server_time)
        after = time.time()
    except BrokerError as exc:
        return CheckResult("clock_drift", FAIL, f"server time: {exc.message}")
    local = datetime.fromtimestamp((before + after) / 2, UTC)
    drift = abs((server - local).total_seconds())
    status = PASS if drift < 1 else WARN if drift < 5 else FAIL
    return CheckResult(
        "clock_drift", status, f"{drift:.3f}s from the exchange", {"drift_s": round(drift, 3)}
    )


def check_disk(ctx: PreflightContext) -> CheckResult:
    target = ctx.settings.data_dir
    probe = target if target.exists() else Path(".")
    free = shutil.disk_usage(probe).free
    gib = free / 2**30
    status = PASS if gib >= 1 else WARN if gib >= 0.2 else FAIL
    return CheckResult("disk", status, f"{gib:.1f} GiB free under {probe}", {"free_bytes": free})


def check_risk_settings(ctx: PreflightContext) -> CheckResult:
    risk = ctx.settings.risk
    strategy = ctx.settings.strategy
    warnings = []
    failures = []
    if risk.daily_loss_critical_pct > Decimal("0.10"):
        warnings.append(f"daily loss critical at {risk.daily_loss_critical_pct:.0%}")
    if risk.max_exposure_pct > Decimal("0.95"):
        warnings.append(f"exposure cap {risk.max_exposure_pct:.0%} of equity")
    if strategy.position_fraction > risk.max_position_pct:
        failures.append(
            f"position_fraction {strategy.position_fraction} exceeds max_position_pct "
            f"{risk.max_position_pct}"
        )
    if risk.kill_switch_enabled:
        warnings.append("kill switch is ON")
    if risk.reduce_only_mode:
        warnings.append("reduce-only is ON")
    if failures:
        return CheckResult("risk_settings", FAIL, "; ".join(failures + warnings))
    if warnings:
        return CheckResult("risk_settings", WARN, "; ".join(warnings))
    return CheckResult(
        "risk_settings",
        PASS,
        f"daily loss {risk.daily_loss_warning_pct:.0%}/{risk.daily_loss_critical_pct:.0%}, "
        f"exposure cap {risk.max_exposure_pct:.0%}, per symbol {risk.max_symbol_notional}",
    )


def check_market_data(ctx: PreflightContext) -> CheckResult:
    broker = ctx.broker()
    if broker is None:
        return CheckResult("market_data", FAIL, ctx.broker_error or "no broker configured")
    from .data_quality import validate_candles

    results: dict[str, Any] = {}
    bad: list[str] = []
    for symbol in ctx.settings.symbols:
        try:
            candles = _with_retries(ctx, lambda s=symbol: broker.get_candles(s, 60, limit=300))
        except (BrokerError, ValueError) as exc:
            bad.append(f"{symbol}: no candles ({exc})")
            continue
        summary = validate_candles(candles, granularity_s=60)
        results[symbol] = summary
        if not summary["success"]:
            bad.append(f"{symbol}: {', '.join(summary['failed'])}")
    if bad:
        status = FAIL if len(bad) == len(ctx.settings.symbols) else WARN
        return CheckResult("market_data", status, "; ".join(bad[:5]), {"symbols": results})
    return CheckResult(
        "market_data",
        PASS,
        f"{len(results)} symbols' recent candles pass every expectation",
        {"symbols": results},
    )


def check_event_store(ctx: PreflightContext) -> CheckResult:
    from ..store.event_store import EventStore

    path = ctx.settings.store_path
    if not path.exists():
        return CheckResult("event_store", WARN, f"no event store yet at {path} (first run?)")
    try:
        store = EventStore.open_readonly(path)
    except TradingError as exc:
        return CheckResult("event_store", FAIL, exc.message)
    try:
        result = store.integrity_check()
        events = store.count_events()
    finally:
        store.close()
    if result != "ok":
        return CheckResult("event_store", FAIL, f"integrity check: {result.splitlines()[0]}")
    return CheckResult("event_store", PASS, f"integrity ok, {events} events", {"events": events})


def check_health_and_log(ctx: PreflightContext) -> CheckResult:
    from ..store.health import read_health

    now = datetime.now(UTC)
    notes = []
    status = PASS
    doc = read_health(ctx.settings.health_path)
    if doc is None:
        notes.append("no health.json (bot not started yet)")
        status = WARN
    else:
        try:
            age = (now - parse_utc(str(doc.get("timestamp")))).total_seconds()
        except ValueError:
            age = float("inf")
        running = doc.get("running", True)
        notes.append(f"health.json {age:.0f}s old, ok={doc.get('ok')}, running={running}")
        if doc.get("ok") is False:
            status = WARN
        if running and age > 15 * 60:
            status = WARN
            notes.append("the bot says it runs but has not written health for 15 min")
    log = ctx.settings.log_path
    if log.exists():
        log_age = time.time() - log.stat().st_mtime
        notes.append(f"log {log_age:.0f}s old")
    else:
        notes.append("no log yet")
    return CheckResult("health_and_log", status, "; ".join(notes))


def check_prefect_api(ctx: PreflightContext) -> CheckResult:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return CheckResult("prefect_api", PASS, "no Prefect API configured (PREFECT_API_URL unset)")
    import httpx

    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=5.0, trust_env=False)
    except httpx.HTTPError as exc:
        return CheckResult("prefect_api", FAIL, f"{url} unreachable: {type(exc).__name__}")
    if response.status_code != 200:
        return CheckResult("prefect_api", FAIL, f"{url}/health answered {response.status_code}")
    return CheckResult("prefect_api", PASS, f"{url} healthy")


ALL_CHECKS: tuple[Callable[[PreflightContext], CheckResult], ...] = (
    check_python,
    check_dependencies,
    check_credentials,
    check_file_permissions,
    check_derivatives,
    check_connectivity,
    check_clock_drift,
    check_disk,
    check_risk_settings,
    check_market_data,
    check_event_store,
    check_health_and_log,
    check_prefect_api,
)
