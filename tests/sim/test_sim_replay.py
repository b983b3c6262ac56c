"""Replaying real candles from CSV: parsing, validation, the intra-candle path, gaps, state."""

from __future__ import annotations

import csv
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from trading_core.clock import parse_utc
from trading_core.domain import OrderRequest, OrderSide, OrderStatus, OrderType
from trading_core.errors import DataError
from trading_core.sim import (
    MatchingEngine,
    ReplayMarket,
    SimulatedMarket,
    infer_symbol,
    replay_start_time,
)

# Four real Kraken days (2023-02-20..23) cut from ../shared/data/kraken_btc_usd_5m_2023-01_2023-03
# .csv, with its longest real gap (15 bars on 2023-02-22), so the suite needs nothing outside.
KRAKEN = (
    Path(__file__).resolve().parents[1] / "fixtures" / "kraken_btc_usd_5m_2023-02-20_2023-02-23.csv"
)
HEADER = "timestamp,open,high,low,close,volume\n"


def write(tmp_path: Path, rows: list[str], name: str = "coinbase_btc_usd_1m_test.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = [
    "2024-01-01T00:00:00Z,100,110,95,105,1.5",  # bullish: low then high
    "2024-01-01T00:01:00Z,105,106,90,91,2",  # bearish: high then low
    "2024-01-01T00:02:00Z,91,93,90,92,0",
]


