"""Log archiving: rotated logs older than a day are gzipped and removed, the live log and recent
rotations are untouched, bytes archived/freed are reported, old archives expire."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from maint_helpers import quiet_trading_logs  # noqa: F401

from trading_core.maintenance.archive import archive_logs

NOW = datetime(2026, 11, 24, 2, 15, tzinfo=UTC)


def _log(path: Path, text: str, age: timedelta) -> Path:
    path.write_text(text)
    when = (NOW - age).timestamp()
    os.utime(path, (when, when))
    return path


def test_archives_old_rotations_only(tmp_path: Path) -> None:
    logs, archive = tmp_path / "logs", tmp_path / "archive"
    logs.mkdir()
    live = _log(logs / "perps_bot.log", "live line\n" * 100, timedelta(days=5))
    old1 = _log(logs / "perps_bot.log.1", "one\n" * 5000, timedelta(days=2))
    old2 = _log(logs / "perps_bot.log.2", "two\n" * 5000, timedelta(days=3))
    recent = _log(logs / "perps_bot.log.3", "three\n", timedelta(hours=2))
    sizes = old1.stat().st_size + old2.stat().st_size

    result = archive_logs(logs, archive, now=NOW)

    assert live.read_text() == "live line\n" * 100  # never touched, however old
    assert recent.exists() and not old1.exists() and not old2.exists()
    assert result.skipped_recent == ["perps_bot.log.3"]
    assert result.bytes_archived == sizes
    written = sum(p.stat().st_size for p in archive.glob("*.gz"))
    assert result.bytes_written == written and result.bytes_freed == sizes - written > 0
    names = sorted(p.name for p in archive.glob("*.gz"))
    assert len(names) == 2 and all(n.startswith("perps_bot.log.2026112") for n in names)
    texts = sorted(gzip.decompress(p.read_bytes()).decode() for p in archive.glob("*.gz"))
    assert texts == sorted(["one\n" * 5000, "two\n" * 5000])
    assert "archived 2 rotated log(s)" in result.summary()


def test_retention_expires_old_archives(tmp_path: Path) -> None:
    logs, archive = tmp_path / "logs", tmp_path / "archive"
    logs.mkdir()
    archive.mkdir()
    (archive / "perps_bot.log.20260101T000000Z.gz").write_bytes(gzip.compress(b"x" * 100))
    (archive / "perps_bot.log.20261120T000000Z.gz").write_bytes(gzip.compress(b"y" * 100))
    _log(logs / "perps_bot.log.1", "z\n", timedelta(days=2))
    result = archive_logs(logs, archive, now=NOW, keep_days=30)
    assert result.expired == ["perps_bot.log.20260101T000000Z.gz"]
    assert len(list(archive.glob("*.gz"))) == 2
    result = archive_logs(logs, archive, now=NOW, keep_count=1)
    assert len(list(archive.glob("*.gz"))) == 1 and len(result.expired) == 1
    # nothing to do: no error, nothing reported
    empty = archive_logs(tmp_path / "none", archive, now=NOW)
    assert empty.archived == [] and empty.bytes_freed == 0
