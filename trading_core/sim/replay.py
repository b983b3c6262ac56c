"""Replaying real OHLCV candles from a CSV file as a market.

The file format is the one in ``shared/data`` (see its README): a header
``timestamp,open,high,low,close,volume`` then one row per candle, ``timestamp`` the candle's open
time in ISO 8601 UTC. ``ReplayMarket`` has the read interface of ``SimulatedMarket`` and drives its
one symbol along a path through each candle: the open at the start, then (bullish candle) the low
and then the high, or (bearish) the high and then the low, at one and two thirds of the bar, and the
close in its last second, linear in between. Real gaps in the data are not filled: the price stays
at the last close and the quote's time stays at the last bar's last second, so the feed looks stale.
"""

from __future__ import annotations

import csv
import itertools
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..clock import ensure_utc, parse_utc
from ..domain import Candle, validate_symbol
from ..errors import DataError
from .feed import GRANULARITIES, Feed, MarketBase, StepHook, check_granularity, from_epoch
from .products import product_for, profile_for

HEADER = ["timestamp", "open", "high", "low", "close", "volume"]
QUOTE_TOKENS = ("usd", "usdc", "usdt", "eur", "gbp")
BASE_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
REPLAY_BAR_CAPACITY = 5000  # revealed candles kept for candle requests

Bar = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]  # start, open, high, low, close, vol


@dataclass(frozen=True, slots=True)
class CandleFile:
    """A validated candle CSV: its bars in time order and their granularity in seconds."""

    path: Path
    bars: tuple[Bar, ...]
    granularity_s: int

    @property
    def starts(self) -> list[int]:
        return [bar[0] for bar in self.bars]


def infer_symbol(path: str | Path) -> str:
    """``coinbase_btc_usd_1h_...csv`` -> ``BTC-USD`` (Kraken's XBT is BTC); DataError if the
    file name names no BASE_QUOTE pair."""
    tokens = Path(path).stem.lower().replace("-", "_").split("_")
    for base, quote in itertools.pairwise(tokens):
        if quote in QUOTE_TOKENS and base.isalnum() and base not in QUOTE_TOKENS:
            name = BASE_ALIASES.get(base.upper(), base.upper())
            try:
                return validate_symbol(f"{name}-{quote.upper()}")
            except ValueError:
                continue
    raise DataError(f"{path}: cannot tell the symbol from the file name (pass symbol=...)")


def _bad(path: Path, line: int, problem: str) -> DataError:
    return DataError(f"{path}:{line}: {problem}")


