"""prefect.yaml is real: every entrypoint loads, parameters match the flows, schedules parse."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deployments.specs import load_specs


def test_every_deployment_loads_with_valid_parameters_and_schedule() -> None:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    specs = load_specs()
    names = {spec.full_name for spec in specs}
    assert {"preflight/canary", "preflight/dev", "trading-loop/dev", "guard-sweep/dev"} <= names
    for spec in specs:
        spec.check_parameters()
        assert spec.cron or spec.interval, spec.name
        if spec.cron:
            CronSchedule(cron=spec.cron, timezone=spec.timezone)
        else:
            from datetime import timedelta

            IntervalSchedule(interval=timedelta(seconds=float(spec.interval or 0)))
    by_name = {s.full_name: s for s in specs}
    assert by_name["guard-sweep/dev"].interval == 60
    assert by_name["trading-loop/dev"].concurrency_limit == 1
    assert by_name["preflight/canary"].cron == "30 7 * * 1-5"


def test_runner_deployments_build() -> None:
    from deployments.specs import to_deployments

    deployments = to_deployments(load_specs(), {"dev"})
    assert sorted(d.name for d in deployments) == ["dev", "dev", "dev"]
