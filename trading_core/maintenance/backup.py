"""Backups: configuration (``.env``, profile files), logs and the data directory into
``var/backups/<UTC timestamp>/`` (or ``$BACKUP_DIR``), with a manifest of sha256 sums.

Layout of one backup::

    <root>/20261124T031500Z/          mode 0700
        MANIFEST.json                 every file: path, size, sha256, original mode
        env/.env                      mode 0600 (every file in a backup is 0600)
        config/profiles/*.yaml
        logs/perps_bot.log ...
        data/<profile>/events.db      copied with SQLite's online backup API
        data/<profile>/health.json ...

SQLite files are copied with ``sqlite3.Connection.backup`` (one read transaction over the whole
file), so a backup taken while the bot commits a cycle is a consistent snapshot: every cycle
committed before the copy started is in it, none half. The copy is switched to rollback-journal
mode so the backup is one self-contained file. A backup is built under a hidden ``.partial``
name and renamed when complete: a crash never leaves a directory that looks like a backup.

``restore_backup`` verifies first, refuses to overwrite the data of a running bot, builds the
restored tree beside the target and swaps it in with renames."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..jsonutil import atomic_write_text
from ..store.health import health_age_seconds, read_health

MANIFEST = "MANIFEST.json"
FORMAT = 1
STAMP = "%Y%m%dT%H%M%SZ"
SQLITE_HEADER = b"SQLite format 3\x00"
#: SQLite companions and temporary files never copied (the online backup covers the WAL).
SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".partial", ".tmp", ".lock")
#: A health.json younger than this from a process that did not say running=false means running.
FRESH_HEALTH_S = 120.0


class BackupError(ConfigError):
    """A backup that cannot be taken, verified or restored (one line, exit code 2)."""


class RestoreRefused(BackupError):
    """The restore would overwrite a running bot's data."""


@dataclass(frozen=True)
class BackupSources:
    data_dir: Path  # var/data/perps_bot (every profile)
    log_dir: Path  # var/logs
    config_dir: Path  # config/profiles
    env_file: Path  # .env

    @classmethod
    def from_settings(cls, settings: Any, *, env_file: Path = Path(".env")) -> BackupSources:
        from ..config.loader import default_config_dir

        return cls(
            data_dir=Path(settings.data_dir),
            log_dir=Path(settings.log_dir),
            config_dir=default_config_dir(),
            env_file=env_file,
        )


@dataclass
class BackupResult:
    path: Path
    files: int
    bytes: int
    sqlite_files: list[str]
    pruned: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "files": self.files,
            "bytes": self.bytes,
            "sqlite_files": self.sqlite_files,
            "pruned": self.pruned,
        }


@dataclass
class VerifyResult:
    path: Path
    files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"backup {self.path}: OK ({self.files} files match the manifest)"
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"backup {self.path}: CORRUPT: {self.problems[0]}{more}"


def default_backup_root() -> Path:
    return Path(os.environ.get("BACKUP_DIR") or "var/backups")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(16) == SQLITE_HEADER
    except OSError:
        return False


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included) via the online backup API."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(str(target))
        try:
            src.backup(dst)  # pages=-1: the whole file in one step, one read snapshot
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            dst.close()
    finally:
        src.close()


def _skip(path: Path) -> bool:
    return path.name.endswith(SKIP_SUFFIXES) or (path.name.startswith(".") and path.name != ".env")


def _tree(root: Path) -> list[Path]:
    """The files to copy, in an order that keeps a live backup consistent: per directory the
    event store first, then the paper venue's journal, then the rest (its snapshot). Each later
    copy is at least as new as the earlier ones, so the venue is never behind the store (the
    restored bot's reconciliation applies what the venue has in addition), and the journal
    copied before its snapshot holds every entry the snapshot lacks (replay skips the rest)."""
    if not root.is_dir():
        return []

    def order(path: Path) -> tuple[str, int, str]:
        rank = 0 if path.suffix == ".db" else 1 if path.suffix == ".journal" else 2
        return (path.parent.as_posix(), rank, path.name)

    return sorted((p for p in root.rglob("*") if p.is_file() and not _skip(p)), key=order)


def _plan(sources: BackupSources) -> list[tuple[Path, str]]:
    """(source file, path inside the backup) for everything a backup holds."""
    plan: list[tuple[Path, str]] = []
    if sources.env_file.is_file():
        plan.append((sources.env_file, "env/.env"))
    if sources.config_dir.is_dir():
        for path in sorted(sources.config_dir.glob("*.yaml")):
            plan.append((path, f"config/profiles/{path.name}"))
    for prefix, root in (("logs", sources.log_dir), ("data", sources.data_dir)):
        for path in _tree(root):
            plan.append((path, f"{prefix}/{path.relative_to(root).as_posix()}"))
    return plan


