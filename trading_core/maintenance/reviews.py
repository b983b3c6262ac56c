"""Weekly, monthly and quarterly reviews from the EventStore (pandas), each a Markdown report and
an equity/drawdown PNG under ``var/reports/``.

Definitions (the tests recompute these independently):

- **Window**: ``[since, until)``; by default it ends after the store's last event and starts one
  period (7, 30, 91 days) before it, so a fast-forward session (virtual time) is reviewed too.
- **PnL**: last minus first equity of the ``cycle`` events in the window (Decimal, mark to market,
  net of fees).
- **Fees**: the sum of the window's fill fees (Decimal).
- **Trades**: every fill that reduces a position closes a trade. Cost basis is the average entry
  price including entry fees; a trade's net PnL = proceeds - closing fee - cost basis of the
  quantity closed. Win rate = trades with net PnL > 0 / trades; profit factor = sum of winning /
  |sum of losing| net PnL (None without a loss).
- **Sharpe / Sortino**: per-cycle simple returns of equity, annualised with the median cycle
  interval (sqrt of periods per year); Sortino's downside deviation is sqrt(mean(min(r, 0)^2)).
- **Max drawdown**: the largest fall from a running equity peak, as a fraction of that peak.
- **Exposure**: position notional / equity per cycle (mean, max) and the share of cycles holding
  any position.
- **Signals taken vs skipped**: the BUY/SELL signals of the ``cycle`` events against
  ``order_submitted`` (taken) and ``risk_block`` (skipped by a check or guard: repeats of the same
  block are not re-recorded).
- **Slippage**: a filled order's average price against the mid of the cycle that submitted it
  (the cycle event's ``state.last_mid``), in bps, positive = adverse. The executor's preview
  gates market orders at ``RISK_MAX_SLIPPAGE_BPS`` before sending; this is the realised figure.

Money stays Decimal; floats appear only inside the pandas statistics."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..domain import Fill, OrderSide
from ..jsonutil import atomic_write_text, to_jsonable
from ..store.event_store import EventStore, StoredEvent

ZERO = Decimal(0)
CENT = Decimal("0.01")
PERIODS = {
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=30),
    "quarterly": timedelta(days=91),
}
ALL = 10**9
SECONDS_PER_YEAR = 365 * 86400
#: The packages the dependency report lists first (then everything pinned in constraints.txt).
KEY_PACKAGES = (
    "prefect",
    "pandas",
    "numpy",
    "pydantic",
    "pydantic-settings",
    "coinbase-advanced-py",
    "httpx",
    "websockets",
    "great-expectations",
    "matplotlib",
    "cryptography",
    "sqlalchemy",
)
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ data


@dataclass
class Window:
    kind: str
    since: datetime
    until: datetime | None

    def describe(self) -> str:
        end = "the last event" if self.until is None else f"{self.until:%Y-%m-%d %H:%M}"
        return f"{self.since:%Y-%m-%d %H:%M} UTC to {end}"


def review_window(
    store: EventStore,
    kind: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Window:
    if kind not in PERIODS:
        raise ValueError(f"unknown review {kind!r} (weekly, monthly, quarterly)")
    if since is None:
        last = store.events(limit=1, newest_first=True)
        anchor = until or (last[0].ts if last else (now or datetime.now(UTC)))
        since = anchor - PERIODS[kind]
    return Window(kind, since, until)


@dataclass
class Trade:
    symbol: str
    time: datetime
    size: Decimal
    pnl: Decimal  # net of entry and exit fees


def close_trades(fills: Sequence[Fill]) -> list[Trade]:
    """Average-cost accounting (entry fees in the cost basis); one Trade per reducing fill."""
    qty: dict[str, Decimal] = {}
    cost: dict[str, Decimal] = {}  # total cost basis of the open quantity
    trades = []
    for fill in sorted(fills, key=lambda f: (f.time, f.fill_id)):
        held = qty.get(fill.symbol, ZERO)
        basis = cost.get(fill.symbol, ZERO)
        if fill.side is OrderSide.BUY:
            qty[fill.symbol] = held + fill.size
            cost[fill.symbol] = basis + fill.price * fill.size + fill.fee
            continue
        closed = min(fill.size, held)
        if closed <= ZERO:
            continue  # spot: nothing to sell; never happens on a long-only book
        share = basis * closed / held
        pnl = fill.price * closed - fill.fee * closed / fill.size - share
        trades.append(Trade(fill.symbol, fill.time, closed, pnl))
        qty[fill.symbol] = held - closed
        cost[fill.symbol] = basis - share
    return trades


@dataclass
class Frames:
    window: Window
    cycles: Any  # DataFrame: ts, cycle, equity (float), exposure (float), equity_text
    fills: list[Fill]  # in the window
    trades: list[Trade]  # closed in the window
    events: dict[str, list[StoredEvent]]


def load_frames(store: EventStore, window: Window) -> Frames:
    import pandas as pd

    def ev(kind: str | Sequence[str]) -> list[StoredEvent]:
        return store.events(kind, since=window.since, until=window.until, limit=ALL)

    cycle_events = ev("cycle")
    cycles = pd.DataFrame(
        {
            "ts": [e.ts for e in cycle_events],
            "cycle": [e.cycle for e in cycle_events],
            "equity_text": [str(e.payload.get("equity", "0")) for e in cycle_events],
            "exposure_text": [str(e.payload.get("exposure", "0")) for e in cycle_events],
        }
    )
    cycles["equity"] = cycles["equity_text"].astype(float)
    cycles["exposure"] = cycles["exposure_text"].astype(float)
    every_fill = store.list_fills()
    if window.until is not None:
        every_fill = [f for f in every_fill if f.time < window.until]
    trades = [t for t in close_trades(every_fill) if t.time >= window.since]
    fills = [f for f in every_fill if f.time >= window.since]
    kinds = (
        "decision",
        "order_submitted",
        "order_filled",
        "order_rejected",
        "risk_block",
        "guard",
        "error",
        "data_quality",
    )
    events = {kind: ev(kind) for kind in kinds}
    events["cycle"] = cycle_events
    return Frames(window, cycles, fills, trades, events)


# ------------------------------------------------------------------ metrics


def _ratio(mean: float, dev: float, periods: float) -> float | None:
    if not math.isfinite(dev) or dev <= 0:
        return None
    return mean / dev * math.sqrt(periods)


def performance(frames: Frames) -> dict[str, Any]:
    """The weekly performance metrics (see the module docstring for the definitions)."""
    cycles = frames.cycles
    out: dict[str, Any] = {"cycles": len(cycles)}
    fees = sum((f.fee for f in frames.fills), ZERO)
    wins = [t.pnl for t in frames.trades if t.pnl > ZERO]
    losses = [t.pnl for t in frames.trades if t.pnl <= ZERO]
    out.update(
        fills=len(frames.fills),
        fees=fees.quantize(CENT),
        volume=sum((f.price * f.size for f in frames.fills), ZERO).quantize(CENT),
        trades=len(frames.trades),
        wins=len(wins),
        realized_pnl=sum((t.pnl for t in frames.trades), ZERO).quantize(CENT),
        win_rate=None if not frames.trades else len(wins) / len(frames.trades),
        profit_factor=(
            None if not losses or sum(losses) == ZERO else float(sum(wins, ZERO) / -sum(losses))
        ),
    )
    if len(cycles) == 0:
        out.update(
            start_equity=None,
            end_equity=None,
            pnl=None,
            return_pct=None,
            sharpe=None,
            sortino=None,
            max_drawdown_pct=None,
            max_drawdown=None,
            exposure_mean_pct=None,
            exposure_max_pct=None,
            time_in_market_pct=None,
        )
        return out
    start = Decimal(cycles["equity_text"].iloc[0])
    end = Decimal(cycles["equity_text"].iloc[-1])
    equity = cycles["equity"]
    returns = equity.pct_change().dropna()
    seconds = cycles["ts"].diff().dropna().dt.total_seconds()
    periods = SECONDS_PER_YEAR / float(seconds.median()) if len(seconds) else 0.0
    downside = math.sqrt(float((returns.clip(upper=0) ** 2).mean())) if len(returns) else 0.0
    peak = equity.cummax()
    drawdown = (peak - equity) / peak
    share = cycles["exposure"] / equity
    out.update(
        start_equity=start.quantize(CENT),
        end_equity=end.quantize(CENT),
        pnl=(end - start).quantize(CENT),
        return_pct=float((end - start) / start) if start else None,
        sharpe=_ratio(float(returns.mean()), float(returns.std(ddof=1)), periods)
        if len(returns) > 1
        else None,
        sortino=_ratio(float(returns.mean()), downside, periods) if len(returns) > 1 else None,
        max_drawdown_pct=float(drawdown.max()),
        max_drawdown=float((peak - equity).max()),
        exposure_mean_pct=float(share.mean()),
        exposure_max_pct=float(share.max()),
        time_in_market_pct=float((cycles["exposure"] > 0).mean()),
    )
    return out


def per_symbol(frames: Frames) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}

    def row(symbol: str) -> dict[str, Any]:
        return rows.setdefault(
            symbol,
            {
                "symbol": symbol,
                "fills": 0,
                "buys": 0,
                "sells": 0,
                "volume": ZERO,
                "fees": ZERO,
                "trades": 0,
                "wins": 0,
                "realized_pnl": ZERO,
            },
        )

    for fill in frames.fills:
        r = row(fill.symbol)
        r["fills"] += 1
        r["buys" if fill.side is OrderSide.BUY else "sells"] += 1
        r["volume"] += fill.price * fill.size
        r["fees"] += fill.fee
    for trade in frames.trades:
        r = row(trade.symbol)
        r["trades"] += 1
        r["wins"] += trade.pnl > ZERO
        r["realized_pnl"] += trade.pnl
    out = []
    for symbol in sorted(rows):
        r = rows[symbol]
        r["win_rate"] = None if not r["trades"] else r["wins"] / r["trades"]
        for key in ("volume", "fees", "realized_pnl"):
            r[key] = r[key].quantize(CENT)
        out.append(r)
    return out


def effectiveness(frames: Frames) -> dict[str, Any]:
    """Signals taken vs skipped, blocks by check, realised slippage against the cycle's mid."""
    signals: dict[str, int] = {"BUY": 0, "SELL": 0}
    mids: dict[int, dict[str, Any]] = {}
    for event in frames.events["cycle"]:
        for action in (event.payload.get("signals") or {}).values():
            signals[str(action)] = signals.get(str(action), 0) + 1
        state = event.payload.get("state") or {}
        if event.cycle is not None:
            mids[event.cycle] = state.get("last_mid") or {}
    blocks = frames.events["risk_block"]
    by_check: dict[str, int] = {}
    for event in blocks:
        check = str(event.payload.get("check", "?"))
        by_check[check] = by_check.get(check, 0) + 1
    submitted: dict[str, tuple[int | None, str]] = {}
    for event in frames.events["order_submitted"]:
        request = event.payload.get("request") or {}
        coid = str(event.payload.get("client_order_id") or request.get("client_order_id"))
        submitted[coid] = (event.cycle, str(request.get("side", "")).upper())
    slippage: list[float] = []
    spread_cost = ZERO
    for event in frames.events["order_filled"]:
        cycle, side = submitted.get(str(event.payload.get("client_order_id")), (None, ""))
        mid_text = (mids.get(cycle) or {}).get(event.symbol) if cycle is not None else None
        try:
            mid = Decimal(str(mid_text))
            avg = Decimal(str(event.payload.get("avg_price")))
            size = Decimal(str(event.payload.get("filled_size", "0")))
        except ArithmeticError:
            continue
        if not mid.is_finite() or mid <= ZERO or avg <= ZERO or side not in ("BUY", "SELL"):
            continue
        sign = 1 if side == "BUY" else -1
        slippage.append(float((avg - mid) / mid * 10000 * sign))
        spread_cost += (avg - mid) * sign * size
    return {
        "signals": signals["BUY"] + signals["SELL"],
        "signals_buy": signals["BUY"],
        "signals_sell": signals["SELL"],
        "taken": len(frames.events["order_submitted"]),
        "skipped": len(blocks),
        "rejected": len(frames.events["order_rejected"]),
        "blocked_by_check": dict(sorted(by_check.items())),
        "slippage_fills": len(slippage),
        "slippage_mean_bps": sum(slippage) / len(slippage) if slippage else None,
        "slippage_max_bps": max(slippage) if slippage else None,
        "slippage_cost": spread_cost.quantize(CENT),
    }


