"""One trading cycle: market data -> strategy -> risk -> execution -> broker -> store.

``run_cycle`` is the unit every runner calls (the CLI loop, the Prefect trading flow, replays,
benchmarks). It reads the time once from the injected clock, never sleeps, and commits everything
it did to the store in one transaction before returning its report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from .brokers.base import Broker
from .clock import Clock, isoformat_z
from .config.settings import Settings
from .domain import (
    Balance,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Product,
    Quote,
    TimeInForce,
)
from .domain.money import ZERO, fmt, is_sane_amount
from .errors import BrokerError, OrderRefused
from .execution import (
    OrderExecutor,
    Outcome,
    base_size_for,
    client_order_id,
    entry_notional,
    quantize_request,
)
from .jsonutil import to_jsonable
from .risk import PreTradeRisk, RiskContext, TradingModes
from .risk.guards.base import GuardResult
from .risk.guards.inputs import GuardInputs
from .risk.guards.manager import GuardManager, Restrictions
from .risk.modes import ModeController
from .store.event_store import EventStore
from .strategy import Action, MaCrossoverStrategy, Signal, Strategy

log = logging.getLogger("trading_core.cycle")
CENT = Decimal("0.01")
FILL_OVERLAP = timedelta(seconds=60)
STRATEGY_KEY = "strategy"
CANDLE_GRANULARITIES = frozenset({60, 300, 900, 1800, 3600, 7200, 21600, 86400})


@dataclass(slots=True)
class BotState:
    """What the loop carries from one cycle to the next (persisted in the store's state table)."""

    cycle: int = 0
    day: str | None = None  # UTC date of day_start_equity
    day_start_equity: Decimal | None = None
    equity_peak: Decimal | None = None
    fill_cursor: datetime | None = None
    last_mid: dict[str, Decimal] = field(default_factory=dict)
    rejected_ticks: dict[str, int] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)

    def to_doc(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "day": self.day,
            "day_start_equity": None
            if self.day_start_equity is None
            else str(self.day_start_equity),
            "equity_peak": None if self.equity_peak is None else str(self.equity_peak),
            "fill_cursor": None if self.fill_cursor is None else isoformat_z(self.fill_cursor),
            "last_mid": {k: str(v) for k, v in self.last_mid.items()},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> BotState:
        from .clock import parse_utc

        if not doc:
            return cls()
        return cls(
            cycle=int(doc.get("cycle", 0)),
            day=doc.get("day"),
            day_start_equity=_dec(doc.get("day_start_equity")),
            equity_peak=_dec(doc.get("equity_peak")),
            fill_cursor=parse_utc(doc["fill_cursor"]) if doc.get("fill_cursor") else None,
            last_mid={k: Decimal(v) for k, v in (doc.get("last_mid") or {}).items()},
        )


def load_bot_state(store: EventStore) -> dict[str, Any] | None:
    """The state the last committed cycle left behind (kept in its ``cycle`` event)."""
    last = store.last_event("cycle")
    if last is None or not isinstance(last.payload, dict):
        return None
    doc = last.payload.get("state")
    return doc if isinstance(doc, dict) else None


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


@dataclass(slots=True)
class CycleReport:
    cycle: int
    started_at: datetime
    duration_s: float
    symbols: int
    quotes_ok: int
    signals: dict[str, str]  # symbol -> BUY/SELL (HOLDs are counted, not listed)
    holds: int
    submitted: int
    blocked: int
    rejected: int
    dry_run: int
    fills: int
    equity: Decimal
    day_start_equity: Decimal
    daily_pnl: Decimal
    daily_pnl_pct: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    open_positions: int
    exposure: Decimal
    modes: str
    operations: int
    failures: int
    stale_symbols: list[str]
    errors: list[str]
    exposures: dict[str, Decimal] = field(default_factory=dict)  # abs notional per symbol
    quote_ages: dict[str, float] = field(default_factory=dict)  # seconds, per symbol quoted
    block_reasons: dict[str, int] = field(default_factory=dict)  # risk check name -> count
    reject_reasons: dict[str, int] = field(default_factory=dict)  # venue reason -> count
    guards: list[GuardResult] = field(default_factory=list)  # runtime guard verdicts

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class TradingContext:
    """Everything a cycle works with. Built once by a runner (see runner.py)."""

    settings: Settings
    broker: Broker
    store: EventStore
    strategy: Strategy
    risk: PreTradeRisk
    executor: OrderExecutor
    modes: TradingModes  # the modes in force this cycle (recomputed by mode_control)
    mode_control: ModeController
    guards: GuardManager
    state: BotState
    ledger: dict[str, Position] = field(default_factory=dict)  # the bot's own books, from fills
    last_account: tuple[list[Balance], dict[str, Position]] | None = None  # last good read
    reconciled: bool = True  # False until the runner's reconciliation passed: no orders
    products: dict[str, Product] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: Settings,
        broker: Broker,
        store: EventStore,
        *,
        modes: TradingModes | None = None,
        strategy: Strategy | None = None,
        env_file: Path | None = None,
    ) -> TradingContext:
        """``modes`` are the start modes (settings and CLI by default); the kill switch and
        reduce-only flags are re-read every cycle from the process environment and ``env_file``
        (the runner passes the .env file), and latches from the store."""
        risk = PreTradeRisk(settings.risk)
        strategy = strategy or MaCrossoverStrategy(
            settings.strategy.short_window,
            settings.strategy.long_window,
            settings.strategy.trailing_stop_pct,
            bar_seconds=settings.strategy.bar_seconds,
        )
        saved_strategy = store.get_state(STRATEGY_KEY)
        if saved_strategy:
            strategy.restore(saved_strategy)
        state = BotState.from_doc(load_bot_state(store))
        modes = modes or TradingModes(
            kill_switch=settings.risk.kill_switch_enabled,
            reduce_only=settings.risk.reduce_only_mode,
        )
        environ = None if env_file is not None else {}
        mode_control = ModeController(store, start=modes, env_file=env_file, environ=environ)
        ctx = cls(
            settings=settings,
            broker=broker,
            store=store,
            strategy=strategy,
            risk=risk,
            executor=OrderExecutor(
                broker, store, risk, max_slippage_bps=settings.risk.max_slippage_bps
            ),
            modes=modes,
            mode_control=mode_control,
            guards=GuardManager(settings.risk, store, mode_control),
            state=state,
            ledger=store.positions(),
        )
        for symbol in settings.symbols:
            ctx.products[symbol] = broker.get_product(symbol)
        if isinstance(strategy, MaCrossoverStrategy) and not saved_strategy:
            ctx.warm_up(strategy)
        return ctx

    def warm_up(self, strategy: MaCrossoverStrategy) -> None:
        """Seed the strategy's windows from the venue's recent candles (when it has candles of the
        strategy's bar width), so a fresh bot decides from its first cycle."""
        if strategy.bar_seconds not in CANDLE_GRANULARITIES:
            return
        for symbol in self.settings.symbols:
            try:
                candles = self.broker.get_candles(
                    symbol, strategy.bar_seconds, limit=strategy.long_window
                )
            except (BrokerError, ValueError) as exc:
                log.warning("no warm-up candles for %s: %s", symbol, exc)
                continue
            if candles:
                strategy.warm_up(symbol, [c.close for c in candles], candles[-1].start)

    def save_strategy(self, now: datetime) -> None:
        self.store.set_state(STRATEGY_KEY, self.strategy.snapshot(), now)


