"""Flow state hooks: a failed or crashed run is announced on the alert webhook."""

from __future__ import annotations

from typing import Any

from trading_core.notify import Alert, Notifier


def _profile(flow_run: Any) -> str:
    params = getattr(flow_run, "parameters", None) or {}
    return str(params.get("profile", "?"))


def _run_url(flow_run: Any) -> str | None:
    try:
        from prefect.runtime import flow_run as runtime

        return runtime.ui_url
    except Exception:
        return None


def notify_failed(flow: Any, flow_run: Any, state: Any) -> None:
    """on_failure: the run failed (a check or a guard said no)."""
    Notifier().send(
        Alert(
            title=f"{flow.name} run {flow_run.name} failed",
            guard=None,
            level="failed",
            value=None,
            threshold=None,
            severity="SEV-2",
            profile=_profile(flow_run),
            run_url=_run_url(flow_run),
            reason=str(getattr(state, "message", "") or ""),
        )
    )


def notify_crashed(flow: Any, flow_run: Any, state: Any) -> None:
    """on_crashed: the process died under the run: for the trading loop, the bot is offline."""
    Notifier().send(
        Alert(
            title=f"{flow.name} run {flow_run.name} crashed: bot offline",
            guard="bot_offline",
            level="critical",
            value=None,
            threshold=None,
            severity="SEV-1",
            profile=_profile(flow_run),
            run_url=_run_url(flow_run),
            reason=str(getattr(state, "message", "") or ""),
        )
    )
