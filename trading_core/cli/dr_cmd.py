"""`perps-bot dr drill`: the runbook's disaster-recovery steps on a scratch copy of a backup.

    perps-bot dr drill [--profile P] [--backup PATH | --backup-dir DIR] [--take-backup]
                       [--cycles N] [--allow-running] [--reports-dir DIR] [--json]

Exit 0 when every step passes, 1 when one fails (the failing step is named)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    dr = subparsers.add_parser("dr", help="disaster recovery")
    actions = dr.add_subparsers(dest="dr_command", metavar="ACTION")
    actions.required = True
    drill = actions.add_parser("drill", help="restore the latest backup to scratch and trade it")
    drill.add_argument("--profile", default=None, help="default: $PERPS_PROFILE or dev")
    drill.add_argument("--data-dir", type=Path, default=None, help="default var/data/perps_bot")
    drill.add_argument("--backup", type=Path, help="this backup (default: the latest)")
    drill.add_argument("--backup-dir", type=Path, help="default $BACKUP_DIR or var/backups")
    drill.add_argument("--take-backup", action="store_true", help="take a backup first")
    drill.add_argument("--cycles", type=int, default=20, help="paper cycles (default 20)")
    drill.add_argument(
        "--allow-running", action="store_true", help="go on while a bot runs (it is not touched)"
    )
    drill.add_argument("--reports-dir", type=Path, default=Path("var/reports"))
    drill.add_argument("--json", action="store_true", help="one JSON document")
    drill.set_defaults(handler=run_drill_cmd)


def run_drill_cmd(args: argparse.Namespace) -> int:
    from ..config import load_settings
    from ..errors import ConfigError
    from ..maintenance.backup import BackupSources, create_backup, default_backup_root
    from ..maintenance.drill import run_drill

    if args.cycles < 1:
        raise ConfigError(f"--cycles: must be at least 1 (got {args.cycles})")
    settings = load_settings(
        args.profile, cli={"data_dir": args.data_dir} if args.data_dir else None
    )
    root = args.backup_dir or default_backup_root()
    if args.take_backup:
        taken = create_backup(BackupSources.from_settings(settings), root)
        print(f"backup {taken.path}: {taken.files} files")
    report = run_drill(
        settings.profile,
        data_dir=Path(settings.data_dir),
        backup_root=root,
        backup=args.backup,
        reports_dir=args.reports_dir,
        cycles=args.cycles,
        allow_running=args.allow_running,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for n, step in enumerate(report.steps, 1):
            print(f"{n}. {step.status.upper():<4} {step.name}: {step.detail}")
        print(
            f"DR drill {report.verdict}"
            + (f"; report {report.report_path}" if report.report_path else "")
        )
    return 0 if report.ok else 1
