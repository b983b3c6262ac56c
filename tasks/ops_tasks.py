"""Tasks over trading_core. Retries only where repeating is harmless (reads, checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task

from trading_core.config import Settings, load_settings


@task(name="load-settings", retries=0)
def load_profile(profile: str) -> Settings:
    return load_settings(profile)


@task(name="run-preflight", retries=1, retry_delay_seconds=10, timeout_seconds=600)
def run_preflight_checks(profile: str) -> dict[str, Any]:
    """All preflight checks (each retries its own network calls); the JSON report as a dict."""
    from pathlib import Path

    from trading_core.preflight import run_preflight

    settings = load_settings(profile)
    report = run_preflight(settings)
    path = report.write(Path("var/reports"))
    return {**report.to_dict(), "report_path": str(path)}


@task(name="sweep-guards", retries=2, retry_delay_seconds=5, timeout_seconds=60)
def sweep(profile: str) -> dict[str, Any]:
    """Evaluate the runtime guards from the profile's store and health.json (read-only)."""
    from trading_core.risk.sweep import sweep_guards
    from trading_core.store.event_store import EventStore
    from trading_core.store.health import read_health

    settings = load_settings(profile)
    now = datetime.now(UTC)
    if not settings.store_path.exists():
        result = sweep_guards(settings, _EmptyStore(), read_health(settings.health_path), now)
    else:
        store = EventStore.open_readonly(settings.store_path)
        try:
            result = sweep_guards(settings, store, read_health(settings.health_path), now)
        finally:
            store.close()
    return {
        "checked_at": now.isoformat(),
        "last_cycle": result.last_cycle,
        "results": [
            {
                "name": r.name,
                "level": r.level.label,
                "value": None if r.value is None else str(r.value),
                "warning": None if r.warning is None else str(r.warning),
                "critical": None if r.critical is None else str(r.critical),
                "severity": r.severity.value,
                "action": r.action.value,
                "reason": r.reason,
            }
            for r in result.results
        ],
    }


class _EmptyStore:
    def last_event(self, type_: str) -> None:
        return None