def guard_stats(frames: Frames) -> list[dict[str, Any]]:
    stats: dict[str, dict[str, Any]] = {}
    for event in frames.events["guard"]:
        name = event.payload.get("guard")
        if not name:
            continue
        row = stats.setdefault(
            name,
            {"guard": name, "warning": 0, "critical": 0, "recovered": 0, "last_value": None},
        )
        level = event.payload.get("level")
        if level in ("warning", "critical"):
            row[level] += 1
        elif level == "ok":
            row["recovered"] += 1
        row["last_value"] = event.payload.get("value")
        row["warning_threshold"] = event.payload.get("warning")
        row["critical_threshold"] = event.payload.get("critical")
    return [stats[k] for k in sorted(stats)]


def error_stats(frames: Frames) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for kind in ("error", "order_rejected", "data_quality"):
        for event in frames.events[kind]:
            text = (event.message or "").split(":")[0][:60]
            key = (kind, text)
            counts[key] = counts.get(key, 0) + 1
    return [
        {"type": kind, "what": text, "count": n}
        for (kind, text), n in sorted(counts.items(), key=lambda item: -item[1])
    ]


def cost_vs_returns(perf: dict[str, Any], eff: dict[str, Any]) -> list[dict[str, Any]]:
    fees: Decimal = perf["fees"]
    spread: Decimal = eff["slippage_cost"]
    net = perf["pnl"] if perf["pnl"] is not None else ZERO
    gross = net + fees
    rows = [
        {"item": "net PnL (mark to market)", "amount": net},
        {"item": "fees", "amount": fees},
        {"item": "spread/slippage vs the cycle mid", "amount": spread},
        {"item": "funding (spot: none)", "amount": ZERO},
        {"item": "PnL before fees", "amount": gross.quantize(CENT)},
    ]
    for row in rows:
        amount: Decimal = row["amount"]
        row["share_of_gross"] = None if gross == ZERO else float(amount / abs(gross))
    return rows


