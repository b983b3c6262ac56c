"""The maintenance deployments on the real local Prefect server (the session's server, served
from prefect.yaml like test_flows_live): each new deployment runs once and publishes artifacts."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from test_flows_live import BIN, stack  # noqa: F401  (the module-scoped serve fixture)

from trading_core.config import load_settings
from trading_core.runner import Bot, RunOptions


def _start(env: dict[str, str], name: str, *params: str) -> subprocess.Popen[str]:
    args = [str(BIN / "prefect"), "deployment", "run", name]
    for param in params:
        args += ["--param", param]
    return subprocess.Popen(
        [*args, "--watch", "--watch-timeout", "240"],
        env=env,
        cwd=env["WORK"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _seed(env: dict[str, str]) -> None:
    """A short paper session in the stack's data directory and an old rotated log."""
    settings = load_settings(
        "dev",
        cli={
            "data_dir": Path(env["PERPS_DATA_DIR"]),
            "log_dir": Path(env["PERPS_LOG_DIR"]),
            "strategy": {"bar_seconds": 60},
        },
        environ={},
        dotenv_path=None,
    )
    handler = logging.NullHandler()
    logging.getLogger("trading_core").addHandler(handler)
    try:
        Bot(settings, RunOptions(max_cycles=60, fast_forward=True)).run()
    finally:
        logging.getLogger("trading_core").removeHandler(handler)
    logs = Path(env["PERPS_LOG_DIR"])
    logs.mkdir(parents=True, exist_ok=True)
    rotated = logs / "perps_bot.log.1"
    rotated.write_text("2026-11-20 old line\n" * 2000)
    old = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(rotated, (old, old))
    # the drill runs beside the backup flow: it gets a backup of its own to find
    from trading_core.maintenance.backup import BackupSources, create_backup

    create_backup(BackupSources.from_settings(settings), Path(env["WORK"]) / "var/backups")


def _artifact(env: dict[str, str], key: str) -> dict[str, object]:
    response = httpx.get(f"{env['PREFECT_API_URL']}/artifacts/{key}/latest", timeout=10)
    assert response.status_code == 200, key
    return dict(response.json())


def test_each_maintenance_deployment_runs_once(stack: dict[str, str]) -> None:  # noqa: F811
    _seed(stack)
    work = Path(stack["WORK"])
    started = time.monotonic()

    # all at once: the runner picks them up in one poll and runs them side by side
    runs = {
        name: _start(stack, name, *params)
        for name, params in (
            ("archive-logs/dev", ()),
            ("backup/dev", ()),
            ("dr-drill/dev", ("cycles=5",)),
            ("review-weekly/dev", ()),
            ("review-monthly/dev", ()),
            ("review-quarterly/dev", ("grid_size=2", "grid_cycles=100")),
        )
    }
    for name, process in runs.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name}: {output[-2000:]}"

    assert list((work / "var/archive/logs").glob("perps_bot.log.*.gz"))
    assert not (Path(stack["PERPS_LOG_DIR"]) / "perps_bot.log.1").exists()
    summary = str(_artifact(stack, "archive-logs-summary")["data"])
    assert "bytes archived" in summary
    assert "event store: thinned 0 quiet cycle event(s)" in summary  # the seeded store is young
    backups = [p for p in (work / "var/backups").iterdir() if not p.name.startswith(".")]
    assert len(backups) == 2 and all((b / "data/dev/events.db").is_file() for b in backups)
    assert "OK" in str(_artifact(stack, "backup-summary")["data"])
    assert "PASS" in str(_artifact(stack, "dr-drill-dev")["description"])
    for kind in ("weekly", "monthly", "quarterly"):
        assert list((work / "var/reports").glob(f"review_{kind}_dev_*.md"))
        assert list((work / "var/reports").glob(f"review_{kind}_dev_*.png"))
        report = _artifact(stack, f"review-{kind}-dev-report")
        assert f"{kind.capitalize()} review: dev" in str(report["data"])
    assert "Strategy parameter grid" in str(_artifact(stack, "review-quarterly-dev-report")["data"])
    grid = _artifact(stack, "review-quarterly-dev-grid")
    assert grid["type"] == "table"
    print(f"\nsix maintenance deployments ran in {time.monotonic() - started:.1f} s")
