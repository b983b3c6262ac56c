"""What the runtime guards judge: one snapshot per evaluation, plus the rolling windows that
produce its error rate and volatility figures."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

SECONDS_PER_YEAR = 365.0 * 24 * 3600


@dataclass(frozen=True, slots=True)
class GuardInputs:
    now: datetime
    equity: Decimal
    day_start_equity: Decimal
    equity_peak: Decimal
    open_positions: int
    exposures: Mapping[str, Decimal]  # absolute notional per symbol
    data_ages: Mapping[str, float]  # seconds since the last market data update, per symbol
    feed_ages: Mapping[str, float] = field(default_factory=dict)  # per streaming feed
    operations: int = 0  # over the error-rate window
    failures: int = 0
    volatility: Mapping[str, float] = field(default_factory=dict)  # annualised, per symbol


class ErrorWindow:
    """Operations and failures over the last ``window_s`` seconds, one entry per cycle."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._entries: deque[tuple[float, int, int]] = deque()
        self.operations = 0
        self.failures = 0

    def add(self, now: datetime, operations: int, failures: int) -> None:
        t = now.timestamp()
        self._entries.append((t, operations, failures))
        self.operations += operations
        self.failures += failures
        horizon = t - self.window_s
        while self._entries and self._entries[0][0] <= horizon:
            _, ops, fails = self._entries.popleft()
            self.operations -= ops
            self.failures -= fails


class VolatilityTracker:
    """Realised volatility of recent log returns per symbol, annualised with the real spacing of
    the samples (so 5 s cycles and hourly replays are judged on one scale). Running sums keep
    each update O(1)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._series: dict[str, _Series] = {}

    def add(self, symbol: str, now: datetime, price: Decimal) -> None:
        series = self._series.get(symbol)
        if series is None:
            series = self._series[symbol] = _Series()
        series.add(now.timestamp(), math.log(float(price)), self.window)

    def annualised(self, symbol: str) -> float | None:
        series = self._series.get(symbol)
        return None if series is None else series.annualised(min(10, self.window))

    def all(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for symbol, series in self._series.items():
            vol = series.annualised(min(10, self.window))
            if vol is not None:
                out[symbol] = vol
        return out


@dataclass(slots=True)
class _Series:
    returns: deque[tuple[float, float]] = field(default_factory=deque)  # (dt seconds, log return)
    last: tuple[float, float] | None = None  # (time, log price)
    sum_r: float = 0.0
    sum_r2: float = 0.0
    sum_dt: float = 0.0

    def add(self, t: float, log_price: float, window: int) -> None:
        last = self.last
        if last is not None and t <= last[0]:
            return
        self.last = (t, log_price)
        if last is None:
            return
        dt, r = t - last[0], log_price - last[1]
        self.returns.append((dt, r))
        self.sum_r += r
        self.sum_r2 += r * r
        self.sum_dt += dt
        if len(self.returns) > window:
            old_dt, old_r = self.returns.popleft()
            self.sum_r -= old_r
            self.sum_r2 -= old_r * old_r
            self.sum_dt -= old_dt

    def annualised(self, min_returns: int) -> float | None:
        n = len(self.returns)
        if n < max(min_returns, 2) or self.sum_dt <= 0:
            return None
        variance = max((self.sum_r2 - self.sum_r * self.sum_r / n) / (n - 1), 0.0)
        spacing = self.sum_dt / n
        return math.sqrt(variance) * math.sqrt(SECONDS_PER_YEAR / spacing)
