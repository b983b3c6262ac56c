"""The baseline: moving-average crossover entries with a trailing-stop exit, long-only on spot.

Prices arrive once per cycle and are gathered into bars of ``bar_seconds`` (the last price of a
bar is its close); the moving averages run over bar closes, so a 5 s cycle with 60 s bars and
MA 5/20 compares the last 5 minutes with the last 20. A crossover is acted on once, at the first
decision after the bar that made it. The trailing stop watches every price, not just closes.

Buy when the short MA crosses above the long MA while flat; sell the whole position when it
crosses below, or when the price falls ``trailing_stop_pct`` below its peak since entry.
``bar_seconds=0`` makes every sample a bar. Running sums keep each update O(1)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..domain.money import ZERO
from .base import Action, Signal


@dataclass(slots=True)
class _SymbolState:
    closes: deque[Decimal]
    short_sum: Decimal = ZERO
    long_sum: Decimal = ZERO
    prev_diff: Decimal | None = None  # short MA - long MA after the previous completed bar
    diff: Decimal | None = None  # short MA - long MA after the last completed bar
    fresh: bool = False  # a bar completed since the last decision: a crossover may be acted on
    bar_start: int | None = None  # epoch seconds of the bar being built
    bar_close: Decimal | None = None  # its latest price
    peak: Decimal | None = None  # highest price since the current long was opened
    samples: int = 0


class MaCrossoverStrategy:
    name = "ma_crossover"

    def __init__(
        self,
        short_window: int,
        long_window: int,
        trailing_stop_pct: Decimal,
        *,
        bar_seconds: int = 0,
    ) -> None:
        if not 1 <= short_window < long_window:
            raise ValueError("need 1 <= short_window < long_window")
        if bar_seconds < 0:
            raise ValueError("bar_seconds must not be negative")
        self.short_window = short_window
        self.long_window = long_window
        self.trailing_stop_pct = trailing_stop_pct
        self.bar_seconds = bar_seconds
        self._keep = Decimal(1) - trailing_stop_pct
        self._state: dict[str, _SymbolState] = {}

    def _get(self, symbol: str) -> _SymbolState:
        state = self._state.get(symbol)
        if state is None:
            state = _SymbolState(closes=deque(maxlen=self.long_window))
            self._state[symbol] = state
        return state

    def _push(self, st: _SymbolState, close: Decimal) -> None:
        closes = st.closes
        if len(closes) == self.long_window:
            st.long_sum -= closes[0]
        if len(closes) >= self.short_window:
            st.short_sum -= closes[-self.short_window]
        closes.append(close)  # the deque drops closes[0] itself when full
        st.short_sum += close
        st.long_sum += close

    def _close_bar(self, st: _SymbolState, close: Decimal) -> None:
        self._push(st, close)
        if len(st.closes) == self.long_window:
            st.prev_diff = st.diff
            st.diff = st.short_sum / self.short_window - st.long_sum / self.long_window
            st.fresh = True

    def on_price(self, symbol: str, price: Decimal, now: datetime) -> None:
        st = self._get(symbol)
        st.samples += 1
        if st.peak is not None and price > st.peak:
            st.peak = price
        if self.bar_seconds == 0:
            self._close_bar(st, price)
            return
        epoch = int(now.timestamp())
        bar = epoch - epoch % self.bar_seconds
        if st.bar_start is not None and bar != st.bar_start and st.bar_close is not None:
            self._close_bar(st, st.bar_close)
        if st.bar_start is not None and bar < st.bar_start:
            return  # a sample older than the bar being built (after a warm-up): ignore it
        st.bar_start = bar
        st.bar_close = price

    def warm_up(self, symbol: str, closes: list[Decimal], last_bar_start: datetime) -> None:
        """Fill the windows from closed history bars (oldest first) so decisions start at once
        instead of after ``long_window`` bars. Crossovers inside the history are not acted on."""
        st = self._get(symbol)
        if st.closes or not closes:
            return
        for close in closes[-self.long_window :]:
            self._close_bar(st, close)
        st.fresh = False
        if self.bar_seconds:
            st.bar_start = int(last_bar_start.timestamp())
            st.bar_close = None

    def moving_averages(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        st = self._state.get(symbol)
        if st is None or len(st.closes) < self.long_window:
            return None
        return st.short_sum / self.short_window, st.long_sum / self.long_window

    def decide(self, symbol: str, position_qty: Decimal, mark: Decimal) -> Signal:
        st = self._get(symbol)
        fresh, st.fresh = st.fresh, False
        crossed = fresh and st.prev_diff is not None and st.diff is not None
        if position_qty > ZERO:
            # no peak yet: a position found on start or opened elsewhere trails from here
            if st.peak is None or mark > st.peak:
                st.peak = mark
            stop = st.peak * self._keep
            if mark <= stop:
                return Signal(symbol, Action.SELL, f"trailing stop {stop:.8g} hit", mark)
            if crossed and st.prev_diff >= 0 > st.diff:  # type: ignore[operator]
                return Signal(symbol, Action.SELL, "short MA crossed below long MA", mark)
            return Signal(symbol, Action.HOLD, "holding", mark)
        st.peak = None
        if st.diff is None:
            return Signal(symbol, Action.HOLD, "warming up", mark)
        if crossed and st.prev_diff <= 0 < st.diff:  # type: ignore[operator]
            return Signal(symbol, Action.BUY, "short MA crossed above long MA", mark)
        return Signal(symbol, Action.HOLD, "no crossover", mark)

    def on_entry(self, symbol: str, price: Decimal) -> None:
        """Called when a buy filled: the trailing stop measures from here."""
        st = self._get(symbol)
        st.peak = price if st.peak is None else max(st.peak, price)

    def snapshot(self) -> dict[str, Any]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            symbol: {
                "closes": [str(p) for p in st.closes],
                "prev_diff": text(st.prev_diff),
                "fresh": st.fresh,
                "bar_start": st.bar_start,
                "bar_close": text(st.bar_close),
                "peak": text(st.peak),
                "samples": st.samples,
            }
            for symbol, st in self._state.items()
        }

    def restore(self, state: dict[str, Any]) -> None:
        def dec(value: Any) -> Decimal | None:
            return None if value is None else Decimal(value)

        self._state.clear()
        for symbol, doc in state.items():
            st = self._get(symbol)
            for text in doc.get("closes", [])[-self.long_window :]:
                self._push(st, Decimal(text))
            if len(st.closes) == self.long_window:
                st.diff = st.short_sum / self.short_window - st.long_sum / self.long_window
                st.prev_diff = dec(doc.get("prev_diff"))
                st.fresh = bool(doc.get("fresh", False))
            st.bar_start = doc.get("bar_start")
            st.bar_close = dec(doc.get("bar_close"))
            st.peak = dec(doc.get("peak"))
            st.samples = int(doc.get("samples", len(st.closes)))