def _number(path: Path, line: int, name: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _bad(path, line, f"{name} is not a number: {text!r}") from None
    if not value.is_finite():
        raise _bad(path, line, f"{name} is not a finite number: {text!r}")
    return value


def _epoch_second(path: Path, line: int, text: str) -> int:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parse_utc(text)
        except ValueError:
            raise _bad(path, line, f"timestamp is not ISO 8601: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = when.timestamp()
    whole = int(seconds)
    if whole != seconds:
        raise _bad(path, line, "timestamp is not on a whole second")
    return whole


def load_candle_file(path: str | Path, granularity_s: int | None = None) -> CandleFile:
    """Read and check every row; the first bad one raises DataError naming file and line."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    bars: list[Bar] = []
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header] != HEADER:
            raise _bad(path, 1, f"expected the header {','.join(HEADER)}")
        previous: int | None = None
        blank_line: int | None = None
        for line, row in enumerate(reader, start=2):
            if len(row) != 6:
                if not row or all(not cell.strip() for cell in row):
                    blank_line = blank_line or line
                    continue
                raise _bad(path, line, f"expected 6 fields, got {len(row)}")
            if blank_line is not None:
                raise _bad(path, blank_line, "empty row")
            start = _epoch_second(path, line, row[0])
            try:
                o, h, lo, c, v = map(Decimal, row[1:])
                finite = o.is_finite() and h.is_finite() and lo.is_finite() and c.is_finite()
            except InvalidOperation:
                finite = False
            if not finite or not v.is_finite():
                o, h, lo, c, v = (
                    _number(path, line, name, text)
                    for name, text in zip(HEADER[1:], row[1:], strict=True)
                )
            if min(o, h, lo, c) <= 0:
                raise _bad(path, line, "non-positive price")
            if h < max(o, c):
                raise _bad(path, line, f"high {h} below open/close")
            if lo > min(o, c):
                raise _bad(path, line, f"low {lo} above open/close")
            if v < 0:
                raise _bad(path, line, f"negative volume {v}")
            if previous is not None and start <= previous:
                raise _bad(path, line, f"timestamp {row[0].strip()} not after the previous row's")
            previous = start
            bars.append((start, o, h, lo, c, v))
    if not bars:
        raise DataError(f"{path}: no candles")
    if granularity_s is None:
        if len(bars) < 2:
            raise DataError(f"{path}: one candle: cannot infer the granularity (pass it)")
        deltas = Counter(b[0] - a[0] for a, b in itertools.pairwise(bars))
        granularity_s = min(deltas, key=lambda d: (-deltas[d], d))
    for index in range(1, len(bars)):
        if bars[index][0] - bars[index - 1][0] < granularity_s:
            raise _bad(
                path, index + 2, f"candle overlaps the previous one ({granularity_s} s bars)"
            )
    return CandleFile(path=path, bars=tuple(bars), granularity_s=granularity_s)


def replay_start_time(path: str | Path) -> datetime:
    """The first candle's open time, read cheaply (for starting a runner's virtual clock)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for line, row in enumerate(reader, start=2):
            if row:
                try:
                    return parse_utc(row[0])
                except ValueError:
                    raise _bad(path, line, f"timestamp is not ISO 8601: {row[0]!r}") from None
    raise DataError(f"{path}: no candles")


class ReplayMarket(MarketBase):
    """A one-symbol market driven by a candle file. Holds the file's bars (Decimal, exact) with
    float copies for the path, a cursor at the bar the market time is in, and the feed whose
    ``bars`` are the candles revealed so far (those that ended at or before the market time)."""

    kind = "replay"
    scenario_name = "replay"

    def __init__(
        self,
        path: str | Path,
        *,
        symbol: str | None = None,
        spread_bps: float | None = None,
        seed: int = 42,
        granularity_s: int | None = None,
    ) -> None:
        self.path = Path(path)
        data = load_candle_file(self.path, granularity_s)
        self.symbol = product_for(symbol or infer_symbol(self.path)).symbol
        self.seed = int(seed)
        self.spread_bps = spread_bps
        self.granularity_s = data.granularity_s
        self._bars = data.bars
        self._starts = data.starts
        self._path_points = [
            (float(o), float(lo), float(h), float(c))
            if c >= o
            else (float(o), float(h), float(lo), float(c))
            for _, o, h, lo, c, _ in data.bars
        ]
        product = product_for(self.symbol)
        if product.is_perp:
            raise DataError(f"{self.path}: replaying perpetuals is not supported")
        self._feed = Feed(
            product,
            profile_for(self.symbol),
            float(data.bars[0][1]),
            data.bars[0][0],
            spread_bps=spread_bps,
            bar_capacity=REPLAY_BAR_CAPACITY,
        )
        self._feeds = {self.symbol: self._feed}
        self._cursor = 0
        self._revealed = 0
        self._t = float(data.bars[0][0])
        self._time = from_epoch(data.bars[0][0])

    # --- reference ---------------------------------------------------------------------------
    @property
    def start_time(self) -> datetime:
        """The first candle's open time: where a replay's virtual clock should start."""
        return from_epoch(self._starts[0])

    @property
    def end_time(self) -> datetime:
        """The last candle's close time."""
        return from_epoch(self._starts[-1] + self.granularity_s)

    @property
    def finished(self) -> bool:
        return self._t >= self._starts[-1] + self.granularity_s

    def add_symbols(self, symbols: Iterable[str]) -> list[str]:
        """A replay has exactly one symbol; asking for others is an error."""
        others = sorted({product_for(s).symbol for s in symbols} - {self.symbol})
        if others:
            raise ValueError(
                f"replay of {self.path.name} only has {self.symbol}; cannot add {', '.join(others)}"
            )
        return []

    # --- time --------------------------------------------------------------------------------
    def advance_to(self, when: datetime, on_step: StepHook | None = None) -> None:
        """Move along the path to ``when``; with ``on_step``, stop at every path vertex on the
        way (the path is piecewise linear, so vertices are where resting orders can cross)."""
        if when.tzinfo is None:
            ensure_utc(when)
        if when <= self._time:
            return
        t1 = when.timestamp()
        if on_step is not None:
            for vertex in self._vertices(self._t, t1):
                self._set(vertex)
                on_step(from_epoch(vertex))
        self._set(t1)
        self._reveal(t1)
        self._time = when

    def _vertices(self, t0: float, t1: float) -> Iterable[float]:
        g = self.granularity_s
        third = (g - 1) / 3.0
        starts = self._starts
        i = self._cursor
        while i < len(starts):
            s = starts[i]
            if s > t1:
                return
            for v in (s, s + third, s + 2 * third, s + g - 1):
                if t0 < v <= t1:
                    yield v
            i += 1

    def _set(self, t: float) -> None:
        starts = self._starts
        i = self._cursor
        if i + 1 < len(starts) and starts[i + 1] <= t:
            i = bisect_right(starts, t, lo=i) - 1
            self._cursor = i
        start = starts[i]
        g = self.granularity_s
        o, a, b, c = self._path_points[i]
        offset = t - start
        last_second = g - 1
        if offset >= last_second:
            price = c
            quote_sec: float = t if offset < g else start + last_second
        else:
            third = last_second / 3.0
            quote_sec = t
            if offset <= third:
                price = o + (a - o) * offset / third
            elif offset <= 2 * third:
                price = a + (b - a) * (offset - third) / third
            else:
                price = b + (c - b) * (offset - 2 * third) / third
        feed = self._feed
        feed.mid = price
        feed.quote_sec = quote_sec
        feed.quote = None
        feed.tick_cache = None
        self._t = t

    def _reveal(self, t: float) -> None:
        g = self.granularity_s
        bars = self._bars
        n = self._revealed
        if n < len(bars) and bars[n][0] + g <= t:
            end = bisect_right(self._starts, t - g, lo=n)
            self._feed.bars.extend(bars[max(n, end - REPLAY_BAR_CAPACITY) : end])
            self._revealed = end

    # --- candles -----------------------------------------------------------------------------
    def _check_candle_granularity(self, granularity_s: int) -> int:
        native = self.granularity_s
        if granularity_s != native:
            check_granularity(granularity_s)
        if granularity_s < native or granularity_s % native:
            allowed = [g for g in GRANULARITIES if g >= native and g % native == 0]
            raise ValueError(
                f"replay data are {native} s candles: cannot serve {granularity_s} s candles "
                f"(choose from: {', '.join(str(g) for g in allowed)})"
            )
        return granularity_s

    def _make_candle(self, feed: Feed, g: int, start: int, ohlcv: Iterable[Any]) -> Candle:
        o, h, lo, c, v = ohlcv
        return Candle(
            symbol=feed.symbol,
            start=from_epoch(start),
            granularity_s=g,
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=v,
        )

    # --- persistence -------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The replay cursor: which file, where in it, and how it is quoted."""
        return {
            "kind": self.kind,
            "path": str(self.path),
            "symbol": self.symbol,
            "seed": self.seed,
            "spread_bps": self.spread_bps,
            "granularity_s": self.granularity_s,
            "rows": len(self._bars),
            "first": self._starts[0],
            "last": self._starts[-1],
            "time": self._time.isoformat(),
            "t": self._t,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, path: str | Path | None = None) -> ReplayMarket:
        """Reload the file (``path`` overrides the saved one) and move to the saved time; the
        file must still hold the same candles."""
        source = Path(path) if path is not None else Path(state["path"])
        market = cls(
            source,
            symbol=state["symbol"],
            spread_bps=state.get("spread_bps"),
            seed=int(state["seed"]),
            granularity_s=int(state["granularity_s"]),
        )
        expected = (int(state["rows"]), int(state["first"]), int(state["last"]))
        found = (len(market._bars), market._starts[0], market._starts[-1])
        if expected != found:
            raise DataError(f"{source}: not the candle file this replay was saved with")
        when = ensure_utc(datetime.fromisoformat(state["time"]))
        market.advance_to(when)
        if not math.isclose(market._t, float(state["t"]), abs_tol=1e-6):
            raise DataError(f"{source}: could not restore the replay position")
        return market
