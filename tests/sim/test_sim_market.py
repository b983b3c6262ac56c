"""SimulatedMarket: determinism, quantization, candles, scenarios, products."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading_core.domain import ProductType, is_multiple
from trading_core.errors import UnknownProduct
from trading_core.sim import (
    SCENARIOS,
    SimulatedMarket,
    default_products,
    get_scenario,
    product_for,
    profile_for,
)
from trading_core.sim.market import BACKFILL_MINUTES

START = datetime(2025, 1, 1, tzinfo=UTC)
TOP_TEN = list(default_products())


def run(market: SimulatedMarket, seconds: int, step: int = 5) -> list[tuple]:
    """Advance in ``step``-second cycles, recording every symbol's quote each cycle."""
    seen = []
    t = market.time
    for _ in range(seconds // step):
        t += timedelta(seconds=step)
        market.advance_to(t)
        for symbol in market.symbols:
            q = market.quote(symbol)
            seen.append((q.symbol, q.bid, q.ask, q.last, q.time))
    return seen


def mids(market: SimulatedMarket, symbol: str, seconds: int, step: int = 10) -> list[Decimal]:
    out = []
    t = market.time
    for _ in range(seconds // step):
        t += timedelta(seconds=step)
        market.advance_to(t)
        out.append(market.quote(symbol).mid)
    return out


# --- products ---------------------------------------------------------------------------------


def test_default_products_are_the_top_ten_with_coinbase_increments() -> None:
    products = default_products()
    assert sorted(products) == sorted(
        f"{b}-USD"
        for b in ("BTC", "ETH", "SOL", "XRP", "LTC", "ADA", "DOGE", "BCH", "AVAX", "LINK")
    )
    btc = products["BTC-USD"]
    assert (btc.base_increment, btc.quote_increment) == (Decimal("0.00000001"), Decimal("0.01"))
    assert products["XRP-USD"].quote_increment == Decimal("0.0001")
    assert products["ADA-USD"].quote_increment == Decimal("0.0001")
    doge = products["DOGE-USD"]
    assert (doge.base_increment, doge.quote_increment) == (Decimal("0.1"), Decimal("0.00001"))
    link = products["LINK-USD"]
    assert (link.base_increment, link.quote_increment) == (Decimal("0.01"), Decimal("0.001"))
    for product in products.values():
        assert product.min_notional == Decimal("1")
        assert product.base_min_size >= product.base_increment
        assert product.product_type is ProductType.SPOT
    assert 90_000 < profile_for("BTC-USD").start_price < 100_000
    assert profile_for("BTC-USD").spread_bps == 1.0
    assert profile_for("ETH-USD").spread_bps == 2.0


def test_unknown_spot_symbols_get_a_deterministic_synthetic_product() -> None:
    a, b = product_for("S042-USD"), product_for("S042-USD")
    assert a == b
    assert profile_for("S042-USD") == profile_for("S042-USD")
    assert product_for("S043-USD") != a or profile_for("S043-USD") != profile_for("S042-USD")
    assert a.base_currency == "S042" and a.quote_currency == "USD"


def test_perp_symbols_are_quoted_as_perps_and_malformed_symbols_are_unknown() -> None:
    perp = product_for("BTC-PERP-INTX")
    assert perp.product_type is ProductType.PERP and perp.is_perp
    market = SimulatedMarket(["BTC-PERP-INTX"], start=START)
    assert market.quote("BTC-PERP-INTX").is_sane()
    with pytest.raises(UnknownProduct):
        product_for("not a symbol")
    with pytest.raises(UnknownProduct):
        market.quote("ETH-USD")


def test_scenarios_are_named_and_unknown_names_list_the_choices() -> None:
    assert set(SCENARIOS) == {"calm", "trend", "crash", "flash-crash", "stale", "gappy"}
    with pytest.raises(ValueError, match=r"unknown scenario 'x' \(choose from: calm, trend"):
        get_scenario("x")
    with pytest.raises(ValueError, match="unknown scenario"):
        SimulatedMarket(["BTC-USD"], scenario="nope", start=START)


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_same_calls_give_identical_quotes_and_candles() -> None:
    a = SimulatedMarket(TOP_TEN, "gappy", seed=11, start=START)
    b = SimulatedMarket(list(reversed(TOP_TEN)), "gappy", seed=11, start=START)
    assert run(a, 600) == run(b, 600)
    for symbol in TOP_TEN:
        assert a.candles(symbol, 60, 300) == b.candles(symbol, 60, 300)
        assert a.order_book(symbol, 5) == b.order_book(symbol, 5)


def test_different_seeds_give_different_paths() -> None:
    a = SimulatedMarket(["BTC-USD"], seed=1, start=START)
    b = SimulatedMarket(["BTC-USD"], seed=2, start=START)
    assert run(a, 300) != run(b, 300)
    assert a.candles("BTC-USD", 60, 10) != b.candles("BTC-USD", 60, 10)


def test_quotes_are_decimal_on_the_product_grid_and_cached_within_a_step() -> None:
    market = SimulatedMarket(TOP_TEN, start=START)
    market.advance_to(START + timedelta(seconds=37))
    for symbol in TOP_TEN:
        q = market.quote(symbol)
        inc = market.product(symbol).quote_increment
        assert all(isinstance(v, Decimal) for v in (q.bid, q.ask, q.last, q.bid_size))
        assert all(is_multiple(v, inc) for v in (q.bid, q.ask, q.last))
        assert q.is_sane() and q.bid < q.ask
        assert q.time == START + timedelta(seconds=37)
        assert market.quote(symbol) is q  # cached until the next step
        quoted = Decimal(str(profile_for(symbol).spread_bps)) / 10_000 * q.mid
        assert quoted <= q.spread <= quoted + 2 * inc  # the profile's spread, rounded outwards
    btc = market.quote("BTC-USD")
    assert 0.5 < float(btc.spread) / float(btc.mid) * 10_000 < 1.5


def test_order_book_levels_step_outwards_with_growing_sizes() -> None:
    market = SimulatedMarket(["ETH-USD"], start=START)
    book = market.order_book("ETH-USD", depth=6)
    quote = market.quote("ETH-USD")
    assert (book.bids[0].price, book.asks[0].price) == (quote.bid, quote.ask)
    assert len(book.bids) == len(book.asks) == 6
    for side, better in ((book.asks, lambda a, b: a < b), (book.bids, lambda a, b: a > b)):
        for near, far in itertools.pairwise(side):
            assert better(near.price, far.price)
            assert near.size < far.size


def test_advance_is_a_no_op_backwards_and_steps_per_second() -> None:
    market = SimulatedMarket(["BTC-USD"], start=START)
    steps: list[datetime] = []
    market.advance_to(START + timedelta(seconds=5), steps.append)
    assert steps == [START + timedelta(seconds=s) for s in range(1, 6)]
    before = market.quote("BTC-USD")
    market.advance_to(START + timedelta(seconds=2), steps.append)
    assert market.quote("BTC-USD") is before and len(steps) == 5
    market.advance_to(START + timedelta(seconds=5.5), steps.append)  # no whole second crossed
    assert market.quote("BTC-USD") is before and market.time == START + timedelta(seconds=5.5)


def test_long_gaps_step_per_minute_and_still_make_minute_candles() -> None:
    market = SimulatedMarket(["BTC-USD"], start=START)
    steps: list[datetime] = []
    market.advance_to(START + timedelta(hours=3), steps.append)
    assert len(steps) == 180
    candles = market.candles("BTC-USD", 60, 300)
    starts = [c.start for c in candles]
    assert starts[-1] == START + timedelta(hours=3) - timedelta(minutes=1)
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(starts))
    market.advance_to(START + timedelta(days=30))  # a month away: bounded cost
    assert market.candles("BTC-USD", 60, 1)[0].start == START + timedelta(days=30, minutes=-1)


def test_add_symbols_keeps_existing_ones() -> None:
    market = SimulatedMarket(["BTC-USD"], start=START)
    market.advance_to(START + timedelta(minutes=5))
    assert market.add_symbols(["btc-usd", "S042-USD"]) == ["S042-USD"]
    assert market.symbols == ["BTC-USD", "S042-USD"]
    assert len(market.candles("S042-USD", 60, 2000)) >= BACKFILL_MINUTES


# --- candles ------------------------------------------------------------------------------------


def test_backfill_gives_a_day_of_minute_candles_ending_at_the_start_price() -> None:
    market = SimulatedMarket(["SOL-USD"], start=START)
    candles = market.candles("SOL-USD", 60, 2000)
    assert len(candles) == BACKFILL_MINUTES
    assert candles[-1].start == START - timedelta(minutes=1)
    assert candles[-1].close == Decimal("180.00")
    assert all(not c.problems() for c in candles)
    assert all(c.granularity_s == 60 for c in candles)


def test_candles_aggregate_minute_bars_into_coinbase_granularities() -> None:
    market = SimulatedMarket(["BTC-USD"], start=START)
    market.advance_to(START + timedelta(minutes=47, seconds=30))
    minutes = market.candles("BTC-USD", 60, 2000)
    by_start = {c.start: c for c in minutes}
    for granularity in (300, 900, 1800, 3600, 7200, 21600):
        candles = market.candles("BTC-USD", granularity, 5)
        assert 1 <= len(candles) <= 5
        for candle in candles:
            parts = [
                by_start[candle.start + timedelta(minutes=m)]
                for m in range(granularity // 60)
                if candle.start + timedelta(minutes=m) in by_start
            ]
            assert candle.open == parts[0].open and candle.close == parts[-1].close
            assert candle.high == max(p.high for p in parts)
            assert candle.low == min(p.low for p in parts)
            assert candle.volume == sum(p.volume for p in parts)
            assert candle.start.timestamp() % granularity == 0
            assert candle.start + timedelta(seconds=granularity) <= market.time  # closed only
    five = market.candles("BTC-USD", 300, 3)
    assert five[-1].start == START + timedelta(minutes=40)  # 45-50 is still open
    ended = market.candles("BTC-USD", 300, 2, end=START + timedelta(minutes=12))
    assert [c.start for c in ended] == [START, START + timedelta(minutes=5)]
    days = market.candles("BTC-USD", 86400, 5)  # only the back-filled day is complete
    assert [d.start for d in days] == [START - timedelta(days=1)]
    assert days[0].close == Decimal("95000.00")


@pytest.mark.parametrize("granularity", [0, 30, 120, 600, 14400, 43200])
def test_unsupported_granularities_are_refused(granularity: int) -> None:
    market = SimulatedMarket(["BTC-USD"], start=START)
    with pytest.raises(ValueError, match="granularity"):
        market.candles("BTC-USD", granularity)


def test_candle_limit_must_be_positive() -> None:
    market = SimulatedMarket(["BTC-USD"], start=START)
    with pytest.raises(ValueError, match="limit"):
        market.candles("BTC-USD", 60, 0)


# --- scenarios ----------------------------------------------------------------------------------


def test_trend_rises_about_two_percent_an_hour() -> None:
    market = SimulatedMarket(["BTC-USD", "ETH-USD"], "trend", seed=3, start=START)
    start = {s: market.quote(s).mid for s in market.symbols}
    market.advance_to(START + timedelta(hours=2))
    for symbol, price in start.items():
        change = market.quote(symbol).mid / price - 1
        assert Decimal("0.025") < change < Decimal("0.06"), (symbol, change)
        closes = [c.close for c in market.candles(symbol, 60, 60)]
        fast, slow = sum(closes[-5:]) / 5, sum(closes[-30:]) / 30
        assert fast > slow  # a moving-average crossover strategy is long


def test_crash_rallies_then_gaps_down_and_slides_then_flattens() -> None:
    from trading_core.sim.scenarios import CRASH_AT_S

    market = SimulatedMarket(["BTC-USD", "SOL-USD"], "crash", seed=5, start=START)
    start = market.quote("BTC-USD").mid
    rally = mids(market, "BTC-USD", int(CRASH_AT_S))
    assert rally[-1] / start - 1 > Decimal("0.01")  # the rally that draws buyers in
    gap = mids(market, "BTC-USD", 10, step=5)
    assert gap[-1] / rally[-1] - 1 < Decimal("-0.08")  # the gap down, within ten seconds
    slide = mids(market, "BTC-USD", 3000)
    assert min(slide) / rally[-1] - 1 < Decimal("-0.14")
    settled = mids(market, "BTC-USD", 1800)
    assert abs(settled[-1] / slide[-1] - 1) < Decimal("0.03")


def test_flash_crash_drops_then_recovers() -> None:
    market = SimulatedMarket(["ETH-USD"], "flash-crash", seed=9, start=START)
    start = market.quote("ETH-USD").mid
    path = mids(market, "ETH-USD", 15 * 60, step=5)
    bottom = min(path)
    bottom_at = path.index(bottom)
    assert bottom / start - 1 < Decimal("-0.09")
    assert 36 <= bottom_at <= 52  # within 3-4.3 minutes
    assert path[-1] / start - 1 > Decimal("-0.05")  # most of it came back


def test_stale_freezes_prices_quote_time_and_candles_after_a_minute() -> None:
    market = SimulatedMarket(["BTC-USD"], "stale", seed=1, start=START)
    market.advance_to(START + timedelta(seconds=50))
    moving = market.quote("BTC-USD")
    assert moving.time == START + timedelta(seconds=50)
    market.advance_to(START + timedelta(minutes=10))
    frozen = market.quote("BTC-USD")
    assert frozen.time == START + timedelta(seconds=60)
    assert market.time == START + timedelta(minutes=10)
    market.advance_to(START + timedelta(minutes=20))
    assert market.quote("BTC-USD") == frozen
    assert market.candles("BTC-USD", 60, 1)[0].start == START  # nothing after the freeze


def test_gappy_has_missing_minute_bars_and_one_update_outliers() -> None:
    market = SimulatedMarket(["BTC-USD"], "gappy", seed=4, start=START)
    candles = market.candles("BTC-USD", 60, 2000)
    missing = BACKFILL_MINUTES - len(candles)
    assert 0.02 * BACKFILL_MINUTES < missing < 0.09 * BACKFILL_MINUTES
    outliers = 0
    previous = market.quote("BTC-USD")
    for second in range(1, 3001):
        market.advance_to(START + timedelta(seconds=second))
        q = market.quote("BTC-USD")
        mid = float(previous.mid)
        if any(abs(float(v) / mid - 1) > 0.1 for v in (q.bid, q.ask, q.last)):
            outliers += 1
            assert max(abs(float(v) / mid - 1) for v in (q.bid, q.ask, q.last)) < 0.26
        else:
            previous = q
    assert 10 <= outliers <= 60  # about 1 % of 3000 updates
    calm = SimulatedMarket(["BTC-USD"], "calm", seed=4, start=START)
    assert len(calm.candles("BTC-USD", 60, 2000)) == BACKFILL_MINUTES


def test_long_absence_is_skipped_not_compounded() -> None:
    from datetime import timedelta

    from trading_core.sim.market import MAX_CATCH_UP_S

    market = SimulatedMarket(["BTC-USD"], "trend", seed=3, start=START)
    before = market.quote("BTC-USD").mid
    later = START + timedelta(days=200)
    market.advance_to(later)
    after = market.quote("BTC-USD").mid
    assert market.time == later
    # +2 %/hour over 200 days would be e^96; only the last MAX_CATCH_UP_S are walked
    hours = MAX_CATCH_UP_S / 3600
    assert after / before < (1.02**hours) * 1.5
    assert market.candles("BTC-USD", 60, limit=1)[0].start > later - timedelta(hours=hours)