def dependency_report(constraints: Path = ROOT / "constraints.txt") -> list[dict[str, Any]]:
    pins: dict[str, str] = {}
    if constraints.is_file():
        for line in constraints.read_text(encoding="utf-8").splitlines():
            name, sep, version = line.strip().partition("==")
            if sep and not line.startswith("#"):
                pins[_norm(name)] = version
    names = list(KEY_PACKAGES) + sorted(set(pins) - {_norm(n) for n in KEY_PACKAGES})
    rows = []
    for name in names:
        try:
            installed: str | None = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        pinned = pins.get(_norm(name))
        status = (
            "missing"
            if installed is None
            else ("unpinned" if pinned is None else ("ok" if pinned == installed else "drift"))
        )
        rows.append({"package": name, "installed": installed, "pinned": pinned, "status": status})
    return rows


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def risk_assessment(guards: list[dict[str, Any]], risk: Any, eff: dict[str, Any]) -> list[dict]:
    """One row per guard and pre-trade check that acted in the window, with a suggestion."""
    rows = []
    for g in guards:
        if g["critical"]:
            note = (
                "tripped critical: review the threshold and the incidents before the next quarter"
            )
        elif g["warning"]:
            note = "warnings only: threshold gives early notice; keep"
        else:
            note = "no change of level"
        rows.append(
            {
                "control": f"guard {g['guard']}",
                "warnings": g["warning"],
                "criticals": g["critical"],
                "thresholds": f"{g.get('warning_threshold')} / {g.get('critical_threshold')}",
                "suggestion": note,
            }
        )
    limits = {
        "exposure": ("max_exposure_pct", "total exposure cap"),
        "position": ("max_position_pct", "per-symbol share of equity"),
        "notional": ("max_symbol_notional", "per-symbol notional cap"),
        "slippage": ("max_slippage_bps", "slippage preview gate"),
    }
    for check, count in eff["blocked_by_check"].items():
        field_name, what = next(
            ((f, w) for key, (f, w) in limits.items() if key in check), (None, check)
        )
        value = getattr(risk, field_name) if risk is not None and field_name else None
        rows.append(
            {
                "control": f"check {check}",
                "warnings": count,
                "criticals": 0,
                "thresholds": "" if value is None else f"{field_name}={value}",
                "suggestion": f"{what}: {count} order(s) blocked; loosen only if the blocked "
                "signals would have paid (see the grid)",
            }
        )
    return rows