@dataclass(slots=True)
class _Counters:
    operations: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)


def run_cycle(ctx: TradingContext, clock: Clock) -> CycleReport:
    """Run one cycle at ``clock.now()`` and return what happened (already durable in the store)."""
    t0 = time.perf_counter()
    now = clock.now()
    state = ctx.state
    state.cycle += 1
    cycle = state.cycle
    settings = ctx.settings
    store = ctx.store
    counters = _Counters()

    quotes = _read_quotes(ctx, now, cycle, counters)
    balances, positions = _read_account(ctx, now, cycle, counters)
    marks = {symbol: quote.mid for symbol, quote in quotes.items()}
    marks_all = {**state.last_mid, **marks}
    equity, exposures = _equity(ctx, balances, positions, marks_all)

    if not balances:
        # no account read has succeeded yet: equity is unknown, not zero. Rolling the day or
        # judging losses on it would record a false crash on a venue hiccup; with no cash
        # known, sizing places no entry either.
        equity = state.day_start_equity or equity
    elif state.day != now.date().isoformat():
        _roll_day(ctx, now, cycle, equity)
    guard_results, restrictions, guard_ages = _run_guards(
        ctx, now, cycle, quotes, positions, equity, exposures, counters
    )

    signals: dict[str, str] = {}
    holds = submitted = blocked = rejected = dry = 0
    block_reasons: dict[str, int] = {}
    reject_reasons: dict[str, int] = {}
    cash = _cash_available(balances, settings.sim.quote_currency)
    for symbol, quote in quotes.items():
        ctx.strategy.on_price(symbol, quote.mid, now)
        if symbol in state.stale:
            continue
        position = positions.get(symbol)
        qty = position.quantity if position is not None else ZERO
        signal = ctx.strategy.decide(symbol, qty, quote.mid)
        if signal.action is Action.HOLD:
            holds += 1
            continue
        signals[symbol] = signal.action.value
        request = _build_request(
            ctx, signal.action, symbol, quote, qty, equity, cash, exposures, now, cycle
        )
        if isinstance(request, OrderRefused):
            if ctx.executor.first_block(symbol, signal.action.value, "sizing"):
                _decision_event(ctx, now, cycle, signal)
                store.append_event(
                    "risk_block",
                    ts=now,
                    severity="info",
                    symbol=symbol,
                    cycle=cycle,
                    message=f"no order: {request.message}",
                    payload={"check": "sizing", "reason": request.reason},
                )
            blocked += 1
            block_reasons["sizing"] = block_reasons.get("sizing", 0) + 1
            continue
        price = quote.ask if request.side is OrderSide.BUY else quote.bid
        risk_ctx = RiskContext(
            equity=equity,
            price=price,
            position_qty=qty,
            exposures=exposures,
            modes=ctx.modes,
            restrictions=restrictions,
        )
        counters.operations += 1
        result = ctx.executor.place(
            request, risk_ctx, now=now, cycle=cycle, dry_run=settings.dry_run
        )
        if result.outcome is Outcome.SUBMITTED:
            submitted += 1
            if request.side is OrderSide.BUY:
                # later orders in this cycle see this one in the cash and the exposure caps
                notional = (request.base_size or ZERO) * price
                cash -= notional * (1 + settings.sim.taker_fee)
                exposures[symbol] = exposures.get(symbol, ZERO) + notional
        elif result.outcome is Outcome.BLOCKED:
            blocked += 1
            check = result.check or "risk"
            block_reasons[check] = block_reasons.get(check, 0) + 1
        elif result.outcome is Outcome.DRY_RUN:
            dry += 1
        elif result.outcome is Outcome.REJECTED:
            rejected += 1
            reject_reasons[result.reason] = reject_reasons.get(result.reason, 0) + 1
        else:
            counters.failures += 1
            counters.errors.append(f"{symbol}: {result.reason}")

    fills = _sync_fills(ctx, now, cycle, counters)
    if fills or submitted:
        balances, positions = _read_account(ctx, now, cycle, counters)
        equity, exposures = _equity(ctx, balances, positions, marks_all)

    state.last_mid.update(marks)
    if state.equity_peak is None or equity > state.equity_peak:
        state.equity_peak = equity
    day_start = state.day_start_equity or equity
    daily_pnl = equity - day_start
    daily_pct = daily_pnl / day_start if day_start else ZERO
    ledger = ctx.ledger.values()
    realized = sum((p.realized_pnl for p in ledger), ZERO)
    fees = sum((p.fees for p in ledger), ZERO)
    unrealized = sum(
        (p.unrealized_pnl(marks_all[p.symbol]) for p in ledger if p.symbol in marks_all), ZERO
    )
    open_positions = sum(1 for p in positions.values() if not p.is_flat)
    exposure = sum(exposures.values(), ZERO)

    report = CycleReport(
        cycle=cycle,
        started_at=now,
        duration_s=0.0,
        symbols=len(settings.symbols),
        quotes_ok=len(quotes),
        signals=signals,
        holds=holds,
        submitted=submitted,
        blocked=blocked,
        rejected=rejected,
        dry_run=dry,
        fills=fills,
        equity=equity,
        day_start_equity=day_start,
        daily_pnl=daily_pnl,
        daily_pnl_pct=daily_pct,
        realized_pnl=realized,
        unrealized_pnl=unrealized,
        fees=fees,
        open_positions=open_positions,
        exposure=exposure,
        modes=ctx.modes.describe(),
        operations=counters.operations,
        failures=counters.failures,
        stale_symbols=sorted(state.stale),
        errors=counters.errors,
        exposures=exposures,
        quote_ages={s: (now - q.time).total_seconds() for s, q in quotes.items()},
        block_reasons=block_reasons,
        reject_reasons=reject_reasons,
        guards=guard_results,
    )
    if cycle == 1 or fills or cycle % settings.pnl_log_every == 0:
        _log_pnl(report)
    store.append_event(
        "cycle",
        ts=now,
        cycle=cycle,
        severity="info" if report.ok else "warning",
        message=(
            f"cycle {cycle}: equity {fmt(equity.quantize(CENT))} daily "
            f"{fmt(daily_pnl.quantize(CENT))} orders {submitted} fills {fills}"
        ),
        payload={
            "equity": equity.quantize(CENT),
            "daily_pnl": daily_pnl.quantize(CENT),
            "daily_pnl_pct": daily_pct.quantize(Decimal("0.000001")),
            "realized_pnl": realized.quantize(CENT),
            "unrealized_pnl": unrealized.quantize(CENT),
            "fees": fees.quantize(CENT),
            "exposure": exposure.quantize(CENT),
            "open_positions": open_positions,
            "signals": signals,
            "submitted": submitted,
            "blocked": blocked,
            "rejected": rejected,
            "fills": fills,
            "quotes_ok": len(quotes),
            "stale": sorted(state.stale),
            "operations": counters.operations,
            "failures": counters.failures,
            "modes": report.modes,
            "guards": {
                g.name: f"{g.level.label}:{to_jsonable(g.value) or ''}" for g in guard_results
            },
            "exposures": {s: v.quantize(CENT) for s, v in exposures.items()},
            "data_ages": {s: round(a, 1) for s, a in guard_ages.items()},
            # what the next cycle (or the next start) carries on from: one write per cycle
            "state": state.to_doc(),
        },
    )
    ctx.guards.errors.add(now, counters.operations, counters.failures)
    store.commit()
    report.duration_s = time.perf_counter() - t0
    return report


