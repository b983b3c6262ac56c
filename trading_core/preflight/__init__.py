"""Preflight: the runbook's morning checklist as checks with a verdict (READY/REVIEW/NOT READY)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from ..brokers.base import Broker
from ..clock import SystemClock
from ..config.settings import Settings
from .checks import ALL_CHECKS, PreflightContext
from .report import CheckResult, CheckStatus, PreflightReport, Verdict

__all__ = [
    "ALL_CHECKS",
    "CheckResult",
    "CheckStatus",
    "PreflightContext",
    "PreflightReport",
    "Verdict",
    "run_preflight",
]


def run_preflight(
    settings: Settings,
    *,
    open_broker: Callable[[], Broker] | None = None,
    checks: Iterable[Callable[[PreflightContext], CheckResult]] = ALL_CHECKS,
    env_file: Path = Path(".env"),
    retry_delay_s: float = 0.5,
) -> PreflightReport:
    """Run every check (a check that raises is recorded as failed, never propagated)."""
    if open_broker is None:

        def open_broker() -> Broker:
            from ..brokers.factory import open_broker as factory

            # one-shot: no WebSocket feed; the paper venue read-only (the bot may be running)
            return factory(settings, streaming=False, readonly=True)[0]

    ctx = PreflightContext(
        settings=settings,
        clock=SystemClock(),
        env_file=env_file,
        open_broker=open_broker,
        retry_delay_s=retry_delay_s,
    )
    report = PreflightReport(profile=settings.profile, started_at=datetime.now(UTC))
    for check in checks:
        t0 = time.perf_counter()
        try:
            result = check(ctx)
        except Exception as exc:  # a broken check is a failed check, with its reason
            name = check.__name__.removeprefix("check_")
            result = CheckResult(
                name, CheckStatus.FAIL, f"check raised {type(exc).__name__}: {exc}"
            )
        duration = (time.perf_counter() - t0) * 1000
        report.checks.append(
            CheckResult(result.name, result.status, result.summary, result.details, duration)
        )
    close = getattr(ctx._broker, "close", None)
    if callable(close):
        close()
    return report
