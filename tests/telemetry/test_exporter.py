"""The metrics snapshot file and the standalone exporter (scripts/monitoring/export_metrics.py):
fresh snapshots are served as they are, stale or missing ones are reported as such and their
numbers withheld, and the output passes `promtool check metrics`."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from trading_core.cycle import CycleReport
from trading_core.telemetry.exporter import SnapshotExporter, make_server
from trading_core.telemetry.metrics import BotMetrics
from trading_core.telemetry.snapshot import (
    SnapshotError,
    format_snapshot,
    parse_snapshot,
    read_snapshot,
)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts/monitoring/export_metrics.py"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WRITTEN = 1_800_000_000.0


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: `apt-get install -y prometheus` provides it "
            "(.ci/run installs it before the suite)"
        )
    return path


def sample_report() -> CycleReport:
    return CycleReport(
        cycle=42,
        started_at=NOW,
        duration_s=0.001,
        symbols=1,
        quotes_ok=1,
        signals={},
        holds=1,
        submitted=0,
        blocked=0,
        rejected=0,
        dry_run=0,
        fills=0,
        equity=Decimal("100123.45"),
        day_start_equity=Decimal("100000"),
        daily_pnl=Decimal("123.45"),
        daily_pnl_pct=Decimal("0.0012345"),
        realized_pnl=Decimal(0),
        unrealized_pnl=Decimal(0),
        fees=Decimal(0),
        open_positions=0,
        exposure=Decimal(0),
        modes="normal",
        operations=3,
        failures=0,
        stale_symbols=[],
        errors=[],
        quote_ages={"BTC-USD": 0.2},
    )


@pytest.fixture
def snapshot_path(tmp_path: Path) -> Path:
    metrics = BotMetrics(profile="canary", broker="paper")
    metrics.observe_cycle(sample_report(), now=NOW)
    path = tmp_path / "metrics.prom"
    metrics.write_snapshot(path, written_at=WRITTEN)
    return path


def values(body: bytes) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if not sample.labels:
                found[sample.name] = sample.value
    return found


# ---------------------------------------------------------------- the snapshot file


def test_snapshot_round_trip_and_bad_files(tmp_path: Path) -> None:
    text = format_snapshot(b"# HELP a_b x\n# TYPE a_b gauge\na_b 1.0\n", 12.5, 3)
    snap = parse_snapshot(text)
    assert (snap.written_at, snap.cycle, snap.body.splitlines()[-1]) == (12.5, 3, "a_b 1.0")
    assert parse_snapshot(format_snapshot("", 1.0, None)).cycle is None
    with pytest.raises(SnapshotError, match="no header"):
        parse_snapshot("a_b 1.0\n")
    with pytest.raises(SnapshotError, match="no metrics snapshot"):
        read_snapshot(tmp_path / "missing.prom")
    garbage = tmp_path / "garbage.prom"
    garbage.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SnapshotError, match="UTF-8"):
        read_snapshot(garbage)
    with pytest.raises(ValueError):
        format_snapshot("", float("nan"), 1)


# ---------------------------------------------------------------- freshness


def test_a_fresh_snapshot_is_served_with_up_1(snapshot_path: Path) -> None:
    exporter = SnapshotExporter(snapshot_path, stale_after_s=60, clock=lambda: WRITTEN + 59)
    found = values(exporter.exposition())
    assert found["perps_bot_snapshot_up"] == 1
    assert found["perps_bot_snapshot_timestamp_seconds"] == WRITTEN
    assert found["perps_bot_snapshot_age_seconds"] == 59
    assert found["perps_bot_snapshot_stale_after_seconds"] == 60
    assert found["perps_bot_equity_usd"] == 100123.45
    assert found["perps_bot_last_cycle_number"] == 42


def test_a_stale_snapshot_is_reported_and_its_numbers_withheld(
    snapshot_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [WRITTEN + 61.0]
    exporter = SnapshotExporter(snapshot_path, stale_after_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="trading_core.telemetry.exporter"):
        first = exporter.exposition()
        now[0] += 5
        exporter.exposition()  # still stale: logged once, not on every scrape
    found = values(first)
    assert found["perps_bot_snapshot_up"] == 0
    assert found["perps_bot_snapshot_age_seconds"] == 61
    assert found["perps_bot_snapshot_timestamp_seconds"] == WRITTEN
    assert not any(name.startswith("perps_bot_equity") for name in found)
    assert b"perps_bot_last_cycle" not in first and b"process_" not in first
    stale_lines = [r for r in caplog.records if "stale after" in r.getMessage()]
    assert len(stale_lines) == 1


def test_a_snapshot_from_the_future_beyond_the_limit_is_stale_too(snapshot_path: Path) -> None:
    exporter = SnapshotExporter(snapshot_path, stale_after_s=60, clock=lambda: WRITTEN - 3600)
    assert values(exporter.exposition())["perps_bot_snapshot_up"] == 0


def test_missing_or_foreign_files_say_up_0(tmp_path: Path) -> None:
    missing = SnapshotExporter(tmp_path / "none.prom", clock=lambda: WRITTEN)
    found = values(missing.exposition())
    assert found == {"perps_bot_snapshot_up": 0, "perps_bot_snapshot_stale_after_seconds": 60}
    foreign = tmp_path / "foreign.prom"
    foreign.write_text("some_metric 1\n")
    found = values(SnapshotExporter(foreign, clock=lambda: WRITTEN).exposition())
    assert found["perps_bot_snapshot_up"] == 0 and "some_metric" not in found
    with pytest.raises(ValueError):
        SnapshotExporter(foreign, stale_after_s=0)


# ---------------------------------------------------------------- HTTP


@pytest.fixture
def served(snapshot_path: Path) -> Iterator[tuple[str, list[float]]]:
    now = [WRITTEN + 1]
    exporter = SnapshotExporter(snapshot_path, stale_after_s=60, clock=lambda: now[0])
    server = make_server(exporter, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", now
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_http_metrics_index_head_and_404(served: tuple[str, list[float]]) -> None:
    base, _ = served
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert values(response.read())["perps_bot_snapshot_up"] == 1
    head = urllib.request.Request(f"{base}/metrics", method="HEAD")
    with urllib.request.urlopen(head, timeout=10) as response:
        assert response.status == 200 and response.read() == b""
    with urllib.request.urlopen(f"{base}/", timeout=10) as response:
        assert b"/metrics" in response.read()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/nope", timeout=10)
    assert err.value.code == 404


def test_exporter_output_passes_promtool_check_metrics_fresh_and_stale(
    served: tuple[str, list[float]],
) -> None:
    tool = promtool()
    base, now = served
    for up, moment in ((1, WRITTEN + 1), (0, WRITTEN + 600)):
        now[0] = moment
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            body = response.read()
        assert values(body)["perps_bot_snapshot_up"] == up
        check = subprocess.run(
            [tool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
        )
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


# ---------------------------------------------------------------- the script


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "--metrics-file"),
        (("--metrics-file", "x", "--stale-after", "0"), "--stale-after"),
        (("--metrics-file", "x", "--port", "99999"), "--port"),
    ],
)
def test_script_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], needle: str) -> None:
    result = run_script(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr


def test_script_on_a_taken_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_script("--metrics-file", str(tmp_path / "m.prom"), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"export_metrics.py: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