def _decision_event(ctx: TradingContext, now: datetime, cycle: int, signal: Signal) -> None:
    ctx.store.append_event(
        "decision",
        ts=now,
        symbol=signal.symbol,
        cycle=cycle,
        message=f"{signal.action.value} {signal.symbol}: {signal.reason}",
        payload={"action": signal.action.value, "reason": signal.reason, "price": signal.price},
    )


def _run_guards(
    ctx: TradingContext,
    now: datetime,
    cycle: int,
    quotes: dict[str, Quote],
    positions: dict[str, Position],
    equity: Decimal,
    exposures: dict[str, Decimal],
    counters: _Counters,
) -> tuple[list[GuardResult], Restrictions, dict[str, float]]:
    """Evaluate the runtime guards on this cycle's figures, apply what they demand, and settle
    the modes in force for the rest of the cycle."""
    guards = ctx.guards
    state = ctx.state
    for symbol, quote in quotes.items():
        guards.observe_market(symbol, quote.time, quote.mid, now)
    feed_ages: dict[str, float] = {}
    stats_fn = getattr(ctx.broker, "stats", None)
    if callable(stats_fn):
        stats = stats_fn()
        for feed, status in stats.feeds.items():
            if status.last_message_at is not None:
                feed_ages[feed] = max((now - status.last_message_at).total_seconds(), 0.0)
    inputs = GuardInputs(
        now=now,
        equity=equity,
        day_start_equity=state.day_start_equity or equity,
        equity_peak=max(state.equity_peak or equity, equity),
        open_positions=sum(1 for p in positions.values() if not p.is_flat),
        exposures=exposures,
        data_ages=(ages := guards.data_ages(ctx.settings.symbols, now)),
        feed_ages=feed_ages,
        operations=guards.errors.operations + counters.operations,
        failures=guards.errors.failures + counters.failures,
        volatility=guards.volatility.all(),
    )
    results = guards.evaluate(inputs)
    restrictions = guards.apply(
        results, now=now, cycle=cycle, broker=ctx.broker, positions=positions
    )
    ctx.modes = ctx.mode_control.current(now)
    if not ctx.reconciled:
        ctx.modes = replace(ctx.modes, kill_switch=True, reason="reconciliation pending")
    return results, restrictions, ages


