"""``SimulatedMarket``: a deterministic random-walk market for paper trading and tests.

Each symbol's mid follows geometric Brownian motion in 1-second steps (the product's volatility
times the scenario's ``vol_scale``) plus the scenario's scripted drift and moves. All randomness
comes from ``random.Random`` instances seeded from ``seed`` through sha256, so the same seed and
the same calls give identical quotes, candles and fills. Floats drive the walk; everything handed
out is Decimal quantized to the product's increments (see ``feed.MarketBase``).

Stepping: ``advance_to(t)`` moves in 1-second steps. When the gap exceeds an hour it moves in
minute steps instead (and in hour steps, without candles, further back than the candle capacity),
which bounds the cost of catching up after a long pause.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..clock import ensure_utc
from ..domain import Candle
from .feed import Feed, MarketBase, StepHook, from_epoch
from .products import product_for, profile_for
from .scenarios import Scenario, get_scenario

if TYPE_CHECKING:
    from .replay import ReplayMarket

BAR_CAPACITY = 1500  # closed 1-minute bars kept per symbol (a little over a day)
BACKFILL_MINUTES = 1440  # history generated before a fresh market's start
MAX_CATCH_UP_S = 6 * 3600  # longer gaps are skipped, not walked
FINE_STEP_LIMIT_S = 3600  # gaps up to this are walked second by second
FINE_ZONE_S = BAR_CAPACITY * 60  # beyond this from the target, hour steps without candles
TWO_PI = 2.0 * math.pi


def derive_seed(seed: int, purpose: str) -> int:
    """A 64-bit seed for one purpose (prices, glitches, ids) derived from the run's seed."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def rng_state(rng: random.Random) -> list[Any]:
    """``random.Random`` state as plain JSON values."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def restore_rng(state: Sequence[Any]) -> random.Random:
    rng = random.Random()
    rng.setstate((state[0], tuple(state[1]), state[2]))
    return rng


def encode_bars(bars: Iterable[tuple[int, ...]]) -> list[int]:
    """Closed integer bars as a compact flat list: per bar the start delta and OHLC as deltas."""
    out: list[int] = []
    prev_start = 0
    prev_close = 0
    for start, o, h, lo, c, v in bars:
        out.extend((start - prev_start, o - prev_close, h - o, o - lo, c - o, v))
        prev_start, prev_close = start, c
    return out


def decode_bars(flat: Sequence[int]) -> list[tuple[int, int, int, int, int, int]]:
    bars = []
    start = close = 0
    for i in range(0, len(flat), 6):
        ds, do, dh, dl, dc, v = flat[i : i + 6]
        start += ds
        o = close + do
        close = o + dc
        bars.append((start, o, o + dh, o - dl, close, v))
    return bars


class SimulatedMarket(MarketBase):
    """The random-walk market. Holds one ``Feed`` per symbol (in a fixed order: sorted at
    construction, later additions appended), the scenario and when it started, the price and
    glitch RNGs, and the grid second ``_sec`` the walk has reached."""

    kind = "sim"

    def __init__(
        self,
        symbols: Iterable[str],
        scenario: str = "calm",
        seed: int = 42,
        start: datetime | None = None,
    ) -> None:
        if start is None:
            raise ValueError("SimulatedMarket needs start= (an aware UTC datetime)")
        start = ensure_utc(start)
        self.seed = int(seed)
        self._scenario = get_scenario(scenario)
        self._rng = random.Random(derive_seed(self.seed, "prices"))
        self._glitch_rng = random.Random(derive_seed(self.seed, "glitches"))
        self._time = start
        self._start = start
        self._sec = math.floor(start.timestamp())
        self._scenario_start = self._sec
        self._feeds: dict[str, Feed] = {}
        self._walkers: list[tuple[Feed, float]] = []
        self._configure()
        self.add_symbols(symbols)

    @staticmethod
    def from_csv(
        path: str | Path,
        symbol: str | None = None,
        spread_bps: float | None = None,
        seed: int = 42,
    ) -> ReplayMarket:
        """A market replaying real candles from ``path`` (see ``replay.ReplayMarket``)."""
        from .replay import ReplayMarket

        return ReplayMarket(path, symbol=symbol, spread_bps=spread_bps, seed=seed)

    # --- scenario ----------------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        return self._scenario

    @property
    def scenario_name(self) -> str:  # type: ignore[override]
        return self._scenario.name

    @property
    def scenario_start(self) -> datetime:
        return from_epoch(self._scenario_start)

    @property
    def start_time(self) -> datetime:
        """When this market was created (its back-filled history ends here)."""
        return self._start

    def set_scenario(self, name: str, start: datetime | None = None) -> None:
        """Switch scenario, keeping prices; the new scenario's clock starts at ``start``
        (default: the market's current time)."""
        self._scenario = get_scenario(name)
        when = self._time if start is None else max(ensure_utc(start), self._time)
        self._scenario_start = math.floor(when.timestamp())
        self._configure()

    def _configure(self) -> None:
        scenario = self._scenario
        self._scripted = bool(scenario.drift_per_hour or scenario.moves)
        self._freeze_sec = (
            None
            if scenario.freeze_after_s is None
            else self._scenario_start + math.floor(scenario.freeze_after_s)
        )
        self._bad_rate = scenario.bad_tick_rate
        self._missing_rate = scenario.missing_bar_rate
        self._walkers = [(f, f.sigma_s * scenario.vol_scale) for f in self._feeds.values()]

    # --- symbols -----------------------------------------------------------------------------
    def add_symbols(self, symbols: Iterable[str]) -> list[str]:
        """Start simulating new symbols at their profile price with 24 h of back-filled candles
        ending now; known symbols are left alone. Returns the symbols added (sorted)."""
        new: list[str] = []
        products = {}
        for raw in symbols:
            product = product_for(raw)
            if product.symbol not in self._feeds and product.symbol not in products:
                products[product.symbol] = product
        for symbol in sorted(products):
            profile = profile_for(symbol)
            feed = Feed(
                products[symbol],
                profile,
                profile.start_price,
                self._sec,
                bar_capacity=BAR_CAPACITY,
            )
            self._backfill(feed)
            self._feeds[symbol] = feed
            new.append(symbol)
        self._configure()
        return new

    def _backfill(self, feed: Feed) -> None:
        """24 h of 1-minute bars before now from a calm per-minute walk that ends at the mid."""
        rng = self._rng
        sig = feed.sigma_s * math.sqrt(60.0)
        corr = -0.5 * sig * sig
        x = 0.0
        raw: list[tuple[float, float, float, float]] = []
        for _ in range(BACKFILL_MINUTES):
            o = x
            x += corr + sig * rng.gauss(0.0, 1.0)
            hi = max(o, x) + rng.random() * sig * 0.5
            lo = min(o, x) - rng.random() * sig * 0.5
            raw.append((o, hi, lo, x))
        shift = math.log(feed.mid) - x
        tick_shift = shift - math.log(feed.qi_f)  # log price in ticks = log price + tick_shift
        volume_scale = feed.top_depth_usd * 4.0 / feed.bi_f
        first = self._sec - self._sec % 60 - BACKFILL_MINUTES * 60
        exp = math.exp
        missing = self._missing_rate
        glitch = self._glitch_rng.random
        bars = feed.bars
        for k, (o, hi, lo, c) in enumerate(raw):
            if missing and glitch() < missing:
                continue
            close = exp(c + shift)
            units = int(volume_scale * (0.5 + 1000.0 * (exp(hi - o) - exp(lo - o))) / close)
            bars.append(
                (
                    first + 60 * k,
                    round(exp(o + tick_shift)) or 1,
                    round(exp(hi + tick_shift)) or 1,
                    round(exp(lo + tick_shift)) or 1,
                    round(exp(c + tick_shift)) or 1,
                    units or 1,
                )
            )

    # --- time --------------------------------------------------------------------------------
    def advance_to(self, when: datetime, on_step: StepHook | None = None) -> None:
        """Walk the market forward to ``when`` (no-op if not later than ``time``), calling
        ``on_step(step_time)`` after every step so resting orders see the per-step path."""
        if when.tzinfo is None:
            ensure_utc(when)
        if when <= self._time:
            return
        target = math.floor(when.timestamp())
        if target - self._sec > MAX_CATCH_UP_S:
            # A long absence (a bot restarted after days): the market sat still for all but the
            # last MAX_CATCH_UP_S, whose candles follow a gap. Walking months of a trend or
            # crash scenario would compound its drift into absurd prices.
            self._sec = target - MAX_CATCH_UP_S
        if target > self._sec:
            end = target
            if self._freeze_sec is not None:
                end = min(target, max(self._sec, self._freeze_sec))
            if end > self._sec:
                self._walk(end, on_step)
            self._sec = target
        self._time = when

    def _walk(self, end: int, on_step: StepHook | None) -> None:
        if end - self._sec <= FINE_STEP_LIMIT_S:
            for s in range(self._sec + 1, end + 1):
                self._step(s, 1)
                if on_step is not None:
                    on_step(from_epoch(s))
            return
        s = self._sec
        while s < end:
            remaining = end - s
            if remaining > FINE_ZONE_S:
                dt = min(3600, remaining - FINE_ZONE_S)
            else:
                dt = min(60 - s % 60, remaining)
            s += dt
            self._step(s, dt)
            if on_step is not None:
                on_step(from_epoch(s))

    def _step(self, s: int, dt: int) -> None:
        """Move every feed over ``(self._sec, s]``; ``dt`` is the step length in seconds."""
        if self._scripted:
            base = self._scenario_start
            extra = self._scenario.scripted_log_return(self._sec - base, s - base)
        else:
            extra = 0.0
        self._sec = s
        rand = self._rng.random
        root = 1.0 if dt == 1 else math.sqrt(dt)
        make_bars = dt <= 60
        minute = (s - 1) - (s - 1) % 60
        closes = s % 60 == 0
        bad_rate = self._bad_rate
        exp, log, sqrt, cos, sin = math.exp, math.log, math.sqrt, math.cos, math.sin
        spare: float | None = None
        for feed, sigma in self._walkers:
            # standard normals by Box-Muller, two per pair of random() draws
            if spare is None:
                angle = TWO_PI * rand()
                radius = sqrt(-2.0 * log(1.0 - rand()))
                z = cos(angle) * radius
                spare = sin(angle) * radius
            else:
                z, spare = spare, None
            sd = sigma * root
            old = feed.mid
            new = old * exp(extra - 0.5 * sd * sd + sd * z)
            feed.mid = new
            feed.quote_sec = s
            feed.quote = None
            feed.tick_cache = None
            if make_bars:
                bar = feed.bar
                if bar is None or bar[0] != minute:
                    if bar is not None:
                        self._close_bar(feed)
                    feed.bar = [minute, old, max(old, new), min(old, new), new]
                else:
                    if new > bar[2]:
                        bar[2] = new
                    elif new < bar[3]:
                        bar[3] = new
                    bar[4] = new
                if closes:
                    self._close_bar(feed)
            if bad_rate:
                feed.bad_tick = self._draw_bad_tick()

    def _draw_bad_tick(self) -> tuple[int, float] | None:
        rng = self._glitch_rng
        if rng.random() >= self._bad_rate:
            return None
        scenario = self._scenario
        size = rng.uniform(scenario.bad_tick_min, scenario.bad_tick_max)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        return (rng.randrange(3), 1.0 + sign * size)

    def _close_bar(self, feed: Feed) -> None:
        bar = feed.bar
        feed.bar = None
        if bar is None:
            return
        if self._missing_rate and self._glitch_rng.random() < self._missing_rate:
            return
        feed.bars.append(self._bar_ticks(feed, bar))

    @staticmethod
    def _bar_ticks(feed: Feed, bar: Sequence[float]) -> tuple[int, int, int, int, int, int]:
        qi = feed.qi_f
        o = max(1, round(bar[1] / qi))
        h = max(1, round(bar[2] / qi))
        lo = max(1, round(bar[3] / qi))
        c = max(1, round(bar[4] / qi))
        range_frac = (bar[2] - bar[3]) / bar[1]
        volume_usd = feed.top_depth_usd * 4.0 * (0.5 + 1000.0 * range_frac)
        units = max(1, int(volume_usd / bar[4] / feed.bi_f))
        return (int(bar[0]), o, h, lo, c, units)

    def _make_candle(self, feed: Feed, g: int, start: int, ohlcv: Iterable[Any]) -> Candle:
        o, h, lo, c, v = ohlcv
        qi = feed.qi
        return Candle(
            symbol=feed.symbol,
            start=from_epoch(start),
            granularity_s=g,
            open=Decimal(o) * qi,
            high=Decimal(h) * qi,
            low=Decimal(lo) * qi,
            close=Decimal(c) * qi,
            volume=Decimal(v) * feed.bi,
        )

    def _closed_cutoff(self) -> int:
        return self._sec

    # --- persistence -------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: time, scenario clock, RNGs, mids, bars."""
        return {
            "kind": self.kind,
            "seed": self.seed,
            "scenario": self._scenario.name,
            "scenario_start": self._scenario_start,
            "start": self._start.isoformat(),
            "time": self._time.isoformat(),
            "sec": self._sec,
            "rng": rng_state(self._rng),
            "glitch_rng": rng_state(self._glitch_rng),
            "feeds": [
                {
                    "symbol": f.symbol,
                    "mid": f.mid,
                    "quote_sec": f.quote_sec,
                    "bad_tick": None if f.bad_tick is None else list(f.bad_tick),
                    "bar": f.bar,
                    "bars": encode_bars(f.bars),
                }
                for f in self._feeds.values()
            ],
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        *,
        scenario: str | None = None,
        now: datetime | None = None,
    ) -> SimulatedMarket:
        """Rebuild a market saved by ``to_state``. With a different ``scenario`` the prices carry
        on and the new scenario's clock starts at ``now`` (default: the saved market time)."""
        market = cls.__new__(cls)
        market.seed = int(state["seed"])
        market._scenario = get_scenario(state["scenario"])
        market._rng = restore_rng(state["rng"])
        market._glitch_rng = restore_rng(state["glitch_rng"])
        market._time = ensure_utc(datetime.fromisoformat(state["time"]))
        market._start = ensure_utc(datetime.fromisoformat(state["start"]))
        market._sec = int(state["sec"])
        market._scenario_start = int(state["scenario_start"])
        market._feeds = {}
        for item in state["feeds"]:
            symbol = item["symbol"]
            feed = Feed(
                product_for(symbol),
                profile_for(symbol),
                float(item["mid"]),
                item["quote_sec"],
                bar_capacity=BAR_CAPACITY,
            )
            bad = item.get("bad_tick")
            feed.bad_tick = None if bad is None else (int(bad[0]), float(bad[1]))
            feed.bar = None if item["bar"] is None else [float(v) for v in item["bar"]]
            feed.bars.extend(decode_bars(item["bars"]))
            market._feeds[symbol] = feed
        market._configure()
        if scenario is not None and scenario != market._scenario.name:
            market.set_scenario(scenario, now)
        return market
