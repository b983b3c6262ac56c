"""The client-side rate limiter: a token bucket shared by every thread using one adapter, which a
429 from the venue empties until the time the venue named."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` requests per second on average, at most ``burst`` at once. ``acquire`` blocks
    (through the injected ``sleep``) until a token is free; ``pause`` holds every caller back
    for a while (the venue said 429)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited_s = 0.0  # total time callers spent waiting (telemetry)

    def _refill(self, now: float) -> None:
        if now > self._stamp:  # the stamp is in the future while paused
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def acquire(self) -> float:
        """Take one token; returns the seconds spent waiting for it."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._monotonic()
                self._refill(now)
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self.waited_s += waited
                    return waited
                else:
                    wait = (1.0 - self._tokens) / self.rate
            self._sleep(wait)
            waited += wait

    def pause(self, seconds: float) -> None:
        """No token for anyone during the next ``seconds`` (and the bucket starts empty)."""
        with self._lock:
            now = self._monotonic()
            self._paused_until = max(self._paused_until, now + max(seconds, 0.0))
            self._tokens = 0.0
            self._stamp = max(now, self._paused_until)
