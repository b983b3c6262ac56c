"""Helpers for the Coinbase adapter suite (imported by its conftest and tests)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trading_core.config import load_settings
from trading_core.config.settings import Settings
from trading_core.sim.admin_client import admin_request
from trading_core.sim.server import SimServer, SimVenue

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config" / "profiles"
PERPS_BOT = str(Path(sys.executable).parent / "perps-bot")


class Sim:
    """A running simulator and helpers to drive it from a test."""

    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.ctx = server.ctx
        self.venue: SimVenue = server.ctx.venue

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return admin_request(self.base_url, method, path, body)

    def fault(self, **rule: Any) -> None:
        self.admin("POST", "/sim/faults", rule)

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "/sim/state")
        return result

    def env(self, key: tuple[str, str], **extra: str) -> dict[str, str]:
        return {
            "COINBASE_API_KEY": key[0],
            "COINBASE_API_SECRET": key[1],
            "COINBASE_API_BASE": self.base_url,
            "COINBASE_WS_URL": self.ws_url,
            "COINBASE_TIMEOUT_SECONDS": "5",
            "COINBASE_BACKOFF_SECONDS": "0.01",
            **extra,
        }


def settings_for(env: dict[str, str], profile: str = "canary", **cli: Any) -> Settings:
    return load_settings(profile, environ=env, dotenv_path=None, config_dir=CONFIG_DIR, cli=cli)


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy (returns it) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def run_cli(
    tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PERPS_BOT, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )
