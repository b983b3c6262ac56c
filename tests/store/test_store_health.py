"""health.json: atomic writes, the fields dashboards read, tolerant reads."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.store import health_age_seconds, read_health, write_health

NOW = datetime(2026, 11, 23, 12, 0, 0, 500000, tzinfo=UTC)


def test_write_health_fields_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "var" / "dev" / "health.json"
    doc = write_health(
        path,
        ok=True,
        now=NOW,
        last_cycle=12,
        message="trading",
        equity=Decimal("10000.10"),
        modes=["normal"],
    )
    on_disk = json.loads(path.read_text())
    assert on_disk == doc == read_health(path)
    assert on_disk["ok"] is True
    assert on_disk["timestamp"] == "2026-11-23T12:00:00.500Z"
    assert on_disk["last_cycle"] == 12
    assert on_disk["last_cycle_at"] == "2026-11-23T12:00:00.500Z"
    assert on_disk["message"] == "trading"
    assert on_disk["pid"] == os.getpid()
    assert on_disk["equity"] == "10000.10"
    assert on_disk["modes"] == ["normal"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["health.json"]  # no temp file left


def test_last_cycle_at_explicit_or_absent(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    earlier = NOW - timedelta(minutes=3)
    write_health(path, ok=False, now=NOW, last_cycle=4, message="x", last_cycle_at=earlier)
    assert read_health(path)["last_cycle_at"] == "2026-11-23T11:57:00.500Z"  # type: ignore[index]
    write_health(path, ok=True, now=NOW, last_cycle=None, message="starting")
    doc = read_health(path)
    assert doc is not None and doc["last_cycle"] is None and doc["last_cycle_at"] is None


def test_health_is_redacted_and_core_fields_protected(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    write_health(
        path,
        ok=False,
        now=NOW,
        last_cycle=1,
        message="auth failed: api_secret=abcdef123",
        detail={"webhook_url": "https://hooks.slack.com/services/T0/B0/XYZXYZXYZXYZ"},
    )
    text = path.read_text()
    assert "abcdef123" not in text and "XYZXYZ" not in text
    assert "[REDACTED]" in text
    with pytest.raises(ValueError, match="pid"):
        write_health(path, ok=True, now=NOW, last_cycle=1, message="x", pid=1)


def test_read_health_missing_or_bad(tmp_path: Path) -> None:
    assert read_health(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert read_health(bad) is None
    bad.write_text("[1, 2]")
    assert read_health(bad) is None


def test_health_age_seconds() -> None:
    doc = {"timestamp": "2026-11-23T12:00:00.500Z"}
    assert health_age_seconds(doc, NOW + timedelta(seconds=90)) == 90.0
    assert health_age_seconds(None, NOW) is None
    assert health_age_seconds({}, NOW) is None
    assert health_age_seconds({"timestamp": "yesterday"}, NOW) is None


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    write_health(path, ok=True, now=NOW, last_cycle=0, message="start")
    stop = threading.Event()
    padding = "x" * 20000  # big enough that a non-atomic write would be seen half-done

    def writer() -> None:
        cycle = 0
        while not stop.is_set():
            cycle += 1
            write_health(path, ok=True, now=NOW, last_cycle=cycle, message="t", padding=padding)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        reads = 0
        for _ in range(300):
            doc = read_health(path)
            assert doc is not None and isinstance(doc["last_cycle"], int)
            reads += 1
    finally:
        stop.set()
        thread.join()
    assert reads == 300
    assert read_health(path)["last_cycle"] > 0  # type: ignore[index]
