"""A log file that cannot be written (ENOSPC from /dev/full): lines are dropped and counted, one
notice per outage, no exception or traceback reaches the caller, and the file resumes (with a
line saying how many were lost) when writes succeed again."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trading_core.telemetry.logging_setup import file_handler, setup_logging, teardown_logging


@pytest.fixture
def log_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "logs" / "perps_bot.log"
    setup_logging(path, console=False)
    yield path
    teardown_logging()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_disk_full_drops_lines_quietly_and_recovers(
    log_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = file_handler()
    assert handler is not None
    notices = io.StringIO()
    handler.notice_stream = notices
    log = logging.getLogger("trading_core.test_disk_full")
    log.info("before")

    def full_disk() -> Any:
        return open("/dev/full", "a", encoding="utf-8")

    handler._open = full_disk  # type: ignore[method-assign]
    handler.reopen()
    for n in range(4):
        log.error("lost %d", n)  # never raises
    assert handler.dropped == 4 and handler.outages == 1
    assert notices.getvalue().count("\n") == 1 and "No space left" in notices.getvalue()

    del handler._open
    handler.reopen()
    log.info("after")
    text = log_path.read_text()
    assert "before" in text and "after" in text and "lost" not in text
    assert "writable again: 4 line(s) were dropped" in text
    assert handler.dropped == 0 and handler.dropped_total == 4
    assert "writing" in notices.getvalue().splitlines()[1]
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Logging error" not in captured.err
