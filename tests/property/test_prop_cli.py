"""Random argument lists for every `perps-bot` subcommand: parsing ends in exit 0 (--help), a
parsed namespace, or exit 2 with one stderr line; the cheap commands run in process end in 0, 1
or 2 (2: one error line), never an uncaught exception or a traceback.

Commands that serve, block or reach outside the test's directory (ops, sim serve, dashboard,
preflight, review, dr) are exercised at the parse level only; `run` always gets a one-cycle,
fast-forward bound appended."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from prop_support import FAST, LINE_BREAKS, assert_one_line, few, weird_text

from trading_core.argtypes import one_line
from trading_core.cli.main import build_parser, main

Path_ = tuple[str, ...]


def command_parsers(
    parser: argparse.ArgumentParser, prefix: Path_ = ()
) -> Iterator[tuple[Path_, argparse.ArgumentParser]]:
    """Every (sub)command path and its parser, e.g. ("events", "list")."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_parsers(sub, (*prefix, name))


PARSERS: dict[Path_, argparse.ArgumentParser] = dict(command_parsers(build_parser()))
COMMANDS = sorted(PARSERS)

#: run in process for real (cheap, local to the test's directory); the rest: parse level only
EXECUTED: dict[Path_, list[str]] = {
    ("run",): ["--cycles", "1", "--fast-forward", "--quiet"],
    ("events", "list"): [],
    ("guards", "status"): [],
    ("guards", "set"): [],
    ("orders", "list"): [],
    ("orders", "cancel"): [],
    ("orders", "preview"): [],
    ("account", "snapshot"): [],
    ("backup", "list"): [],
    ("backup", "verify"): [],
    ("backup", "create"): [],
    ("sim", "keygen"): ["--out", "p_key.json"],
}

PATH_OPTIONS = {
    "--data-dir",
    "--log-dir",
    "--market-data",
    "--metrics-file",
    "--to",
    "--out",
    "--key-file",
    "--reports-dir",
    "--backup",
    "--backup-dir",
    "path",
}
NUMBERS = st.one_of(
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.floats().map(repr),
    st.sampled_from(["0", "-1", "1e999", "nan", "inf", "-inf", "0x10", "1_0", "", " 5", "١"]),
)


def values_for(action: argparse.Action, *, executed: bool) -> st.SearchStrategy[str]:
    name = action.option_strings[-1] if action.option_strings else action.dest
    if name in PATH_OPTIONS or action.type is Path:
        # executed commands write where they are told: keep every path inside the test's cwd
        text = st.text(alphabet=st.sampled_from("abc._- é\n\t"), max_size=10)
        return text.map(lambda t: "p_" + t) if executed else text
    if name == "--profile":  # the Coinbase profiles would reach for the network
        return st.sampled_from(["dev", "DEV", "", "nope", "dev\n", "../dev"])
    if action.choices:
        return st.one_of(st.sampled_from(sorted(map(str, action.choices))), weird_text)
    if action.type not in (None, str) and action.type is not str.lower:
        return st.one_of(NUMBERS, weird_text)
    return weird_text


def option_tokens(draw: st.DrawFn, action: argparse.Action, *, executed: bool) -> list[str]:
    tokens = [action.option_strings[-1]] if action.option_strings else []
    if action.nargs != 0:
        count = 1 if action.nargs in (None, "?") else draw(st.integers(0, 2))
        tokens.extend(draw(values_for(action, executed=executed)) for _ in range(count))
    return tokens


@st.composite
def argv_for(draw: st.DrawFn, command: Path_, *, executed: bool = False) -> list[str]:
    """The command, its required arguments (mostly), then a few options, unknown options and
    stray words in any order."""
    parser = PARSERS[command]
    actions = [
        a
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction)
    ]
    argv = list(command)
    for action in actions:
        if (action.required or not action.option_strings) and draw(st.integers(0, 9)) > 0:
            argv.extend(option_tokens(draw, action, executed=executed))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        pick = draw(st.integers(min_value=0, max_value=11))
        if pick == 0:  # an unknown option, or the end of options
            argv.append(draw(st.sampled_from(["--", "-", "--nope", "-x", "--data", "--pro"])))
        elif pick == 1:  # a stray word
            argv.append(draw(weird_text))
        elif actions:
            argv.extend(option_tokens(draw, draw(st.sampled_from(actions)), executed=executed))
    if executed:
        argv.extend(EXECUTED[command])
    return argv


def any_argv() -> st.SearchStrategy[list[str]]:
    return st.sampled_from(COMMANDS).flatmap(lambda c: argv_for(c))


