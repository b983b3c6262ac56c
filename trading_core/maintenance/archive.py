"""Log archiving: rotated logs (``perps_bot.log.1``, ``.2`` ...) older than a day are gzipped into
``var/archive/logs/`` and removed from the log directory; archives past the retention go.

The live log (a name without a numeric suffix) is never read, moved or removed: the bot's
RotatingFileHandler owns it. Each archive is written to a temporary name, checked by reading it
back, then renamed; only then is the rotated file removed, so a crash loses nothing."""

from __future__ import annotations

import gzip
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: ``perps_bot.log.3`` (RotatingFileHandler's rotated files): the stem and the number.
ROTATED = re.compile(r"^(?P<stem>.+\.log)\.(?P<n>\d+)$")
ARCHIVE_NAME = re.compile(r"^(?P<stem>.+\.log)\.(?P<stamp>\d{8}T\d{6}Z)(?:-\d+)?\.gz$")
STAMP = "%Y%m%dT%H%M%SZ"


@dataclass
class ArchiveResult:
    log_dir: Path
    archive_dir: Path
    archived: list[dict[str, object]] = field(default_factory=list)  # source, archive, sizes
    skipped_recent: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)  # archives removed by the retention
    bytes_archived: int = 0  # uncompressed size of the logs archived
    bytes_written: int = 0  # compressed size of the new archives
    bytes_freed: int = 0  # net disk freed: archived - written + expired archives

    def to_dict(self) -> dict[str, object]:
        return {
            "log_dir": str(self.log_dir),
            "archive_dir": str(self.archive_dir),
            "archived": self.archived,
            "skipped_recent": self.skipped_recent,
            "expired": self.expired,
            "bytes_archived": self.bytes_archived,
            "bytes_written": self.bytes_written,
            "bytes_freed": self.bytes_freed,
        }

    def summary(self) -> str:
        return (
            f"archived {len(self.archived)} rotated log(s), {self.bytes_archived} bytes -> "
            f"{self.bytes_written} compressed; {len(self.expired)} expired archive(s) removed; "
            f"{self.bytes_freed} bytes freed"
        )


def rotated_logs(log_dir: Path) -> list[Path]:
    """Rotated log files in ``log_dir`` (never the live log), oldest rotation last."""
    if not log_dir.is_dir():
        return []
    found = [p for p in log_dir.iterdir() if p.is_file() and ROTATED.match(p.name)]
    return sorted(found, key=lambda p: int(ROTATED.match(p.name).group("n")))  # type: ignore[union-attr]


def _archive_path(archive_dir: Path, stem: str, mtime: datetime) -> Path:
    base = f"{stem}.{mtime.strftime(STAMP)}"
    candidate = archive_dir / f"{base}.gz"
    n = 1
    while candidate.exists():
        candidate = archive_dir / f"{base}-{n}.gz"
        n += 1
    return candidate


def _compress(source: Path, target: Path) -> int:
    """gzip ``source`` into ``target`` via a temporary file; returns the compressed size."""
    tmp = target.with_name(f".{target.name}.partial")
    with source.open("rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    # read it back before the original goes: a truncated archive must not cost the log
    size = 0
    with gzip.open(tmp, "rb") as check:
        while chunk := check.read(1024 * 1024):
            size += len(chunk)
    if size != source.stat().st_size:
        tmp.unlink(missing_ok=True)
        raise OSError(f"archive of {source} is {size} bytes, expected {source.stat().st_size}")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return target.stat().st_size


def archive_logs(
    log_dir: Path,
    archive_dir: Path,
    *,
    now: datetime | None = None,
    min_age: timedelta = timedelta(days=1),
    keep_days: float = 90,
    keep_count: int | None = None,
) -> ArchiveResult:
    """Compress rotated logs older than ``min_age`` into ``archive_dir``, then apply the retention
    to the archives (older than ``keep_days`` go; beyond ``keep_count`` newest go)."""
    now = now or datetime.now(UTC)
    result = ArchiveResult(log_dir=log_dir, archive_dir=archive_dir)
    candidates = rotated_logs(log_dir)
    if candidates:
        archive_dir.mkdir(parents=True, exist_ok=True)
    for source in candidates:
        stat = source.stat()
        mtime = datetime.fromtimestamp(stat.st_mtime, UTC)
        if now - mtime < min_age:
            result.skipped_recent.append(source.name)
            continue
        stem = ROTATED.match(source.name).group("stem")  # type: ignore[union-attr]
        target = _archive_path(archive_dir, stem, mtime)
        written = _compress(source, target)
        os.utime(target, (stat.st_atime, stat.st_mtime))
        source.unlink()
        result.archived.append(
            {"source": source.name, "archive": target.name, "bytes": stat.st_size, "gz": written}
        )
        result.bytes_archived += stat.st_size
        result.bytes_written += written
    freed_by_expiry = _expire(archive_dir, now, keep_days, keep_count, result)
    result.bytes_freed = result.bytes_archived - result.bytes_written + freed_by_expiry
    return result


def _archive_time(path: Path) -> datetime:
    match = ARCHIVE_NAME.match(path.name)
    if match:
        return datetime.strptime(match.group("stamp"), STAMP).replace(tzinfo=UTC)
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _expire(
    archive_dir: Path,
    now: datetime,
    keep_days: float,
    keep_count: int | None,
    result: ArchiveResult,
) -> int:
    if not archive_dir.is_dir():
        return 0
    archives = sorted(
        (p for p in archive_dir.iterdir() if p.is_file() and p.name.endswith(".gz")),
        key=_archive_time,
        reverse=True,
    )
    freed = 0
    cutoff = now - timedelta(days=keep_days)
    for index, path in enumerate(archives):
        too_many = keep_count is not None and index >= keep_count
        if too_many or _archive_time(path) < cutoff:
            freed += path.stat().st_size
            path.unlink()
            result.expired.append(path.name)
    return freed
