"""Build Settings once at start from layered sources, and turn any problem into one ConfigError.

Precedence, lowest to highest: model defaults < config/profiles/<profile>.yaml < .env file <
process environment < CLI flags. Environment names are explicit (see ``env_names``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .settings import (
    PROFILES,
    CoinbaseSettings,
    RiskSettings,
    Settings,
    SimSettings,
    StrategySettings,
)

#: Top-level fields and the environment variables that set them.
TOP_LEVEL_ENV: dict[str, tuple[str, ...]] = {
    "symbols": ("TRADING_SYMBOLS",),
    "interval_seconds": ("TRADING_INTERVAL_SECONDS", "TRADING_INTERVAL"),
    "broker": ("PERPS_BROKER",),
    "dry_run": ("PERPS_DRY_RUN",),
    "pnl_log_every": ("PERPS_PNL_LOG_EVERY",),
    "data_dir": ("PERPS_DATA_DIR",),
    "log_dir": ("PERPS_LOG_DIR",),
    "log_level": ("PERPS_LOG_LEVEL",),
}

#: Sections and their environment prefixes: RISK_KILL_SWITCH_ENABLED -> risk.kill_switch_enabled.
SECTION_PREFIX: dict[str, tuple[str, type[BaseModel]]] = {
    "risk": ("RISK_", RiskSettings),
    "strategy": ("STRATEGY_", StrategySettings),
    "sim": ("SIM_", SimSettings),
    "coinbase": ("COINBASE_", CoinbaseSettings),
}

PROFILE_ENV = "PERPS_PROFILE"
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def default_config_dir() -> Path:
    """config/profiles of the checkout (or $PERPS_CONFIG_DIR, or ./config/profiles)."""
    explicit = os.environ.get("PERPS_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    beside_package = Path(__file__).resolve().parents[2] / "config" / "profiles"
    if beside_package.is_dir():
        return beside_package
    return Path("config/profiles")


def env_names() -> dict[str, tuple[str, ...]]:
    """Every dotted settings path and the environment variables that set it."""
    names = {key: value for key, value in TOP_LEVEL_ENV.items()}
    for section, (prefix, model) in SECTION_PREFIX.items():
        for field in model.model_fields:
            names[f"{section}.{field}"] = (prefix + field.upper(),)
    return names


def read_profile_file(profile: str, config_dir: Path) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ConfigError(
            f"profile: unknown profile {profile!r} (choose from: {', '.join(PROFILES)})"
        )
    path = config_dir / f"{profile}.yaml"
    if not path.is_file():
        raise ConfigError(f"profile: no profile file {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"profile: {path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"profile: {path}{where} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"profile: {path} must hold a mapping of settings")
    bad_key = _non_text_key(data)
    if bad_key is not _NONE:
        raise ConfigError(f"profile: {path}: setting names must be text (got {bad_key!r})")
    data.pop("profile", None)
    return data


_NONE = object()


def _non_text_key(data: Mapping[Any, Any]) -> object:
    """The first key (at any depth) that is not a string, e.g. YAML's ``1: 2``; _NONE if none."""
    for key, value in data.items():
        if not isinstance(key, str):
            return key
        if isinstance(value, Mapping):
            nested = _non_text_key(value)
            if nested is not _NONE:
                return nested
    return _NONE


def read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # python-dotenv ships with pydantic-settings

    try:
        values = dotenv_values(path, encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f".env: {path} is not UTF-8 text") from None
    return {k: v for k, v in values.items() if v is not None}


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def load_settings(
    profile: str | None = None,
    *,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = Path(".env"),
    config_dir: Path | None = None,
    cli_flags: Mapping[str, str] | None = None,
) -> Settings:
    """Validate the layered configuration once; raise ConfigError with one line naming the field
    and where its value came from."""
    env = dict(os.environ if environ is None else environ)
    dotenv = read_dotenv(dotenv_path) if dotenv_path is not None else {}
    layered_env = {**dotenv, **{k: v for k, v in env.items()}}
    chosen = profile or layered_env.get(PROFILE_ENV) or "dev"
    config_dir = config_dir or default_config_dir()

    sources: dict[str, str] = {}
    data = read_profile_file(chosen, config_dir)
    for dotted in _flatten(data):
        sources[dotted] = f"{config_dir / (chosen + '.yaml')}"

    env_layer: dict[str, Any] = {}
    for dotted, names in env_names().items():
        for name in names:
            raw = layered_env.get(name)
            if raw is not None and raw.strip() != "":
                _set_dotted(env_layer, dotted, raw.strip())
                sources[dotted] = f"${name}" if name in env else f".env {name}"
                break
    data = _merge(data, env_layer)

    cli_layer = dict(cli or {})
    for dotted in _flatten(cli_layer):
        sources[dotted] = (cli_flags or {}).get(dotted, "command line")
    data = _merge(data, cli_layer)
    data["profile"] = chosen

    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, sources)) from None


def describe_validation_error(exc: ValidationError, sources: Mapping[str, str]) -> str:
    """One line: the first problem, the field's dotted name, the value and where it came from."""
    error = exc.errors()[0]
    loc = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    origin = sources.get(loc)
    shown = ""
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
        if not _DOTTED_NAME.fullmatch(loc):  # "", "a b", "x\ny": shown quoted, on one line
            loc = repr(loc)
    elif not isinstance(value, (dict, list, tuple)) and value is not None and "secret" not in loc:
        shown = f" (got {value!r})"
    where = f" [from {origin}]" if origin else ""
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    if not loc:  # a model-level rule: its message starts with the field it is about
        return f"{message}{more}"
    return f"{loc}: {message}{shown}{where}{more}"
