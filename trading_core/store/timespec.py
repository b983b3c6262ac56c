"""Time arguments operators type: ISO timestamps or spans back from now (15m, 2h, 3d)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from ..clock import ensure_utc, parse_utc
from ..errors import ConfigError

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "hr": 3600,
    "d": 86400,
    "w": 604800,
}


def parse_span(text: str) -> timedelta | None:
    """``"15m"`` -> 15 minutes (units s, m, h, d, w); None when ``text`` is not a span."""
    match = _SPAN.match(text)
    if match is None:
        return None
    amount, unit = match.groups()
    return timedelta(seconds=float(amount) * _UNIT_SECONDS[unit.lower()])


def parse_since(text: str, now: datetime, *, option: str = "--since") -> datetime:
    """The aware UTC time ``text`` names: an ISO 8601 timestamp (no zone means UTC) or a span back
    from ``now`` (``30m``, ``1h``, ``2d``). Raises ConfigError naming ``option`` otherwise."""
    span = parse_span(text)
    if span is not None:
        return ensure_utc(now) - span
    try:
        return parse_utc(text)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"{option}: cannot parse {text!r} (use ISO time or 15m/2h/3d)") from None
