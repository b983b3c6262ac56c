"""Log lines in var/logs/perps_bot.log: the runbook's greps work, secrets never land, rotation."""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.errors import ConfigError
from trading_core.telemetry.logging_setup import (
    get_logger,
    log_event,
    setup_logging,
    teardown_logging,
)
from trading_core.telemetry.redaction import clear_registered_secrets, register_secret

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+: "
)


@pytest.fixture
def log_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "var" / "logs" / "perps_bot.log"
    setup_logging(path, level="DEBUG", console=False)
    yield path
    teardown_logging()
    clear_registered_secrets()


def grep(path: Path, *pattern: str) -> list[str]:
    """The runbook's own command: real grep on the real file."""
    result = subprocess.run(["grep", *pattern, str(path)], capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.splitlines()


def test_line_format_and_runbook_greps(log_path: Path) -> None:
    log = get_logger("trading_core.cycle")
    log_event(
        log,
        "INFO",
        "order BTC-USD BUY 0.01 filled at 95000.12",
        fee=Decimal("11.40"),
        client_id="gpt-abc-1",
        note="two words",
    )
    log.info("PnL day +12.50 (0.12%%) equity=%s", Decimal("10012.50"))
    log.warning("guard market_data_staleness tripped", extra={"fields": {"symbol": "ETH-USD"}})
    log.error("cycle failed: %s", "timeout")
    log.critical("kill switch engaged")
    log.debug("quiet detail")
    logging.getLogger("trading_core.cycle").info("order ETH-USD SELL 0.5 submitted")

    lines = log_path.read_text().splitlines()
    assert len(lines) == 7
    assert all(LINE.match(line) for line in lines), lines
    assert lines[0].endswith(
        "INFO    trading_core.cycle: order BTC-USD BUY 0.01 filled at 95000.12 "
        'fee=11.40 client_id=gpt-abc-1 note="two words"'
    )
    assert lines[1].endswith("PnL day +12.50 (0.12%) equity=10012.50")
    assert lines[2].endswith("tripped symbol=ETH-USD")

    assert grep(log_path, "order.*filled") == [lines[0]]
    assert grep(log_path, "PnL") == [lines[1]]
    assert grep(log_path, "ERROR") == [lines[3]]
    assert grep(log_path, "-E", "ERROR|CRITICAL") == [lines[3], lines[4]]


def test_tracebacks_are_logged_and_error_lines_stay_greppable(log_path: Path) -> None:
    log = get_logger("trading_core.runner")
    try:
        raise RuntimeError("exchange said no")
    except RuntimeError:
        log.exception("cycle failed")
    log.error("two\nlines")
    text = log_path.read_text()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: exchange said no" in text
    errors = grep(log_path, "ERROR")
    assert len(errors) == 2
    assert errors[1].endswith("trading_core.runner: two\\nlines")


def test_a_logged_secret_never_reaches_the_file(log_path: Path) -> None:
    secret = "Sup3r-Secret-Value-987"
    register_secret(secret)
    log = get_logger("trading_core.brokers")
    log.info("creds %s loaded", secret)
    log.info(f"inline {secret}")
    log.warning("fields", extra={"fields": {"detail": f"x {secret}", "api_secret": "plain-xyz"}})
    log_event(log, "ERROR", "kv", token="tok-555", url="https://u:pw@host/p?signature=sig-777")
    log.info("pem -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY----- done")
    try:
        raise ValueError(f"bad secret {secret} api_key=k-123")
    except ValueError:
        log.exception("failed with %r", {"password": "pw-000"})
    text = log_path.read_text()
    for leaked in (secret, "plain-xyz", "tok-555", "pw@", "sig-777", "MIIEvQ", "k-123", "pw-000"):
        assert leaked not in text, leaked
    assert text.count("[REDACTED]") >= 9


def test_setup_is_idempotent(tmp_path: Path, log_path: Path) -> None:
    setup_logging(log_path, level="INFO", console=False)
    setup_logging(log_path, level="INFO", console=False)
    get_logger("t").info("once")
    assert log_path.read_text().count("once") == 1
    other = tmp_path / "elsewhere" / "bot.log"
    setup_logging(other, console=False)  # moves the file handler
    get_logger("t").info("moved")
    assert "moved" in other.read_text() and "moved" not in log_path.read_text()


def test_console_is_concise(log_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(log_path, console=True, console_level="WARNING")
    log = get_logger("trading_core.cycle")
    log.info("not on console")
    log_event(log, "WARNING", "guard tripped", symbol="BTC-USD")
    err = capsys.readouterr().err
    assert "not on console" not in err
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING guard tripped symbol=BTC-USD\n", err), err
    assert "not on console" in log_path.read_text()


def test_rotation_creates_numbered_backups(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "perps_bot.log"
    setup_logging(path, console=False, max_bytes=2000, backups=2)
    try:
        log = get_logger("trading_core.cycle")
        for i in range(200):
            log.info("cycle %d done with some padding to fill the file quickly", i)
    finally:
        teardown_logging()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["perps_bot.log", "perps_bot.log.1", "perps_bot.log.2"]
    assert all((path.parent / n).stat().st_size <= 2000 for n in names)
    assert "cycle 199 done" in path.read_text()


def test_bad_level_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="log level"):
        setup_logging(tmp_path / "x.log", level="LOUD")
    assert not (tmp_path / "x.log").exists()
