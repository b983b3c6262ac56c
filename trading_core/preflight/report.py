"""Preflight results: one status per check, and the verdict the morning checklist acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..clock import isoformat_z
from ..jsonutil import atomic_write_text, dumps


class CheckStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class Verdict(StrEnum):
    READY = "READY"  # every check passed: exit 0
    REVIEW = "REVIEW"  # warnings only: a human looks first, exit 1
    NOT_READY = "NOT READY"  # a check failed: do not trade, exit 2

    @property
    def exit_code(self) -> int:
        return {Verdict.READY: 0, Verdict.REVIEW: 1, Verdict.NOT_READY: 2}[self]


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: CheckStatus
    summary: str  # one line, never a secret
    details: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0


@dataclass(slots=True)
class PreflightReport:
    profile: str
    started_at: datetime
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        statuses = {c.status for c in self.checks}
        if CheckStatus.FAIL in statuses:
            return Verdict.NOT_READY
        if CheckStatus.WARN in statuses:
            return Verdict.REVIEW
        return Verdict.READY

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status is CheckStatus.FAIL]

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "started_at": isoformat_z(self.started_at),
            "verdict": self.verdict.value,
            "exit_code": self.verdict.exit_code,
            "counts": {s.value: sum(1 for c in self.checks if c.status is s) for s in CheckStatus},
            "checks": [
                {
                    "name": c.name,
                    "status": c.status.value,
                    "summary": c.summary,
                    "details": c.details,
                    "duration_ms": round(c.duration_ms, 1),
                }
                for c in self.checks
            ],
        }

    def write(self, reports_dir: Path) -> Path:
        stamp = self.started_at.strftime("%Y%m%dT%H%M%SZ")
        path = reports_dir / f"preflight_{self.profile}_{stamp}.json"
        atomic_write_text(path, dumps(self.to_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        width = max((len(c.name) for c in self.checks), default=10) + 2
        lines = [f"Preflight {self.profile} at {isoformat_z(self.started_at)}"]
        for c in self.checks:
            lines.append(f"  {c.status.value.upper():<5} {c.name:<{width}}{c.summary}")
        lines.append(f"Verdict: {self.verdict.value}")
        return "\n".join(lines)
