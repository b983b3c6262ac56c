"""guard-sweep (every minute): the runtime guards judged from the bot's store and health.json.
A critical guard fails the run with the guard named in the state message, and is announced on
the alert webhook once per trip (a guard that stays critical does not page every minute)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from flows.notifications import notify_crashed
from tasks.ops_tasks import sweep

SWEEP_TRIPS_KEY = "sweep_trips"


class GuardCritical(Exception):
    """A runtime guard is critical."""


def announce_trips(profile: str, critical: list[dict[str, Any]], run_url: str | None) -> int:
    """Send one alert per new trip; remember trips in the store (state ``sweep_trips``) so a
    guard that stays critical is not announced again, and a later trip is. Returns alerts sent."""
    from trading_core.config import load_settings
    from trading_core.notify import Alert, Notifier, mark_notified, should_notify
    from trading_core.store.event_store import EventStore

    settings = load_settings(profile)
    now = datetime.now(UTC)
    store = EventStore(settings.store_path)
    sent = 0
    try:
        trips: dict[str, str] = dict(store.get_state(SWEEP_TRIPS_KEY) or {})
        names = {g["name"] for g in critical}
        trips = {name: since for name, since in trips.items() if name in names}  # recovered: forget
        notifier = Notifier()
        for guard in critical:
            trip = trips.setdefault(guard["name"], now.isoformat())
            key = f"guard:{guard['name']}"
            if not should_notify(store, key, trip, now):
                continue
            delivered = notifier.send(
                Alert(
                    title=f"guard {guard['name']} critical",
                    guard=guard["name"],
                    level=guard["level"],
                    value=guard["value"],
                    threshold=guard["critical"],
                    severity=guard["severity"],
                    profile=profile,
                    run_url=run_url,
                    reason=guard["reason"],
                )
            )
            if delivered:
                mark_notified(store, key, trip, now)
                sent += 1
        store.set_state(SWEEP_TRIPS_KEY, trips, now)
        store.commit()
    finally:
        store.close()
    return sent


@flow(name="guard-sweep", on_crashed=[notify_crashed])
def guard_sweep(profile: str = "dev") -> dict[str, Any]:
    logger = get_run_logger()
    result = sweep(profile)
    create_table_artifact(
        [
            {k: r[k] for k in ("name", "level", "value", "critical", "severity", "reason")}
            for r in result["results"]
        ],
        key=f"guard-sweep-{profile}",
        description=f"Guards for {profile} at {result['checked_at']}",
    )
    critical = [r for r in result["results"] if r["level"] == "critical"]
    for r in result["results"]:
        if r["level"] != "ok":
            logger.warning("%s %s [%s]: %s", r["name"], r["level"], r["severity"], r["reason"])
    if critical:
        from flows.notifications import _run_url

        announce_trips(profile, critical, _run_url(None))
        names = ", ".join(f"{g['name']} ({g['reason']})" for g in critical)
        raise GuardCritical(f"critical guard: {names}")
    return result
