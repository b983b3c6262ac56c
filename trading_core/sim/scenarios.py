"""Named market scenarios: frozen parameter sets the simulated market applies on top of each
product's own random walk.

Every time here is in seconds after the scenario's start (``SimulatedMarket.scenario_start``, which
is persisted with the market so a restart does not replay the crash from the beginning).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class PriceMove:
    """A deterministic move layered on the random walk: the price is multiplied by
    ``exp(log_return)`` spread evenly over ``[start_s, start_s + duration_s)``."""

    start_s: float
    duration_s: float
    log_return: float

    def share(self, t0: float, t1: float) -> float:
        """The part of ``log_return`` that falls inside the step ``(t0, t1]``."""
        lo = max(t0, self.start_s)
        hi = min(t1, self.start_s + self.duration_s)
        if hi <= lo:
            return 0.0
        return self.log_return * (hi - lo) / self.duration_s


@dataclass(frozen=True, slots=True)
class Scenario:
    """What the market does beyond each product's own volatility.

    - ``drift_per_hour``: fractional drift (0.02 = +2 %/hour), applied as a log drift.
    - ``vol_scale``: multiplier on every product's annualised volatility.
    - ``moves``: scripted moves (crash, flash crash and recovery).
    - ``freeze_after_s``: the feed stops updating after this many seconds (prices, quote time and
      candles freeze; the matching engine keeps matching at the frozen prices).
    - ``missing_bar_rate``: share of 1-minute candles left out of the history (seeded).
    - ``bad_tick_rate``: share of quote updates whose published bid, ask or last carries a
      one-update outlier of ``bad_tick_min``..``bad_tick_max`` either way (seeded). Bad ticks
      are a feed problem: the matching engine works on the true prices.
    """

    name: str
    description: str
    drift_per_hour: float = 0.0
    vol_scale: float = 1.0
    moves: tuple[PriceMove, ...] = ()
    freeze_after_s: float | None = None
    missing_bar_rate: float = 0.0
    bad_tick_rate: float = 0.0
    bad_tick_min: float = 0.15
    bad_tick_max: float = 0.25

    @property
    def log_drift_per_s(self) -> float:
        return math.log1p(self.drift_per_hour) / HOUR_S

    def scripted_log_return(self, t0: float, t1: float) -> float:
        """The deterministic log move (drift + scripted moves) over ``(t0, t1]`` (seconds after
        the scenario's start)."""
        total = self.log_drift_per_s * (t1 - t0) if self.drift_per_hour else 0.0
        for move in self.moves:
            total += move.share(t0, t1)
        return total

    def frozen_at(self, elapsed_s: float) -> bool:
        return self.freeze_after_s is not None and elapsed_s >= self.freeze_after_s


CRASH_AT_S = 3600.0  # the crash scenario's gap down starts an hour in
_FLASH_DROP = 0.12
_FLASH_RECOVERED = 1.0 - _FLASH_DROP * 0.2  # recovers 80 % of the drop

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("calm", "no drift, each product's own volatility"),
        Scenario(
            "trend",
            "steady rise of about +2 %/hour with reduced volatility",
            drift_per_hour=0.02,
            vol_scale=0.4,
        ),
        Scenario(
            "crash",
            "an hour's rally of +4 % (trend followers buy in), then a 10 % gap down within 10 s "
            "(a liquidation cascade) and a further 8 % slide over 45 minutes, then flat: a long "
            "book loses more than 2 % of equity in the day",
            moves=(
                PriceMove(0.0, CRASH_AT_S, math.log(1.04)),
                PriceMove(CRASH_AT_S, 10.0, math.log(0.90)),
                PriceMove(CRASH_AT_S + 10.0, 2700.0, math.log(0.92)),
            ),
        ),
        Scenario(
            "flash-crash",
            "after 3 minutes a 12 % drop within 60 s, then 80 % of it recovers over 10 minutes",
            moves=(
                PriceMove(180.0, 60.0, math.log(1.0 - _FLASH_DROP)),
                PriceMove(240.0, 600.0, math.log(_FLASH_RECOVERED / (1.0 - _FLASH_DROP))),
            ),
        ),
        Scenario(
            "stale",
            "calm for 60 s, then the feed stops: prices, quote time and candles freeze",
            freeze_after_s=60.0,
        ),
        Scenario(
            "gappy",
            "calm prices; about 5 % of 1-minute candles missing and 1 % of quote updates bad ticks",
            missing_bar_rate=0.05,
            bad_tick_rate=0.01,
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ValueError listing the choices otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        choices = ", ".join(SCENARIOS)
        raise ValueError(f"unknown scenario {name!r} (choose from: {choices})") from None
