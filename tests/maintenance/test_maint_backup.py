"""Backups: consistent while a bot trades, verified by sha256, restored atomically, never over a
running bot; secrets 0600, backup directory 0700; retention by count and age."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from maint_helpers import quiet_trading_logs, run_bot, settings_for, sources_for  # noqa: F401

from trading_core.cli.main import main
from trading_core.maintenance.backup import (
    MANIFEST,
    RestoreRefused,
    create_backup,
    list_backups,
    prune_backups,
    restore_backup,
    verify_backup,
)
from trading_core.runner import Bot, RunOptions
from trading_core.store.event_store import EventStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _max_event_id(db: Path) -> int:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0)
    finally:
        conn.close()


def _rows(db: Path, up_to: int) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT * FROM events WHERE id <= ? ORDER BY id", (up_to,)).fetchall()
    finally:
        conn.close()


def test_backup_during_a_running_bot_restores_every_committed_event(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    (tmp_path / ".env").write_text("COINBASE_API_KEY=organizations/x/apiKeys/y\n")
    (tmp_path / ".env").chmod(0o600)
    stop = threading.Event()
    bot = Bot(settings, RunOptions(max_cycles=100_000, fast_forward=True), stop=stop)
    thread = threading.Thread(target=bot.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if settings.store_path.exists() and _max_event_id(settings.store_path) > 300:
                break
            time.sleep(0.05)
        committed = _max_event_id(settings.store_path)
        assert committed > 300
        result = create_backup(sources_for(tmp_path, settings), tmp_path / "backups")
        # the bot is still trading, and an in-place restore over it is refused
        with pytest.raises(RestoreRefused, match="a bot is running"):
            restore_backup(result.path, data_dir=settings.data_dir)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=60)
    final = _max_event_id(settings.store_path)
    assert final > committed  # the backup really ran while the bot wrote

    assert result.sqlite_files == ["data/dev/events.db"]
    assert verify_backup(result.path).ok
    assert _mode(result.path) == 0o700
    assert _mode(result.path / "env/.env") == 0o600
    assert all(_mode(p) == 0o600 for p in result.path.rglob("*") if p.is_file())
    assert not list(result.path.rglob("*-wal")) and not list(result.path.rglob("*-shm"))

    restored = tmp_path / "restored"
    restore_backup(result.path, data_dir=settings.data_dir, to=restored)
    db = restored / "var/data/perps_bot/dev/events.db"
    store = EventStore.open_readonly(db)
    try:
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    backed_up = _max_event_id(db)
    assert committed <= backed_up < final
    # every event committed before the backup, byte for byte as in the live store
    assert _rows(db, backed_up) == _rows(settings.store_path, backed_up)
    assert _mode(restored / ".env") == 0o600
    assert (restored / "config/profiles/dev.yaml").is_file()


def test_flipped_byte_fails_verify_and_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    run_bot(settings, 50)
    result = create_backup(sources_for(tmp_path, settings), tmp_path / "backups")
    assert main(["backup", "verify", str(result.path)]) == 0
    assert "OK" in capsys.readouterr().out

    db = result.path / "data/dev/events.db"
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0x01
    db.write_bytes(bytes(data))
    assert main(["backup", "verify", str(result.path)]) == 1
    out = capsys.readouterr().out
    assert "CORRUPT" in out and "data/dev/events.db: sha256 does not match" in out
    with pytest.raises(Exception, match="refusing to restore"):
        restore_backup(result.path, data_dir=settings.data_dir, to=tmp_path / "r")
    assert not (tmp_path / "r").exists()

    # an edited manifest or a stray file is caught too
    (result.path / "data/dev/stray.txt").write_text("x")
    assert any("not in the manifest" in p for p in verify_backup(result.path).problems)


def test_in_place_restore_swaps_atomically_and_keeps_the_old_data(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    run_bot(settings, 30)  # stopped: health.json says running=false
    result = create_backup(sources_for(tmp_path, settings), tmp_path / "backups")
    before = _max_event_id(settings.store_path)
    run_bot(settings, 30)
    assert _max_event_id(settings.store_path) > before
    code = main(["backup", "restore", str(result.path), "--data-dir", str(settings.data_dir)])
    assert code == 0
    assert _max_event_id(settings.store_path) == before
    kept = list(Path(settings.data_dir).parent.glob("perps_bot.pre-restore-*"))
    assert len(kept) == 1 and (kept[0] / "dev/events.db").is_file()
    assert not list(Path(settings.data_dir).parent.glob(".perps_bot.restore-*"))


def test_restore_refuses_fresh_health_of_a_running_bot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    run_bot(settings, 5)
    result = create_backup(sources_for(tmp_path, settings), tmp_path / "backups")
    health = Path(settings.health_path)
    doc = json.loads(health.read_text())
    doc.update(running=True, pid=2**22 + 12345, timestamp=datetime.now(UTC).isoformat())
    health.write_text(json.dumps(doc))
    code = main(["backup", "restore", str(result.path), "--data-dir", str(settings.data_dir)])
    assert code == 2
    assert "refusing to restore" in capsys.readouterr().err


def test_retention_by_count_and_age(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    root = tmp_path / "backups"
    sources = sources_for(tmp_path, settings)
    now = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    for days in (40, 20, 3, 2, 1, 0):
        create_backup(
            sources, root, now=now - timedelta(days=days), keep_count=None, keep_days=None
        )
    assert len(list_backups(root)) == 6
    removed = prune_backups(root, now=now, keep_count=4, keep_days=30)
    names = [p.name for p in list_backups(root)]
    assert len(removed) == 2 and len(names) == 4
    assert names[0].startswith("20261124T03")
    # the newest always stays, even when everything is old
    prune_backups(root, now=now + timedelta(days=400), keep_count=10, keep_days=30)
    assert len(list_backups(root)) == 1
    assert json.loads((list_backups(root)[0] / MANIFEST).read_text())["format"] == 1


def test_cli_create_uses_backup_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    run_bot(settings, 5)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PERPS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PERPS_LOG_DIR", str(settings.log_dir))
    assert main(["backup", "create", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert Path(doc["path"]).parent == tmp_path / "elsewhere"
    assert os.path.isfile(Path(doc["path"]) / MANIFEST)


def test_a_live_backup_copies_the_store_then_the_journal_then_the_snapshot(
    tmp_path: Path,
) -> None:
    """Each copy at least as new as the one before: the venue is never behind the store, and
    the journal holds whatever its (later-copied) snapshot lacks. The lock stays behind."""
    from trading_core.maintenance.backup import _tree

    profile = tmp_path / "data" / "dev"
    profile.mkdir(parents=True)
    for name in ("paper_exchange.json", "paper_exchange.lock", "health.json"):
        (profile / name).write_text("{}")
    (profile / "paper_exchange.journal").write_text("")
    EventStore(profile / "events.db").close()
    assert [p.name for p in _tree(tmp_path / "data")] == [
        "events.db",
        "paper_exchange.journal",
        "health.json",
        "paper_exchange.json",
    ]
