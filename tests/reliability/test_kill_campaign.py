"""The seeded SIGKILL campaign (bench/kill_campaign.py) passes against both venues.

110 kills in all: 70 against the paper venue (fast-forward, every order-path point), 40
against the Coinbase simulator through the real SDK (wall clock), the two run side by side.
After every kill a clean restart must reconcile without a breach, and the audit must find zero
duplicate orders, zero lost or phantom fills, positions and cash equal to the venue's, and an
intact store. The table is printed (``pytest -s`` shows it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "bench" / "kill_campaign.py"


def _start(target: str, kills: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CAMPAIGN), "--target", target, "--kills", str(kills), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_campaign_loses_and_doubles_nothing() -> None:
    runs = {"paper": _start("paper", 70), "coinbase": _start("coinbase", 40)}
    results = {}
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=600)
        assert out, f"{name}: no report; stderr:\n{err[-3000:]}"
        (results[name],) = json.loads(out)["targets"]
        assert proc.returncode == 0, f"{name}: {json.dumps(results[name], indent=1)}\n{err[-3000:]}"

    sys.path.insert(0, str(CAMPAIGN.parent))
    from kill_campaign import table  # the same table the bench prints

    print("\n" + table(list(results.values())))

    paper, coinbase = results["paper"], results["coinbase"]
    assert paper["kills"] + coinbase["kills"] >= 100
    for result in (paper, coinbase):
        assert result["ok"] and result["restarts_failed"] == 0
        assert result["reconcile_breaches"] == 0
        assert not any(result["invariant_failures"].values()), result["invariant_failures"]
        assert result["venue_orders"] > 0 and result["venue_fills"] > 0
    # the kills landed where it matters, not only between cycles
    assert set(paper["point_kills"]) == {
        "submit:before",
        "submit:after",
        "commit:before",
        "commit:after",
        "journal:before",
    }
    assert paper["kills_with_order_in_flight"] > 0 and paper["in_flight_resolved_at_restart"] > 0
    assert (
        coinbase["point_kills"].get("commit:before", 0)
        + coinbase["point_kills"].get("commit:after", 0)
        > 0
    )
