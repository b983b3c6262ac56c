"""Configuration: profiles, layering, and one-line errors naming the field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.config import PROFILES, TOP_TEN_USD, BrokerKind, env_names, load_settings
from trading_core.errors import ConfigError

NO_ENV: dict[str, str] = {}


def load(profile: str | None = "dev", **kwargs: object):  # type: ignore[no-untyped-def]
    kwargs.setdefault("environ", NO_ENV)
    kwargs.setdefault("dotenv_path", None)
    return load_settings(profile, **kwargs)  # type: ignore[arg-type]


def test_dev_defaults() -> None:
    s = load()
    assert s.profile == "dev" and s.broker is BrokerKind.PAPER
    assert s.symbols == TOP_TEN_USD
    assert s.interval_seconds == 5
    assert (s.strategy.short_window, s.strategy.long_window) == (5, 20)
    assert s.strategy.trailing_stop_pct == Decimal("0.01")
    assert s.store_path == Path("var/data/perps_bot/dev/events.db")
    assert s.health_path.name == "health.json"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_file_validates(profile: str) -> None:
    s = load(profile)
    assert s.profile == profile
    assert all(not sym.endswith("PERP") for sym in s.symbols)


def test_precedence_cli_over_env_over_dotenv_over_yaml(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("TRADING_INTERVAL=7\nRISK_MAX_SYMBOL_NOTIONAL=111\nSIM_SEED=5\n")
    s = load(dotenv_path=dotenv)
    assert (
        s.interval_seconds == 7 and s.risk.max_symbol_notional == Decimal(111) and s.sim.seed == 5
    )
    s = load(dotenv_path=dotenv, environ={"TRADING_INTERVAL": "9", "RISK_KILL_SWITCH_ENABLED": "1"})
    assert s.interval_seconds == 9 and s.risk.kill_switch_enabled is True
    s = load(dotenv_path=dotenv, environ={"TRADING_INTERVAL": "9"}, cli={"interval_seconds": 3})
    assert s.interval_seconds == 3


def test_env_names_cover_the_runbook_variables() -> None:
    names = {name for group in env_names().values() for name in group}
    for name in (
        "RISK_KILL_SWITCH_ENABLED",
        "RISK_REDUCE_ONLY_MODE",
        "COINBASE_ENABLE_DERIVATIVES",
        "COINBASE_API_KEY",
        "TRADING_SYMBOLS",
        "SIM_SCENARIO",
    ):
        assert name in names


def test_symbols_from_env_and_profile_from_env() -> None:
    s = load(None, environ={"TRADING_SYMBOLS": "btc-usd, eth-usd", "PERPS_PROFILE": "canary"})
    assert s.symbols == ("BTC-USD", "ETH-USD") and s.profile == "canary"


def test_empty_env_value_is_unset() -> None:
    assert load(environ={"RISK_KILL_SWITCH_ENABLED": ""}).risk.kill_switch_enabled is False


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"profile": "nope"}, "profile: unknown profile 'nope'"),
        ({"cli": {"interval_seconds": -1}}, "interval_seconds: Input should be greater than 0"),
        ({"cli": {"symbols": ["BTC-PERP"]}}, "symbols: BTC-PERP is a perpetual and derivatives"),
        ({"cli": {"symbols": ["BTCUSD"]}}, "symbols: malformed symbol 'BTCUSD'"),
        ({"environ": {"RISK_MAX_SYMBOL_NOTIONAL": "-5"}}, "risk.max_symbol_notional"),
        ({"environ": {"STRATEGY_POSITION_FRACTION": "abc"}}, "strategy.position_fraction"),
        ({"environ": {"SIM_SCENARIO": "moon"}}, "sim.scenario: unknown scenario 'moon'"),
        ({"cli": {"strategy": {"short_window": 20}}}, "strategy: short_window (20) must be less"),
        ({"cli": {"bogus": 1}}, "bogus: unknown setting"),
        ({"cli": {"sim": {"market_data": "/no/such.csv"}}}, "sim.market_data: Value error"),
    ],
)
def test_bad_values_give_one_line_naming_the_field(
    kwargs: dict[str, object], expected: str
) -> None:
    profile = kwargs.pop("profile", "dev")
    with pytest.raises(ConfigError) as info:
        load(profile, **kwargs)  # type: ignore[arg-type]
    message = info.value.message
    assert "\n" not in message
    assert message.startswith(expected.split(": Value error")[0])


def test_error_says_where_the_value_came_from() -> None:
    with pytest.raises(ConfigError, match=r"\[from \$TRADING_INTERVAL\]"):
        load(environ={"TRADING_INTERVAL": "0"})
    with pytest.raises(ConfigError, match=r"\[from --interval\]"):
        load(cli={"interval_seconds": -1}, cli_flags={"interval_seconds": "--interval"})


def test_derivatives_switch_allows_perps() -> None:
    s = load(environ={"COINBASE_ENABLE_DERIVATIVES": "1"}, cli={"symbols": ["BTC-PERP"]})
    assert s.symbols == ("BTC-PERP",)


def test_secrets_never_shown() -> None:
    secret = "-----BEGIN EC PRIVATE KEY-----abc"
    s = load(environ={"COINBASE_API_SECRET": secret})
    assert secret not in repr(s) and secret not in str(s.public_view())
    with pytest.raises(ConfigError) as info:
        load(environ={"COINBASE_API_SECRET": secret, "COINBASE_TIMEOUT_SECONDS": "-1"})
    assert secret not in info.value.message


def test_malformed_yaml_profile(tmp_path: Path) -> None:
    (tmp_path / "dev.yaml").write_text("risk: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(config_dir=tmp_path)