def test_kraken_replay_reproduces_every_candle_and_its_real_gap() -> None:
    with KRAKEN.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    market = SimulatedMarket.from_csv(KRAKEN, seed=3)
    assert market.symbol == "BTC-USD" and market.granularity_s == 300
    assert market.start_time == datetime(2023, 2, 20, tzinfo=UTC) == replay_start_time(KRAKEN)
    assert market.time == market.start_time
    seen = {}
    t = market.start_time
    while t < market.end_time:  # in chunks smaller than the replay's candle memory
        t = min(t + timedelta(days=10), market.end_time)
        market.advance_to(t)
        for candle in market.candles("BTC-USD", 300, 5000):
            seen[candle.start] = candle
    assert len(seen) == len(rows) == 4 * 288 - 15
    for row in rows:
        candle = seen[parse_utc(row["timestamp"])]
        assert candle.close == Decimal(row["close"])
        assert (candle.open, candle.high, candle.low, candle.volume) == tuple(
            Decimal(row[k]) for k in ("open", "high", "low", "volume")
        )
    starts = sorted(seen)
    gaps = [(a, b) for a, b in itertools.pairwise(starts) if b - a > timedelta(minutes=5)]
    assert (
        datetime(2023, 2, 22, 0, 10, tzinfo=UTC),
        datetime(2023, 2, 22, 1, 30, tzinfo=UTC),
    ) in gaps
    assert sum((b - a) // timedelta(minutes=5) - 1 for a, b in gaps) == 15


def test_a_gap_in_the_data_leaves_the_quote_stale_and_the_price_flat() -> None:
    market = SimulatedMarket.from_csv(KRAKEN)
    market.advance_to(datetime(2023, 2, 22, 0, 20, tzinfo=UTC))
    before = market.quote("BTC-USD")
    assert before.time == datetime(2023, 2, 22, 0, 14, 59, tzinfo=UTC)  # last bar's last second
    assert before.last == Decimal("24442.70")  # that bar's close
    market.advance_to(datetime(2023, 2, 22, 1, 0, tzinfo=UTC))
    assert market.quote("BTC-USD") == before
    market.advance_to(datetime(2023, 2, 22, 1, 31, tzinfo=UTC))
    after = market.quote("BTC-USD")
    assert after.time == datetime(2023, 2, 22, 1, 31, tzinfo=UTC)
    market.advance_to(datetime(2023, 2, 22, 1, 46, tzinfo=UTC))
    five = market.candles("BTC-USD", 300, 3)
    assert [c.start.strftime("%H:%M") for c in five] == ["01:30", "01:35", "01:40"]
    five = market.candles("BTC-USD", 300, 3, end=datetime(2023, 2, 22, 1, 35, tzinfo=UTC))
    assert [c.start.strftime("%H:%M") for c in five] == ["00:05", "00:10", "01:30"]
    fifteen = market.candles("BTC-USD", 900, 3)
    starts = [c.start.strftime("%H:%M") for c in fifteen]
    assert starts == ["23:45", "00:00", "01:30"]  # 00:15 to 01:30 had no bars at all


def test_the_intra_candle_path_visits_low_and_high_in_candle_order(tmp_path: Path) -> None:
    market = ReplayMarket(write(tmp_path, GOOD), spread_bps=0.0)
    start = market.start_time
    assert market.symbol == "BTC-USD" and market.granularity_s == 60

    def last_at(seconds: float) -> Decimal:
        market.advance_to(start + timedelta(seconds=seconds))
        return market.quote("BTC-USD").last

    assert market.quote("BTC-USD").last == Decimal("100.00")
    assert last_at(19.666667) == Decimal("95.00")  # bullish: low first, at a third
    assert last_at(39.333334) == Decimal("110.00")  # then the high
    assert last_at(59) == Decimal("105.00")  # close in the last second
    assert last_at(60) == Decimal("105.00")  # next bar opens at 105
    assert last_at(79.666667) == Decimal("106.00")  # bearish: high first
    assert last_at(99.333334) == Decimal("90.00")
    assert last_at(119.5) == Decimal("91.00")
    assert [c.close for c in market.candles("BTC-USD", 60)] == [Decimal("105")]  # closed only
    market.advance_to(start + timedelta(seconds=120))
    assert [c.close for c in market.candles("BTC-USD", 60)] == [Decimal("105"), Decimal("91")]


def test_resting_orders_fill_when_the_replayed_path_crosses(tmp_path: Path) -> None:
    engine = MatchingEngine(ReplayMarket(write(tmp_path, GOOD)), {"USD": Decimal("10000")})
    buy = engine.submit_order(
        OrderRequest(
            "r1",
            "BTC-USD",
            OrderSide.BUY,
            OrderType.LIMIT,
            base_size=Decimal("1"),
            limit_price=Decimal("96.00"),
        )
    )
    assert buy.status is OrderStatus.OPEN
    engine.advance_to(engine.time + timedelta(seconds=30))  # path dips to 95 at ~19.7 s
    filled = engine.get_order(buy.order_id)
    assert filled.status is OrderStatus.FILLED and filled.avg_fill_price == Decimal("96.00")
    assert engine.list_fills()[0].time == engine.market.start_time + timedelta(seconds=59 / 3)


def test_inference_of_symbol_and_granularity(tmp_path: Path) -> None:
    assert infer_symbol("coinbase_btc_usd_1h_2017-11_2020-10.csv") == "BTC-USD"
    assert infer_symbol("kraken_btc_usd_5m_2023-01_2023-03.csv") == "BTC-USD"
    assert infer_symbol("kraken_xbt_usd_5m.csv") == "BTC-USD"
    assert infer_symbol("binanceus_btc_usdt_1m_2023-03-01_2023-03-21.csv") == "BTC-USDT"
    assert infer_symbol("coinbase_eth_usd_1h.csv") == "ETH-USD"
    with pytest.raises(DataError, match="cannot tell the symbol"):
        infer_symbol("prices.csv")
    rows = [
        "2024-01-01T00:00:00Z,1,1,1,1,1",
        "2024-01-01T01:00:00Z,1,1,1,1,1",
        "2024-01-01T02:00:00Z,1,1,1,1,1",
        "2024-01-01T05:00:00Z,1,1,1,1,1",  # a gap does not change the granularity
    ]
    market = ReplayMarket(write(tmp_path, rows, "x_eth_usd.csv"), symbol="eth-usd")
    assert market.symbol == "ETH-USD" and market.granularity_s == 3600
    with pytest.raises(ValueError, match="3600 s candles"):
        market.candles("ETH-USD", 300)
    with pytest.raises(ValueError, match="granularity"):
        market.candles("ETH-USD", 5400)
    market.advance_to(market.start_time + timedelta(hours=8))
    buckets = market.candles("ETH-USD", 7200)  # 00-02 (two bars), 02-04 and 04-06 (one each)
    assert [c.start.hour for c in buckets] == [0, 2, 4]
    with pytest.raises(ValueError, match="only has ETH-USD"):
        market.add_symbols(["BTC-USD"])


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        (["2024-01-01T00:01:00Z,1,x,1,1,1"], 3, "high is not a number"),
        (["2024-01-01T00:01:00Z,1,2,1,1"], 3, "expected 6 fields"),
        (["yesterday,1,1,1,1,1"], 3, "timestamp is not ISO 8601"),
        (["2024-01-01T00:01:00Z,0,1,0,1,1"], 3, "non-positive price"),
        (["2024-01-01T00:01:00Z,-1,1,-2,1,1"], 3, "non-positive price"),
        (["2024-01-01T00:01:00Z,1,1.5,1,2,1"], 3, "high 1.5 below open/close"),
        (["2024-01-01T00:01:00Z,2,3,2.5,2.8,1"], 3, "low 2.5 above open/close"),
        (["2024-01-01T00:01:00Z,1,1,1,1,-0.1"], 3, "negative volume"),
        (["2024-01-01T00:00:00Z,1,1,1,1,1"], 3, "not after the previous row"),
        (["2023-12-31T23:59:00Z,1,1,1,1,1"], 3, "not after the previous row"),
        (["2024-01-01T00:01:00Z,1,1,1,1,NaN"], 3, "volume is not a finite number"),
        (["", "2024-01-01T00:01:00Z,1,1,1,1,1"], 3, "empty row"),
        (
            [f"2024-01-01T00:0{m}:00Z,1,1,1,1,1" for m in (1, 2, 3)]
            + ["2024-01-01T00:03:30Z,1,1,1,1,1"],
            6,
            "overlaps",
        ),
    ],
)
def test_bad_rows_raise_data_error_naming_file_and_line(
    tmp_path: Path, rows: list[str], line: int, message: str
) -> None:
    path = write(tmp_path, ["2024-01-01T00:00:00Z,1,1,1,1,1", *rows])
    with pytest.raises(DataError, match=message) as info:
        ReplayMarket(path)
    assert f"{path}:{line}:" in str(info.value)


