"""Maintenance flows (runbook Maintenance, Backup and Recovery): archive-logs and backup daily,
the DR drill, and the weekly, monthly and quarterly reviews (one flow each). Each run
publishes a markdown artifact (the report) and a table artifact (its figures) in the Prefect UI.
The work is in trading_core.maintenance; these are thin runners."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.notifications import notify_crashed, notify_failed
from tasks.maintenance_tasks import (
    archive_rotated_logs,
    drill,
    review,
    take_backup,
    thin_cycle_events,
    verify,
)


class BackupCorrupt(Exception):
    """A backup just taken does not match its manifest."""


class DrillFailed(Exception):
    """The disaster-recovery drill failed a step."""


def _key(*parts: str) -> str:
    return "-".join(p.lower().replace("_", "-") for p in parts)


@flow(name="archive-logs", on_failure=[notify_failed], on_crashed=[notify_crashed])
def archive_logs(
    profile: str = "dev",
    archive_dir: str = "var/archive/logs",
    min_age_hours: float = 24,
    keep_days: float = 90,
    keep_count: int | None = None,
    event_keep_days: float = 120,
) -> dict[str, Any]:
    """Rotated logs into gzip archives; then the event store's retention (quiet cycle events
    past ``event_keep_days`` thinned to one an hour)."""
    logger = get_run_logger()
    result = archive_rotated_logs(profile, archive_dir, min_age_hours, keep_days, keep_count)
    thinned = thin_cycle_events(profile, event_keep_days)
    result["events"] = thinned
    rows = [
        {"log": a["source"], "archive": a["archive"], "bytes": a["bytes"], "gz": a["gz"]}
        for a in result["archived"]
    ] or [{"log": "(none due)", "archive": "", "bytes": 0, "gz": 0}]
    create_table_artifact(rows, key="archive-logs", description=result["summary"])
    create_markdown_artifact(
        f"# Log archive\n\n{result['summary']}\n\n"
        f"- archived into `{result['archive_dir']}`\n"
        f"- bytes archived: {result['bytes_archived']}, written: {result['bytes_written']}, "
        f"freed: {result['bytes_freed']}\n"
        f"- too recent (kept): {', '.join(result['skipped_recent']) or 'none'}\n"
        f"- expired archives removed: {', '.join(result['expired']) or 'none'}\n"
        f"- event store: {thinned['summary']}\n",
        key="archive-logs-summary",
    )
    logger.info(result["summary"])
    logger.info(thinned["summary"])
    return result


@flow(name="backup", on_failure=[notify_failed], on_crashed=[notify_crashed])
def backup(
    profile: str = "dev",
    backup_dir: str | None = None,
    keep_count: int = 14,
    keep_days: float = 30,
) -> dict[str, Any]:
    logger = get_run_logger()
    taken = take_backup(profile, backup_dir, keep_count, keep_days)
    checked = verify(taken["path"])
    create_table_artifact(
        [
            {"backup": taken["path"], "files": taken["files"], "bytes": taken["bytes"]},
        ],
        key="backup",
        description=f"verify: {'OK' if checked['ok'] else 'CORRUPT'}",
    )
    create_markdown_artifact(
        f"# Backup: **{'OK' if checked['ok'] else 'CORRUPT'}**\n\n"
        f"- `{taken['path']}`: {taken['files']} files, {taken['bytes']} bytes\n"
        f"- SQLite stores (online backup API): {', '.join(taken['sqlite_files']) or 'none'}\n"
        f"- pruned by retention: {', '.join(taken['pruned']) or 'none'}\n"
        + "".join(f"- problem: {p}\n" for p in checked["problems"]),
        key="backup-summary",
    )
    if not checked["ok"]:
        raise BackupCorrupt(f"backup {taken['path']} fails verify: {checked['problems'][0]}")
    logger.info("backup %s: %d files, verified", taken["path"], taken["files"])
    return taken


@flow(name="dr-drill", on_failure=[notify_failed], on_crashed=[notify_crashed])
def dr_drill(
    profile: str = "dev",
    backup_dir: str | None = None,
    cycles: int = 20,
    allow_running: bool = True,
) -> dict[str, Any]:
    logger = get_run_logger()
    report = drill(profile, backup_dir, cycles, allow_running)
    create_table_artifact(
        [
            {"step": s["name"], "status": s["status"].upper(), "detail": s["detail"]}
            for s in report["steps"]
        ],
        key=_key("dr-drill", profile),
        description=f"DR drill {profile}: {report['verdict']}",
    )
    create_markdown_artifact(report["markdown"], key=_key("dr-drill", profile, "report"))
    if not report["ok"]:
        failed = next(s for s in report["steps"] if s["status"] == "fail")
        raise DrillFailed(f"DR drill FAIL at {failed['name']}: {failed['detail']}")
    logger.info("DR drill %s: PASS (backup %s)", profile, report["backup"])
    return report


def _review(
    kind: str,
    profile: str,
    since_days: float | None,
    market_data: str | None = None,
    grid_size: int = 20,
    grid_cycles: int | None = None,
) -> dict[str, Any]:
    logger = get_run_logger()
    result = review(kind, profile, since_days, market_data, grid_size, grid_cycles)
    perf = result["metrics"]["performance"]
    rows = [{"metric": k, "value": v} for k, v in perf.items()]
    create_table_artifact(rows, key=_key("review", kind, profile), description=f"{kind} review")
    for name, table in result["tables"].items():
        if name != "dependencies" and table:
            create_table_artifact(table, key=_key("review", kind, profile, name))
    create_markdown_artifact(result["markdown"], key=_key("review", kind, profile, "report"))
    logger.info(
        "%s review %s: PnL %s, report %s", kind, profile, perf["pnl"], result["markdown_path"]
    )
    return result


@flow(name="review-weekly", on_failure=[notify_failed], on_crashed=[notify_crashed])
def review_weekly(profile: str = "dev", since_days: float | None = None) -> dict[str, Any]:
    """Performance and strategy effectiveness over the last 7 days of the store."""
    return _review("weekly", profile, since_days)


@flow(name="review-monthly", on_failure=[notify_failed], on_crashed=[notify_crashed])
def review_monthly(profile: str = "dev", since_days: float | None = None) -> dict[str, Any]:
    """The weekly figures over 30 days, plus cost vs returns, errors, guards, dependencies."""
    return _review("monthly", profile, since_days)


@flow(name="review-quarterly", on_failure=[notify_failed], on_crashed=[notify_crashed])
def review_quarterly(
    profile: str = "dev",
    since_days: float | None = None,
    market_data: str | None = None,
    grid_size: int = 20,
    grid_cycles: int | None = None,
) -> dict[str, Any]:
    """Plus the risk assessment and the strategy grid (reported, never applied)."""
    return _review("quarterly", profile, since_days, market_data, grid_size, grid_cycles)
