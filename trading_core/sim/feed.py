"""What the simulated venue publishes for one product, and the parts every market shares.

A ``Feed`` holds the float mid that drives a symbol (the random walk or a replayed path), the
time of its last update, its closed candles and the Decimal objects built from them (cached, so
reading a quote twice in one step costs nothing). ``MarketBase`` turns feeds into the
Broker-facing value types: Quote, OrderBook and Candle, always Decimal quantized to the product's
increments.

Prices inside are integer *ticks* (multiples of the quote increment) and sizes integer *units*
(multiples of the base increment), so matching compares ints and builds Decimals only for fills.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from ..clock import ensure_utc
from ..domain import BookLevel, Candle, OrderBook, Product, Quote
from ..errors import UnknownProduct
from .products import SymbolProfile

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GRANULARITIES = (60, 300, 900, 1800, 3600, 7200, 21600, 86400)
MAX_BOOK_LEVELS = 200
BookSide = list[tuple[int, int]]  # (price in ticks, size in units), best first
StepHook = Callable[[datetime], None]


def epoch_seconds(when: datetime) -> float:
    """Seconds since 1970 for an aware datetime (naive ones are refused)."""
    return ensure_utc(when).timestamp()


_last_epoch: tuple[float, datetime] = (math.nan, EPOCH)


def from_epoch(seconds: float) -> datetime:
    """The aware UTC datetime for epoch ``seconds``. The last answer is cached (feeds updated in
    the same step share it); the cache is one tuple swapped atomically, so threads are safe."""
    global _last_epoch
    cached = _last_epoch
    if cached[0] == seconds:
        return cached[1]
    value = EPOCH + timedelta(seconds=seconds)
    _last_epoch = (seconds, value)
    return value


def check_granularity(granularity_s: int) -> int:
    if granularity_s not in GRANULARITIES:
        allowed = ", ".join(str(g) for g in GRANULARITIES)
        raise ValueError(
            f"unsupported candle granularity {granularity_s} s (choose from: {allowed})"
        )
    return granularity_s


class Feed:
    """One symbol's live state inside a market.

    - ``mid``: the true mid price (float; drives everything else).
    - ``quote_sec``: epoch seconds of the last price update (the published quote's ``time``).
    - ``bad_tick``: ``(field, factor)`` when the current update publishes an outlier, else None.
    - ``bar``: the 1-minute bar being built, ``[start, open, high, low, close]`` floats (sim only).
    - ``bars``: closed bars, oldest first, as ``(start, open, high, low, close, volume)`` tuples
      of ints (ticks and units) in the simulator and Decimals in a replay.
    """

    __slots__ = (
        "bad_tick",
        "bar",
        "bars",
        "bi",
        "bi_f",
        "candle_cache",
        "half_spread",
        "level_step",
        "mid",
        "product",
        "profile",
        "qi",
        "qi_f",
        "quote",
        "quote_sec",
        "sigma_s",
        "symbol",
        "tick_cache",
        "top_depth_usd",
    )

    def __init__(
        self,
        product: Product,
        profile: SymbolProfile,
        mid: float,
        quote_sec: float,
        *,
        spread_bps: float | None = None,
        bar_capacity: int = 1500,
    ) -> None:
        self.symbol = product.symbol
        self.product = product
        self.profile = profile
        self.qi = product.quote_increment
        self.bi = product.base_increment
        self.qi_f = float(product.quote_increment)
        self.bi_f = float(product.base_increment)
        spread = profile.spread_bps if spread_bps is None else spread_bps
        self.half_spread = spread / 2.0 / 10_000.0
        self.level_step = profile.level_step_bps / 10_000.0
        self.top_depth_usd = profile.top_depth_usd
        self.sigma_s = profile.annual_vol / math.sqrt(365.0 * 86_400.0)
        self.mid = mid
        self.quote_sec = quote_sec
        self.bad_tick: tuple[int, float] | None = None
        self.bar: list[float] | None = None
        self.bars: deque[tuple[Any, ...]] = deque(maxlen=bar_capacity)
        self.candle_cache: dict[tuple[int, int], Candle] = {}
        self.quote: Quote | None = None
        self.tick_cache: tuple[int, int, int, int] | None = None

    def moved(self) -> None:
        """Forget cached values after ``mid`` or ``quote_sec`` changed."""
        self.quote = None
        self.tick_cache = None

    def ticks(self) -> tuple[int, int, int, int]:
        """True (bid, ask, last) in ticks and the book's top-level size in units: bid/ask are
        mid ∓ half the spread, last is the mid."""
        cached = self.tick_cache
        if cached is not None:
            return cached
        mid = self.mid
        mid_t = mid / self.qi_f
        half = mid_t * self.half_spread
        bid = math.floor(mid_t - half)
        if bid < 1:
            bid = 1
        ask = math.ceil(mid_t + half)
        if ask <= bid:
            ask = bid + 1
        last = round(mid_t)
        if last < bid:
            last = bid
        elif last > ask:
            last = ask
        top = int(self.top_depth_usd / mid / self.bi_f) or 1
        cached = self.tick_cache = (bid, ask, last, top)
        return cached

    def levels(self, taking: str) -> Iterator[tuple[int, int]]:
        """Synthetic resting liquidity a taker on ``taking`` side ('BUY' takes asks) meets, best
        first, as (price ticks, size units): levels step ``level_step_bps`` outwards and grow by
        half the top size per level, up to ``MAX_BOOK_LEVELS``. Rebuilt from the mid every step."""
        bid, ask, _, top = self.ticks()
        step = max(1, round(self.mid / self.qi_f * self.level_step))
        if taking == "BUY":
            for i in range(MAX_BOOK_LEVELS):
                yield (ask + i * step, top + (top * i) // 2)
        else:
            for i in range(MAX_BOOK_LEVELS):
                price = bid - i * step
                if price < 1:
                    return
                yield (price, top + (top * i) // 2)

    def book_side(self, taking: str, max_levels: int = MAX_BOOK_LEVELS) -> BookSide:
        return list(islice(self.levels(taking), max_levels))


class MarketBase:
    """Shared read side of every simulated market (random walk or replay).

    Subclasses own the time axis: they set ``_time`` (the market's clock, aware UTC), move each
    feed's ``mid``/``quote_sec`` in ``advance_to`` and call ``Feed.moved()`` when they do."""

    kind = "base"
    seed: int
    scenario_name: str
    _feeds: dict[str, Feed]
    _time: datetime

    # --- time --------------------------------------------------------------------------------
    @property
    def time(self) -> datetime:
        """The market's current time (aware UTC): the latest time it was advanced to."""
        return self._time

    def advance_to(self, when: datetime, on_step: StepHook | None = None) -> None:
        """Move the market to ``when``, calling ``on_step(step_time)`` after each price step."""
        raise NotImplementedError

    def add_symbols(self, symbols: Iterable[str]) -> list[str]:
        """Start quoting more symbols; returns those that were new."""
        raise NotImplementedError

    def to_state(self) -> dict[str, Any]:
        """JSON-able state from which the market continues exactly."""
        raise NotImplementedError

    def _closed_cutoff(self) -> int:
        """Epoch second up to which candles are final (a bucket ending later is not closed)."""
        return math.floor(self._time.timestamp())

    # --- reference data ----------------------------------------------------------------------
    @property
    def symbols(self) -> list[str]:
        return list(self._feeds)

    def product(self, symbol: str) -> Product:
        return self.feed(symbol).product

    def products(self) -> list[Product]:
        return [feed.product for feed in self._feeds.values()]

    def find(self, symbol: str) -> Feed | None:
        """The feed for an exact (canonical) symbol, or None."""
        return self._feeds.get(symbol)

    def feed(self, symbol: str) -> Feed:
        try:
            return self._feeds[symbol]
        except KeyError:
            raise UnknownProduct(f"{symbol} is not traded on this simulated market") from None

    # --- market data -------------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote:
        """The published quote (cached until the next update; may carry a scenario's bad tick)."""
        feed = self.feed(symbol)
        cached = feed.quote
        if cached is not None:
            return cached
        bid, ask, last, top = feed.ticks()
        if feed.bad_tick is not None:
            prices = [bid, ask, last]
            index, factor = feed.bad_tick
            prices[index] = max(1, round(prices[index] * factor))
            bid, ask, last = prices
        qi = feed.qi
        size = Decimal(top) * feed.bi
        quote = feed.quote = Quote(
            feed.symbol,
            Decimal(bid) * qi,
            Decimal(ask) * qi,
            Decimal(last) * qi,
            from_epoch(feed.quote_sec),
            size,
            size,
        )
        return quote

    def ticks(self, symbol: str) -> tuple[int, int, int, int]:
        """True (bid, ask, last) in ticks and the top book size in units, without any bad tick:
        what matching uses."""
        return self.feed(symbol).ticks()

    def book_side(self, symbol: str, taking: str, max_levels: int = MAX_BOOK_LEVELS) -> BookSide:
        return self.feed(symbol).book_side(taking, max_levels)

    def order_book(self, symbol: str, depth: int = 10) -> OrderBook:
        """A synthetic book around the true mid, ``depth`` levels a side, best first."""
        if depth < 1:
            raise ValueError("depth must be at least 1")
        feed = self.feed(symbol)
        qi, bi = feed.qi, feed.bi

        def levels(side: BookSide) -> tuple[BookLevel, ...]:
            return tuple(BookLevel(Decimal(p) * qi, Decimal(s) * bi) for p, s in side)

        return OrderBook(
            symbol=feed.symbol,
            bids=levels(feed.book_side("SELL", depth)),
            asks=levels(feed.book_side("BUY", depth)),
            time=from_epoch(feed.quote_sec),
        )

    def candles(
        self, symbol: str, granularity_s: int, limit: int = 300, end: datetime | None = None
    ) -> list[Candle]:
        """Closed candles, oldest first: at most ``limit`` buckets of ``granularity_s`` (aligned
        to the epoch) that end at or before ``end`` (default: now), built from the feed's bars."""
        feed = self.feed(symbol)
        g = self._check_candle_granularity(granularity_s)
        if limit < 1:
            raise ValueError("limit must be at least 1")
        final = self._closed_cutoff()
        cutoff = final if end is None else min(final, math.floor(epoch_seconds(end)))
        out: list[Candle] = []
        group: list[tuple[Any, ...]] = []
        bucket = -1
        for bar in reversed(feed.bars):
            start = bar[0] - bar[0] % g
            if start + g > cutoff:
                continue
            if start != bucket:
                if group:
                    out.append(self._bucket_candle(feed, g, bucket, group, final))
                    if len(out) >= limit:
                        group = []
                        break
                bucket = start
                group = []
            group.append(bar)
        if group:
            out.append(self._bucket_candle(feed, g, bucket, group, final))
        out.reverse()
        if len(feed.candle_cache) > 8 * (feed.bars.maxlen or 1500):
            feed.candle_cache.clear()
        return out

    def _check_candle_granularity(self, granularity_s: int) -> int:
        return check_granularity(granularity_s)

    def _bucket_candle(
        self, feed: Feed, g: int, start: int, group: Sequence[tuple[Any, ...]], final: int
    ) -> Candle:
        """The candle for one bucket from its bars (``group``, newest first); cached once final."""
        key = (g, start)
        cached = feed.candle_cache.get(key)
        if cached is not None:
            return cached
        opens = group[-1][1]
        close = group[0][4]
        high = max(bar[2] for bar in group)
        low = min(bar[3] for bar in group)
        volume = sum(bar[5] for bar in group)
        candle = self._make_candle(feed, g, start, (opens, high, low, close, volume))
        if start + g <= final:
            feed.candle_cache[key] = candle
        return candle

    def _make_candle(self, feed: Feed, g: int, start: int, ohlcv: Iterable[Any]) -> Candle:
        raise NotImplementedError