def _read_quotes(
    ctx: TradingContext, now: datetime, cycle: int, counters: _Counters
) -> dict[str, Quote]:
    """Fresh, sane quotes by symbol. Bad ticks, stale feeds and broker errors are recorded and the
    symbol sits this cycle out."""
    settings = ctx.settings
    state = ctx.state
    max_jump = settings.risk.max_tick_jump_pct
    max_age = settings.risk.max_quote_age_seconds
    quotes: dict[str, Quote] = {}
    for symbol in settings.symbols:
        counters.operations += 1
        try:
            quote = ctx.broker.get_quote(symbol)
        except BrokerError as exc:
            counters.failures += 1
            counters.errors.append(f"{symbol}: quote failed: {exc.message}")
            _event(
                ctx,
                "error",
                now,
                cycle,
                f"quote for {symbol} failed ({exc.kind.value}): {exc.message}",
                symbol=symbol,
                severity="error",
            )
            log.error("quote for %s failed (%s): %s", symbol, exc.kind.value, exc.message)
            continue
        if not quote.is_sane():
            _event(
                ctx,
                "data_quality",
                now,
                cycle,
                f"insane quote for {symbol} ignored (bid {fmt(quote.bid)} ask {fmt(quote.ask)})",
                symbol=symbol,
                severity="warning",
            )
            log.warning("insane quote for %s ignored: bid=%s ask=%s", symbol, quote.bid, quote.ask)
            continue
        mid = quote.mid
        last = state.last_mid.get(symbol)
        if last is not None and last > 0 and abs(mid / last - 1) > max_jump:
            seen = state.rejected_ticks.get(symbol, 0) + 1
            if seen < 2:  # a level confirmed by the next quote is a real move, not a bad tick
                state.rejected_ticks[symbol] = seen
                _event(
                    ctx,
                    "data_quality",
                    now,
                    cycle,
                    f"bad tick for {symbol} ignored: mid {fmt(mid)} vs last {fmt(last)}",
                    symbol=symbol,
                    severity="warning",
                    payload={"mid": mid, "last": last},
                )
                log.warning("bad tick for %s ignored: mid=%s last=%s", symbol, fmt(mid), fmt(last))
                continue
        state.rejected_ticks.pop(symbol, None)
        age = (now - quote.time).total_seconds()
        if age > max_age:
            if symbol not in state.stale:
                state.stale.add(symbol)
                _event(
                    ctx,
                    "data_quality",
                    now,
                    cycle,
                    f"market_data_staleness: {symbol} quote is {age:.0f}s old; no new orders on it",
                    symbol=symbol,
                    severity="warning",
                    payload={"age_s": round(age, 3), "max_age_s": max_age},
                )
                log.warning(
                    "market_data_staleness %s quote age %.0fs > %.0fs: no new orders",
                    symbol,
                    age,
                    max_age,
                )
        elif symbol in state.stale:
            state.stale.discard(symbol)
            _event(
                ctx, "data_quality", now, cycle, f"{symbol} market data fresh again", symbol=symbol
            )
            log.info("market data for %s fresh again", symbol)
        quotes[symbol] = quote
    return quotes


