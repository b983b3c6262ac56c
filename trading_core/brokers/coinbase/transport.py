"""REST transport: the SDK's ``RESTClient`` with our session, signing, limiter and retries.

- The SDK builds ``https://{base_url}{path}``; for a plain-HTTP loopback base (the simulator)
  a requests adapter rewrites the scheme. Plain HTTP anywhere else is refused: it would send
  tokens in clear text. ``session.trust_env`` is off (no proxy or netrc surprises) and the
  session keeps connections alive.
- Keys are passed explicitly (the SDK reads env at import time otherwise); JWTs come from
  ``keys.build_jwt`` (ES256 through the SDK's generator, EdDSA for Ed25519 keys).
- Every call takes a token from the client-side limiter, is classified once (``errors.py``) and
  retried with exponential backoff when retryable; a 429 waits what the venue asked and pauses
  the limiter for everyone. POSTs are retried too: order creation carries the same
  ``client_order_id`` every time, so the venue answers a retry with the order it already has.
- Counters per (endpoint, status) and the last ``x-ratelimit-remaining`` feed ``stats()``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...errors import ConfigError, ErrorKind
from .errors import CoinbaseError, classify
from .keys import ApiKey, build_jwt
from .paths import API_PREFIX, endpoint_label
from .ratelimit import TokenBucket

log = logging.getLogger("trading_core.brokers.coinbase")

RETRY_KINDS = frozenset({ErrorKind.RETRYABLE, ErrorKind.RATE_LIMITED})
MAX_BACKOFF_S = 5.0
CLOCK_TOLERANCE_S = 5.0  # JWTs live two minutes from "now": past this, a skew is the likely cause
CLOCK_CHECK_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the REST API is: ``scheme`` https (or http on loopback) and ``host`` host[:port]."""

    scheme: str
    host: str

    @property
    def plain(self) -> bool:
        return self.scheme == "http"


def is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def parse_url(text: str, *, var: str, schemes: tuple[str, str]) -> tuple[str, str, str, str]:
    """(scheme, host[:port], hostname, path) of a base URL; ``schemes`` is (secure, plain).
    ConfigError naming ``var`` when unusable; the plain scheme only for loopback hosts."""
    raw = text.strip()
    if "://" not in raw:
        raw = f"{schemes[0]}://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise ConfigError(f"{var}: scheme must be {schemes[0]} (or {schemes[1]} on loopback)")
    hostname = parts.hostname or ""
    if not hostname:
        raise ConfigError(f"{var}: no host in {text!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"{var}: only scheme, host, port and path are allowed")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{var}: bad port in {text!r}") from None
    if parts.scheme == schemes[1] and not is_loopback(hostname):
        raise ConfigError(
            f"{var}: {schemes[1]}:// is only for a loopback simulator (tokens would travel "
            f"in clear text); use {schemes[0]}://"
        )
    host = f"[{hostname}]" if ":" in hostname else hostname
    if port is not None:
        host = f"{host}:{port}"
    return parts.scheme, host, hostname, parts.path


def parse_api_base(text: str) -> Endpoint:
    scheme, host, _, path = parse_url(text, var="COINBASE_API_BASE", schemes=("https", "http"))
    if path not in ("", "/"):
        raise ConfigError("COINBASE_API_BASE: host and port only (the SDK adds /api/v3/...)")
    return Endpoint(scheme, host)


def _sdk_client(key: ApiKey, endpoint: Endpoint, timeout: float, recorder: Any) -> Any:
    """The SDK's RESTClient, signing with our JWT builder, over our session adapter."""
    from coinbase.rest import RESTClient
    from requests.adapters import HTTPAdapter

    sdk_log = logging.getLogger("coinbase.RESTClient")
    # the SDK logs every HTTP error (with the body) to its own stderr handler; our transport
    # classifies and logs failures itself
    for handler in list(sdk_log.handlers):
        sdk_log.removeHandler(handler)
    sdk_log.setLevel(logging.CRITICAL)
    sdk_log.propagate = False

    class Client(RESTClient):  # type: ignore[misc]
        def set_headers(self, method: str, path: str) -> dict[str, str]:
            from coinbase.constants import USER_AGENT

            uri = f"{method} {self.base_url}{path}"
            return {
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                "Authorization": f"Bearer {build_jwt(key, uri)}",
            }

    class Adapter(HTTPAdapter):  # type: ignore[misc]
        """Keep-alive pool; notes when each request leaves; rewrites https to http for a
        loopback simulator."""

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            if endpoint.plain and request.url.startswith("https://"):
                request.url = "http://" + request.url[len("https://") :]
            recorder.sent()
            response = super().send(request, *args, **kwargs)
            recorder.received(response)
            return response

    client = Client(
        api_key=key.name, api_secret=key.secret, base_url=endpoint.host, timeout=timeout
    )
    session = client.session
    session.trust_env = False
    adapter = Adapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return client