def create_backup(
    sources: BackupSources,
    root: Path | None = None,
    *,
    now: datetime | None = None,
    keep_count: int | None = 14,
    keep_days: float | None = 30,
) -> BackupResult:
    """Take one backup under ``root`` (default ``$BACKUP_DIR`` or var/backups), then apply the
    retention (``keep_count`` newest and nothing older than ``keep_days``; the new one stays)."""
    root = root or default_backup_root()
    now = now or datetime.now(UTC)
    root.mkdir(parents=True, exist_ok=True)
    name = now.strftime(STAMP)
    final = root / name
    n = 1
    while final.exists():
        final = root / f"{name}-{n}"
        n += 1
    partial = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=root))
    os.chmod(partial, 0o700)
    entries: list[dict[str, Any]] = []
    sqlite_files: list[str] = []
    total = 0
    try:
        for source, inside in _plan(sources):
            target = partial / inside
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                mode = source.stat().st_mode & 0o777
                if is_sqlite(source):
                    copy_sqlite(source, target)
                    sqlite_files.append(inside)
                else:
                    shutil.copyfile(source, target)
            except FileNotFoundError:  # rotated or removed meanwhile
                continue
            os.chmod(target, 0o600)
            size = target.stat().st_size
            total += size
            entries.append(
                {"path": inside, "size": size, "sha256": sha256_file(target), "mode": f"{mode:o}"}
            )
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "sources": {
                "data_dir": str(sources.data_dir),
                "log_dir": str(sources.log_dir),
                "config_dir": str(sources.config_dir),
                "env_file": str(sources.env_file),
            },
            "sqlite": sqlite_files,
            "files": entries,
        }
        atomic_write_text(partial / MANIFEST, json.dumps(manifest, indent=2) + "\n", mode=0o600)
        for directory in [partial, *(p for p in partial.rglob("*") if p.is_dir())]:
            os.chmod(directory, 0o700)
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    result = BackupResult(final, len(entries), total, sqlite_files)
    result.pruned = prune_backups(root, now=now, keep_count=keep_count, keep_days=keep_days)
    return result


def list_backups(root: Path) -> list[Path]:
    """Complete backups under ``root`` (a manifest, a timestamp name), newest first."""
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if path.is_dir() and not path.name.startswith(".") and (path / MANIFEST).is_file():
            with contextlib.suppress(ValueError):
                found.append((_backup_time(path), path))
    return [p for _, p in sorted(found, reverse=True)]


def _backup_time(path: Path) -> datetime:
    return datetime.strptime(path.name[:16], STAMP).replace(tzinfo=UTC)


def prune_backups(
    root: Path,
    *,
    now: datetime | None = None,
    keep_count: int | None = 14,
    keep_days: float | None = 30,
) -> list[str]:
    """Remove backups beyond the ``keep_count`` newest or older than ``keep_days``; the newest
    backup always stays. Returns the names removed."""
    now = now or datetime.now(UTC)
    removed = []
    for index, path in enumerate(list_backups(root)):
        if index == 0:
            continue
        too_many = keep_count is not None and index >= keep_count
        too_old = keep_days is not None and now - _backup_time(path) > timedelta(days=keep_days)
        if too_many or too_old:
            shutil.rmtree(path)
            removed.append(path.name)
    return removed


def latest_backup(root: Path | None = None) -> Path | None:
    backups = list_backups(root or default_backup_root())
    return backups[0] if backups else None


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path}: no {MANIFEST} (not a backup)") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}/{MANIFEST}: unreadable: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise BackupError(f"{path}/{MANIFEST}: not a backup manifest")
    return doc


def verify_backup(path: Path) -> VerifyResult:
    """Every file in the manifest present with its size and sha256, no unlisted file, every
    SQLite file passing ``PRAGMA integrity_check``."""
    result = VerifyResult(path)
    if not path.is_dir():
        result.problems.append(f"{path} is not a directory")
        return result
    try:
        manifest = read_manifest(path)
    except BackupError as exc:
        result.problems.append(exc.message)
        return result
    listed = set()
    for entry in manifest["files"]:
        inside = str(entry.get("path", ""))
        listed.add(inside)
        target = path / inside
        if ".." in Path(inside).parts or Path(inside).is_absolute():
            result.problems.append(f"{inside}: path outside the backup")
            continue
        if not target.is_file():
            result.problems.append(f"{inside}: missing")
            continue
        if target.stat().st_size != entry.get("size"):
            result.problems.append(
                f"{inside}: size {target.stat().st_size}, manifest says {entry.get('size')}"
            )
            continue
        if sha256_file(target) != entry.get("sha256"):
            result.problems.append(f"{inside}: sha256 does not match the manifest")
            continue
        result.files += 1
    for extra in _tree(path):
        inside = extra.relative_to(path).as_posix()
        if inside != MANIFEST and inside not in listed:
            result.problems.append(f"{inside}: not in the manifest")
    if result.ok:
        for inside in manifest.get("sqlite") or []:
            problem = sqlite_integrity(path / inside)
            if problem:
                result.problems.append(f"{inside}: {problem}")
    return result


