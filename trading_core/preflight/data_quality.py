"""Market data quality of recent candles with great-expectations (imported lazily: it is slow).

The expectations: strictly increasing timestamps, no gap beyond the tolerance, high >= open and
close, low <= open and close, positive prices, non-negative volume, nothing missing."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from typing import Any

from ..domain import Candle

GAP_TOLERANCE_BARS = 3  # a gap of more than this many missing bars fails the check
_context: Any = None


def _gx_context() -> Any:
    global _context
    if _context is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        import great_expectations as gx

        context = gx.get_context(mode="ephemeral")
        # progress bars are cosmetic; older releases name this setting differently
        with contextlib.suppress(Exception):
            context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        source = context.data_sources.add_pandas("candles")
        asset = source.add_dataframe_asset("recent")
        _context = (gx, asset.add_batch_definition_whole_dataframe("all"))
    return _context


def validate_candles(candles: Sequence[Candle], *, granularity_s: int) -> dict[str, Any]:
    """A summary: success, rows, failed expectation names, unexpected counts."""
    import pandas as pd

    if not candles:
        return {"success": False, "rows": 0, "failed": ["no candles"], "unexpected": {}}
    frame = pd.DataFrame(
        {
            "start": [c.start.timestamp() for c in candles],
            "open": [float(c.open) for c in candles],
            "high": [float(c.high) for c in candles],
            "low": [float(c.low) for c in candles],
            "close": [float(c.close) for c in candles],
            "volume": [float(c.volume) for c in candles],
        }
    )
    frame["missing_values"] = frame.isna().sum(axis=1)
    frame["gap_bars"] = frame["start"].diff().fillna(granularity_s) / granularity_s - 1
    frame["max_oc"] = frame[["open", "close"]].max(axis=1)
    frame["min_oc"] = frame[["open", "close"]].min(axis=1)
    gx, batch_definition = _gx_context()
    e = gx.expectations
    expectations = {
        "timestamps_increasing": e.ExpectColumnValuesToBeIncreasing(column="start", strictly=True),
        "no_gap_beyond_tolerance": e.ExpectColumnValuesToBeBetween(
            column="gap_bars", min_value=0, max_value=GAP_TOLERANCE_BARS
        ),
        "high_at_least_open_close": e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="high", column_B="max_oc", or_equal=True
        ),
        "low_at_most_open_close": e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="min_oc", column_B="low", or_equal=True
        ),
        "positive_prices": e.ExpectColumnValuesToBeBetween(
            column="low", strict_min=True, min_value=0
        ),
        "non_negative_volume": e.ExpectColumnValuesToBeBetween(column="volume", min_value=0),
        "no_missing_values": e.ExpectColumnValuesToBeBetween(
            column="missing_values", min_value=0, max_value=0
        ),
    }
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    failed: list[str] = []
    unexpected: dict[str, int] = {}
    for name, expectation in expectations.items():
        result = batch.validate(expectation)
        if not result.success:
            failed.append(name)
            unexpected[name] = int(result.result.get("unexpected_count") or 0)
    return {"success": not failed, "rows": len(frame), "failed": failed, "unexpected": unexpected}
