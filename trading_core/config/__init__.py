"""Configuration: profiles, environment and CLI flags, validated once at start."""

from .loader import env_names, load_settings
from .settings import (
    PROFILES,
    TOP_TEN_USD,
    BrokerKind,
    CoinbaseSettings,
    RiskSettings,
    Settings,
    SimSettings,
    StrategySettings,
)

__all__ = [
    "PROFILES",
    "TOP_TEN_USD",
    "BrokerKind",
    "CoinbaseSettings",
    "RiskSettings",
    "Settings",
    "SimSettings",
    "StrategySettings",
    "env_names",
    "load_settings",
]