def _read_account(
    ctx: TradingContext, now: datetime, cycle: int, counters: _Counters
) -> tuple[list[Balance], dict[str, Position]]:
    counters.operations += 2
    try:
        balances = ctx.broker.list_balances()
        positions = {p.symbol: p for p in ctx.broker.list_positions()}
        absurd = [f"{b.currency} {b.total}" for b in balances if not _sane_balance(b)] + [
            f"{p.symbol} {p.quantity}" for p in positions.values() if not is_sane_amount(p.quantity)
        ]
        if absurd:
            raise BrokerError(f"the venue reported an absurd amount: {', '.join(absurd[:3])}")
    except BrokerError as exc:
        counters.failures += 1
        counters.errors.append(f"account read failed: {exc.message}")
        _event(
            ctx,
            "error",
            now,
            cycle,
            f"account read failed ({exc.kind.value}): {exc.message}",
            severity="error",
        )
        log.error("account read failed (%s): %s", exc.kind.value, exc.message)
        if ctx.last_account is not None:  # the last good read, valued at today's marks
            return ctx.last_account
        return [], ctx.store.positions()
    ctx.last_account = (balances, positions)
    return balances, positions


def _sane_balance(balance: Balance) -> bool:
    return is_sane_amount(balance.available) and is_sane_amount(balance.hold)


