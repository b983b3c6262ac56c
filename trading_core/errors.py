"""The project's error types. Every external failure is classified once, where it enters."""

from __future__ import annotations

from enum import StrEnum

#: Every character str.splitlines() breaks a line at.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ESCAPES = {ord(ch): repr(ch)[1:-1] for ch in LINE_BREAKS}


def one_line(text: str) -> str:
    """``text`` with every line break written as its escape (``\\n``, ``\\u2028``, ...): an error
    message built from outside input (a flag, a file name, a venue's text) stays one line."""
    return text.translate(_ESCAPES)


class ErrorKind(StrEnum):
    """How the caller should treat a failure."""

    RETRYABLE = "retryable"  # transient: network blip, 5xx, timeout; retry with backoff
    RATE_LIMITED = "rate_limited"  # back off (honour Retry-After / reset headers), then retry
    REJECTED = "rejected"  # the exchange or a risk check said no; do not retry as-is
    AUTH = "auth"  # credentials missing or malformed (the bot refuses to start) or refused by
    # the venue (never retried as-is; the error-rate guard halts trading until they work again)
    FATAL = "fatal"  # a bug or an impossible state; stop


class TradingError(Exception):
    """Base class of every error trading_core raises on purpose."""

    kind: ErrorKind = ErrorKind.FATAL

    def __init__(self, message: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(TradingError):
    """Bad configuration or CLI input: the CLI prints one line and exits 2."""

    kind = ErrorKind.FATAL


class InvalidTransition(TradingError):
    """An order state change the lifecycle table does not allow."""

    kind = ErrorKind.FATAL


class BrokerError(TradingError):
    """A broker call failed; ``kind`` says whether to retry."""

    kind = ErrorKind.RETRYABLE


class OrderRejected(BrokerError):
    """The venue refused an order (insufficient funds, post-only would cross, ...)."""

    kind = ErrorKind.REJECTED

    def __init__(self, message: str, *, reason: str = "REJECTED") -> None:
        super().__init__(message, kind=ErrorKind.REJECTED)
        self.reason = reason


class OrderNotFound(BrokerError):
    kind = ErrorKind.REJECTED

    def __init__(self, message: str) -> None:
        super().__init__(message, kind=ErrorKind.REJECTED)


class UnknownProduct(BrokerError):
    kind = ErrorKind.REJECTED

    def __init__(self, message: str) -> None:
        super().__init__(message, kind=ErrorKind.REJECTED)


class DataError(TradingError):
    """Market data that cannot be used (malformed CSV, impossible candle, ...)."""

    kind = ErrorKind.FATAL


class OrderRefused(TradingError):
    """Execution refused to build an order (below the product's minimums, nothing to sell, ...)."""

    kind = ErrorKind.REJECTED

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, kind=ErrorKind.REJECTED)
        self.reason = reason
