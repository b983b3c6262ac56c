"""Fault injection: what the simulator does wrong on purpose, switchable per test (the admin
endpoint ``POST /sim/faults``) and from the CLI (``perps-bot sim serve --faults SPEC``).

A fault is a rule: a kind, how many requests it applies to (``count``; None = until cleared),
and optionally which requests (``path`` prefix, or exactly that path when it ends in ``$``;
``method``). REST kinds:

- ``latency``   ``ms``: every matching response waits this long first
- ``rate_limit``: HTTP 429 with rate-limit headers (a burst of ``count`` of them);
  ``retry_after`` seconds (default 1); ``headers=0``: a bare 429, no ``x-ratelimit-*`` and no
  ``Retry-After`` (the client has to pick its own wait)
- ``auth``: HTTP 401 UNAUTHENTICATED on private endpoints (the credentials refused), public
  ones unaffected
- ``error``     ``status`` (default 503): a 5xx with Coinbase's error body, nothing done
- ``timeout``   ``seconds``: the request is carried out, then the response is held that long
  (``when=before``: held first, carried out after): past the client's timeout it is lost
- ``malformed`` ``mode`` truncated|garbage|empty: the body is not the JSON it should be

WebSocket kinds act on every open feed connection once when added (or, with ``every``, every
that many seconds): ``ws_drop`` ``code`` 1000 (a clean close) or 1006 (the TCP connection
dropped without a close frame); ``ws_gap`` ``skip`` (the next message's sequence_num jumps);
``ws_freeze`` (``seconds``, or until cleared: market data stops, heartbeats go on).

``clock_skew`` ``seconds`` (may be negative; until cleared): the venue's clock as clients see it
is that far off the wall clock: ``GET /time`` reports it, and JWTs (REST and the feed's
subscribe) are judged against it, so past the JWT leeway (5 s behind, or the token's 120 s
lifetime ahead) every signed request is refused with 401. Orders and market data keep the
venue's own time.

Spec strings: ``kind[:key=value[,key=value...]]``, e.g. ``latency:ms=200``,
``error:status=500,count=3,path=/api/v3/brokerage/orders``, ``ws_drop:code=1006``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

REST_KINDS = ("latency", "rate_limit", "auth", "error", "timeout", "malformed")
WS_KINDS = ("ws_drop", "ws_gap", "ws_freeze")
CLOCK_KINDS = ("clock_skew",)
KINDS = REST_KINDS + WS_KINDS + CLOCK_KINDS
_DEFAULT_COUNT: dict[str, int | None] = {
    "latency": None,
    "rate_limit": 1,
    "auth": 1,
    "error": 1,
    "timeout": 1,
    "malformed": 1,
    "ws_drop": 1,
    "ws_gap": 1,
    "ws_freeze": None,
    "clock_skew": None,
}
_PARAMS: dict[str, dict[str, type]] = {
    "latency": {"ms": float},
    "rate_limit": {"retry_after": float, "headers": int},
    "auth": {},
    "error": {"status": int},
    "timeout": {"seconds": float, "when": str},
    "malformed": {"mode": str},
    "ws_drop": {"code": int, "every": float},
    "ws_gap": {"skip": int, "every": float},
    "ws_freeze": {"seconds": float},
    "clock_skew": {"seconds": float},
}
_COMMON: dict[str, type] = {"count": int, "path": str, "method": str}


class FaultError(ValueError):
    """A fault rule that cannot be used (bad kind or parameter)."""


@dataclass(slots=True)
class Fault:
    kind: str
    count: int | None = None  # remaining applications; None: until cleared
    path: str | None = None
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None  # monotonic; ws_freeze with seconds
    next_at: float | None = None  # monotonic; periodic ws_drop / ws_gap (``every``)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is None:
            return True
        if self.path.endswith("$"):  # exactly this path, not the ones under it
            return path == self.path[:-1]
        return path.startswith(self.path)

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("expires_at")
        doc.pop("next_at")
        return doc


def make_fault(doc: dict[str, Any]) -> Fault:
    """A Fault from a JSON document ``{"kind": ..., "count": ..., "ms": ...}``."""
    if not isinstance(doc, dict):
        raise FaultError("a fault is a JSON object with a kind")
    kind = doc.get("kind")
    if kind not in KINDS:
        raise FaultError(f"unknown fault kind {kind!r} (choose from: {', '.join(KINDS)})")
    allowed = {**_COMMON, **_PARAMS[kind]}
    params: dict[str, Any] = {}
    fault = Fault(kind=kind, count=_DEFAULT_COUNT[kind])
    for key, raw in doc.items():
        if key == "kind":
            continue
        if key not in allowed:
            raise FaultError(f"{kind}: unknown parameter {key!r} (use: {', '.join(allowed)})")
        try:
            value = allowed[key](raw) if raw is not None else None
        except (TypeError, ValueError):
            raise FaultError(f"{kind}: {key} must be {allowed[key].__name__}") from None
        if key in _COMMON:
            setattr(fault, key, value)
        else:
            params[key] = value
    _check(kind, params)
    if fault.count is not None and fault.count < 1:
        raise FaultError(f"{kind}: count must be at least 1")
    fault.params = params
    if kind == "ws_freeze" and params.get("seconds"):
        fault.expires_at = time.monotonic() + float(params["seconds"])
    if params.get("every") is not None:
        if params["every"] <= 0:
            raise FaultError(f"{kind}: every must be positive seconds")
        fault.count = None
        fault.next_at = time.monotonic() + float(params["every"])
    return fault


def _check(kind: str, params: dict[str, Any]) -> None:
    if kind == "error" and not 500 <= params.setdefault("status", 503) <= 599:
        raise FaultError("error: status must be a 5xx")
    if kind == "ws_drop" and params.setdefault("code", 1006) not in (1000, 1006):
        raise FaultError("ws_drop: code is 1000 or 1006")
    if kind == "malformed" and params.setdefault("mode", "truncated") not in (
        "truncated",
        "garbage",
        "empty",
    ):
        raise FaultError("malformed: mode is truncated, garbage or empty")
    if kind == "timeout":
        params.setdefault("seconds", 30.0)
        if params.setdefault("when", "after") not in ("after", "before"):
            raise FaultError("timeout: when is after or before")
    if kind == "latency" and params.setdefault("ms", 100.0) < 0:
        raise FaultError("latency: ms must not be negative")
    if kind == "ws_gap" and params.setdefault("skip", 3) < 1:
        raise FaultError("ws_gap: skip must be at least 1")
    if kind == "rate_limit":
        params.setdefault("retry_after", 1.0)
        if params.setdefault("headers", 1) not in (0, 1):
            raise FaultError("rate_limit: headers is 1 (send them) or 0 (a bare 429)")
    if kind == "clock_skew":
        seconds = params.setdefault("seconds", 30.0)
        if seconds != seconds or abs(seconds) > 86400 * 365:  # NaN or absurd
            raise FaultError("clock_skew: seconds must be a number of seconds within a year")


def spec_document(spec: str) -> dict[str, Any]:
    """The JSON document of a CLI spec ``kind[:key=value,...]`` (values still text)."""
    kind, _, rest = spec.strip().partition(":")
    doc: dict[str, Any] = {"kind": kind.strip()}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise FaultError(f"{spec!r}: expected key=value, got {part!r}")
        doc[key.strip()] = value.strip()
    return doc


def parse_spec(spec: str) -> Fault:
    """A Fault from a CLI spec ``kind[:key=value,...]``; FaultError naming the problem."""
    return make_fault(spec_document(spec))


@dataclass(frozen=True, slots=True)
class RestFaults:
    """What applies to one REST request."""

    latency_s: float = 0.0
    rate_limit: Fault | None = None
    auth: Fault | None = None
    error: Fault | None = None
    timeout: Fault | None = None
    malformed: Fault | None = None

    @property
    def any(self) -> bool:
        return bool(
            self.latency_s
            or self.rate_limit
            or self.auth
            or self.error
            or self.timeout
            or self.malformed
        )


class FaultPlan:
    """The active faults. Thread-safe: tests add rules from their thread while the server's
    loop consumes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self.version = 0  # bumped on every change
        self.applied: dict[str, int] = {}
        self._ws_events: list[tuple[int, Fault]] = []
        self._ws_seq = 0

    def add(self, fault: Fault) -> None:
        """Add a rule; a one-shot ws_drop/ws_gap acts on the open connections at once."""
        with self._lock:
            if fault.kind in ("ws_drop", "ws_gap") and fault.next_at is None:
                self._emit(fault)
            else:
                self._rules.append(fault)
            self.version += 1

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.version += 1

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._rules]

    def _consume(self, fault: Fault) -> None:
        self.applied[fault.kind] = self.applied.get(fault.kind, 0) + 1
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                self._rules.remove(fault)
                self.version += 1

    def for_request(self, method: str, path: str, *, public: bool = False) -> RestFaults:
        """Take the REST faults that apply to this request (counts go down). ``auth`` rules
        pass public requests by: those carry no credentials to refuse."""
        if not self._rules:
            return RestFaults()
        with self._lock:
            latency = 0.0
            found: dict[str, Fault] = {}
            for fault in list(self._rules):
                if fault.kind not in REST_KINDS or not fault.matches(method, path):
                    continue
                if public and fault.kind == "auth":
                    continue
                if fault.kind == "latency":
                    latency += float(fault.params["ms"]) / 1000.0
                    self._consume(fault)
                elif fault.kind not in found:
                    found[fault.kind] = fault
                    self._consume(fault)
            return RestFaults(
                latency_s=latency,
                rate_limit=found.get("rate_limit"),
                auth=found.get("auth"),
                error=found.get("error"),
                timeout=found.get("timeout"),
                malformed=found.get("malformed"),
            )

    def ws_events_after(self, seq: int) -> tuple[int, list[Fault]]:
        """(latest event seq, ws_drop/ws_gap events after ``seq``): every open feed connection
        acts on each event once. Periodic rules (``every``) emit an event when due."""
        with self._lock:
            now = time.monotonic()
            for fault in self._rules:
                due = fault.next_at
                if fault.kind in ("ws_drop", "ws_gap") and due is not None and now >= due:
                    fault.next_at = now + float(fault.params["every"])
                    self._emit(fault)
            return self._ws_seq, [f for s, f in self._ws_events if s > seq]

    def _emit(self, fault: Fault) -> None:
        self._ws_seq += 1
        self._ws_events.append((self._ws_seq, fault))
        del self._ws_events[:-50]
        self.applied[fault.kind] = self.applied.get(fault.kind, 0) + 1

    def skew_s(self) -> float:
        """Seconds the venue's clock reads off the wall clock (``clock_skew`` rules; 0 none)."""
        if not self._rules:
            return 0.0
        with self._lock:
            return sum(float(f.params["seconds"]) for f in self._rules if f.kind == "clock_skew")

    @property
    def ws_seq(self) -> int:
        return self._ws_seq

    def frozen(self) -> bool:
        """Whether a ws_freeze is in force (expired ones are dropped)."""
        if not self._rules:
            return False
        with self._lock:
            now = time.monotonic()
            for fault in list(self._rules):
                if fault.kind != "ws_freeze":
                    continue
                if fault.expires_at is not None and now >= fault.expires_at:
                    self._rules.remove(fault)
                    self.version += 1
                    continue
                return True
            return False
