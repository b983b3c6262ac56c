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

The log is not the record (the event store is), so a log file that cannot be written (disk
full, a read-only or vanished file system) never stops the bot: ``ResilientFileHandler`` drops
the line, counts it, says so once on stderr, reopens the file at the next record and, when a
write succeeds again, notes in the file and on stderr how many lines were lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

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


class ResilientFileHandler(logging.handlers.RotatingFileHandler):
    """The rotating log file, for which a failed write (OSError: ENOSPC, EROFS, EIO...) is not
    an error anyone else has to handle: no exception, no traceback per line on stderr. The line
    is dropped (``dropped`` counts the current outage, ``dropped_total`` all of them), the first
    drop of an outage writes one notice to stderr, the stream is discarded (its unwritten buffer
    with it) and reopened at the next record. The first record written after an outage is
    preceded by a WARNING line saying how many were lost, also echoed once to stderr. Anything
    that is not an OSError (a formatting bug) goes to logging's usual ``handleError``."""

    def __init__(self, filename: Path | str, **kwargs: Any) -> None:
        super().__init__(filename, **kwargs)
        self.dropped = 0
        self.dropped_total = 0
        self.outages = 0
        self.notice_stream: TextIO | None = None  # None: sys.stderr at the time
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        if self.dropped:
            self._write_recovery()
            if self._failed:  # still failing: handleError counted this record as dropped
                return
        super().emit(record)

    def _write_recovery(self) -> None:
        lost = self.dropped
        note = logging.LogRecord(
            __name__,
            logging.WARNING,
            __file__,
            0,
            f"log file {self.baseFilename} writable again: {lost} line(s) were dropped while "
            "it was not (the event store has the record)",
            None,
            None,
        )
        note._redacted = True  # type: ignore[attr-defined]
        super().emit(note)
        if not self._failed:
            self.dropped = 0
            self._notice(f"logging: writing {self.baseFilename} again ({lost} line(s) dropped)")

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        self._failed = True
        self.dropped += 1
        self.dropped_total += 1
        self._discard_stream()
        if self.dropped == 1:
            self.outages += 1
            self._notice(
                f"logging: cannot write {self.baseFilename} ({exc.strerror or exc}); dropping "
                "log lines until it can (trading goes on; the event store keeps the record)"
            )

    def _discard_stream(self) -> None:
        stream, self.stream = self.stream, None  # type: ignore[assignment]
        if stream is not None:
            with contextlib.suppress(OSError):  # its failed buffer goes with it; the fd is closed
                stream.close()

    def reopen(self) -> None:
        """Close the file now; the next record opens it again (after a move or a repair)."""
        with self.lock:  # type: ignore[union-attr]
            self._discard_stream()

    def _notice(self, text: str) -> None:
        stream = self.notice_stream or sys.stderr
        try:
            stream.write(f"{time.strftime('%H:%M:%S', time.gmtime())} WARNING {text}\n")
            stream.flush()
        except (OSError, ValueError):
            pass


def file_handler() -> ResilientFileHandler | None:
    """The log file handler ``setup_logging`` installed (None before it has run)."""
    with _install_lock:
        return next((h for h in _installed if isinstance(h, ResilientFileHandler)), None)


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
            handler = ResilientFileHandler(
                path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
            )
        except OSError as exc:
            raise ConfigError(f"log file {path}: cannot open: {exc}") from None
        handler.setLevel(file_level)
        handler.setFormatter(LineFormatter())
        handler.addFilter(redaction)
        handlers: list[logging.Handler] = [handler]
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
