"""Bad configuration of every kind ends in valid Settings or one ConfigError line naming the
problem: profile YAML (garbage values, unknown keys, non-mappings, invalid YAML, binary), .env
files and environment values. A few go through the real CLI: exit 2, one stderr line, and the
store already on disk is left exactly as it was."""

from __future__ import annotations

import math
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from prop_support import FAST, LINE_BREAKS, assert_one_line, few, weird_text, wire_numbers

from trading_core.config import Settings, env_names, load_settings
from trading_core.errors import ConfigError
from trading_core.store.event_store import EventStore

#: dotted settings paths, e.g. "risk.max_exposure_pct", and the env var names that set them
ENV_NAMES = env_names()
DOTTED = sorted(ENV_NAMES)
ALL_ENV_VARS = sorted({name for names in ENV_NAMES.values() for name in names})
SECTIONS = ("risk", "strategy", "sim", "coinbase")
#: what a message may start with: a dotted setting, the profile, .env, a CLI flag, or (for an
#: unknown setting) the name as written, quoted when it is not a plain name
NAMED = re.compile(r"^(profile|\.env|--[a-z-]+|[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*|'[^']*'|\"[^\"]*\")")


def check_named(message: str) -> None:
    assert_one_line(message)
    match = NAMED.match(message)
    assert match, f"message does not start with what it is about: {message!r}"
    head = match.group(0)
    known = {"profile", ".env", *SECTIONS, *DOTTED}
    if message.startswith(f"{head}: unknown setting"):
        return
    assert head in known or head.startswith("--"), f"unknown subject {head!r} in {message!r}"


def outcome(**kwargs: Any) -> Settings | ConfigError:
    """load_settings, with any ConfigError returned (any other exception escapes: a failure)."""
    kwargs.setdefault("environ", {})
    kwargs.setdefault("dotenv_path", None)
    try:
        return load_settings("dev", **kwargs)
    except ConfigError as exc:
        check_named(exc.message)
        return exc


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="prop-config-") as name:
        yield Path(name)


# --- strategies --------------------------------------------------------------------------------
yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    wire_numbers,
    weird_text,
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers()), children, max_size=3),
    ),
    max_leaves=6,
)
setting_keys = st.one_of(st.sampled_from(DOTTED), st.text(max_size=12))


@st.composite
def profile_documents(draw: st.DrawFn) -> dict[Any, Any]:
    """A mapping of dotted settings (known and unknown) to arbitrary values, nested by dots."""
    doc: dict[Any, Any] = {}
    for dotted, value in draw(st.dictionaries(setting_keys, yaml_values, max_size=5)).items():
        node = doc
        parts = dotted.split(".") if dotted else [dotted]
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    if draw(st.booleans()):  # non-string keys: YAML allows them, Python keywords do not
        doc[draw(st.one_of(st.integers(), st.booleans(), st.none()))] = draw(yaml_scalars)
    return doc


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, default_flow_style=None)


raw_yaml = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "",
            "~",
            "[1, 2",
            "{a: 1",
            "- just\n- a list\n",
            "42",
            "'a string'",
            "risk: [unclosed",
            "risk:\n  max_exposure_pct: .nan\n",
            "interval_seconds: .inf\n",
            "interval_seconds: -.inf\n",
            "interval_seconds: -5\n",
            "interval_seconds: 1e999\n",
            "symbols: BTC-USD\n",
            "symbols: 'BTC-USD\nETH-USD'\n",
            "symbols: [btc-usd, 'BTC USD', BTC-PERP]\n",
            "symbols: []\n",
            "? [a, b]\n: 1\n",
            "&a [*a]\n",
            "a: &x 1\nb: *y\n",
            "!!python/object:os.system ls\n",
            "risk: !!binary aGVsbG8=\n",
            "\t- tab\n",
            "key: value\n  bad indent: 1\n",
            "1: 2\n",
            "null: 1\n",
            "true: 1\n",
            "strategy: {short_window: 30, long_window: 10}\n",
            "sim: {market_data: /no/such/file.csv}\n",
            "sim: {start_time: 2026-01-01}\n",
            "coinbase: {timeout_seconds: 0}\n",
            "[" * 200 + "]" * 200,
            "a:\n" + "  " * 80 + "b: 1\n",
        ]
    ),
)


# --- function level ----------------------------------------------------------------------------
@FAST
@given(doc=profile_documents())
@example(doc={1: 2})
@example(doc={None: None})
@example(doc={"": None})
@example(doc={"a\nb": 1})
@example(doc={"risk": {1: 2}})
@example(doc={"interval_seconds": float("nan")})
@example(doc={"risk": {"max_quote_age_seconds": float("inf")}})
@example(doc={"symbols": "BTC-USD\nETH-USD"})
@example(doc={"symbols": ["BTC-USD\n"]})
def test_profile_yaml_documents(scratch: Path, doc: dict[Any, Any]) -> None:
    (scratch / "dev.yaml").write_text(dump(doc), encoding="utf-8")
    result = outcome(config_dir=scratch)
    if isinstance(result, Settings):
        assert result.profile == "dev"
        assert result.interval_seconds > 0 and math.isfinite(result.interval_seconds)


@FAST
@given(text=raw_yaml)
def test_profile_yaml_text(scratch: Path, text: str) -> None:
    (scratch / "dev.yaml").write_text(text, encoding="utf-8")
    outcome(config_dir=scratch)


