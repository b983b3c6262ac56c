"""prefect.yaml read once, for serve.py, ops and tests: the deployments as plain specs."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "prefect.yaml"


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str  # flows/preflight.py:preflight
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    interval: float | None = None
    timezone: str = "UTC"
    concurrency_limit: int | None = None
    tags: tuple[str, ...] = ()
    description: str = ""

    def load_flow(self) -> Any:
        path, _, attr = self.entrypoint.partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        return getattr(module, attr)

    @property
    def full_name(self) -> str:
        return f"{self.load_flow().name}/{self.name}"

    def check_parameters(self) -> None:
        """Raise ValueError when a parameter is not one the flow takes."""
        signature = inspect.signature(self.load_flow().fn)
        unknown = set(self.parameters) - set(signature.parameters)
        if unknown:
            raise ValueError(f"{self.entrypoint}: unknown parameters {sorted(unknown)}")


def load_specs(path: Path = PREFECT_YAML) -> list[DeploymentSpec]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs = []
    for item in doc.get("deployments", []):
        schedules = item.get("schedules") or []
        if len(schedules) > 1:
            raise ValueError(f"{item['name']}: one schedule per deployment")
        schedule = schedules[0] if schedules else {}
        specs.append(
            DeploymentSpec(
                name=item["name"],
                entrypoint=item["entrypoint"],
                parameters=dict(item.get("parameters") or {}),
                cron=schedule.get("cron"),
                interval=schedule.get("interval"),
                timezone=schedule.get("timezone", "UTC"),
                concurrency_limit=item.get("concurrency_limit"),
                tags=tuple(item.get("tags") or ()),
                description=item.get("description", ""),
            )
        )
    return specs


def to_deployments(specs: list[DeploymentSpec], profiles: set[str] | None = None) -> list[Any]:
    """RunnerDeployments for prefect.serve (only the given profiles', when given)."""
    out = []
    for spec in specs:
        if profiles is not None and spec.parameters.get("profile") not in profiles:
            continue
        flow = spec.load_flow()
        kwargs: dict[str, Any] = {
            "name": spec.name,
            "parameters": spec.parameters,
            "tags": list(spec.tags),
            "description": spec.description,
        }
        if spec.cron:
            kwargs["cron"] = spec.cron
        if spec.interval:
            kwargs["interval"] = spec.interval
        if spec.concurrency_limit:
            kwargs["concurrency_limit"] = spec.concurrency_limit
        out.append(flow.to_deployment(**kwargs))
    return out
