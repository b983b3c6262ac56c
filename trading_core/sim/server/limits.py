"""The venue's rate limit: a sliding one-second window per API key (private endpoints) or per
client address (public ones), answered with Coinbase's ``x-ratelimit-*`` headers."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window frees a slot
    retry_after: float  # seconds

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", f"{self.reset_at:.3f}".encode()),
        ]


class SlidingWindowLimiter:
    """At most ``limit`` admitted requests per key in any one-second window (0: unlimited)."""

    def __init__(
        self,
        limit: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self._monotonic = monotonic
        self._wall = wall
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> Verdict:
        now = self._monotonic()
        if self.limit <= 0:
            return Verdict(True, 0, 0, self._wall(), 0.0)
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
            while hits and now - hits[0] >= WINDOW_S:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            wait = WINDOW_S - (now - hits[0]) if hits and len(hits) >= self.limit else 0.0
            remaining = max(0, self.limit - len(hits))
        wait = max(0.0, wait)
        return Verdict(
            allowed, self.limit, remaining, self._wall() + wait, math.ceil(wait * 1000) / 1000
        )
