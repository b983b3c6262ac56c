"""Each runtime guard on both sides of each threshold (runbook defaults)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from trading_core.config import RiskSettings
from trading_core.risk.guards.base import GuardAction, GuardLevel, Severity
from trading_core.risk.guards.inputs import ErrorWindow, GuardInputs, VolatilityTracker
from trading_core.risk.guards.runtime import (
    ConcentrationGuard,
    DailyLossGuard,
    DrawdownGuard,
    ErrorRateGuard,
    PositionCountGuard,
    StalenessGuard,
    VolatilityGuard,
    herfindahl,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
RISK = RiskSettings()
D = Decimal


def inputs(**overrides: object) -> GuardInputs:
    base: dict[str, object] = {
        "now": NOW,
        "equity": D(100000),
        "day_start_equity": D(100000),
        "equity_peak": D(100000),
        "open_positions": 0,
        "exposures": {},
        "data_ages": {"BTC-USD": 1.0},
    }
    base.update(overrides)
    return GuardInputs(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("equity", "level"),
    [
        ("99001", GuardLevel.OK),  # -0.999 %
        ("99000", GuardLevel.WARNING),  # -1 %
        ("98001", GuardLevel.WARNING),  # -1.999 %
        ("98000", GuardLevel.CRITICAL),  # -2 %
        ("90000", GuardLevel.CRITICAL),
        ("101000", GuardLevel.OK),
    ],
)
def test_daily_loss(equity: str, level: GuardLevel) -> None:
    result = DailyLossGuard(RISK).evaluate(inputs(equity=D(equity), exposures={"BTC-USD": D(5)}))
    assert result.level is level
    if level is GuardLevel.CRITICAL:
        assert result.action is GuardAction.REDUCE_ONLY
        assert result.severity is Severity.SEV1  # a halt with open exposure


def test_daily_loss_without_exposure_is_sev2() -> None:
    result = DailyLossGuard(RISK).evaluate(inputs(equity=D(97000)))
    assert result.tripped and result.severity is Severity.SEV2


@pytest.mark.parametrize(
    ("ops", "fails", "level"),
    [
        (100, 9, GuardLevel.OK),
        (100, 10, GuardLevel.WARNING),
        (100, 24, GuardLevel.WARNING),
        (100, 25, GuardLevel.CRITICAL),
        (10, 10, GuardLevel.OK),  # too few operations to judge
    ],
)
def test_error_rate(ops: int, fails: int, level: GuardLevel) -> None:
    result = ErrorRateGuard(RISK).evaluate(inputs(operations=ops, failures=fails))
    assert result.level is level
    assert (result.action is GuardAction.HALT) == (level is GuardLevel.CRITICAL)


@pytest.mark.parametrize(
    ("age", "level"),
    [
        (299.0, GuardLevel.OK),
        (300.0, GuardLevel.WARNING),
        (899.0, GuardLevel.WARNING),
        (900.0, GuardLevel.CRITICAL),
    ],
)
def test_staleness_per_symbol(age: float, level: GuardLevel) -> None:
    result = StalenessGuard(RISK).evaluate(inputs(data_ages={"BTC-USD": 2.0, "ETH-USD": age}))
    assert result.level is level
    if level is GuardLevel.CRITICAL:
        assert result.symbols == ("ETH-USD",) and result.action is GuardAction.BLOCK_SYMBOLS


def test_staleness_of_a_feed() -> None:
    result = StalenessGuard(RISK).evaluate(inputs(feed_ages={"ticker": 901.0}))
    assert result.level is GuardLevel.CRITICAL and result.details["feeds_down"] == ["ticker"]


@pytest.mark.parametrize(
    ("count", "level"),
    [
        (9, GuardLevel.OK),
        (10, GuardLevel.WARNING),
        (19, GuardLevel.WARNING),
        (20, GuardLevel.CRITICAL),
    ],
)
def test_position_count(count: int, level: GuardLevel) -> None:
    result = PositionCountGuard(RISK).evaluate(inputs(open_positions=count))
    assert result.level is level
    if level is GuardLevel.CRITICAL:
        assert result.action is GuardAction.BLOCK_NEW_POSITIONS


@pytest.mark.parametrize(
    ("equity", "level"),
    [("95001", GuardLevel.OK), ("95000", GuardLevel.WARNING), ("90000", GuardLevel.CRITICAL)],
)
def test_drawdown(equity: str, level: GuardLevel) -> None:
    result = DrawdownGuard(RISK).evaluate(
        inputs(equity=D(equity), equity_peak=D(100000), day_start_equity=D(equity))
    )
    assert result.level is level


@pytest.mark.parametrize(
    ("vol", "level", "action"),
    [
        (1.9, GuardLevel.OK, GuardAction.WARN),
        (2.0, GuardLevel.WARNING, GuardAction.WARN),
        (4.0, GuardLevel.CRITICAL, GuardAction.REDUCE_ONLY),
        (8.0, GuardLevel.CRITICAL, GuardAction.KILL_SWITCH),
    ],
)
def test_volatility_stages(vol: float, level: GuardLevel, action: GuardAction) -> None:
    result = VolatilityGuard(RISK).evaluate(inputs(volatility={"BTC-USD": 0.5, "SOL-USD": vol}))
    assert result.level is level and result.action is action
    assert result.symbols == ("SOL-USD",)


def test_concentration() -> None:
    guard = ConcentrationGuard(RISK)
    spread = {f"S{i}-USD": D(5000) for i in range(5)}  # 25 % exposed, HHI 0.2
    assert guard.evaluate(inputs(exposures=spread)).level is GuardLevel.OK
    lopsided = {"BTC-USD": D(25000), "ETH-USD": D(5000)}  # HHI 0.72
    assert guard.evaluate(inputs(exposures=lopsided)).level is GuardLevel.CRITICAL
    small = {"BTC-USD": D(5000)}  # HHI 1 but only 5 % exposed: not judged
    assert guard.evaluate(inputs(exposures=small)).level is GuardLevel.OK
    assert herfindahl({"A": D(1), "B": D(1)}) == D("0.5")


def test_error_window_forgets_old_cycles() -> None:
    window = ErrorWindow(300)
    window.add(NOW, 10, 5)
    window.add(NOW + timedelta(seconds=200), 10, 0)
    assert (window.operations, window.failures) == (20, 5)
    window.add(NOW + timedelta(seconds=301), 10, 1)
    assert (window.operations, window.failures) == (20, 1)


def test_volatility_tracker_annualises_with_sample_spacing() -> None:
    import math
    import random

    rng = random.Random(1)
    tracker = VolatilityTracker(window=500)
    price, t = 100.0, NOW
    sigma_per_step = 0.50 / math.sqrt(365 * 24 * 720)  # 50 % a year, 5 s steps
    for _ in range(501):
        tracker.add("BTC-USD", t, D(repr(price)))
        price *= math.exp(rng.gauss(0, sigma_per_step))
        t += timedelta(seconds=5)
    vol = tracker.annualised("BTC-USD")
    assert vol is not None and 0.42 < vol < 0.58