def check_exit(code: int, out: str, err: str) -> None:
    """0, 1 or 2; 2 (bad input) is exactly one stderr line naming the command."""
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        assert_one_line(err.rstrip("\n"))
        assert err.startswith("perps-bot"), err


# --- parse level: every subcommand -------------------------------------------------------------
@few(300)
@given(argv=any_argv())
@example(argv=["--nope\nsecond line"])
@example(argv=["run", "--cycles", "0"])
@example(argv=["run", "--interval", "abc\ndef"])
@example(argv=["run", "--metrics-port", "99999"])
@example(argv=["run", "--metrics-port", "-1"])
@example(argv=["dashboard", "--refresh", "x\u2028y"])
@example(argv=["events", "list", "--pro"])
@example(argv=["run", "x" + LINE_BREAKS])
def test_parse_every_subcommand(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    capsys.readouterr()
    parser = build_parser()
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert code in (0, 2), (code, err)
        if code == 2:
            assert_one_line(err.rstrip("\n"))
            assert err.startswith("perps-bot"), err
        else:
            assert "usage:" in out  # --help


def test_one_line_escapes_every_line_break() -> None:
    text = one_line("a" + LINE_BREAKS + "b")
    assert len(text.splitlines()) == 1 and text.startswith("a\\n") and text.endswith("b")
    assert one_line("plain: 'text' é") == "plain: 'text' é"


# --- in process: the cheap commands run for real ------------------------------------------------
@pytest.fixture
def cli_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """cwd and every store, log and backup directory inside tmp_path; logging and signal
    handlers restored afterwards (`run` installs both)."""
    for name in list(os.environ):
        if name.startswith(("RISK_", "SIM_", "TRADING_", "PERPS_", "COINBASE_", "STRATEGY_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PERPS_DATA_DIR", str(tmp_path / "var/data/perps_bot"))
    monkeypatch.setenv("PERPS_LOG_DIR", str(tmp_path / "var/logs"))
    monkeypatch.setenv("PERPS_METRICS_PORT", "0")
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "var/backups"))
    monkeypatch.setenv("STRATEGY_BAR_SECONDS", "60")
    monkeypatch.setenv("TRADING_SYMBOLS", "BTC-USD,ETH-USD")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield tmp_path
    for sig, handler in saved.items():
        signal.signal(sig, handler)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def call_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@few(80)
@given(argv=st.sampled_from(sorted(EXECUTED)).flatmap(lambda c: argv_for(c, executed=True)))
@example(argv=["run", "--metrics-port", "99999", *EXECUTED[("run",)]])
@example(argv=["run", "--symbols", "BTC-USD\nETH-USD", *EXECUTED[("run",)]])
@example(argv=["run", "--data-dir", "p_\n", *EXECUTED[("run",)]])
@example(argv=["run", "--log-level", "\u2028", *EXECUTED[("run",)]])
@example(argv=["backup", "verify", "p_missing"])
@example(argv=["events", "list", "--data-dir", "p_\nq"])
@example(argv=["backup", "verify", "p_\nx"])
@example(argv=["events", "list", "--since", "1e999d"])
@example(argv=["orders", "list", "--limit", "-1"])
@example(argv=["orders", "preview", "--symbol", "BTC-USD", "--side", "buy", "--quantity", "1e999"])
@example(argv=["guards", "set", "kill_switch", "on", "--reason", "a\nb"])
def test_cheap_commands_in_process(
    cli_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    capsys.readouterr()
    code = call_main(argv)
    out, err = capsys.readouterr()
    check_exit(code, out, err)


RUN_BOUND = EXECUTED[("run",)]


@FAST
@given(
    interval=NUMBERS,
    cycles=NUMBERS,
    port=st.one_of(
        st.sampled_from(["0", "-1", "65536", "99999", "1e3", "abc", " 0"]),
        st.integers(min_value=-(10**6), max_value=10**6).map(str),
    ),
)
def test_run_numeric_options(
    cli_dir: Path, capsys: pytest.CaptureFixture[str], interval: str, cycles: str, port: str
) -> None:
    """--interval, --cycles and --metrics-port with any value: parsed, run for one cycle, or
    refused on one line. (--cycles is checked at parse level; the run is bounded to one.)"""
    capsys.readouterr()
    parser = build_parser()
    try:
        parser.parse_args(["run", "--cycles", cycles])
    except SystemExit as exc:
        assert exc.code == 2
        assert_one_line(capsys.readouterr().err.rstrip("\n"))
    argv = [
        "run",
        "--interval",
        interval,
        "--metrics-port",
        port,
        *RUN_BOUND,
        "--symbols",
        "BTC-USD",
    ]
    code = call_main(argv)
    out, err = capsys.readouterr()
    check_exit(code, out, err)
