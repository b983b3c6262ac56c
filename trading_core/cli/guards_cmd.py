"""`perps-bot guards status|set`: what every guard says, and the operator's switches.

    perps-bot guards status [--profile P] [--json]
    perps-bot guards set kill-switch|reduce-only|halt on|off --reason "..." [--profile P]

`set` latches the mode in the profile's store (a running bot follows within one cycle) and
records who and why as a guard event. Only stdlib and trading_core here: this must start fast."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError

MODE_NAMES = {"kill-switch": "kill_switch", "reduce-only": "reduce_only", "halt": "halt"}


def register(subparsers: Any) -> None:
    guards = subparsers.add_parser("guards", help="risk guards: status and switches")
    actions = guards.add_subparsers(dest="guards_command", metavar="ACTION")
    actions.required = True

    status = actions.add_parser("status", help="every guard's level, value and threshold")
    _common(status)
    status.add_argument("--json", action="store_true", help="one JSON document")
    status.set_defaults(handler=run_status)

    switch = actions.add_parser("set", help="turn the kill switch, reduce-only or a halt on/off")
    _common(switch)
    switch.add_argument("mode", choices=sorted(MODE_NAMES), help="which switch")
    switch.add_argument("state", choices=("on", "off"))
    switch.add_argument("--reason", required=True, help="why (recorded with your user name)")
    switch.set_defaults(handler=run_set)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=None, help="default: $PERPS_PROFILE or dev")
    parser.add_argument("--data-dir", type=Path, default=None, help="default var/data/perps_bot")


def _store_path(args: argparse.Namespace) -> tuple[str, Path]:
    from ..config.settings import PROFILES

    profile = args.profile or os.environ.get("PERPS_PROFILE") or "dev"
    if profile not in PROFILES:
        raise ConfigError(
            f"--profile: unknown profile {profile!r} (choose from: {', '.join(PROFILES)})"
        )
    root = args.data_dir or Path(os.environ.get("PERPS_DATA_DIR") or "var/data/perps_bot")
    return profile, root / profile / "events.db"


def guard_status(store: Any, now: datetime, risk: Any = None) -> dict[str, Any]:
    """Everything `guards status` shows, as plain data (also used by the dashboard and flows).
    ``risk`` (RiskSettings) supplies the thresholds of guards that never left ok."""
    from ..cycle import load_bot_state
    from ..risk.guards.manager import GUARDS_KEY
    from ..risk.modes import ModeController

    controller = ModeController(store, env_file=Path(".env"))
    modes = controller.current(now)
    latches = controller.latches()
    env = controller.env_status()
    persisted: dict[str, Any] = store.get_state(GUARDS_KEY) or {}
    last = store.last_event("cycle")
    current: dict[str, str] = {}
    if last is not None and isinstance(last.payload, dict):
        current = last.payload.get("guards") or {}
    thresholds: dict[str, tuple[str, str]] = {}
    if risk is not None:
        from ..risk.guards.runtime import default_guards

        for guard in default_guards(risk):
            warning, critical = guard.thresholds  # type: ignore[attr-defined]
            thresholds[guard.name] = (format(warning, "f"), format(critical, "f"))  # type: ignore[attr-defined]
    guards = []
    for name in sorted(set(persisted) | set(current) | set(thresholds)):
        doc = dict(persisted.get(name) or {"level": "ok"})
        if name in thresholds:
            doc["warning"], doc["critical"] = thresholds[name]
        level, _, value = (current.get(name) or "").partition(":")
        doc["name"] = name
        doc["level"] = level or doc.get("level", "ok")
        doc["value"] = value or doc.get("value")
        guards.append(doc)
    state = load_bot_state(store) or {}
    return {
        "modes": {
            "kill_switch": {"on": modes.kill_switch, "source": modes.sources.get("kill_switch")},
            "reduce_only": {"on": modes.reduce_only, "source": modes.sources.get("reduce_only")},
            "halted": {"on": modes.halted, "source": modes.sources.get("halted")},
            "reason": modes.reason,
            "latches": latches,
            "environment": env,
        },
        "guards": guards,
        "last_cycle": None if last is None else {"cycle": last.cycle, "at": last.ts.isoformat()},
        "cycle": state.get("cycle"),
    }


def run_status(args: argparse.Namespace) -> int:
    from ..store.event_store import EventStore

    profile, path = _store_path(args)
    if not path.exists():
        raise ConfigError(f"--profile: no event store for profile {profile!r} at {path}")
    from ..config import load_settings

    risk = load_settings(profile).risk
    store = EventStore.open_readonly(path)
    try:
        doc = {"profile": profile, **guard_status(store, datetime.now(UTC), risk)}
    finally:
        store.close()
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True, default=str))
        return 0
    modes = doc["modes"]
    flags = []
    for key, label in (
        ("kill_switch", "kill switch"),
        ("reduce_only", "reduce-only"),
        ("halted", "halted"),
    ):
        entry = modes[key]
        flags.append(
            f"{label}: {'ON' if entry['on'] else 'off'}"
            + (f" ({entry['source']})" if entry["on"] and entry["source"] else "")
        )
    print(f"profile {profile}  " + "  ".join(flags))
    if modes["reason"]:
        print(f"reason: {modes['reason']}")
    print(
        f"{'GUARD':<24}{'LEVEL':<10}{'VALUE':<14}{'WARNING':<12}{'CRITICAL':<12}{'SINCE':<26}REASON"
    )
    for g in doc["guards"]:
        print(
            f"{g['name']:<24}{g['level']:<10}{_short(g.get('value')):<14}"
            f"{_short(g.get('warning')):<12}{_short(g.get('critical')):<12}"
            f"{g.get('since') or '-'!s:<26}{g.get('reason') or ''}"
        )
    return 0


def run_set(args: argparse.Namespace) -> int:
    from ..risk.modes import ModeController
    from ..store.event_store import EventStore

    profile, path = _store_path(args)
    reason = args.reason.strip()
    if not reason:
        raise ConfigError("--reason: say why (it is recorded with your name)")
    mode = MODE_NAMES[args.mode]
    on = args.state == "on"
    who = f"cli:{_user()}"
    now = datetime.now(UTC)
    store = EventStore(path)
    try:
        controller = ModeController(store, env_file=Path(".env"))
        controller.set_latch(mode, on, now=now, set_by=who, reason=reason)
        store.append_event(
            "guard",
            ts=now,
            severity="warning" if on else "info",
            message=f"{args.mode} {args.state} by {who}: {reason}",
            payload={"mode": mode, "on": on, "who": who, "why": reason},
        )
        store.commit()
        effective = controller.current(now)
    finally:
        store.close()
    print(f"{args.mode} {args.state} for profile {profile} ({reason})")
    still_on = {
        "kill_switch": effective.kill_switch,
        "reduce_only": effective.reduce_only,
        "halt": effective.halted,
    }[mode]
    if not on and still_on:
        source = effective.sources.get("halted" if mode == "halt" else mode, "")
        print(f"note: {args.mode} stays ON: {source}", file=sys.stderr)
    return 0


def _short(value: object) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= 12 else text[:12]


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
