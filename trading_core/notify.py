"""Notifications to a webhook (ALERT_WEBHOOK_URL): Slack-compatible ``text`` plus structured
fields. Deduplicated per trip through the store's state, so a guard that stays critical pages
once, not every minute. The URL is a secret: it is registered for redaction and never logged."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import isoformat_z
from .jsonutil import to_jsonable
from .telemetry.redaction import redact, register_secret

log = logging.getLogger("trading_core.notify")
NOTIFIED_KEY = "notified"


@dataclass(frozen=True, slots=True)
class Alert:
    title: str
    guard: str | None
    level: str
    value: Any
    threshold: Any
    severity: str
    profile: str
    run_url: str | None = None
    reason: str = ""

    def payload(self) -> dict[str, Any]:
        text = f"[{self.severity}] {self.title} ({self.profile})"
        if self.reason:
            text += f": {self.reason}"
        if self.run_url:
            text += f" <{self.run_url}|run>"
        return to_jsonable(
            {
                "text": text,
                "guard": self.guard,
                "level": self.level,
                "value": self.value,
                "threshold": self.threshold,
                "severity": self.severity,
                "profile": self.profile,
                "run_url": self.run_url,
                "reason": self.reason,
            }
        )


class Notifier:
    def __init__(self, url: str | None = None, *, timeout_s: float = 5.0) -> None:
        self.url = url if url is not None else os.environ.get("ALERT_WEBHOOK_URL") or None
        self.timeout_s = timeout_s
        if self.url:
            register_secret(self.url)

    def send(self, alert: Alert) -> bool:
        """POST the alert; True when the receiver accepted it. Failures are logged (redacted)."""
        if not self.url:
            log.info("no ALERT_WEBHOOK_URL: alert not sent: %s", alert.title)
            return False
        import httpx

        try:
            response = httpx.post(
                self.url, json=alert.payload(), timeout=self.timeout_s, trust_env=False
            )
        except httpx.HTTPError as exc:
            log.error("alert webhook failed: %s", redact(f"{type(exc).__name__}: {exc}"))
            return False
        if response.status_code >= 300:
            log.error("alert webhook answered %s", response.status_code)
            return False
        log.info("alert sent: %s", alert.title)
        return True


def should_notify(store: Any, key: str, trip_id: str, now: datetime) -> bool:
    """True once per (key, trip): a guard tripped at ``trip_id`` (its 'since') is announced
    once; the caller records it with ``mark_notified`` after sending."""
    notified = store.get_state(NOTIFIED_KEY) or {}
    return notified.get(key, {}).get("trip") != trip_id


def mark_notified(store: Any, key: str, trip_id: str, now: datetime) -> None:
    notified = dict(store.get_state(NOTIFIED_KEY) or {})
    notified[key] = {"trip": trip_id, "at": isoformat_z(now)}
    store.set_state(NOTIFIED_KEY, notified, now)
    store.commit()
