"""The baseline: moving-average crossover entries with a trailing-stop exit, long-only on spot.

Buy when the short MA crosses above the long MA while flat; sell the whole position when the
short MA crosses below the long MA or the price falls ``trailing_stop_pct`` below its peak since
entry. One price sample per cycle; running sums keep each update O(1)."""

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
    prices: deque[Decimal]
    short_sum: Decimal = ZERO
    long_sum: Decimal = ZERO
    prev_diff: Decimal | None = None  # short MA - long MA at the previous sample
    diff: Decimal | None = None
    peak: Decimal | None = None  # highest price since the current long was opened
    samples: int = 0


class MaCrossoverStrategy:
    name = "ma_crossover"

    def __init__(self, short_window: int, long_window: int, trailing_stop_pct: Decimal) -> None:
        if not 1 <= short_window < long_window:
            raise ValueError("need 1 <= short_window < long_window")
        self.short_window = short_window
        self.long_window = long_window
        self.trailing_stop_pct = trailing_stop_pct
        self._keep = Decimal(1) - trailing_stop_pct
        self._state: dict[str, _SymbolState] = {}

    def _get(self, symbol: str) -> _SymbolState:
        state = self._state.get(symbol)
        if state is None:
            state = _SymbolState(prices=deque(maxlen=self.long_window))
            self._state[symbol] = state
        return state

    def _push(self, st: _SymbolState, price: Decimal) -> None:
        prices = st.prices
        if len(prices) == self.long_window:
            st.long_sum -= prices[0]
        if len(prices) >= self.short_window:
            st.short_sum -= prices[-self.short_window]
        prices.append(price)  # the deque drops prices[0] itself when full
        st.short_sum += price
        st.long_sum += price

    def on_price(self, symbol: str, price: Decimal, now: datetime) -> None:
        st = self._get(symbol)
        self._push(st, price)
        st.samples += 1
        if st.peak is not None and price > st.peak:
            st.peak = price
        if len(st.prices) == self.long_window:
            st.prev_diff = st.diff
            st.diff = st.short_sum / self.short_window - st.long_sum / self.long_window

    def moving_averages(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        st = self._state.get(symbol)
        if st is None or len(st.prices) < self.long_window:
            return None
        return st.short_sum / self.short_window, st.long_sum / self.long_window

    def decide(self, symbol: str, position_qty: Decimal, mark: Decimal) -> Signal:
        st = self._get(symbol)
        if position_qty > ZERO:
            # no peak yet: a position found on start or opened elsewhere trails from here
            if st.peak is None or mark > st.peak:
                st.peak = mark
            stop = st.peak * self._keep
            if mark <= stop:
                return Signal(symbol, Action.SELL, f"trailing stop {stop:.8g} hit", mark)
            if st.prev_diff is not None and st.diff is not None and st.prev_diff >= 0 > st.diff:
                return Signal(symbol, Action.SELL, "short MA crossed below long MA", mark)
            return Signal(symbol, Action.HOLD, "holding", mark)
        st.peak = None
        if st.diff is None or st.prev_diff is None:
            return Signal(symbol, Action.HOLD, "warming up", mark)
        if st.prev_diff <= 0 < st.diff:
            return Signal(symbol, Action.BUY, "short MA crossed above long MA", mark)
        return Signal(symbol, Action.HOLD, "no crossover", mark)

    def on_entry(self, symbol: str, price: Decimal) -> None:
        """Called when a buy filled: the trailing stop measures from here."""
        st = self._get(symbol)
        st.peak = price if st.peak is None else max(st.peak, price)

    def snapshot(self) -> dict[str, Any]:
        return {
            symbol: {
                "prices": [str(p) for p in st.prices],
                "prev_diff": None if st.prev_diff is None else str(st.prev_diff),
                "peak": None if st.peak is None else str(st.peak),
                "samples": st.samples,
            }
            for symbol, st in self._state.items()
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._state.clear()
        for symbol, doc in state.items():
            st = self._get(symbol)
            for text in doc.get("prices", [])[-self.long_window :]:
                self._push(st, Decimal(text))
            if len(st.prices) == self.long_window:
                st.diff = st.short_sum / self.short_window - st.long_sum / self.long_window
                prev = doc.get("prev_diff")
                st.prev_diff = None if prev is None else Decimal(prev)
            peak = doc.get("peak")
            st.peak = None if peak is None else Decimal(peak)
            st.samples = int(doc.get("samples", len(st.prices)))
