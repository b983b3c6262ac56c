"""The bot loop: owns the clock, builds the parts, calls ``run_cycle`` until told to stop.

Used by ``perps-bot run`` and (later) by the Prefect trading-loop flow. Stopping (a stop event set
by SIGINT/SIGTERM, a cycle budget) always finishes the current cycle, flushes the store, saves
the paper exchange and writes health.json before returning."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .brokers.base import Broker
from .clock import Clock, VirtualClock
from .config.settings import Settings
from .cycle import CycleReport, TradingContext, run_cycle
from .domain.money import fmt
from .errors import BrokerError, ConfigError
from .store.event_store import EventStore
from .store.health import write_health
from .telemetry.redaction import register_secret

log = logging.getLogger("trading_core.runner")
CENT = Decimal("0.01")
MAX_CONSECUTIVE_FAILURES = 5
CHECKPOINT_EVERY = 20  # cycles


@dataclass(frozen=True, slots=True)
class RunOptions:
    max_cycles: int | None = None  # None: until stopped
    fast_forward: bool = False  # virtual clock, no sleeping (simulated market only)
    save_every_s: float = 60.0  # wall seconds between paper-exchange snapshots
    metrics_port: int | None = None  # serve /metrics here (None: no HTTP endpoint)
    metrics_host: str = "127.0.0.1"
    metrics_port_required: bool = False  # True: a taken port is an error, not a warning
    metrics_file: Path | None = None  # snapshot for export_metrics.py (default: beside health)
    reconcile_every_s: float = 600.0  # wall seconds between reconciliations while running


@dataclass(slots=True)
class RunSummary:
    cycles: int = 0
    orders: int = 0
    fills: int = 0
    blocked: int = 0
    rejected: int = 0
    dry_run: int = 0
    failures: int = 0
    last: CycleReport | None = None
    exit_code: int = 0


class Bot:
    """One running bot: settings, broker, store, clock and the cycle context."""

    def __init__(
        self,
        settings: Settings,
        options: RunOptions,
        *,
        stop: threading.Event | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.stop = stop or threading.Event()
        self.echo = echo or (lambda _line: None)
        for secret in (settings.coinbase.api_key, settings.coinbase.api_secret):
            if secret is not None:
                register_secret(secret.get_secret_value())
        self.store = EventStore(settings.store_path)
        try:
            self.broker, self.clock = self._open_broker()
            self.ctx = TradingContext.build(
                settings, self.broker, self.store, env_file=Path(".env")
            )
            self._start_metrics(options)
            if isinstance(self.clock, VirtualClock) and self.ctx.state.cycle > 0:
                self._resume_virtual_clock(self.clock)
        except BaseException:
            self.store.close()
            raise

    # --- construction ----------------------------------------------------------------------
    def _open_broker(self) -> tuple[Broker, Clock]:
        from .brokers.factory import open_broker

        return open_broker(self.settings, fast_forward=self.options.fast_forward)

    def _resume_virtual_clock(self, clock: VirtualClock) -> None:
        """A fast-forward run resumes one interval after the later of the market's time and the
        last recorded cycle (after a kill the paper venue's snapshot may be older than the
        store's last cycle): never at the same instant, never back in time."""
        last = self.store.last_event("cycle")
        start = clock.now()
        if last is not None and last.ts > start:
            start = last.ts
        clock.set(start)
        clock.advance(self.settings.interval_seconds)

    def _start_metrics(self, options: RunOptions) -> None:
        from .telemetry.metrics import BotMetrics
        from .telemetry.snapshot import SNAPSHOT_NAME

        settings = self.settings
        self.metrics = BotMetrics(profile=settings.profile, broker=self.broker.name)
        self.metrics.set_fee_rates(maker=settings.sim.maker_fee, taker=settings.sim.taker_fee)
        self.metrics_file = options.metrics_file or settings.profile_dir / SNAPSHOT_NAME
        if options.metrics_port is None:
            return
        try:
            port = self.metrics.serve(port=options.metrics_port, host=options.metrics_host)
        except OSError as exc:
            message = (
                f"--metrics-port: cannot serve on {options.metrics_host}:{options.metrics_port}"
            )
            if options.metrics_port_required:
                raise ConfigError(f"{message} ({exc.strerror or exc})") from None
            log.warning(
                "%s (%s); metrics go to %s only", message, exc.strerror or exc, self.metrics_file
            )
            return
        log.info("metrics on http://%s:%d/metrics", options.metrics_host, port)

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> RunSummary:
        summary = RunSummary()
        options = self.options
        now = self.clock.now()
        self._lifecycle("start", now)
        self.ctx.reconciled = self._reconcile()
        # long-lived start-up objects (market history, products) out of the collector's way:
        # keeps full collections short during cycles
        gc.collect()
        gc.freeze()
        consecutive_failures = 0
        last_save = time.monotonic()
        try:
            while not self.stop.is_set():
                if options.max_cycles is not None and summary.cycles >= options.max_cycles:
                    break
                started = time.monotonic()
                due = started - self._last_reconcile >= options.reconcile_every_s
                if not self.ctx.reconciled:
                    self.ctx.reconciled = self._reconcile()
                elif due:  # periodic: a breach latches reduce-only; a failed read is the
                    self._reconcile()  # error-rate guard's business, not a reason to stop

                try:
                    report = run_cycle(self.ctx, self.clock)
                except Exception as exc:  # a bug or an unclassified failure: record, go on
                    consecutive_failures += 1
                    summary.failures += 1
                    self._cycle_crashed(exc, consecutive_failures)
                    if consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
                        log.critical(
                            "stopping: %d consecutive cycles failed (last: %s)",
                            consecutive_failures,
                            exc,
                        )
                        summary.exit_code = 1
                        break
                else:
                    consecutive_failures = 0
                    self._after_cycle(report, summary)
                    # the paper venue journals every change itself; the snapshot is a
                    # checkpoint (market included) that keeps its journal short
                    if time.monotonic() - last_save >= options.save_every_s:
                        self._save_paper()
                        last_save = time.monotonic()
                    if report.cycle % CHECKPOINT_EVERY == 0:
                        # between cycles, so SQLite's automatic checkpoint (and its fsyncs) never
                        # lands inside one
                        self.store.checkpoint()
                summary.cycles += 1
                if options.max_cycles is not None and summary.cycles >= options.max_cycles:
                    break
                self._wait(started)
        finally:
            self._shutdown(summary)
        return summary

    def _wait(self, started: float) -> None:
        interval = self.settings.interval_seconds
        if isinstance(self.clock, VirtualClock):
            self.clock.advance(interval)
            return
        remaining = interval - (time.monotonic() - started)
        if remaining > 0:
            self.stop.wait(remaining)

    def _after_cycle(self, report: CycleReport, summary: RunSummary) -> None:
        summary.last = report
        summary.orders += report.submitted
        summary.fills += report.fills
        summary.blocked += report.blocked
        summary.rejected += report.rejected
        summary.dry_run += report.dry_run
        summary.failures += report.failures
        settings = self.settings
        write_health(
            settings.health_path,
            ok=report.ok,
            now=report.started_at,
            last_cycle=report.cycle,
            message="; ".join(report.errors) or "trading",
            profile=settings.profile,
            broker=self.broker.name,
            equity=report.equity.quantize(CENT),
            daily_pnl=report.daily_pnl.quantize(CENT),
            daily_pnl_pct=report.daily_pnl_pct,
            open_positions=report.open_positions,
            modes=report.modes,
            stale_symbols=report.stale_symbols,
            cycle_duration_ms=round(report.duration_s * 1000, 3),
        )
        stats = getattr(self.broker, "stats", None)
        self.metrics.observe_cycle(
            report, broker_stats=stats() if callable(stats) else None, now=report.started_at
        )
        self.metrics.write_snapshot(self.metrics_file, min_interval_s=1.0)
        activity = report.signals or report.fills or report.blocked or report.rejected
        if activity or report.cycle == 1 or not self.options.fast_forward:
            acted = " ".join(f"{action} {symbol}" for symbol, action in report.signals.items())
            self.echo(
                f"cycle {report.cycle} {report.started_at:%Y-%m-%d %H:%M:%S}Z  equity "
                f"{fmt(report.equity.quantize(CENT))}  day {fmt(report.daily_pnl.quantize(CENT))} "
                f"({report.daily_pnl_pct:+.2%})  positions {report.open_positions}  orders "
                f"{report.submitted} fills {report.fills} blocked {report.blocked}"
                + (f"  [{acted}]" if acted else "")
                + (f"  modes {report.modes}" if report.modes != "normal" else "")
            )

    def _cycle_crashed(self, exc: Exception, consecutive: int) -> None:
        now = self.clock.now()
        self.metrics.observe_crash()
        self.store.rollback()
        log.error("cycle failed (%d in a row): %s", consecutive, exc, exc_info=exc)
        self.store.append_event(
            "error",
            ts=now,
            severity="error",
            message=f"cycle failed: {type(exc).__name__}: {exc}",
            payload={"consecutive": consecutive},
        )
        self.store.commit()
        write_health(
            self.settings.health_path,
            ok=False,
            now=now,
            last_cycle=self.ctx.state.cycle,
            message=f"cycle failed: {type(exc).__name__}: {exc}",
            profile=self.settings.profile,
        )

    def _reconcile(self) -> bool:
        """Bring the store in line with the venue (see reconcile.py). Until it has passed once,
        cycles run with trading suspended: no new order leaves before reconciliation."""
        from .reconcile import reconcile_with_retries

        now = self.clock.now()
        report = reconcile_with_retries(
            self.store,
            self.broker,
            self.ctx.mode_control,
            now=now,
            symbols=list(self.settings.symbols),
        )
        self._last_reconcile = time.monotonic()
        self.metrics.observe_reconcile(breach=None if report is None else not report.ok, now=now)
        if report is None:
            log.error("reconciliation could not read the venue: no orders until it does")
            return False
        self.ctx.ledger = self.store.positions()  # fills applied by reconciliation count now
        return True

    def _lifecycle(self, what: str, now: datetime, **extra: Any) -> None:
        settings = self.settings
        try:
            held_now = self.broker.list_positions()
        except BrokerError as exc:  # a venue hiccup must not stop a start or a clean stop
            log.warning("bot %s: positions unknown (%s)", what, exc.message)
            held_now = list(self.store.positions().values())
        positions = {p.symbol: p.quantity for p in held_now if not p.is_flat}
        self.store.append_event(
            "lifecycle",
            ts=now,
            message=f"bot {what}: profile {settings.profile}, broker {self.broker.name}",
            payload={
                "event": what,
                "pid": os.getpid(),
                "profile": settings.profile,
                "fast_forward": self.options.fast_forward,
                "dry_run": settings.dry_run,
                "scenario": settings.sim.scenario,
                "symbols": list(settings.symbols),
                "positions": positions,
                "cycle": self.ctx.state.cycle,
                **extra,
            },
        )
        self.store.commit()
        held = ", ".join(f"{s} {fmt(q)}" for s, q in positions.items()) or "none"
        log.info(
            "bot %s: profile=%s broker=%s symbols=%d interval=%ss dry_run=%s modes=%s "
            "cycle=%d positions: %s",
            what,
            settings.profile,
            self.broker.name,
            len(settings.symbols),
            settings.interval_seconds,
            settings.dry_run,
            self.ctx.modes.describe(),
            self.ctx.state.cycle,
            held,
        )

    def _save_paper(self) -> None:
        save = getattr(self.broker, "save", None)
        if save is not None:
            save()

    def _shutdown(self, summary: RunSummary) -> None:
        """Flush in order of importance: the store, then health.json, then the paper exchange
        (a supervisor in a hurry may kill the process at any point after the first)."""
        now = self.clock.now()
        try:
            self.store.rollback()
            self.ctx.save_strategy(now)
            self._lifecycle("stop", now, cycles_this_run=summary.cycles)
            last = summary.last
            write_health(
                self.settings.health_path,
                ok=summary.exit_code == 0,
                now=now,
                last_cycle=self.ctx.state.cycle,
                message="stopped" if summary.exit_code == 0 else "stopped after failures",
                profile=self.settings.profile,
                broker=self.broker.name,
                equity=None if last is None else last.equity.quantize(CENT),
                running=False,
            )
            self._save_paper()
            self.metrics.write_snapshot(self.metrics_file)
        finally:
            self.metrics.shutdown()
            close = getattr(self.broker, "close", None)  # a streaming adapter's feed thread
            if callable(close):
                close()
            self.store.close()
