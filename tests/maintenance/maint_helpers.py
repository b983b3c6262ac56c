"""Helpers for the maintenance tests: settings in tmp dirs and in-process fast-forward bots."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trading_core.config import Settings, load_settings
from trading_core.runner import Bot, RunOptions


def settings_for(root: Path, **cli: Any) -> Settings:
    """dev settings under ``root`` (1-minute bars so fast-forward cycles trade)."""
    cli.setdefault("strategy", {"bar_seconds": 60})
    cli.setdefault("data_dir", root / "var/data/perps_bot")
    cli.setdefault("log_dir", root / "var/logs")
    return load_settings("dev", cli=cli, environ={}, dotenv_path=None)


def run_bot(settings: Settings, cycles: int) -> Any:
    return Bot(settings, RunOptions(max_cycles=cycles, fast_forward=True)).run()


def sources_for(root: Path, settings: Settings) -> Any:
    from trading_core.maintenance.backup import BackupSources

    return BackupSources(
        data_dir=Path(settings.data_dir),
        log_dir=Path(settings.log_dir),
        config_dir=Path(__file__).resolve().parents[2] / "config" / "profiles",
        env_file=root / ".env",
    )


@pytest.fixture(autouse=True)
def quiet_trading_logs() -> Iterator[None]:
    """Bots run in-process without setup_logging: keep their warnings off stderr. Autouse in
    every test module that imports it (no conftest here: tests/flows imports its own by name)."""
    logger = logging.getLogger("trading_core")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
