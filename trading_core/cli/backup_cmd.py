"""`perps-bot backup create|verify|restore|list`: backups of configuration, logs and data.

    perps-bot backup create [--to DIR] [--keep N] [--keep-days D] [--profile P] [--json]
    perps-bot backup verify PATH            exit 1 when the manifest does not match
    perps-bot backup restore PATH [--to DIR] [--profile P]
    perps-bot backup list [--to DIR]

Backups go to DIR, else $BACKUP_DIR, else var/backups (see trading_core/maintenance/backup.py).
Restore without --to replaces the data directory and refuses while a bot runs on it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    backup = subparsers.add_parser("backup", help="backups: create, verify, restore, list")
    actions = backup.add_subparsers(dest="backup_command", metavar="ACTION")
    actions.required = True

    create = actions.add_parser("create", help="take a backup now")
    _profile(create)
    create.add_argument("--to", type=Path, help="backup root (default $BACKUP_DIR or var/backups)")
    create.add_argument("--keep", type=int, default=14, help="backups kept by count (default 14)")
    create.add_argument("--keep-days", type=float, default=30, help="and by age (default 30)")
    create.add_argument("--json", action="store_true", help="one JSON document")
    create.set_defaults(handler=run_create)

    verify = actions.add_parser("verify", help="check a backup against its manifest")
    verify.add_argument("path", type=Path)
    verify.add_argument("--json", action="store_true", help="one JSON document")
    verify.set_defaults(handler=run_verify)

    restore = actions.add_parser("restore", help="restore a backup (refused while a bot runs)")
    _profile(restore)
    restore.add_argument("path", type=Path)
    restore.add_argument("--to", type=Path, help="restore the whole tree into this new directory")
    restore.set_defaults(handler=run_restore)

    listing = actions.add_parser("list", help="the backups, newest first")
    listing.add_argument("--to", type=Path, help="backup root (default $BACKUP_DIR or var/backups)")
    listing.set_defaults(handler=run_list)


def _profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=None, help="default: $PERPS_PROFILE or dev")
    parser.add_argument("--data-dir", type=Path, default=None, help="default var/data/perps_bot")


def _settings(args: argparse.Namespace) -> Any:
    from ..config import load_settings

    cli = {"data_dir": args.data_dir} if args.data_dir is not None else None
    return load_settings(args.profile, cli=cli)


def run_create(args: argparse.Namespace) -> int:
    from ..maintenance.backup import BackupSources, create_backup

    sources = BackupSources.from_settings(_settings(args))
    result = create_backup(sources, args.to, keep_count=args.keep, keep_days=args.keep_days)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"backup {result.path}: {result.files} files, {result.bytes} bytes")
        for name in result.pruned:
            print(f"pruned {name}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..maintenance.backup import verify_backup

    result = verify_backup(args.path)
    if args.json:
        print(json.dumps({"path": str(args.path), "ok": result.ok, "problems": result.problems}))
    else:
        print(result.summary())
        for problem in result.problems[1:]:
            print(f"  {problem}")
    return 0 if result.ok else 1


def run_restore(args: argparse.Namespace) -> int:
    from ..maintenance.backup import restore_backup

    settings = _settings(args)
    result = restore_backup(args.path, data_dir=Path(settings.data_dir), to=args.to)
    print(f"restored {result.files} files from {result.backup} into {result.target}")
    if result.previous is not None:
        print(f"the replaced data is kept in {result.previous}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ..maintenance.backup import default_backup_root, list_backups

    root = args.to or default_backup_root()
    for path in list_backups(root):
        print(path)
    if not os.path.isdir(root):
        print(f"no backups under {root}")
    return 0
