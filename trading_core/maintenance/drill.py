"""The disaster-recovery drill: the runbook's six steps, automated on a scratch copy.

1. Stop all trading: a bot running on the live data is reported; the drill refuses to go on
   unless ``allow_running`` (the drill never touches live data, so a scheduled drill may run
   beside the trading session).
2. Assess data integrity: the latest (or given) backup against its manifest, SQLite's
   integrity check on every store in it.
3. Restore from the backup into a temporary directory (the same ``restore_backup`` an operator
   uses, so the drill tests the real path).
4. Verify configuration: the restored profile loads with the restored ``.env``; the restored
   store opens and passes ``integrity_check``; health.json reads.
5. Test with paper trading: a short fast-forward session of the trading_core Bot on the
   restored state (broker forced to paper); the cycle count must continue from the backup's.
6. Report: every step's verdict, written to var/reports/dr_drill_<stamp>.{md,json}.

The drill fails loudly: any failed step makes ``DrillReport.ok`` false, and later steps that
depend on it are marked skipped."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import TradingError
from ..jsonutil import atomic_write_text
from .backup import (
    BackupError,
    latest_backup,
    read_manifest,
    restore_backup,
    running_bots,
    verify_backup,
)

STEPS = (
    "stop trading",
    "backup integrity",
    "restore to scratch",
    "verify configuration",
    "paper session",
    "report",
)


@dataclass
class Step:
    name: str
    status: str  # pass, fail, skip
    detail: str
    seconds: float = 0.0


@dataclass
class DrillReport:
    profile: str
    started_at: datetime
    backup: Path | None = None
    steps: list[Step] = field(default_factory=list)
    report_path: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.status == "pass" for s in self.steps)

    @property
    def verdict(self) -> str:
        return "PASS" if self.ok else "FAIL"

    def first_failure(self) -> Step | None:
        return next((s for s in self.steps if s.status == "fail"), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "backup": None if self.backup is None else str(self.backup),
            "verdict": self.verdict,
            "steps": [s.__dict__ for s in self.steps],
            "report_path": None if self.report_path is None else str(self.report_path),
        }

    def markdown(self) -> str:
        lines = [
            f"# DR drill ({self.profile}): **{self.verdict}**",
            "",
            f"Started {self.started_at:%Y-%m-%d %H:%M:%S} UTC; backup `{self.backup}`.",
            "",
            "| # | step | status | detail | s |",
            "|---|---|---|---|---|",
        ]
        for n, step in enumerate(self.steps, 1):
            detail = step.detail.replace("|", "\\|")
            lines.append(
                f"| {n} | {step.name} | {step.status.upper()} | {detail} | {step.seconds:.2f} |"
            )
        return "\n".join(lines) + "\n"


class _Quiet:
    """Keep trading_core's log lines of the scratch session off stderr (no handler otherwise)."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("trading_core")
        self.handler = logging.NullHandler()
        self.logger.addHandler(self.handler)

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)


