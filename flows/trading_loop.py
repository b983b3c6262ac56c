"""trading-loop: the bot for a bounded session, calling trading_core directly every cycle (no
task per cycle: Prefect stays off the hot path). Cancellation or SIGTERM finishes the cycle and
flushes the store; a crash is a Crashed run and a SEV-1 notification."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger

from flows.notifications import notify_crashed, notify_failed


def _seconds_until(hhmm: str, now: datetime) -> float:
    hour, minute = (int(p) for p in hhmm.split(":"))
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


@flow(name="trading-loop", on_failure=[notify_failed], on_crashed=[notify_crashed])
def trading_loop(
    profile: str = "dev",
    max_cycles: int | None = None,
    until_utc: str | None = "07:25",
    summary_every: int = 60,
    fast_forward: bool = False,
    metrics_port: int = 9102,
) -> dict[str, Any]:
    """Trade until ``max_cycles`` or until ``until_utc`` (HH:MM, default just before the
    weekday-morning preflight), whichever comes first."""
    from trading_core.config import load_settings
    from trading_core.runner import Bot, RunOptions
    from trading_core.telemetry.logging_setup import setup_logging

    logger = get_run_logger()
    settings = load_settings(profile)
    setup_logging(settings.log_path, level=settings.log_level, console=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Prefect's API calls: not bot events
    stop = threading.Event()
    if until_utc:
        deadline = _seconds_until(until_utc, datetime.now(UTC))
        timer = threading.Timer(deadline, stop.set)
        timer.daemon = True
        timer.start()
        logger.info("session ends at %s UTC (in %.0f s)", until_utc, deadline)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

    def echo(line: str) -> None:
        if line.startswith("cycle ") and int(line.split()[1]) % summary_every == 0:
            logger.info(line)

    options = RunOptions(
        max_cycles=max_cycles, fast_forward=fast_forward, metrics_port=metrics_port or None
    )  # a taken metrics port is logged, never a reason to stop trading
    bot = Bot(settings, options, stop=stop, echo=echo)
    summary = bot.run()
    last = summary.last
    result = {
        "profile": profile,
        "cycles": summary.cycles,
        "orders": summary.orders,
        "fills": summary.fills,
        "blocked": summary.blocked,
        "rejected": summary.rejected,
        "failures": summary.failures,
        "equity": None if last is None else str(last.equity),
        "daily_pnl": None if last is None else str(last.daily_pnl),
        "modes": None if last is None else last.modes,
    }
    logger.info("session done: %s", result)
    if summary.exit_code != 0:
        raise RuntimeError(f"trading loop stopped after failures: {result}")
    return result