def sqlite_integrity(path: Path) -> str | None:
    """None when ``PRAGMA integrity_check`` says ok, else its first line."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"integrity check failed: {exc}"
    return None if verdict == "ok" else f"integrity check: {verdict}"


# ------------------------------------------------------------------ running bot detection


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_bots(data_dir: Path, *, now: datetime | None = None) -> list[str]:
    """Profiles under ``data_dir`` whose bot looks alive: health.json not marked running=false
    and either fresh (< 120 s) or written by a live process. One line per profile."""
    now = now or datetime.now(UTC)
    found = []
    if not data_dir.is_dir():
        return found
    for profile_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        doc = read_health(profile_dir / "health.json")
        if not doc or doc.get("running", True) is False:
            continue
        age = health_age_seconds(doc, now)
        pid = doc.get("pid")
        alive = isinstance(pid, int) and pid_alive(pid)
        fresh = age is not None and abs(age) < FRESH_HEALTH_S
        if alive or fresh:
            found.append(
                f"{profile_dir.name} (pid {pid}{', alive' if alive else ''}, "
                f"health {'fresh' if fresh else 'old'})"
            )
    return found


# ------------------------------------------------------------------ restore


@dataclass
class RestoreResult:
    backup: Path
    target: Path
    files: int
    previous: Path | None  # where the replaced data went (in-place restores)

    def to_dict(self) -> dict[str, Any]:
        return {
            "backup": str(self.backup),
            "target": str(self.target),
            "files": self.files,
            "previous": None if self.previous is None else str(self.previous),
        }


def _materialise(backup: Path, manifest: dict[str, Any], staging: Path, layout: str) -> int:
    """Copy the backup's files into ``staging``. ``layout`` "tree": the full tree
    (var/data/perps_bot, var/logs, config/profiles, .env); "data": only data/ at the root."""
    count = 0
    for entry in manifest["files"]:
        inside = str(entry["path"])
        top, _, rest = inside.partition("/")
        if layout == "data":
            if top != "data":
                continue
            target = staging / rest
        else:
            target = staging / {
                "data": f"var/data/perps_bot/{rest}",
                "logs": f"var/logs/{rest}",
                "config": f"config/{rest}",
                "env": rest,
            }.get(top, inside)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(backup / inside, target)
        mode = int(str(entry.get("mode", "600")), 8)
        secret = target.name == ".env" or "key" in target.name.lower()
        os.chmod(target, 0o600 if secret else (mode & 0o777))
        count += 1
    return count


def restore_backup(
    backup: Path,
    *,
    data_dir: Path,
    to: Path | None = None,
    now: datetime | None = None,
) -> RestoreResult:
    """Restore ``backup``. With ``to``: the whole tree (data, logs, config, .env) into that new
    or empty directory. Without: the data directory in place (``data_dir``), refused while a bot
    runs on it; the old data is kept beside it as ``<data_dir>.pre-restore-<stamp>``."""
    now = now or datetime.now(UTC)
    verdict = verify_backup(backup)
    if not verdict.ok:
        raise BackupError(f"refusing to restore: {verdict.summary()}")
    manifest = read_manifest(backup)
    if to is not None:
        if to.exists() and (not to.is_dir() or any(to.iterdir())):
            raise BackupError(f"--to: {to} exists and is not empty")
        target, layout = to, "tree"
    else:
        running = running_bots(data_dir, now=now)
        if running:
            raise RestoreRefused(
                f"refusing to restore over {data_dir}: a bot is running ({'; '.join(running)}); "
                "stop it first (Ctrl-C / perps-bot ops down)"
            )
        target, layout = data_dir, "data"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    previous: Path | None = None
    try:
        files = _materialise(backup, manifest, staging, layout)
        if layout == "tree":
            os.chmod(staging, 0o700)
            if to is not None and to.exists():
                to.rmdir()  # empty: checked above
            os.rename(staging, target)
        else:
            if target.exists():
                previous = target.with_name(f"{target.name}.pre-restore-{now.strftime(STAMP)}")
                os.rename(target, previous)
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreResult(backup, target, files, previous)
