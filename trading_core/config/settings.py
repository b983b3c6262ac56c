"""The settings models: one validated object built once at start (see loader.py for sources)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..domain.product import is_perp_symbol, validate_symbol

TOP_TEN_USD = (
    "BTC-USD",
    "ETH-USD",
    "SOL-USD",
    "XRP-USD",
    "LTC-USD",
    "ADA-USD",
    "DOGE-USD",
    "BCH-USD",
    "AVAX-USD",
    "LINK-USD",
)

PROFILES = ("dev", "canary", "spot", "prod")

Fraction = Annotated[Decimal, Field(ge=0, le=1)]
PositiveDecimal = Annotated[Decimal, Field(gt=0)]


class BrokerKind(StrEnum):
    PAPER = "paper"  # in-process paper trading on the simulated market
    COINBASE = "coinbase"  # Coinbase Advanced Trade (or the local Coinbase-compatible simulator)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskSettings(Section):
    """Pre-trade limits and protective modes. Env: RISK_<FIELD> (e.g. RISK_KILL_SWITCH_ENABLED)."""

    kill_switch_enabled: bool = False
    reduce_only_mode: bool = False
    max_exposure_pct: Fraction = Decimal("0.8")  # total position notional / equity
    max_position_pct: Fraction = Decimal("0.25")  # one symbol's notional / equity
    max_symbol_notional: PositiveDecimal = Decimal("25000")  # quote currency, per symbol
    max_tick_jump_pct: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.10")  # bad-tick filter
    max_quote_age_seconds: Annotated[float, Field(gt=0)] = 60.0  # older quotes: no new orders
    max_slippage_bps: Annotated[Decimal, Field(gt=0)] = Decimal(
        "50"
    )  # preview vs mid, market orders

    # Runtime guards (runbook Alert Thresholds; fractions are of equity, ages in seconds).
    daily_loss_warning_pct: Fraction = Decimal("0.01")
    daily_loss_critical_pct: Fraction = Decimal("0.02")
    error_rate_warning: Fraction = Decimal("0.10")
    error_rate_critical: Fraction = Decimal("0.25")
    error_rate_window_seconds: Annotated[float, Field(gt=0)] = 300.0
    error_rate_min_operations: Annotated[int, Field(ge=1)] = 20
    halt_cooldown_seconds: Annotated[float, Field(ge=0)] = 900.0  # halt holds this long after
    staleness_warning_seconds: Annotated[float, Field(gt=0)] = 300.0
    staleness_critical_seconds: Annotated[float, Field(gt=0)] = 900.0
    position_count_warning: Annotated[int, Field(ge=1)] = 10
    position_count_critical: Annotated[int, Field(ge=1)] = 20
    drawdown_warning_pct: Fraction = Decimal("0.05")
    drawdown_critical_pct: Fraction = Decimal("0.10")
    volatility_window: Annotated[int, Field(ge=5, le=10000)] = 60  # price samples per symbol
    volatility_warning: Annotated[Decimal, Field(gt=0)] = Decimal("2.0")  # annualised, 2.0 = 200%
    volatility_critical: Annotated[Decimal, Field(gt=0)] = Decimal("4.0")  # -> reduce-only
    volatility_kill: Annotated[Decimal, Field(gt=0)] = Decimal("8.0")  # -> kill switch
    concentration_warning: Fraction = Decimal("0.50")  # Herfindahl index of exposure
    concentration_critical: Fraction = Decimal("0.70")
    concentration_min_exposure_pct: Fraction = Decimal("0.20")  # below this: not judged

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> RiskSettings:
        pairs = (
            ("daily_loss_warning_pct", "daily_loss_critical_pct"),
            ("error_rate_warning", "error_rate_critical"),
            ("staleness_warning_seconds", "staleness_critical_seconds"),
            ("position_count_warning", "position_count_critical"),
            ("drawdown_warning_pct", "drawdown_critical_pct"),
            ("volatility_warning", "volatility_critical"),
            ("volatility_critical", "volatility_kill"),
            ("concentration_warning", "concentration_critical"),
        )
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"risk: {low} must not exceed {high}")
        return self


class StrategySettings(Section):
    """The baseline MA crossover with trailing stop. Env: STRATEGY_<FIELD>."""

    short_window: Annotated[int, Field(ge=1, le=1000)] = 5
    long_window: Annotated[int, Field(ge=2, le=5000)] = 20
    trailing_stop_pct: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.01")
    # of equity per entry
    position_fraction: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.05")
    # the MAs run over closes of bars this long (0: one bar per cycle)
    bar_seconds: Annotated[int, Field(ge=0, le=86400)] = 300

    @model_validator(mode="after")
    def _windows(self) -> StrategySettings:
        if self.short_window >= self.long_window:
            raise ValueError(
                f"short_window ({self.short_window}) must be less than long_window "
                f"({self.long_window})"
            )
        return self


class SimSettings(Section):
    """The simulated market behind paper trading. Env: SIM_<FIELD> (SIM_SCENARIO, SIM_SEED, ...)."""

    scenario: str = "calm"
    seed: int = 42
    market_data: Path | None = None  # replay candles from this CSV instead of a random walk
    start_time: AwareDatetime | None = None  # a fresh simulated market starts here (else: now)
    starting_cash: PositiveDecimal = Decimal("100000")
    quote_currency: str = "USD"
    maker_fee: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.006")  # Coinbase's lowest tier
    taker_fee: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.012")

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, value: str) -> str:
        names = ("calm", "trend", "crash", "flash-crash", "stale", "gappy")
        if value not in names:
            raise ValueError(f"unknown scenario {value!r} (choose from: {', '.join(names)})")
        return value

    @field_validator("market_data")
    @classmethod
    def _market_data(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


class CoinbaseSettings(Section):
    """Coinbase Advanced Trade. Env: COINBASE_<FIELD>. Secrets stay SecretStr end to end."""

    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_base: str = "api.coinbase.com"
    ws_url: str = "wss://advanced-trade-ws.coinbase.com"
    enable_derivatives: bool = False
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0
    # Coinbase's JSON key download ({"name", "privateKey"}): instead of API_KEY + API_SECRET
    key_file: Path | None = None
    streaming: bool = True  # the bot's marks come from the WebSocket feed (REST when stale)
    # client-side limiter; Coinbase allows about 30 private requests per second
    rate_limit_per_second: Annotated[float, Field(gt=0, le=1000)] = 25.0
    rate_limit_burst: Annotated[int, Field(ge=1, le=1000)] = 5
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 4  # per request, retryable failures
    backoff_seconds: Annotated[float, Field(ge=0, le=60)] = 0.25  # first retry; doubles
    # a streamed quote older than this is not used (get_quote asks REST instead)
    quote_max_age_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0


class Settings(BaseSettings):
    """Everything a run needs.

    Precedence: CLI flags > environment > .env > profile YAML > defaults."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The loader layers profile YAML, .env, the environment and CLI flags itself, with an
        # explicit map of variable names; no implicit env lookups (a stray $PROFILE must not
        # change what the bot does).
        return (init_settings,)

    profile: str = "dev"
    broker: BrokerKind = BrokerKind.PAPER
    symbols: tuple[str, ...] = TOP_TEN_USD
    interval_seconds: Annotated[float, Field(gt=0, le=86400)] = 5.0
    dry_run: bool = False
    pnl_log_every: Annotated[int, Field(ge=1)] = 12  # cycles between PnL lines (and after fills)
    data_dir: Path = Path("var/data/perps_bot")
    log_dir: Path = Path("var/logs")
    log_level: str = "INFO"
    risk: RiskSettings = RiskSettings()
    strategy: StrategySettings = StrategySettings()
    sim: SimSettings = SimSettings()
    coinbase: CoinbaseSettings = CoinbaseSettings()

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown profile {value!r} (choose from: {', '.join(PROFILES)})")
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one symbol is required")
        canonical = tuple(validate_symbol(symbol) for symbol in value)
        if len(set(canonical)) != len(canonical):
            raise ValueError("symbols are listed twice")
        return canonical

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"unknown log level {value!r}")
        return level

    @model_validator(mode="after")
    def _spot_first(self) -> Settings:
        perps = [s for s in self.symbols if is_perp_symbol(s)]
        if perps and not self.coinbase.enable_derivatives:
            raise ValueError(
                f"symbols: {perps[0]} is a perpetual and derivatives are off: spot first "
                "(set COINBASE_ENABLE_DERIVATIVES=1 only after Coinbase grants INTX access)"
            )
        return self

    @property
    def profile_dir(self) -> Path:
        """Where this profile's store, health.json and paper-exchange state live."""
        return self.data_dir / self.profile

    @property
    def store_path(self) -> Path:
        return self.profile_dir / "events.db"

    @property
    def health_path(self) -> Path:
        return self.profile_dir / "health.json"

    @property
    def paper_state_path(self) -> Path:
        return self.profile_dir / "paper_exchange.json"

    @property
    def log_path(self) -> Path:
        return self.log_dir / "perps_bot.log"

    def public_view(self) -> dict[str, Any]:
        """The settings as plain data with secrets masked (for logs, events and reports)."""
        return self.model_dump(mode="json")