# ------------------------------------------------------------------ strategy grid (quarterly)


@dataclass(frozen=True)
class Candidate:
    short_window: int
    long_window: int
    trailing_stop_pct: Decimal


def default_grid(size: int = 20) -> list[Candidate]:
    """20 sets: short 3/5/8/12/20 x long 30/60 x trailing stop 1%/2% (the first ``size``)."""
    grid = [
        Candidate(s, long, Decimal(t))
        for s in (3, 5, 8, 12, 20)
        for long in (30, 60)
        for t in ("0.01", "0.02")
    ]
    return grid[:size]


def default_market_data() -> Path:
    return ROOT / "tests" / "fixtures" / "kraken_btc_usd_5m_2023-02-20_2023-02-23.csv"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    logger = logging.getLogger("trading_core")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _sim_costs(base: Any) -> dict[str, Any]:
    """The profile's fee schedule and starting cash, so candidates pay what the bot pays."""
    if base is None:
        return {}
    sim = base.sim
    return {
        "maker_fee": sim.maker_fee,
        "taker_fee": sim.taker_fee,
        "starting_cash": sim.starting_cash,
    }


def replay_candidate(
    candidate: Candidate,
    market_data: Path,
    *,
    base: Any = None,
    cycles: int | None = None,
    work: Path,
) -> dict[str, Any]:
    """Run the trading_core Bot (fast-forward) over ``market_data`` with the candidate's strategy
    parameters in a scratch directory; its metrics from its own store, as for a review."""
    from ..config import load_settings
    from ..runner import Bot, RunOptions
    from ..sim.replay import infer_symbol, load_candle_file

    candles = load_candle_file(market_data)
    risk = {} if base is None else base.risk.model_dump()
    cli: dict[str, Any] = {
        "data_dir": work / "data",
        "log_dir": work / "logs",
        "symbols": [infer_symbol(market_data)],
        "interval_seconds": candles.granularity_s,
        "broker": "paper",
        "sim": {"market_data": market_data, **_sim_costs(base)},
        "strategy": {
            "short_window": candidate.short_window,
            "long_window": candidate.long_window,
            "trailing_stop_pct": candidate.trailing_stop_pct,
            "bar_seconds": 0,
        },
    }
    if risk:
        cli["risk"] = risk
    settings = load_settings("dev", cli=cli, environ={}, dotenv_path=None)
    n = min(cycles or len(candles.bars), len(candles.bars))
    started = time.perf_counter()
    with _quiet():
        summary = Bot(settings, RunOptions(max_cycles=n, fast_forward=True)).run()
    store = EventStore.open_readonly(settings.store_path)
    try:
        frames = load_frames(store, Window("replay", datetime(1970, 1, 1, tzinfo=UTC), None))
    finally:
        store.close()
    perf = performance(frames)
    return {
        "short_window": candidate.short_window,
        "long_window": candidate.long_window,
        "trailing_stop_pct": candidate.trailing_stop_pct,
        "cycles": summary.cycles,
        "pnl": perf["pnl"],
        "fees": perf["fees"],
        "trades": perf["trades"],
        "win_rate": perf["win_rate"],
        "sharpe": perf["sharpe"],
        "max_drawdown_pct": perf["max_drawdown_pct"],
        "seconds": round(time.perf_counter() - started, 3),
    }


