"""The fault campaign (issue 8): the whole bot against the simulator, one fault at a time. Each
fault is run once (a module-scoped campaign, about a minute); one test per fault asserts its row:
recovered (or stopped on purpose), the designed guard or mechanism engaged, no unhandled
exception, store and venue consistent. The last test prints the table (``pytest -s``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_core.sim.fault_campaign import CASES, CaseResult, run_campaign, table


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CaseResult]]:
    workdir: Path = tmp_path_factory.mktemp("fault-campaign")
    results = run_campaign(workdir=workdir)
    yield {r.fault: r for r in results}


def test_every_listed_fault_has_a_case() -> None:
    names = {c.name for c in CASES}
    wanted = {
        "429 with headers",
        "429 without headers",
        "5xx",
        "timeout (lost response)",
        "malformed JSON (garbage)",
        "truncated JSON",
        "empty body",
        "auth failure",
        "WS drop 1000",
        "WS drop 1006",
        "WS sequence gap",
        "frozen feed",
        "clock skew",
        "disk full (log)",
    }
    assert wanted <= names


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_fault(campaign: dict[str, CaseResult], name: str) -> None:
    r = campaign[name]
    detail = f"{r.fault}: {r.outcome}; engaged {r.guard}; {r.consistency}; {r.exception_notes}"
    assert r.recovered or r.stopped_on_purpose, detail
    assert r.cycles_before >= 3 and r.cycles_after >= 1, detail  # cycles went on
    assert r.guard_ok, f"expected {r.expect}: {detail}"
    assert r.exceptions == 0, detail
    assert r.consistent, detail
    assert r.passed


def test_campaign_table(
    campaign: dict[str, CaseResult], capsys: pytest.CaptureFixture[str]
) -> None:
    text = table(list(campaign.values()))
    with capsys.disabled():
        print("\n" + text)
    assert f"{len(CASES)}/{len(CASES)} faults recovered" in text