def test_bad_headers_and_empty_files_are_data_errors(tmp_path: Path) -> None:
    bad_header = tmp_path / "coinbase_btc_usd.csv"
    bad_header.write_text("time,o,h,l,c,v\n2024-01-01T00:00:00Z,1,1,1,1,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r":1: expected the header"):
        ReplayMarket(bad_header)
    empty = write(tmp_path, [], "coinbase_eth_usd.csv")
    with pytest.raises(DataError, match="no candles"):
        ReplayMarket(empty)
    with pytest.raises(DataError, match="cannot read"):
        ReplayMarket(tmp_path / "missing_btc_usd.csv")
    trailing_blank = write(tmp_path, [*GOOD, ""], "coinbase_sol_usd.csv")
    assert ReplayMarket(trailing_blank).symbol == "SOL-USD"


def test_replay_state_round_trip_continues_identically(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    a = ReplayMarket(path, seed=5)
    a.advance_to(a.start_time + timedelta(seconds=70.25))
    state = json.loads(json.dumps(a.to_state()))
    b = ReplayMarket.from_state(state)
    assert b.time == a.time and b.quote("BTC-USD") == a.quote("BTC-USD")
    for seconds in (75, 100, 140, 400):
        for market in (a, b):
            market.advance_to(a.start_time + timedelta(seconds=seconds))
        assert b.quote("BTC-USD") == a.quote("BTC-USD")
        assert b.candles("BTC-USD", 60) == a.candles("BTC-USD", 60)
    other = write(tmp_path, GOOD[:2], "other_btc_usd.csv")
    with pytest.raises(DataError, match="not the candle file"):
        ReplayMarket.from_state(state, path=other)
