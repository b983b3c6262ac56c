"""deployments/prometheus/alerts.yml: valid for promtool, unit-tested by promtool (each alert fires
at its threshold and not below it), and equal to the runbook's Alert Thresholds table."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from trading_core.telemetry.exporter import OWN_METRICS
from trading_core.telemetry.metrics import METRICS

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deployments/prometheus/alerts.yml"
RULE_TESTS = sorted((ROOT / "deployments/prometheus/tests").glob("*.yml"))
RUNBOOK = ROOT / "docs/RUNBOOK.md"
GRAFANA = sorted((ROOT / "deployments/grafana").glob("*.json"))

#: Runbook table row -> (alert name stem, the metric expression the threshold applies to, unit).
ROWS = {
    "Daily Loss": ("PerpsBotDailyLoss", "perps_bot_daily_pnl_ratio", "<=", "percent"),
    "Error Rate": ("PerpsBotErrorRate", "perps_bot:operation_error_ratio:rate5m", ">=", "percent"),
    "WebSocket Down": (
        "PerpsBotWebSocketDown",
        "perps_bot_websocket_last_message_age_seconds",
        ">=",
        "minutes",
    ),
    "Position Count": ("PerpsBotPositionCount", "perps_bot_positions_open", ">=", "count"),
}


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: `apt-get install -y prometheus` provides it "
            "(.ci/run installs it before the suite)"
        )
    return path


def alerts() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return {
        rule["alert"]: rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule
    }


def runbook_table() -> list[dict[str, str]]:
    """The rows of the runbook's Alert Thresholds table."""
    text = RUNBOOK.read_text()
    section = text.split("### Alert Thresholds", 1)[1].split("\n###", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def threshold(cell: str, unit: str) -> Decimal:
    """A runbook cell as the number the rule compares with (-1% -> -0.01, 5 min -> 300)."""
    number = Decimal(re.sub(r"[^0-9.+-]", "", cell))
    if unit == "percent":
        assert cell.endswith("%"), cell
        return number / 100
    if unit == "minutes":
        assert cell.endswith("min"), cell
        return number * 60
    return number


def expr_threshold(expr: str, metric: str, op: str) -> Decimal:
    match = re.fullmatch(
        rf"\s*{re.escape(metric)}\s*{re.escape(op)}\s*([-0-9.]+)(?:\s*\*\s*(\d+))?\s*", expr
    )
    assert match, f"unexpected expression {expr!r}"
    value = Decimal(match[1])
    return value * Decimal(match[2]) if match[2] else value


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    assert len(RULE_TESTS) >= 2
    result = subprocess.run(
        [promtool(), "test", "rules", *map(str, RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_the_rules_encode_the_runbook_table_exactly() -> None:
    rows = runbook_table()
    assert [row["Metric"] for row in rows] == list(ROWS)
    rules = alerts()
    for row in rows:
        stem, metric, op, unit = ROWS[row["Metric"]]
        for level in ("Warning", "Critical"):
            rule = rules[f"{stem}{level}"]
            assert expr_threshold(rule["expr"], metric, op) == threshold(row[level], unit), (
                f"{stem}{level}: {rule['expr']!r} vs runbook {row[level]!r}"
            )
            assert rule["labels"]["severity"] == level.lower()
            # the warning/critical pair shares a label for Alertmanager's inhibition
            assert rule["labels"]["runbook_metric"] == row["Metric"].lower().replace(" ", "_")
            assert "for" not in rule  # at the threshold, not some time after it
            action = row["Action"].lower()
            assert action in rule["annotations"]["summary"].lower(), rule["annotations"]
            assert action in rule["annotations"]["action"].lower(), rule["annotations"]


def test_every_alert_is_labelled_annotated_and_unit_tested() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("#")
    }
    tested: set[str] = set()
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        for case in doc["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    tested.add(check["alertname"])
    rules = alerts()
    assert {"PerpsBotMetricsMissing", "PerpsBotExporterStale"} <= rules.keys()
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        annotations = rule["annotations"]
        assert {"summary", "description", "action", "runbook"} <= annotations.keys(), name
        anchor = annotations["runbook"].split("#", 1)[1]
        assert anchor in headings, f"{name}: no runbook heading for #{anchor}"
        assert name in tested, f"{name} never fires in a promtool unit test"


def _metric_names() -> set[str]:
    names = {spec.name for spec in METRICS} | {name for name, _ in OWN_METRICS}
    names |= {f"{spec.name}_{s}" for spec in METRICS for s in ("bucket", "sum", "count")}
    return names


def test_rules_and_dashboards_only_use_metrics_that_exist() -> None:
    known = _metric_names()
    doc = yaml.safe_load(RULES.read_text())
    exprs = [rule["expr"] for group in doc["groups"] for rule in group["rules"]]
    panels: list[Any] = []
    for path in GRAFANA:
        dashboard = json.loads(path.read_text())
        panels.extend(dashboard["panels"])
        exprs.extend(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    assert GRAFANA and panels, "a Grafana dashboard is expected in deployments/grafana/"
    used = {name for expr in exprs for name in re.findall(r"\bperps_bot_[a-z_]+\b", expr)}
    assert used, "no metric names found"
    assert used <= known, sorted(used - known)
