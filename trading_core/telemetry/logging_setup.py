"""Logging for the bot: one rotating file the runbook greps, plus a concise console.

File lines look like::

    2026-11-23T12:00:00.123Z INFO    trading_core.cycle: order BTC-USD BUY 0.01 filled fee=11.4

ISO UTC time (the record's creation time) with 'Z', the level name padded to 7, the logger name,
the message, then the structured fields given as ``extra={"fields": {...}}`` rendered as
`` key=value`` (strings with spaces or quotes are JSON-quoted, Decimals plain, dicts/lists compact
JSON). So ``grep ERROR``, ``grep -E "ERROR|CRITICAL"``, ``grep PnL`` and ``grep "order.*filled"``
work line by line: newlines inside a message are written as ``\\n``; only tracebacks span lines.

Every record passes ``RedactionFilter`` on each handler installed here: message, args, fields,
exception and stack text are redacted (``telemetry.redaction``) before any handler formats them.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .redaction import redact, redact_jsonable

DEFAULT_LOG_PATH = Path("var/logs/perps_bot.log")
MiB = 1024 * 1024

_LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_installed: list[logging.Handler] = []
_install_lock = threading.Lock()
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def parse_level(level: str | int) -> int:
    """A logging level from a name (case-insensitive; WARN accepted) or a number; ConfigError
    naming the bad value otherwise."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    name = str(level).strip().upper()
    if name == "WARN":
        name = "WARNING"
    if name not in _LEVEL_NAMES:
        raise ConfigError(f"log level: unknown {level!r} (use {', '.join(_LEVEL_NAMES)})")
    return int(getattr(logging, name))


def format_value(value: Any) -> str:
    """One structured field's value as it appears after ``key=`` (value already JSON-ready)."""
    if isinstance(value, str):
        if value and not any(c in value for c in ' "=\n\t\r\\') and value != "null":
            return value
        return _JSON.encode(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return _JSON.encode(value)


def format_fields(fields: Any) -> str:
    """`` key=value`` for each field (empty string when there are none)."""
    if not fields or not isinstance(fields, dict):
        return ""
    return "".join(f" {key}={format_value(value)}" for key, value in fields.items())


def _clean_fields(fields: Any) -> dict[str, Any]:
    if not isinstance(fields, dict):
        fields = {"fields": str(fields)}
    try:
        cleaned = redact_jsonable(fields)
    except (TypeError, ValueError):
        cleaned = redact_jsonable({str(k): str(v) for k, v in fields.items()})
    return cleaned if isinstance(cleaned, dict) else {}


class RedactionFilter(logging.Filter):
    """Redacts a record in place (message with its args merged, fields, exception and stack text)
    so no handler can write a secret. Runs once per record however many handlers carry it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: keep what we can, never lose the line
            message = f"{record.msg} {record.args!r}"
        record.msg = redact(message)
        record.args = ()
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = _clean_fields(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True
        return True


class LineFormatter(logging.Formatter):
    """``<ISO time>Z <LEVEL> <logger>: <message> key=value...`` (see the module docstring);
    ``concise`` drops the date and logger name for the console."""

    def __init__(self, *, concise: bool = False) -> None:
        super().__init__()
        self.concise = concise

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        seconds = int(created)
        millis = int((created - seconds) * 1000)
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            message = message.replace("\r", "\\r").replace("\n", "\\n")
        fields = format_fields(getattr(record, "fields", None))
        if self.concise:
            stamp = time.strftime("%H:%M:%S", time.gmtime(seconds))
            line = f"{stamp} {record.levelname:<7} {message}{fields}"
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            line = f"{stamp}.{millis:03d}Z {record.levelname:<7} {record.name}: {message}{fields}"
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{record.stack_info}"
        return line


def setup_logging(
    log_path: Path | str = DEFAULT_LOG_PATH,
    *,
    level: str | int = "INFO",
    console: bool = True,
    console_level: str | int = "INFO",
    max_bytes: int = 10 * MiB,
    backups: int = 10,
) -> None:
    """Install the rotating file handler at ``log_path`` (parent directories created; rotated to
    ``.1`` ... ``.<backups>`` past ``max_bytes``) and, with ``console``, a concise stderr handler.
    Idempotent: handlers installed by an earlier call are removed and closed first; handlers
    installed by others are left alone. The root logger's level is set to the lowest level in use.
    ConfigError for an unknown level name."""
    file_level = parse_level(level)
    stderr_level = parse_level(console_level)
    path = Path(log_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"log file {path}: cannot create its directory: {exc}") from None
    with _install_lock:
        _remove_installed()
        redaction = RedactionFilter()
        try:
            file_handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        except OSError as exc:
            raise ConfigError(f"log file {path}: cannot open: {exc}") from None
        file_handler.setLevel(file_level)
        file_handler.setFormatter(LineFormatter())
        file_handler.addFilter(redaction)
        handlers: list[logging.Handler] = [file_handler]
        if console:
            console_handler = logging.StreamHandler(sys.stderr)
            console_handler.setLevel(stderr_level)
            console_handler.setFormatter(LineFormatter(concise=True))
            console_handler.addFilter(redaction)
            handlers.append(console_handler)
        root = logging.getLogger()
        for handler in handlers:
            root.addHandler(handler)
        _installed.extend(handlers)
        root.setLevel(min(h.level for h in handlers))


def teardown_logging() -> None:
    """Remove and close the handlers ``setup_logging`` installed (for tests and clean exits)."""
    with _install_lock:
        _remove_installed()


def _remove_installed() -> None:
    root = logging.getLogger()
    while _installed:
        handler = _installed.pop()
        root.removeHandler(handler)
        handler.close()


def get_logger(name: str) -> logging.Logger:
    """The standard logger ``name`` (use the module's ``__name__``)."""
    return logging.getLogger(name)


def log_event(logger: logging.Logger, level: str | int, message: str, **fields: Any) -> None:
    """Log ``message`` with structured ``fields`` (rendered `` key=value`` after it)::

    log_event(log, "INFO", "order BTC-USD BUY 0.01 filled at 95000.12", fee=fee, client_id=cid)
    """
    number = parse_level(level)
    if logger.isEnabledFor(number):
        logger.log(number, message, extra={"fields": fields}, stacklevel=2)