def _equity(
    ctx: TradingContext,
    balances: list[Balance],
    positions: dict[str, Position],
    marks: dict[str, Decimal],
) -> tuple[Decimal, dict[str, Decimal]]:
    """Account value in the quote currency, and absolute position notional per symbol."""
    quote_ccy = ctx.settings.sim.quote_currency
    equity = ZERO
    for balance in balances:
        if balance.currency == quote_ccy:
            equity += balance.total
        else:
            mark = marks.get(f"{balance.currency}-{quote_ccy}")
            if mark is not None:
                equity += balance.total * mark
    exposures = {
        symbol: position.notional(marks[symbol])
        for symbol, position in positions.items()
        if not position.is_flat and symbol in marks
    }
    return equity, exposures


def _cash_available(balances: list[Balance], currency: str) -> Decimal:
    for balance in balances:
        if balance.currency == currency:
            return balance.available
    return ZERO


def _build_request(
    ctx: TradingContext,
    action: Action,
    symbol: str,
    quote: Quote,
    qty: Decimal,
    equity: Decimal,
    cash: Decimal,
    exposures: dict[str, Decimal],
    now: datetime,
    cycle: int,
) -> OrderRequest | OrderRefused:
    product = ctx.products[symbol]
    settings = ctx.settings
    if action is Action.BUY:
        side = OrderSide.BUY
        notional = entry_notional(
            equity=equity,
            cash_available=cash,
            fraction=settings.strategy.position_fraction,
            current_notional=exposures.get(symbol, ZERO),
            max_symbol_notional=settings.risk.max_symbol_notional,
            max_position_pct=settings.risk.max_position_pct,
            taker_fee=settings.sim.taker_fee,
        )
        size = base_size_for(notional, quote.ask)
        reference = quote.ask
    else:
        side = OrderSide.SELL
        size = qty
        reference = quote.bid
    if size <= ZERO:
        return OrderRefused(
            f"{symbol}: nothing to {side.value.lower()} (no room under the caps, no cash or "
            "no position)",
            reason="NOTHING_TO_TRADE",
        )
    # the cycle number is unique per store and the time per venue: together, one id per decision
    purpose = f"{'entry' if side is OrderSide.BUY else 'exit'}#{cycle}"
    request = OrderRequest(
        client_order_id=client_order_id(settings.profile, now, symbol, side.value, purpose),
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET,
        base_size=size,
        time_in_force=TimeInForce.IOC,
        reduce_only=side is OrderSide.SELL,
    )
    try:
        return quantize_request(request, product, reference)
    except OrderRefused as exc:
        return exc