def run_grid(
    candidates: Sequence[Candidate],
    market_data: Path,
    *,
    base: Any = None,
    cycles: int | None = None,
) -> dict[str, Any]:
    """Replay every candidate; ranked by PnL then Sharpe. Nothing is applied."""
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="review-grid-"))
    results = []
    try:
        for n, candidate in enumerate(candidates):
            results.append(
                replay_candidate(
                    candidate, market_data, base=base, cycles=cycles, work=work / str(n)
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ranked = sorted(
        results,
        key=lambda r: (r["pnl"] if r["pnl"] is not None else Decimal("-1e18"), r["sharpe"] or -1e9),
        reverse=True,
    )
    return {
        "market_data": str(market_data),
        "candidates": len(results),
        "seconds": round(time.perf_counter() - started, 3),
        "ranked": ranked,
    }


# ------------------------------------------------------------------ the report


@dataclass
class Review:
    kind: str
    profile: str
    window: Window
    metrics: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    markdown: str = ""
    markdown_path: Path | None = None
    chart_path: Path | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(
            {
                "kind": self.kind,
                "profile": self.profile,
                "since": self.window.since,
                "until": self.window.until,
                "metrics": self.metrics,
                "tables": self.tables,
                "markdown_path": self.markdown_path,
                "chart_path": self.chart_path,
                "seconds": round(self.seconds, 3),
            }
        )


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value).replace("|", "\\|")


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def run_review(
    kind: str,
    store_path: Path,
    *,
    profile: str = "dev",
    since: datetime | None = None,
    until: datetime | None = None,
    reports_dir: Path = Path("var/reports"),
    settings: Any = None,
    market_data: Path | None = None,
    grid: Sequence[Candidate] | None = None,
    grid_cycles: int | None = None,
    now: datetime | None = None,
) -> Review:
    """Build the review, write ``review_<kind>_<profile>_<stamp>.md`` and ``.png`` (and a .json
    of the figures) under ``reports_dir``; returns it."""
    from .charts import equity_drawdown_png

    started = time.perf_counter()
    now = now or datetime.now(UTC)
    store = EventStore.open_readonly(store_path)
    try:
        window = review_window(store, kind, since=since, until=until, now=now)
        frames = load_frames(store, window)
    finally:
        store.close()
    perf = performance(frames)
    eff = effectiveness(frames)
    review = Review(kind, profile, window, {"performance": perf, "effectiveness": eff})
    review.tables["per_symbol"] = per_symbol(frames)
    if kind in ("monthly", "quarterly"):
        review.tables["cost_vs_returns"] = cost_vs_returns(perf, eff)
        review.tables["guards"] = guard_stats(frames)
        review.tables["errors"] = error_stats(frames)
        review.tables["dependencies"] = dependency_report()
    if kind == "quarterly":
        risk = None if settings is None else settings.risk
        review.tables["risk_assessment"] = risk_assessment(guard_stats(frames), risk, eff)
        data = market_data or (
            settings.sim.market_data if settings is not None and settings.sim.market_data else None
        )
        data = data or default_market_data()
        result = run_grid(grid or default_grid(), data, base=settings, cycles=grid_cycles)
        review.metrics["grid"] = {k: v for k, v in result.items() if k != "ranked"} | {
            "best": result["ranked"][0] if result["ranked"] else None
        }
        review.tables["grid"] = result["ranked"]
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    base = reports_dir / f"review_{kind}_{profile}_{stamp}"
    review.chart_path = equity_drawdown_png(
        frames.cycles,
        base.with_suffix(".png"),
        f"{kind} review ({profile}): equity and drawdown, {window.describe()}",
    )
    review.seconds = time.perf_counter() - started
    review.markdown = render_markdown(review)
    review.markdown_path = base.with_suffix(".md")
    atomic_write_text(review.markdown_path, review.markdown)
    atomic_write_text(base.with_suffix(".json"), json.dumps(review.to_dict(), indent=2) + "\n")
    return review


def render_markdown(review: Review) -> str:
    perf = review.metrics["performance"]
    eff = review.metrics["effectiveness"]
    lines = [
        f"# {review.kind.capitalize()} review: {review.profile}",
        "",
        f"Window: {review.window.describe()} ({perf['cycles']} cycles).",
        "",
    ]
    if review.chart_path is not None:
        lines += [f"![equity and drawdown]({review.chart_path.name})", ""]
    lines += [
        "## Performance",
        "",
        "| metric | value |",
        "|---|---|",
        f"| PnL (equity {perf['start_equity']} -> {perf['end_equity']}) | {perf['pnl']} |",
        f"| return | {_pct(perf['return_pct'])} |",
        f"| fees | {perf['fees']} |",
        f"| fills / volume | {perf['fills']} / {perf['volume']} |",
        f"| closed trades / win rate | {perf['trades']} / {_pct(perf['win_rate'])} |",
        f"| realized PnL of closed trades (net) | {perf['realized_pnl']} |",
        f"| profit factor | {_num(perf['profit_factor'])} |",
        f"| Sharpe / Sortino (per-cycle returns, annualised) | {_num(perf['sharpe'])} / "
        f"{_num(perf['sortino'])} |",
        f"| max drawdown | {_pct(perf['max_drawdown_pct'])} ({_num(perf['max_drawdown'])}) |",
        f"| exposure mean / max / time in market | {_pct(perf['exposure_mean_pct'])} / "
        f"{_pct(perf['exposure_max_pct'])} / {_pct(perf['time_in_market_pct'])} |",
        "",
        "### Per symbol",
        "",
        markdown_table(review.tables["per_symbol"]),
        "## Strategy effectiveness",
        "",
        f"- signals: {eff['signals']} ({eff['signals_buy']} buy, {eff['signals_sell']} sell)",
        f"- taken (orders submitted): {eff['taken']}; skipped by checks and guards: "
        f"{eff['skipped']} ({_fmt(eff['blocked_by_check'])}); rejected: {eff['rejected']}",
        f"- slippage vs the cycle mid over {eff['slippage_fills']} fills: mean "
        f"{_num(eff['slippage_mean_bps'])} bps, worst {_num(eff['slippage_max_bps'])} bps, "
        f"cost {eff['slippage_cost']}",
        "",
    ]
    titles = {
        "cost_vs_returns": "Cost versus returns",
        "guards": "Guard statistics",
        "errors": "Errors, rejections and data quality",
        "risk_assessment": "Risk parameter assessment (nothing applied)",
        "grid": "Strategy parameter grid (replayed through trading_core; nothing applied)",
        "dependencies": "Dependencies (installed vs constraints.txt)",
    }
    for key, title in titles.items():
        if key not in review.tables:
            continue
        lines += [f"## {title}", ""]
        if key == "grid":
            grid = review.metrics["grid"]
            lines += [
                f"{grid['candidates']} parameter sets over `{Path(grid['market_data']).name}` "
                f"in {grid['seconds']:.1f} s; best first.",
                "",
            ]
        rows = review.tables[key]
        if key == "dependencies":
            drift = [r for r in rows if r["status"] != "ok"]
            lines += [
                f"{len(rows)} packages, {len(drift)} not matching their pin.",
                "",
            ]
            rows = [r for r in rows if r["package"] in KEY_PACKAGES or r["status"] != "ok"]
        lines += [markdown_table(rows), ""]
    lines.append(f"_Generated in {review.seconds:.2f} s._")
    return "\n".join(lines) + "\n"
