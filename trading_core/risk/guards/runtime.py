"""The runtime guards, one small class each, with the runbook's thresholds as defaults.

Each ``evaluate`` reads a GuardInputs snapshot and returns a GuardResult; none acts or mutates.
Severity follows the runbook's matrix: SEV-1 for a guard-triggered halt with open exposure,
SEV-2 for partial loss of function, SEV-3 for degradation without financial impact."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from ...config.settings import RiskSettings
from ...domain.money import ZERO
from .base import GuardAction, GuardLevel, GuardResult, Severity
from .inputs import GuardInputs

INF = float("inf")
PRECISION = Decimal("0.000001")


class _Thresholds:
    warning: Decimal | float | int
    critical: Decimal | float | int

    @property
    def thresholds(self) -> tuple[Decimal, Decimal]:
        """(warning, critical) as GuardResult shows them."""
        return Decimal(str(self.warning)), Decimal(str(self.critical))


def _level(value: Decimal, warning: Decimal, critical: Decimal) -> GuardLevel:
    if value >= critical:
        return GuardLevel.CRITICAL
    if value >= warning:
        return GuardLevel.WARNING
    return GuardLevel.OK


def _dec(value: float) -> Decimal:
    return Decimal(repr(round(value, 6))) if value != INF else Decimal("Infinity")


def _exposed(inputs: GuardInputs) -> bool:
    return any(v > ZERO for v in inputs.exposures.values())


class DailyLossGuard(_Thresholds):
    """Loss (realized + unrealized) since the UTC day's starting equity, as a fraction of it.
    Critical: reduce-only, and open orders that add exposure are cancelled."""

    name = "daily_loss"

    def __init__(self, settings: RiskSettings) -> None:
        self.warning = settings.daily_loss_warning_pct
        self.critical = settings.daily_loss_critical_pct

    @property
    def thresholds(self) -> tuple[Decimal, Decimal]:
        return -self.warning, -self.critical

    def evaluate(self, inputs: GuardInputs) -> GuardResult:
        start = inputs.day_start_equity
        loss = ((start - inputs.equity) / start).quantize(PRECISION) if start > ZERO else ZERO
        level = _level(loss, self.warning, self.critical)
        pnl = inputs.equity - start
        reason = f"daily PnL {pnl:.2f} ({-loss:+.2%} of day-start equity {start:.2f})"
        return GuardResult(
            name=self.name,
            level=level,
            value=-loss,
            warning=-self.warning,
            critical=-self.critical,
            action=GuardAction.REDUCE_ONLY if level is GuardLevel.CRITICAL else GuardAction.WARN,
            reason=reason,
            severity=_sev(level, inputs, critical=Severity.SEV1),
        )


class ErrorRateGuard(_Thresholds):
    """Failed operations / operations over the window (judged once the window holds enough
    operations). Critical: halt (no new orders) until the rate recovers plus a cooldown."""

    name = "error_rate"

    def __init__(self, settings: RiskSettings) -> None:
        self.warning = settings.error_rate_warning
        self.critical = settings.error_rate_critical
        self.min_operations = settings.error_rate_min_operations

    def evaluate(self, inputs: GuardInputs) -> GuardResult:
        ops, fails = inputs.operations, inputs.failures
        rate = Decimal(fails) / Decimal(ops) if ops else ZERO
        level = (
            _level(rate, self.warning, self.critical)
            if ops >= self.min_operations
            else (GuardLevel.OK)
        )
        return GuardResult(
            name=self.name,
            level=level,
            value=rate.quantize(Decimal("0.0001")),
            warning=self.warning,
            critical=self.critical,
            action=GuardAction.HALT if level is GuardLevel.CRITICAL else GuardAction.WARN,
            reason=f"{fails} of {ops} operations failed ({rate:.1%})",
            severity=_sev(level, inputs, critical=Severity.SEV1),
            details={"operations": ops, "failures": fails},
        )


class StalenessGuard(_Thresholds):
    """Age of the last market data update per symbol (and per streaming feed). Critical: the feed
    is reconnected and new orders on the stale symbols are refused (market_data_staleness)."""

    name = "market_data_staleness"

    def __init__(self, settings: RiskSettings) -> None:
        self.warning = settings.staleness_warning_seconds
        self.critical = settings.staleness_critical_seconds

    def evaluate(self, inputs: GuardInputs) -> GuardResult:
        ages = dict(inputs.data_ages)
        worst = max(list(ages.values()) + list(inputs.feed_ages.values()) or [0.0])
        stale_warn = tuple(sorted(s for s, a in ages.items() if a >= self.warning))
        stale_crit = tuple(sorted(s for s, a in ages.items() if a >= self.critical))
        feeds_crit = sorted(f for f, a in inputs.feed_ages.items() if a >= self.critical)
        if stale_crit or feeds_crit:
            level = GuardLevel.CRITICAL
        elif stale_warn or any(a >= self.warning for a in inputs.feed_ages.values()):
            level = GuardLevel.WARNING
        else:
            level = GuardLevel.OK
        symbols = stale_crit if level is GuardLevel.CRITICAL else stale_warn
        shown = ", ".join(symbols[:5]) + ("..." if len(symbols) > 5 else "")
        reason = (
            f"oldest market data {worst:.0f}s"
            + (f"; stale: {shown}" if symbols else "")
            + (f"; feeds down: {', '.join(feeds_crit)}" if feeds_crit else "")
        )
        return GuardResult(
            name=self.name,
            level=level,
            value=_dec(worst),
            warning=_dec(self.warning),
            critical=_dec(self.critical),
            action=GuardAction.BLOCK_SYMBOLS if level is GuardLevel.CRITICAL else GuardAction.WARN,
            reason=reason,
            severity=Severity.SEV2 if level is GuardLevel.CRITICAL else Severity.SEV3,
            symbols=symbols,
            details={"feeds_down": feeds_crit},
        )


class PositionCountGuard(_Thresholds):
    """Open positions. Critical: orders that would open a new position are blocked."""

    name = "position_count"

    def __init__(self, settings: RiskSettings) -> None:
        self.warning = settings.position_count_warning
        self.critical = settings.position_count_critical

    def evaluate(self, inputs: GuardInputs) -> GuardResult:
        count = inputs.open_positions
        level = _level(Decimal(count), Decimal(self.warning), Decimal(self.critical))
        return GuardResult(
            name=self.name,
            level=level,
            value=Decimal(count),
            warning=Decimal(self.warning),
            critical=Decimal(self.critical),
            action=(
                GuardAction.BLOCK_NEW_POSITIONS
                if level is GuardLevel.CRITICAL
                else GuardAction.WARN
            ),
            reason=f"{count} open positions",
            severity=Severity.SEV3,
        )


class DrawdownGuard(_Thresholds):
    """Fall of equity from its peak. Critical: reduce-only."""

    name = "max_drawdown"

    def __init__(self, settings: RiskSettings) -> None:
        self.warning = settings.drawdown_warning_pct
        self.critical = settings.drawdown_critical_pct

    @property
    def thresholds(self) -> tuple[Decimal, Decimal]:
        return -self.warning, -self.critical

    def evaluate(self, inputs: GuardInputs) -> GuardResult:
        peak = inputs.equity_peak
        drawdown = (peak - inputs.equity) / peak if peak > ZERO else ZERO
        drawdown = max(drawdown, ZERO).quantize(PRECISION)
        level = _level(drawdown, self.warning, self.critical)
        return GuardResult(
            name=self.name,
            level=level,
            value=-drawdown,
            warning=-self.warning,
            critical=-self.critical,
            action=GuardAction.REDUCE_ONLY if level is GuardLevel.CRITICAL else GuardAction.WARN,
            reason=f"equity {inputs.equity:.2f} is {drawdown:.2%} below its peak {peak:.2f}",
            severity=_sev(level, inputs, critical=Severity.SEV1),
        )


class VolatilityGuard(_Thresholds):
    """Circuit breaker on the realised volatility of recent returns (the most volatile symbol):
    warning, then reduce-only at critical, then the kill switch past ``volatility_kill``."""

    name = "volatility"

    def __init__(self, settings: RiskSettings) -> None:
        self.warning = settings.volatility_warning
        self.critical = settings.volatility_critical
        self.kill = settings.volatility_kill

    def evaluate(self, inputs: GuardInputs) -> GuardResult:
        if not inputs.volatility:
            return GuardResult(
                self.name,
                GuardLevel.OK,
                None,
                self.warning,
                self.critical,
                GuardAction.NONE,
                "not enough samples yet",
            )
        symbol, vol = max(inputs.volatility.items(), key=lambda item: item[1])
        value = _dec(vol)
        level = _level(value, self.warning, self.critical)
        action = GuardAction.WARN
        if value >= self.kill:
            action = GuardAction.KILL_SWITCH
        elif level is GuardLevel.CRITICAL:
            action = GuardAction.REDUCE_ONLY
        return GuardResult(
            name=self.name,
            level=level,
            value=value,
            warning=self.warning,
            critical=self.critical,
            action=action,
            reason=f"{symbol} realised volatility {vol:.0%} annualised",
            severity=_sev(level, inputs, critical=Severity.SEV1),
            symbols=(symbol,),
            details={"kill_at": str(self.kill)},
        )


class ConcentrationGuard(_Thresholds):
    """Herfindahl index of exposure (1 = everything in one symbol), judged once exposure is a
    meaningful share of equity. Critical: orders that raise concentration are blocked."""

    name = "concentration"

    def __init__(self, settings: RiskSettings) -> None:
        self.warning = settings.concentration_warning
        self.critical = settings.concentration_critical
        self.min_exposure = settings.concentration_min_exposure_pct

    def evaluate(self, inputs: GuardInputs) -> GuardResult:
        hhi = herfindahl(inputs.exposures)
        total = sum(inputs.exposures.values(), ZERO)
        share = total / inputs.equity if inputs.equity > ZERO else ZERO
        level = (
            _level(hhi, self.warning, self.critical)
            if share >= self.min_exposure
            else (GuardLevel.OK)
        )
        return GuardResult(
            name=self.name,
            level=level,
            value=hhi.quantize(Decimal("0.0001")),
            warning=self.warning,
            critical=self.critical,
            action=(
                GuardAction.BLOCK_CONCENTRATION
                if level is GuardLevel.CRITICAL
                else GuardAction.WARN
            ),
            reason=f"exposure HHI {hhi:.3f} with {share:.1%} of equity exposed",
            severity=Severity.SEV3,
        )


def herfindahl(exposures: Mapping[str, Decimal]) -> Decimal:
    """Sum of squared exposure shares: 1/n for n equal positions, 1 for a single one."""
    values = [v for v in exposures.values() if v > ZERO]
    total = sum(values, ZERO)
    if total <= ZERO:
        return ZERO
    return sum(((v / total) ** 2 for v in values), ZERO)


def _sev(level: GuardLevel, inputs: GuardInputs, *, critical: Severity) -> Severity:
    if level is not GuardLevel.CRITICAL:
        return Severity.SEV3
    if critical is Severity.SEV1 and not _exposed(inputs):
        return Severity.SEV2  # a halt without open exposure is a partial loss of function
    return critical


def default_guards(settings: RiskSettings) -> list[object]:
    return [
        DailyLossGuard(settings),
        ErrorRateGuard(settings),
        StalenessGuard(settings),
        PositionCountGuard(settings),
        DrawdownGuard(settings),
        VolatilityGuard(settings),
        ConcentrationGuard(settings),
    ]
