"""`perps-bot events list` through the parser it registers and run_events, on a real store."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from trading_core.cli.events_cmd import add_events_parser, run_events
from trading_core.errors import ConfigError
from trading_core.store import EventStore, parse_since

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perps-bot")
    add_events_parser(parser.add_subparsers(dest="command"))
    return parser


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "var" / "data" / "perps_bot"
    with EventStore(root / "dev" / "events.db") as store:
        store.append_event("lifecycle", ts=NOW - timedelta(hours=5), message="bot start")
        store.append_event("decision", ts=NOW - timedelta(hours=3), symbol="BTC-USD", message="buy")
        store.append_event(
            "order_filled",
            ts=NOW - timedelta(minutes=50),
            symbol="BTC-USD",
            cycle=9,
            message="order BTC-USD BUY 0.01 filled at 95000.12",
            payload={"price": "95000.12"},
        )
        store.append_event(
            "error", ts=NOW - timedelta(minutes=10), severity="error", message="timeout\nretrying"
        )
        store.append_event("pnl", ts=NOW - timedelta(minutes=1), message="PnL day +12.50")
    return root


def run(data_dir: Path, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["events", "list", "--data-dir", str(data_dir), *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_events(args, now=NOW, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_table_lists_newest_events_oldest_first(data_dir: Path) -> None:
    code, out, _ = run(data_dir)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TS", "TYPE", "SEVERITY", "SYMBOL", "MESSAGE"]
    assert [line.split()[1] for line in lines[1:]] == [
        "lifecycle",
        "decision",
        "order_filled",
        "error",
        "pnl",
    ]
    filled = lines[3]
    assert filled.startswith("2026-11-23T11:10:00.000Z")
    assert "BTC-USD" in filled and "order BTC-USD BUY 0.01 filled at 95000.12" in filled
    assert "timeout retrying" in lines[4]  # one line per event

    code, out, _ = run(data_dir, "--limit", "2")
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["error", "pnl"]


def test_json_lines_type_filter_and_symbol(data_dir: Path) -> None:
    code, out, _ = run(data_dir, "--json", "--type", "order_filled", "error")
    assert code == 0
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["type"] for d in docs] == ["order_filled", "error"]
    assert docs[0]["payload"] == {"price": "95000.12"}
    assert docs[0]["cycle"] == 9 and docs[0]["symbol"] == "BTC-USD"
    assert docs[0]["ts"] == "2026-11-23T11:10:00.000000Z"

    _, out, _ = run(data_dir, "--json", "--type", "pnl,decision")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["decision", "pnl"]
    _, out, _ = run(data_dir, "--json", "--type", "pnl", "--type", "lifecycle")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["lifecycle", "pnl"]
    _, out, _ = run(data_dir, "--json", "--symbol", "btc-usd")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["decision", "order_filled"]
    _, out, _ = run(data_dir, "--json", "--severity", "error")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["error"]


def test_since_relative_and_iso_and_until(data_dir: Path) -> None:
    _, out, _ = run(data_dir, "--json", "--since", "1h")
    assert [json.loads(line)["type"] for line in out.splitlines()] == [
        "order_filled",
        "error",
        "pnl",
    ]
    _, out, _ = run(data_dir, "--json", "--since", "30m")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["error", "pnl"]
    _, out, _ = run(data_dir, "--json", "--since", "2026-11-23T08:00:00Z", "--until", "20m")
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["decision", "order_filled"]
    code, out, _ = run(data_dir, "--since", "2d", "--type", "guard")
    assert code == 0 and out == "(no events)\n"


def test_bad_since_raises_config_error(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        run(data_dir, "--since", "xx")
    assert info.value.message == "--since: cannot parse 'xx' (use ISO time or 15m/2h/3d)"
    with pytest.raises(ConfigError, match="--until: cannot parse"):
        run(data_dir, "--until", "soon")
    with pytest.raises(ConfigError, match="--limit"):
        run(data_dir, "--limit", "0")
    with pytest.raises(ConfigError, match="--severity"):
        run(data_dir, "--severity", "loud")


def test_missing_store_is_one_line_exit_2_and_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    code, out, err = run(root, "--profile", "canary")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "no event store at" in err and str(root / "canary" / "events.db") in err
    assert not root.exists()


def test_reading_does_not_modify_the_store(data_dir: Path) -> None:
    db = data_dir / "dev" / "events.db"
    before = db.read_bytes()
    assert run(data_dir)[0] == 0
    assert db.read_bytes() == before


def test_profile_and_data_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PERPS_PROFILE", raising=False)
    monkeypatch.delenv("PERPS_DATA_DIR", raising=False)
    with EventStore(Path("var/data/perps_bot/dev/events.db")) as store:
        store.append_event("lifecycle", ts=NOW, message="default location")
    args = build_parser().parse_args(["events", "list", "--json"])
    out = io.StringIO()
    assert run_events(args, now=NOW, stdout=out) == 0
    assert json.loads(out.getvalue())["message"] == "default location"
    monkeypatch.setenv("PERPS_PROFILE", "spot")
    err = io.StringIO()
    assert run_events(args, now=NOW, stdout=io.StringIO(), stderr=err) == 2
    assert "spot" in err.getvalue()


def test_parse_since() -> None:
    assert parse_since("15m", NOW) == NOW - timedelta(minutes=15)
    assert parse_since("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_since("3d", NOW) == NOW - timedelta(days=3)
    assert parse_since("90s", NOW) == NOW - timedelta(seconds=90)
    assert parse_since("2026-11-20T10:00:00Z", NOW) == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_since("2026-11-20T12:00:00+02:00", NOW) == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert parse_since("2026-11-20", NOW) == datetime(2026, 11, 20, tzinfo=UTC)
    for bad in ("", "xx", "-5m", "5 parsecs", "2026-13-01"):
        with pytest.raises(ConfigError):
            parse_since(bad, NOW)
