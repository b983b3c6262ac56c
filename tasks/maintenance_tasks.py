"""Maintenance tasks over trading_core.maintenance. Retries only where repeating is harmless:
verifying and reviewing read; archiving and backups are idempotent per run but not retried (a
half-finished attempt is cleaned up by the functions themselves, and the next schedule retries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import task

from trading_core.config import load_settings


@task(name="archive-rotated-logs", retries=0, timeout_seconds=1800)
def archive_rotated_logs(
    profile: str, archive_dir: str, min_age_hours: float, keep_days: float, keep_count: int | None
) -> dict[str, Any]:
    from trading_core.maintenance.archive import archive_logs

    settings = load_settings(profile)
    result = archive_logs(
        Path(settings.log_dir),
        Path(archive_dir),
        min_age=timedelta(hours=min_age_hours),
        keep_days=keep_days,
        keep_count=keep_count,
    )
    return {**result.to_dict(), "summary": result.summary()}


@task(name="thin-cycle-events", retries=0, timeout_seconds=1800)
def thin_cycle_events(profile: str, keep_days: float) -> dict[str, Any]:
    from trading_core.maintenance.retention import thin_events

    settings = load_settings(profile)
    if not settings.store_path.exists():
        return {"deleted": 0, "summary": f"no store at {settings.store_path} yet"}
    result = thin_events(settings.store_path, now=datetime.now(UTC), keep_days=keep_days)
    return {**result.to_dict(), "summary": result.summary()}


@task(name="take-backup", retries=0, timeout_seconds=1800)
def take_backup(
    profile: str, backup_dir: str | None, keep_count: int, keep_days: float
) -> dict[str, Any]:
    from trading_core.maintenance.backup import BackupSources, create_backup

    settings = load_settings(profile)
    result = create_backup(
        BackupSources.from_settings(settings),
        Path(backup_dir) if backup_dir else None,
        keep_count=keep_count,
        keep_days=keep_days,
    )
    return result.to_dict()


@task(name="verify-backup", retries=1, retry_delay_seconds=5, timeout_seconds=1800)
def verify(path: str) -> dict[str, Any]:
    from trading_core.maintenance.backup import verify_backup

    result = verify_backup(Path(path))
    return {"path": path, "ok": result.ok, "files": result.files, "problems": result.problems}


@task(name="dr-drill", retries=0, timeout_seconds=1800)
def drill(profile: str, backup_dir: str | None, cycles: int, allow_running: bool) -> dict[str, Any]:
    from trading_core.maintenance.backup import default_backup_root
    from trading_core.maintenance.drill import run_drill

    settings = load_settings(profile)
    report = run_drill(
        profile,
        data_dir=Path(settings.data_dir),
        backup_root=Path(backup_dir) if backup_dir else default_backup_root(),
        cycles=cycles,
        allow_running=allow_running,
    )
    return {**report.to_dict(), "ok": report.ok, "markdown": report.markdown()}


@task(name="review", retries=1, retry_delay_seconds=10, timeout_seconds=3600)
def review(
    kind: str,
    profile: str,
    since_days: float | None,
    market_data: str | None,
    grid_size: int,
    grid_cycles: int | None,
) -> dict[str, Any]:
    from trading_core.maintenance.reviews import default_grid, run_review

    settings = load_settings(profile)
    now = datetime.now(UTC)
    result = run_review(
        kind,
        settings.store_path,
        profile=profile,
        since=None if since_days is None else now - timedelta(days=since_days),
        settings=settings,
        market_data=Path(market_data) if market_data else None,
        grid=default_grid(grid_size),
        grid_cycles=grid_cycles,
        now=now,
    )
    return {**result.to_dict(), "markdown": result.markdown}