class _Recorder:
    """Per-thread send time (tick-to-order latency) and the venue's rate-limit headroom."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.rate_limit_remaining: float | None = None
        self.last_sent: float | None = None  # perf_counter of the latest request sent

    def sent(self) -> None:
        now = time.perf_counter()
        self.local.sent = now
        recent = getattr(self.local, "recent", None)
        if recent is None:
            recent = self.local.recent = deque(maxlen=16)
        recent.append(now)
        self.last_sent = now

    def received(self, response: Any) -> None:
        raw = response.headers.get("x-ratelimit-remaining")
        if raw not in (None, ""):
            with contextlib.suppress(ValueError):
                self.rate_limit_remaining = float(raw)


class RestTransport:
    """Signed, limited, retried calls to the Advanced Trade REST API."""

    def __init__(
        self,
        key: ApiKey,
        endpoint: Endpoint,
        *,
        timeout_s: float,
        limiter: TokenBucket,
        max_attempts: int = 4,
        backoff_s: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.limiter = limiter
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._recorder = _Recorder()
        self._client = _sdk_client(key, endpoint, timeout_s, self._recorder)
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._clock_checked: tuple[float, str] | None = None  # (monotonic, hint)

    # --- calls -------------------------------------------------------------------------------
    def get(
        self, path: str, params: dict[str, Any] | None = None, *, public: bool = False
    ) -> dict[str, Any]:
        return self.request("GET", path, params=params, public=public)

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, data=data)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        public: bool = False,
    ) -> dict[str, Any]:
        """The JSON answer of one call; a classified BrokerError after the last attempt."""
        full = API_PREFIX + path
        label = endpoint_label(full)
        for attempt in range(1, self.max_attempts + 1):
            self.limiter.acquire()
            try:
                if method == "GET":
                    body = self._client.get(full, params=dict(params or {}), public=public)
                else:
                    body = self._client.post(full, data=dict(data or {}))
            except Exception as exc:  # classified right here, once
                error = classify(exc, label)
                self._count(label, getattr(error, "status", "error"))
                if error.kind is ErrorKind.AUTH and not public:
                    hint = self._clock_hint()
                    if hint:
                        error.args = (f"{error.message} ({hint})",)
                if error.kind not in RETRY_KINDS or attempt == self.max_attempts:
                    raise error from None
                wait = self._backoff(attempt, error)
                log.warning(
                    "coinbase %s %s attempt %d/%d failed (%s): %s; retrying in %.2fs",
                    method,
                    label,
                    attempt,
                    self.max_attempts,
                    error.kind.value,
                    error.message,
                    wait,
                )
                self._sleep(wait)
                continue
            self._count(label, "200")
            if not isinstance(body, dict):
                raise CoinbaseError(
                    f"{label}: expected a JSON object",
                    kind=ErrorKind.FATAL,
                    status="shape",
                    endpoint=label,
                )
            return body
        raise AssertionError("unreachable")  # pragma: no cover

    def _clock_hint(self) -> str:
        """After refused credentials: if the local clock is off the venue's (public /time) by
        more than a JWT tolerates, say so; that, not the key, is then what to fix. Asked at most
        once a minute; "" when the clocks agree or the venue's time cannot be read."""
        now = time.monotonic()
        with self._lock:
            checked = self._clock_checked
        if checked is not None and now - checked[0] < CLOCK_CHECK_EVERY_S:
            return checked[1]
        hint = ""
        try:
            sent = time.time()
            body = self._client.get(API_PREFIX + "/time", params={}, public=True)
            venue = None
            if isinstance(body, dict):  # milliseconds when given: whole seconds truncate
                millis = body.get("epochMillis")
                venue = float(millis) / 1000 if millis else float(body["epochSeconds"])
            if venue is not None:
                skew = (sent + time.time()) / 2 - venue
                if abs(skew) > CLOCK_TOLERANCE_S:
                    side = "ahead of" if skew > 0 else "behind"
                    hint = (
                        f"the local clock is {abs(skew):.0f}s {side} the exchange's: "
                        "JWTs are judged on time; fix the clock (NTP)"
                    )
        except Exception:  # a hint only: never a reason for another error
            hint = ""
        with self._lock:
            self._clock_checked = (now, hint)
        return hint

    def _backoff(self, attempt: int, error: Exception) -> float:
        base = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))
        wait = base * (0.5 + random.random() / 2)
        if isinstance(error, CoinbaseError) and error.kind is ErrorKind.RATE_LIMITED:
            asked = error.retry_after if error.retry_after is not None else base
            wait = max(asked, 0.05)
            self.limiter.pause(wait)
        return wait

    def _count(self, label: str, status: str) -> None:
        with self._lock:
            self._counts[(label, status)] += 1

    # --- telemetry ---------------------------------------------------------------------------
    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    @property
    def rate_limit_remaining(self) -> float | None:
        return self._recorder.rate_limit_remaining

    @property
    def last_sent(self) -> float | None:
        """perf_counter() when the most recent request left (any thread)."""
        return self._recorder.last_sent

    def sent_in_this_thread(self) -> float | None:
        """perf_counter() when this thread's latest request left."""
        return getattr(self._recorder.local, "sent", None)

    def first_sent_since(self, since: float) -> float | None:
        """perf_counter() of this thread's first request sent after ``since`` (latency probes:
        a tick received at ``since`` -> the order request leaving)."""
        recent = getattr(self._recorder.local, "recent", None) or ()
        return next((t for t in recent if t > since), None)

    def close(self) -> None:
        self._client.session.close()
