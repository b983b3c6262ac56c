"""Every failure of a Coinbase call, classified once, where it enters (the transport).

- network trouble, timeouts, 5xx, 408, a body that is not JSON: RETRYABLE
- 429: RATE_LIMITED, with the wait the venue asked for (``Retry-After`` / ``x-ratelimit-reset``)
- 401, 403: AUTH (credentials refused or missing scopes): stop and tell the operator
- 404: OrderNotFound on order endpoints, UnknownProduct on product endpoints
- 400 and the other 4xx: REJECTED (the request itself is wrong; retrying will not help)
- a JSON answer without the fields it must have: FATAL (the contract is broken)

Messages carry the endpoint, the status and the venue's own error text, passed through the
redaction helper; never a header, a token or a key.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ...errors import BrokerError, ErrorKind, OrderNotFound, UnknownProduct, one_line
from ...telemetry.redaction import redact

MAX_DETAIL = 200
MAX_RETRY_AFTER_S = 60.0


class CoinbaseError(BrokerError):
    """A classified Coinbase failure. ``status`` is the HTTP status or timeout/connection/
    malformed; ``retry_after`` the seconds a 429 asked to wait (None if it did not say)."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        status: str,
        endpoint: str,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(redact(one_line(message)), kind=kind)
        self.status = status
        self.endpoint = endpoint
        self.code = code
        self.retry_after = retry_after


def _body(response: Any) -> dict[str, Any]:
    try:
        doc = json.loads(response.text or "{}")
    except (ValueError, AttributeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _detail(doc: dict[str, Any], response: Any) -> tuple[str, str]:
    code = str(doc.get("error") or doc.get("code") or "")
    message = str(doc.get("message") or doc.get("error_details") or "")
    if not message and not doc:
        message = (getattr(response, "reason", "") or "").strip()
    return one_line(code), one_line(message[:MAX_DETAIL])


def retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` or ``x-ratelimit-reset`` (an epoch second or a
    delta), clamped to [0, 60]; None when neither says."""
    if headers is None:
        return None
    now = time.time() if now is None else now
    for name in ("retry-after", "x-ratelimit-reset"):
        raw = headers.get(name)
        if raw in (None, ""):
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            continue
        if value > 1e9:  # an epoch second
            value -= now
        return min(max(value, 0.0), MAX_RETRY_AFTER_S)
    return None


def from_http(status: int, response: Any, endpoint: str) -> BrokerError:
    doc = _body(response)
    code, message = _detail(doc, response)
    text = (
        f"{endpoint}: HTTP {status}"
        + (f" {code}" if code else "")
        + (f": {message}" if message else "")
    )
    if status == 404:
        if endpoint.startswith("/orders"):
            error: BrokerError = OrderNotFound(redact(text))
        elif endpoint.startswith(("/products", "/market", "/product_book", "/best_bid_ask")):
            error = UnknownProduct(redact(text))
        else:
            return CoinbaseError(
                text, kind=ErrorKind.REJECTED, status="404", endpoint=endpoint, code=code
            )
        error.status = "404"  # type: ignore[attr-defined]
        error.endpoint = endpoint  # type: ignore[attr-defined]
        return error
    if status in (401, 403):
        kind = ErrorKind.AUTH
        text = f"{endpoint}: Coinbase refused the credentials (HTTP {status}" + (
            f" {code}): {message}" if code or message else ")"
        )
    elif status == 429:
        headers = getattr(response, "headers", None)
        return CoinbaseError(
            text,
            kind=ErrorKind.RATE_LIMITED,
            status="429",
            endpoint=endpoint,
            code=code,
            retry_after=retry_after(headers),
        )
    elif status == 408 or status >= 500:
        kind = ErrorKind.RETRYABLE
    elif 400 <= status < 500:
        kind = ErrorKind.REJECTED
    else:
        kind = ErrorKind.FATAL
    return CoinbaseError(text, kind=kind, status=str(status), endpoint=endpoint, code=code)


def classify(exc: BaseException, endpoint: str) -> BrokerError:
    """The BrokerError for any exception raised while calling ``endpoint``."""
    if isinstance(exc, BrokerError):
        return exc
    import requests

    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return from_http(int(exc.response.status_code), exc.response, endpoint)
    if isinstance(exc, requests.exceptions.Timeout):
        return CoinbaseError(
            f"{endpoint}: no answer in time ({type(exc).__name__})",
            kind=ErrorKind.RETRYABLE,
            status="timeout",
            endpoint=endpoint,
        )
    if isinstance(exc, ValueError):  # requests' JSONDecodeError is a ValueError too
        return CoinbaseError(
            f"{endpoint}: malformed response (not JSON)",
            kind=ErrorKind.RETRYABLE,
            status="malformed",
            endpoint=endpoint,
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return CoinbaseError(
            f"{endpoint}: connection failed ({type(exc).__name__})",
            kind=ErrorKind.RETRYABLE,
            status="connection",
            endpoint=endpoint,
        )
    from multiprocessing import AuthenticationError

    if isinstance(exc, AuthenticationError):
        return CoinbaseError(
            f"{endpoint}: no credentials for a private endpoint",
            kind=ErrorKind.AUTH,
            status="auth",
            endpoint=endpoint,
        )
    return CoinbaseError(
        f"{endpoint}: unexpected failure ({type(exc).__name__})",
        kind=ErrorKind.FATAL,
        status="error",
        endpoint=endpoint,
    )


def bad_shape(endpoint: str, exc: BaseException) -> CoinbaseError:
    """A JSON answer that lacks what it must hold."""
    detail = f"{type(exc).__name__}: {exc}"[:MAX_DETAIL]
    return CoinbaseError(
        f"{endpoint}: unexpected response shape ({detail})",
        kind=ErrorKind.FATAL,
        status="shape",
        endpoint=endpoint,
    )
