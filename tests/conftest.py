"""Shared fixtures: every test gets its own var/ tree; nothing touches the checkout's var/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def bot_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for running perps-bot as a subprocess inside tmp_path."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RISK_", "SIM_", "TRADING_", "PERPS_", "COINBASE_"))
    }
    env.update(
        PERPS_DATA_DIR=str(tmp_path / "var/data/perps_bot"),
        PERPS_LOG_DIR=str(tmp_path / "var/logs"),
        PYTHONUNBUFFERED="1",
        # 1-minute bars: a few hundred fast-forward cycles are enough to see trades
        STRATEGY_BAR_SECONDS="60",
        PERPS_METRICS_PORT="0",  # tests run bots side by side: no fixed port
    )
    yield env
