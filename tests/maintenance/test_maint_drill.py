"""The DR drill: passes on a fresh store, fails loudly on a corrupted backup or a running bot."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from maint_helpers import quiet_trading_logs, run_bot, settings_for, sources_for  # noqa: F401

from trading_core.cli.main import main
from trading_core.maintenance.backup import create_backup
from trading_core.maintenance.drill import STEPS, run_drill


def test_drill_passes_on_a_fresh_store(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run_bot(settings, 40)
    backups = tmp_path / "backups"
    create_backup(sources_for(tmp_path, settings), backups)
    report = run_drill(
        "dev",
        data_dir=settings.data_dir,
        backup_root=backups,
        reports_dir=tmp_path / "reports",
        cycles=10,
    )
    assert report.ok, report.markdown()
    assert [s.name for s in report.steps] == list(STEPS)
    assert "cycle 40 -> 50" in report.steps[4].detail
    assert report.report_path is not None and "**PASS**" in report.report_path.read_text()
    doc = json.loads(report.report_path.with_suffix(".json").read_text())
    assert doc["verdict"] == "PASS"
    # the drill worked on a scratch copy: the live store still ends at cycle 40
    from trading_core.store.event_store import EventStore

    store = EventStore.open_readonly(settings.store_path)
    try:
        assert store.last_event("cycle").cycle == 40  # type: ignore[union-attr]
    finally:
        store.close()


def test_drill_fails_loudly_on_a_corrupted_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    run_bot(settings, 20)
    backups = tmp_path / "backups"
    taken = create_backup(sources_for(tmp_path, settings), backups)
    db = taken.path / "data/dev/events.db"
    data = bytearray(db.read_bytes())
    data[4096 + 100] ^= 0xFF
    db.write_bytes(bytes(data))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERPS_DATA_DIR", str(settings.data_dir))
    code = main(["dr", "drill", "--backup-dir", str(backups), "--reports-dir", "reports"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL backup integrity" in out and "sha256 does not match" in out
    assert "SKIP restore to scratch" in out and "DR drill FAIL" in out


def test_drill_refuses_while_a_bot_runs_and_without_backups(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run_bot(settings, 5)
    health = Path(settings.health_path)
    doc = json.loads(health.read_text())
    doc.update(running=True, timestamp=datetime.now(UTC).isoformat())
    health.write_text(json.dumps(doc))
    report = run_drill(
        "dev", data_dir=settings.data_dir, backup_root=tmp_path / "b", reports_dir=None
    )
    assert not report.ok and report.steps[0].status == "fail"
    assert "a bot is running" in report.steps[0].detail
    report = run_drill(
        "dev",
        data_dir=settings.data_dir,
        backup_root=tmp_path / "b",
        reports_dir=None,
        allow_running=True,
    )
    assert report.steps[0].status == "pass" and report.steps[1].status == "fail"
    assert "no backup under" in report.steps[1].detail