def run_drill(
    profile: str = "dev",
    *,
    data_dir: Path,
    backup_root: Path | None = None,
    backup: Path | None = None,
    reports_dir: Path | None = Path("var/reports"),
    cycles: int = 20,
    allow_running: bool = False,
    keep_scratch: bool = False,
    now: datetime | None = None,
) -> DrillReport:
    """Run the six steps; never raises for a failed step (the report says FAIL)."""
    report = DrillReport(profile=profile, started_at=now or datetime.now(UTC))
    scratch = Path(tempfile.mkdtemp(prefix="dr-drill-"))
    restored = scratch / "restored"
    failed = False

    def step(name: str, fn: Any) -> Any:
        nonlocal failed
        if failed:
            report.steps.append(Step(name, "skip", "skipped: an earlier step failed"))
            return None
        started = time.perf_counter()
        try:
            detail, value = fn()
            status = "pass"
        except (TradingError, OSError, ValueError, AssertionError) as exc:
            message = exc.message if isinstance(exc, TradingError) else str(exc)
            detail, value, status = message, None, "fail"
            failed = True
        report.steps.append(Step(name, status, detail, time.perf_counter() - started))
        return value

    def stop_trading() -> tuple[str, None]:
        running = running_bots(data_dir)
        if running and not allow_running:
            raise AssertionError(
                f"a bot is running on {data_dir}: {'; '.join(running)}; stop it first "
                "(or allow_running: the drill only reads a backup)"
            )
        if running:
            return f"live bot left running ({'; '.join(running)}); drill on a scratch copy", None
        return f"no bot running on {data_dir}", None

    def integrity() -> tuple[str, Path]:
        chosen = backup or latest_backup(backup_root)
        if chosen is None:
            raise BackupError(f"no backup under {backup_root}: take one (perps-bot backup create)")
        report.backup = chosen
        verdict = verify_backup(chosen)
        if not verdict.ok:
            raise BackupError(verdict.summary())
        stores = read_manifest(chosen).get("sqlite") or []
        return f"{verdict.files} files match the manifest; {len(stores)} store(s) ok", chosen

    def restore(chosen: Path) -> tuple[str, None]:
        result = restore_backup(chosen, data_dir=data_dir, to=restored)
        return f"{result.files} files restored into a scratch directory", None

    def verify_config() -> tuple[str, Any]:
        from ..config import load_settings
        from ..store.event_store import EventStore
        from ..store.health import read_health

        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PERPS_DATA_DIR", "PERPS_LOG_DIR", "PERPS_CONFIG_DIR"))
        }
        env_file = restored / ".env"
        config_dir = restored / "config" / "profiles"
        if not config_dir.is_dir():
            raise AssertionError("the backup holds no config/profiles")
        cli = {"data_dir": restored / "var/data/perps_bot", "log_dir": restored / "var/logs"}
        settings = load_settings(
            profile,
            cli=cli,
            environ=environ,
            dotenv_path=env_file if env_file.is_file() else None,
            config_dir=config_dir,
        )
        cycle = 0
        events = 0
        if settings.store_path.is_file():
            store = EventStore.open_readonly(settings.store_path)
            try:
                verdict = store.integrity_check()
                if verdict != "ok":
                    raise AssertionError(f"restored store: integrity_check says {verdict}")
                events = store.count_events()
                last = store.last_event("cycle")
                cycle = (last.cycle or 0) if last is not None else 0
            finally:
                store.close()
        health = read_health(settings.health_path)
        paper = load_settings(
            profile,
            cli={**cli, "broker": "paper"},
            environ=environ,
            dotenv_path=env_file if env_file.is_file() else None,
            config_dir=config_dir,
        )
        detail = (
            f"profile {profile} loads (broker {settings.broker.value}); store: {events} events, "
            f"last cycle {cycle}; health.json {'readable' if health else 'absent'}"
        )
        return detail, (paper, cycle)

    def paper_session(loaded: tuple[Any, int]) -> tuple[str, None]:
        from ..runner import Bot, RunOptions
        from ..store.event_store import EventStore

        settings, cycle_before = loaded
        with _Quiet():
            summary = Bot(settings, RunOptions(max_cycles=cycles, fast_forward=True)).run()
        if summary.exit_code != 0 or summary.cycles != cycles:
            raise AssertionError(
                f"paper session: exit {summary.exit_code} after {summary.cycles}/{cycles} cycles"
            )
        store = EventStore.open_readonly(settings.store_path)
        try:
            verdict = store.integrity_check()
            last = store.last_event("cycle")
        finally:
            store.close()
        cycle_after = 0 if last is None else last.cycle or 0
        if verdict != "ok":
            raise AssertionError(f"after the paper session: integrity_check says {verdict}")
        if cycle_after != cycle_before + cycles:
            raise AssertionError(
                f"the session did not resume the restored state: cycle {cycle_before} -> "
                f"{cycle_after}, expected {cycle_before + cycles}"
            )
        equity = "n/a" if summary.last is None else f"{summary.last.equity:.2f}"
        return (
            f"{cycles} fast-forward cycles on the restored state (cycle {cycle_before} -> "
            f"{cycle_after}), {summary.orders} orders, {summary.fills} fills, equity {equity}",
            None,
        )

    try:
        step(STEPS[0], stop_trading)
        chosen = step(STEPS[1], integrity)
        step(STEPS[2], lambda: restore(chosen))
        loaded = step(STEPS[3], verify_config)
        step(STEPS[4], lambda: paper_session(loaded))
        verdict = "PASS" if not failed else "FAIL"
        report.steps.append(Step(STEPS[5], "pass", f"verdict {verdict}"))
        if failed:  # the report step itself passes, the drill does not
            report.steps[-1].detail = f"verdict FAIL ({report.first_failure().name})"  # type: ignore[union-attr]
        if reports_dir is not None:
            stamp = report.started_at.strftime("%Y%m%dT%H%M%SZ")
            path = reports_dir / f"dr_drill_{profile}_{stamp}.md"
            atomic_write_text(path, report.markdown())
            report.report_path = path
            atomic_write_text(
                path.with_suffix(".json"), json.dumps(report.to_dict(), indent=2) + "\n"
            )
    finally:
        if not keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return report
