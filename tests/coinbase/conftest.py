"""Fixtures for the Coinbase adapter suite: throwaway keys (one EC, one Ed25519) per session, a
fresh simulator on a free loopback port per test, settings and brokers pointed at it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cb_helpers import CONFIG_DIR, Sim, settings_for

from trading_core.brokers.coinbase.broker import CoinbaseBroker, open_coinbase_broker
from trading_core.brokers.coinbase.keys import generate_key
from trading_core.sim.server import SimContext, SimServer, SimVenue


@pytest.fixture(scope="session")
def ec_key() -> tuple[str, str]:
    return generate_key("ec", "organizations/test-org/apiKeys/ec-key")


@pytest.fixture(scope="session")
def ed_key() -> tuple[str, str]:
    return generate_key("ed25519", "ed25519-test-key")


@pytest.fixture
def make_sim(ec_key: tuple[str, str], ed_key: tuple[str, str]) -> Iterator[Callable[..., Sim]]:
    servers: list[SimServer] = []

    def make(*, rate_limit: int = 30, tick_s: float = 0.05, **venue_args: Any) -> Sim:
        from trading_core.sim.server.limits import SlidingWindowLimiter

        venue = SimVenue.create(seed=venue_args.pop("seed", 7), **venue_args)
        ctx = SimContext(venue, private_limiter=SlidingWindowLimiter(rate_limit), tick_s=tick_s)
        ctx.heartbeat_s = 0.5
        for name, secret in (ec_key, ed_key):
            ctx.keys.add_secret(name, secret)
        server = SimServer(ctx).start()
        servers.append(server)
        return Sim(server)

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim()


@pytest.fixture
def make_broker(sim: Sim, ec_key: tuple[str, str]) -> Iterator[Callable[..., CoinbaseBroker]]:
    brokers: list[CoinbaseBroker] = []

    def make(
        *,
        key: tuple[str, str] | None = None,
        streaming: bool = False,
        target: Sim | None = None,
        **env: str,
    ) -> CoinbaseBroker:
        venue = target or sim
        settings = settings_for(venue.env(key or ec_key, **env))
        broker = open_coinbase_broker(settings, streaming=streaming)
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.close()


@pytest.fixture
def broker(make_broker: Callable[..., CoinbaseBroker]) -> CoinbaseBroker:
    return make_broker()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for perps-bot subprocesses inside tmp_path (no inherited trading settings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RISK_", "SIM_", "TRADING_", "PERPS_", "COINBASE_", "STRATEGY_"))
    }
    env.update(
        PERPS_DATA_DIR=str(tmp_path / "var/data/perps_bot"),
        PERPS_LOG_DIR=str(tmp_path / "var/logs"),
        PERPS_CONFIG_DIR=str(CONFIG_DIR),
        PYTHONUNBUFFERED="1",
    )
    return env
