"""preflight: the morning checklist. Fails (NOT READY) when a check fails; the report is a table
artifact either way, so the failing check is named in the run's artifacts."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.notifications import notify_crashed, notify_failed
from tasks.ops_tasks import run_preflight_checks


class NotReady(Exception):
    """Preflight verdict NOT READY: do not trade."""


@flow(name="preflight", on_failure=[notify_failed], on_crashed=[notify_crashed])
def preflight(profile: str = "canary") -> dict[str, Any]:
    logger = get_run_logger()
    report = run_preflight_checks(profile)
    rows = [
        {"check": c["name"], "status": c["status"].upper(), "summary": c["summary"]}
        for c in report["checks"]
    ]
    key = f"preflight-{profile}"
    create_table_artifact(rows, key=key, description=f"Preflight {profile}: {report['verdict']}")
    failed = [c for c in report["checks"] if c["status"] == "fail"]
    create_markdown_artifact(
        f"# Preflight {profile}: **{report['verdict']}**\n\n"
        + "\n".join(
            f"- **{c['status'].upper()}** `{c['name']}`: {c['summary']}" for c in report["checks"]
        )
        + f"\n\nReport: `{report['report_path']}`",
        key=f"{key}-summary",
    )
    for check in report["checks"]:
        log = (
            logger.error
            if check["status"] == "fail"
            else (logger.warning if check["status"] == "warn" else logger.info)
        )
        log("%s %s: %s", check["status"].upper(), check["name"], check["summary"])
    if failed:
        names = ", ".join(c["name"] for c in failed)
        raise NotReady(f"NOT READY: {names} failed ({failed[0]['summary']})")
    logger.info("verdict %s", report["verdict"])
    return report
