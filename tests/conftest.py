"""Shared fixtures: every test gets its own var/ tree; nothing touches the checkout's var/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from trading_core.strategy import Action, Signal

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


class BuyWhenFlat:
    """A strategy that wants to buy every symbol it holds none of, every cycle: for tests that
    need orders to be attempted (and then refused, capped or filled)."""

    name = "buy_when_flat"

    def on_price(self, symbol: str, price: Decimal, now: datetime) -> None:
        return None

    def decide(self, symbol: str, position_qty: Decimal, mark: Decimal) -> Signal:
        action = Action.BUY if position_qty == 0 else Action.HOLD
        return Signal(symbol, action, "test", mark)

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None


@pytest.fixture
def buy_when_flat() -> BuyWhenFlat:
    return BuyWhenFlat()
