"""The review chart: equity over time and the drawdown under it, one PNG (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def equity_drawdown_png(cycles: Any, path: Path, title: str) -> Path:
    """Write ``path`` from a DataFrame with ``ts`` and ``equity`` columns (an empty frame gives
    a chart saying there is no data). Returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    try:
        if len(cycles) == 0:
            top.text(0.5, 0.5, "no cycles in the window", ha="center", va="center")
        else:
            equity = cycles["equity"].astype(float)
            peak = equity.cummax()
            drawdown = (equity - peak) / peak * 100.0
            top.plot(cycles["ts"], equity, color="#1f77b4", linewidth=1.2, label="equity")
            top.plot(
                cycles["ts"], peak, color="#999999", linewidth=0.8, linestyle="--", label="peak"
            )
            top.set_ylabel("equity (USD)")
            top.legend(loc="best")
            top.grid(alpha=0.3)
            bottom.fill_between(cycles["ts"], drawdown, 0, color="#d62728", alpha=0.4)
            bottom.plot(cycles["ts"], drawdown, color="#d62728", linewidth=0.8)
            bottom.set_ylabel("drawdown (%)")
            bottom.set_xlabel("time (UTC)")
            bottom.grid(alpha=0.3)
        top.set_title(title)
        fig.autofmt_xdate()
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.partial")
        fig.savefig(tmp, format="png", dpi=100)
        tmp.chmod(0o600)  # private, like every report
        tmp.replace(path)
    finally:
        plt.close(fig)
    return path
