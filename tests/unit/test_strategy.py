"""The baseline MA crossover with trailing stop."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from trading_core.strategy import Action, MaCrossoverStrategy

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Z = Decimal(0)


def feed(strategy: MaCrossoverStrategy, prices: list[float], qty: Decimal = Z) -> list[Action]:
    actions = []
    for p in prices:
        price = Decimal(str(p))
        strategy.on_price("BTC-USD", price, NOW)
        actions.append(strategy.decide("BTC-USD", qty, price).action)
    return actions


def test_moving_averages_match_a_direct_computation() -> None:
    s = MaCrossoverStrategy(3, 5, Decimal("0.01"))
    prices = [10, 11, 12, 13, 14, 15, 13, 12]
    feed(s, prices)
    short, long = s.moving_averages("BTC-USD")  # type: ignore[misc]
    assert short == sum(Decimal(p) for p in prices[-3:]) / 3
    assert long == sum(Decimal(p) for p in prices[-5:]) / 5


def test_warm_up_then_buy_on_upward_cross_only() -> None:
    s = MaCrossoverStrategy(2, 4, Decimal("0.01"))
    actions = feed(s, [10, 10, 10, 10, 9, 8, 9, 11, 12, 13])
    assert actions[:4] == [Action.HOLD] * 4  # warming up
    assert actions.count(Action.BUY) == 1
    assert actions.index(Action.BUY) == 7  # short MA first above long MA at 11


def test_exit_on_downward_cross_while_long() -> None:
    s = MaCrossoverStrategy(2, 4, Decimal("0.5"))  # stop far away: only the cross exits
    actions = feed(s, [10, 11, 12, 13, 14, 13, 11, 9], qty=Decimal(1))
    assert Action.SELL in actions
    assert actions[actions.index(Action.SELL) - 1] == Action.HOLD


def test_trailing_stop_from_peak() -> None:
    s = MaCrossoverStrategy(2, 4, Decimal("0.01"))
    feed(s, [100, 100, 100, 100])
    s.on_entry("BTC-USD", Decimal(100))
    one = Decimal(1)
    assert feed(s, [101, 102, 103], qty=one) == [Action.HOLD] * 3
    # 1% below the 103 peak is 101.97
    assert feed(s, [102], qty=one) == [Action.HOLD]
    assert feed(s, [101.97], qty=one) == [Action.SELL]


def test_snapshot_restore_continues_identically() -> None:
    prices = [100, 101, 99, 98, 102, 104, 103, 99, 97, 101, 105, 106]
    a = MaCrossoverStrategy(3, 6, Decimal("0.02"))
    feed(a, prices[:7])
    b = MaCrossoverStrategy(3, 6, Decimal("0.02"))
    b.restore(a.snapshot())
    assert feed(a, prices[7:]) == feed(b, prices[7:])
    assert a.moving_averages("BTC-USD") == b.moving_averages("BTC-USD")
