"""Reviews: a weekly review over a 2000-cycle simulated session matches an independent
recomputation (plain SQL and Python, no pandas); monthly adds costs, guards, errors and
dependencies; the quarterly grid replays candidates through the trading_core Bot."""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from maint_helpers import quiet_trading_logs, run_bot, settings_for  # noqa: F401

from trading_core.cli.main import main
from trading_core.config import Settings
from trading_core.maintenance.reviews import Candidate, run_review

CYCLES = 2000


@dataclass
class Session:
    root: Path
    settings: Settings
    seconds: float


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    import logging

    root = tmp_path_factory.mktemp("review")
    settings = settings_for(
        root,
        sim={
            "scenario": "calm",
            "maker_fee": "0.0004",
            "taker_fee": "0.0008",
            "start_time": "2026-11-02T00:00:00Z",  # deterministic: same market every run
        },
        risk={"max_exposure_pct": "0.2"},
    )
    handler = logging.NullHandler()
    logging.getLogger("trading_core").addHandler(handler)
    started = time.perf_counter()
    run_bot(settings, CYCLES)
    logging.getLogger("trading_core").removeHandler(handler)
    yield Session(root, settings, time.perf_counter() - started)


def _recompute(db: Path) -> dict[str, Any]:
    """The weekly figures from the raw tables, by hand."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        cycles = [
            (ts, json.loads(payload))
            for ts, payload in conn.execute(
                "SELECT ts, payload FROM events WHERE type = 'cycle' ORDER BY ts, id"
            )
        ]
        fills = conn.execute(
            "SELECT symbol, side, price, size, fee FROM fills ORDER BY ts, fill_id"
        ).fetchall()
        blocks = conn.execute("SELECT count(*) FROM events WHERE type = 'risk_block'").fetchone()
        submitted = conn.execute(
            "SELECT count(*) FROM events WHERE type = 'order_submitted'"
        ).fetchone()
    finally:
        conn.close()
    equity = [Decimal(p["equity"]) for _, p in cycles]
    fees = sum((Decimal(f[4]) for f in fills), Decimal(0))
    # average cost with entry fees in the basis; a sell closes a trade
    held: dict[str, Decimal] = {}
    basis: dict[str, Decimal] = {}
    pnls: list[Decimal] = []
    for symbol, side, price_t, size_t, fee_t in fills:
        price, size, fee = Decimal(price_t), Decimal(size_t), Decimal(fee_t)
        if side == "BUY":
            held[symbol] = held.get(symbol, Decimal(0)) + size
            basis[symbol] = basis.get(symbol, Decimal(0)) + price * size + fee
        else:
            qty = held[symbol]
            closed = min(size, qty)
            part = basis[symbol] * closed / qty
            pnls.append(price * closed - fee * closed / size - part)
            held[symbol] = qty - closed
            basis[symbol] -= part
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p <= 0]
    floats = [float(e) for e in equity]
    returns = [b / a - 1 for a, b in itertools.pairwise(floats)]
    interval = 5.0  # the dev profile's cycle interval on the virtual clock
    per_year = 365 * 86400 / interval
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(per_year)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    sortino = statistics.mean(returns) / downside * math.sqrt(per_year)
    peak, mdd = floats[0], 0.0
    for value in floats:
        peak = max(peak, value)
        mdd = max(mdd, (peak - value) / peak)
    exposure = [float(Decimal(p["exposure"])) / float(Decimal(p["equity"])) for _, p in cycles]
    return {
        "cycles": len(cycles),
        "pnl": (equity[-1] - equity[0]).quantize(Decimal("0.01")),
        "fees": fees.quantize(Decimal("0.01")),
        "fills": len(fills),
        "trades": len(pnls),
        "wins": len(wins),
        "realized": sum(pnls, Decimal(0)).quantize(Decimal("0.01")),
        "profit_factor": float(sum(wins, Decimal(0)) / -sum(losses, Decimal(0))),
        "sharpe": sharpe,
        "sortino": sortino,
        "mdd": mdd,
        "exposure_mean": statistics.mean(exposure),
        "skipped": blocks[0],
        "taken": submitted[0],
    }


def test_weekly_review_matches_an_independent_recomputation(session: Session) -> None:
    settings = session.settings
    reports = session.root / "reports"
    started = time.perf_counter()
    review = run_review("weekly", settings.store_path, reports_dir=reports)
    elapsed = time.perf_counter() - started
    expected = _recompute(settings.store_path)
    perf = review.metrics["performance"]
    eff = review.metrics["effectiveness"]

    assert perf["cycles"] == expected["cycles"] == CYCLES
    assert perf["pnl"] == expected["pnl"]
    assert perf["fees"] == expected["fees"] and perf["fills"] == expected["fills"]
    assert perf["trades"] == expected["trades"] > 5
    assert perf["wins"] == expected["wins"] > 0
    assert perf["win_rate"] == pytest.approx(expected["wins"] / expected["trades"])
    assert perf["realized_pnl"] == expected["realized"]
    assert perf["profit_factor"] == pytest.approx(expected["profit_factor"])
    assert perf["sharpe"] == pytest.approx(expected["sharpe"], rel=1e-9)
    assert perf["sortino"] == pytest.approx(expected["sortino"], rel=1e-9)
    assert perf["max_drawdown_pct"] == pytest.approx(expected["mdd"], rel=1e-9)
    assert perf["exposure_mean_pct"] == pytest.approx(expected["exposure_mean"], rel=1e-9)
    assert eff["skipped"] == expected["skipped"] > 0
    assert eff["taken"] == expected["taken"]
    assert eff["slippage_fills"] > 0 and eff["slippage_mean_bps"] is not None
    # per-symbol rows add up to the totals
    rows = review.tables["per_symbol"]
    cents = Decimal("0.01") * len(rows)  # each row is rounded to the cent
    assert abs(sum(r["fees"] for r in rows) - perf["fees"]) <= cents
    assert sum(r["trades"] for r in rows) == perf["trades"]

    md = review.markdown_path
    png = review.chart_path
    assert md is not None and png is not None and md.parent == reports
    text = md.read_text()
    assert "## Performance" in text and "### Per symbol" in text and png.name in text
    assert str(perf["pnl"]) in text and str(perf["fees"]) in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert elapsed < 10, f"weekly review took {elapsed:.1f} s"
    print(f"\nsession {session.seconds:.1f} s, weekly review {elapsed:.2f} s")


def test_monthly_review_adds_costs_guards_errors_dependencies(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = session.root / "monthly"
    code = main(
        [
            "review",
            "monthly",
            "--data-dir",
            str(session.settings.data_dir),
            "--reports-dir",
            str(reports),
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    tables = doc["tables"]
    assert {"cost_vs_returns", "guards", "errors", "dependencies", "per_symbol"} <= set(tables)
    costs = {row["item"]: row for row in tables["cost_vs_returns"]}
    perf = doc["metrics"]["performance"]
    assert costs["fees"]["amount"] == perf["fees"]
    gross = Decimal(costs["PnL before fees"]["amount"])
    assert gross == Decimal(perf["pnl"]) + Decimal(perf["fees"])
    deps = {row["package"]: row for row in tables["dependencies"]}
    assert deps["pandas"]["status"] == "ok" and deps["matplotlib"]["installed"]
    text = Path(doc["markdown_path"]).read_text()
    assert "## Cost versus returns" in text and "## Dependencies" in text


def test_quarterly_grid_replays_candidates_through_trading_core(session: Session) -> None:
    grid = [
        Candidate(5, 30, Decimal("0.01")),
        Candidate(8, 60, Decimal("0.02")),
    ]
    started = time.perf_counter()
    review = run_review(
        "quarterly",
        session.settings.store_path,
        reports_dir=session.root / "quarterly",
        settings=session.settings,
        grid=grid,
        grid_cycles=400,
    )
    elapsed = time.perf_counter() - started
    ranked = review.tables["grid"]
    assert len(ranked) == 2 and all(r["cycles"] == 400 for r in ranked)
    assert ranked[0]["pnl"] >= ranked[1]["pnl"]
    assert {(r["short_window"], r["long_window"]) for r in ranked} == {(5, 30), (8, 60)}
    assert any(r["trades"] > 0 or r["pnl"] != 0 for r in ranked)
    assert review.metrics["grid"]["best"] == ranked[0]
    text = review.markdown_path.read_text()  # type: ignore[union-attr]
    assert "Strategy parameter grid" in text and "nothing applied" in text
    assert "Risk parameter assessment" in text
    # nothing applied: the profile's strategy settings are unchanged
    assert session.settings.strategy.short_window == 5
    print(f"\nquarterly review with a 2-set grid of 400 cycles: {elapsed:.2f} s")