@few(30)
@given(data=st.binary(max_size=80))
@example(data=b"\xff\xfe\x00garbage")
@example(data=b"interval_seconds: \xe9\n")
@example(data=b"\x00\x00\x00")
def test_profile_binary_garbage(scratch: Path, data: bytes) -> None:
    (scratch / "dev.yaml").write_bytes(data)
    outcome(config_dir=scratch)


@FAST
@given(environ=st.dictionaries(st.sampled_from(ALL_ENV_VARS), weird_text | wire_numbers.map(str)))
@example(environ={"TRADING_SYMBOLS": "BTC-USD\nETH-USD"})
@example(environ={"RISK_MAX_QUOTE_AGE_SECONDS": "nan"})
@example(environ={"TRADING_INTERVAL_SECONDS": "-1"})
@example(environ={"PERPS_LOG_LEVEL": "\u2028"})
@example(environ={"SIM_MARKET_DATA": "\x00"})
def test_environment_values(environ: dict[str, str]) -> None:
    outcome(environ=environ)


@few(40)
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(ALL_ENV_VARS) | st.text(max_size=6), weird_text), max_size=5
    ),
    tail=st.sampled_from(["", "\n", "garbage without equals\n", "X='unclosed\n", "export =1\n"]),
)
def test_dotenv_contents(scratch: Path, lines: list[tuple[str, str]], tail: str) -> None:
    path = scratch / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in lines) + tail, encoding="utf-8")
    outcome(dotenv_path=path)


@few(20)
@given(data=st.binary(max_size=60))
@example(data=b"TRADING_INTERVAL=\xff\xfe\n")
def test_dotenv_binary_garbage(scratch: Path, data: bytes) -> None:
    path = scratch / ".env"
    path.write_bytes(data)
    outcome(dotenv_path=path)


@FAST
@given(
    cli=st.dictionaries(
        st.sampled_from(["interval_seconds", "symbols", "log_level", "data_dir"]), weird_text
    ),
    profile=st.one_of(st.sampled_from(["dev", "spot", "canary", "prod"]), weird_text),
)
@example(cli={}, profile="dev\n")
@example(cli={"symbols": ["BTC-USD", "BTC-USD"]}, profile="dev")
def test_cli_overrides_and_profile_names(cli: dict[str, Any], profile: str) -> None:
    try:
        load_settings(profile, cli=cli, environ={}, dotenv_path=None)
    except ConfigError as exc:
        check_named(exc.message)


# --- through the real CLI -----------------------------------------------------------------------
PERPS_BOT = str(Path(sys.executable).parent / "perps-bot")


def seed_store(path: Path) -> None:
    store = EventStore(path)
    try:
        for i in range(5):
            store.append_event("note", ts=datetime(2026, 1, 1, tzinfo=UTC), message=f"kept {i}")
        store.commit()
    finally:
        store.close()


def snapshot(path: Path) -> tuple[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute("select * from events order by id").fetchall()
    finally:
        conn.close()
    return str(check), rows


CLI_CASES: list[tuple[str, dict[str, str]]] = [
    ("interval_seconds: -5\n", {}),
    ("risk: [unclosed\n", {}),
    ("- a\n- list\n", {}),
    ("interval_seconds: .nan\n", {}),
    ("bogus_key: 1\n", {}),
    ("symbols: [BTC-PERP]\n", {}),
    ("", {"RISK_MAX_EXPOSURE_PCT": "1e999"}),
    ("", {"STRATEGY_SHORT_WINDOW": "99", "STRATEGY_LONG_WINDOW": "10"}),
    ("", {"TRADING_SYMBOLS": "not a symbol"}),
]


@pytest.mark.parametrize(("profile_text", "extra_env"), CLI_CASES)
def test_cli_run_bad_config_exits_2_and_keeps_the_store(
    tmp_path: Path, bot_env: dict[str, str], profile_text: str, extra_env: dict[str, str]
) -> None:
    config_dir = tmp_path / "profiles"
    config_dir.mkdir()
    (config_dir / "dev.yaml").write_text(profile_text, encoding="utf-8")
    store_path = tmp_path / "var/data/perps_bot/dev/events.db"
    seed_store(store_path)
    before_bytes = store_path.read_bytes()
    before = snapshot(store_path)
    env = {**bot_env, "PERPS_CONFIG_DIR": str(config_dir), **extra_env}
    result = subprocess.run(
        [PERPS_BOT, "run", "--profile", "dev", "--cycles", "1", "--fast-forward"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("perps-bot: error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert store_path.read_bytes() == before_bytes
    assert snapshot(store_path) == before and before[0] == "ok" and len(before[1]) == 5
    assert not (tmp_path / "var/data/perps_bot/dev/health.json").exists()


def test_cli_line_breaks_in_values_stay_on_one_line(
    tmp_path: Path, bot_env: dict[str, str]
) -> None:
    env = {**bot_env, "TRADING_SYMBOLS": "BTC-USD" + LINE_BREAKS + "x"}
    result = subprocess.run(
        [PERPS_BOT, "run", "--cycles", "1", "--fast-forward"],
        cwd=tmp_path,
        env={k: v for k, v in env.items() if "\x00" not in v},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