def _sync_fills(ctx: TradingContext, now: datetime, cycle: int, counters: _Counters) -> int:
    """Apply fills the venue reports since the cursor, once each, and log completed orders."""
    state = ctx.state
    store = ctx.store
    # read back a little before the cursor: a venue may publish a fill after a later one (the
    # fill id makes applying it once safe)
    since = None if state.fill_cursor is None else state.fill_cursor - FILL_OVERLAP
    counters.operations += 1
    try:
        fills = ctx.broker.list_fills(since=since)
    except BrokerError as exc:
        counters.failures += 1
        counters.errors.append(f"fills read failed: {exc.message}")
        log.error("fills read failed (%s): %s", exc.kind.value, exc.message)
        return 0
    applied = 0
    touched: dict[str, str] = {}
    for fill in fills:
        if state.fill_cursor is None or fill.time > state.fill_cursor:
            state.fill_cursor = fill.time
        if not store.record_fill(fill):
            continue  # already applied
        applied += 1
        touched[fill.order_id] = fill.symbol
        held = ctx.ledger.get(fill.symbol) or Position(fill.symbol)
        ctx.ledger[fill.symbol] = held.apply_fill(fill)
        store.append_event(
            "fill",
            ts=fill.time,
            symbol=fill.symbol,
            cycle=cycle,
            message=f"fill {fill.side.value} {fmt(fill.size)} {fill.symbol} at {fmt(fill.price)}",
            payload=fill,
        )
        if fill.side is OrderSide.BUY and isinstance(ctx.strategy, MaCrossoverStrategy):
            ctx.strategy.on_entry(fill.symbol, fill.price)
    for order_id in touched:
        try:
            order = ctx.broker.get_order(order_id)
        except BrokerError as exc:
            log.error("order %s lookup failed: %s", order_id, exc.message)
            continue
        store.upsert_order(order)
        if order.status is OrderStatus.FILLED:
            price = order.avg_fill_price or ZERO
            product = ctx.products.get(order.symbol)
            shown = price.quantize(product.quote_increment) if product is not None else price
            message = (
                f"order {order.symbol} {order.side.value} {fmt(order.filled_size)} filled at "
                f"{fmt(shown)} fee={fmt(order.fees.quantize(CENT))}"
            )
            store.append_event(
                "order_filled",
                ts=now,
                symbol=order.symbol,
                cycle=cycle,
                message=message,
                payload={
                    "order_id": order.order_id,
                    "client_order_id": order.client_order_id,
                    "filled_size": order.filled_size,
                    "avg_price": price,
                    "fees": order.fees,
                },
            )
            log.info(
                message, extra={"fields": {"client_id": order.client_order_id, "cycle": cycle}}
            )
    return applied


def _roll_day(ctx: TradingContext, now: datetime, cycle: int, equity: Decimal) -> None:
    state = ctx.state
    previous_day, previous_start = state.day, state.day_start_equity
    state.day = now.date().isoformat()
    state.day_start_equity = equity
    if previous_day is not None and previous_start:
        pnl = equity - previous_start
        _event(
            ctx,
            "pnl",
            now,
            cycle,
            f"PnL day {previous_day} closed at "
            f"{fmt(pnl.quantize(CENT))} ({pnl / previous_start:+.2%})",
            payload={
                "day": previous_day,
                "pnl": pnl,
                "start_equity": previous_start,
                "end_equity": equity,
            },
        )
        log.info(
            "PnL day %s closed: %s (%+.2f%%), new day starts at equity %s",
            previous_day,
            fmt(pnl.quantize(CENT)),
            pnl / previous_start * 100,
            fmt(equity.quantize(CENT)),
        )
    else:
        _event(
            ctx,
            "pnl",
            now,
            cycle,
            f"PnL day {state.day} starts at equity {fmt(equity.quantize(CENT))}",
            payload={"day": state.day, "start_equity": equity},
        )


def _log_pnl(report: CycleReport) -> None:
    log.info(
        "PnL equity=%s daily=%s (%+.3f%%) realized=%s unrealized=%s fees=%s positions=%d "
        "exposure=%s modes=%s",
        fmt(report.equity.quantize(CENT)),
        fmt(report.daily_pnl.quantize(CENT)),
        report.daily_pnl_pct * 100,
        fmt(report.realized_pnl.quantize(CENT)),
        fmt(report.unrealized_pnl.quantize(CENT)),
        fmt(report.fees.quantize(CENT)),
        report.open_positions,
        fmt(report.exposure.quantize(CENT)),
        report.modes,
        extra={"fields": {"cycle": report.cycle}},
    )


def _event(
    ctx: TradingContext,
    type_: str,
    now: datetime,
    cycle: int,
    message: str,
    *,
    symbol: str | None = None,
    severity: str = "info",
    payload: dict[str, Any] | None = None,
) -> None:
    ctx.store.append_event(
        type_,
        ts=now,
        severity=severity,
        symbol=symbol,
        cycle=cycle,
        message=message,
        payload=payload,
    )
