"""Protective modes: the kill switch (no orders at all), reduce-only (only exposure-reducing
orders) and halted (no new exposure while a guard holds trading).

Where a mode comes from, each re-read every cycle:
- the environment: RISK_KILL_SWITCH_ENABLED / RISK_REDUCE_ONLY_MODE in the process environment or
  the .env file (edit the file and the running bot follows within one cycle);
- the command line or profile at start (``--reduce-only``): on for the whole run;
- latches in the store (state key "modes"), set by a tripped guard or by
  ``perps-bot guards set ...``: they survive restarts until cleared explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import isoformat_z, parse_utc

MODES_KEY = "modes"
LATCHES = ("kill_switch", "reduce_only", "halt")
ENV_FLAGS = {"kill_switch": "RISK_KILL_SWITCH_ENABLED", "reduce_only": "RISK_REDUCE_ONLY_MODE"}
TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class TradingModes:
    kill_switch: bool = False
    reduce_only: bool = False
    halted: bool = False  # set by runtime guards: no new exposure, exits still allowed
    reason: str = ""
    sources: dict[str, str] = field(default_factory=dict, compare=False)  # mode -> where from

    def describe(self) -> str:
        active = [
            name
            for name, on in (
                ("kill-switch", self.kill_switch),
                ("reduce-only", self.reduce_only),
                ("halted", self.halted),
            )
            if on
        ]
        return ",".join(active) or "normal"


def env_flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUE


class ModeController:
    """Computes the effective modes each cycle and keeps the latches in the store."""

    def __init__(
        self,
        store: Any,
        *,
        start: TradingModes | None = None,
        env_file: Path | None = Path(".env"),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.env_file = env_file
        self.environ = os.environ if environ is None else environ
        self._dotenv_mtime: float | None = None
        self._dotenv: dict[str, str] = {}
        start = start or TradingModes()
        env_now = self._env_flags()
        # a start flag the environment explains follows the environment; anything else
        # (--reduce-only, a profile value) holds for the whole run
        self._fixed = {
            "kill_switch": start.kill_switch and not env_now["kill_switch"],
            "reduce_only": start.reduce_only and not env_now["reduce_only"],
        }

    def _read_dotenv(self) -> dict[str, str]:
        if self.env_file is None:
            return {}
        try:
            mtime = self.env_file.stat().st_mtime
        except OSError:
            self._dotenv_mtime, self._dotenv = None, {}
            return {}
        if mtime != self._dotenv_mtime:
            from dotenv import dotenv_values

            self._dotenv = {k: v for k, v in dotenv_values(self.env_file).items() if v is not None}
            self._dotenv_mtime = mtime
        return self._dotenv

    def _env_flags(self) -> dict[str, bool]:
        dotenv = self._read_dotenv()
        return {
            mode: env_flag(self.environ.get(name)) or env_flag(dotenv.get(name))
            for mode, name in ENV_FLAGS.items()
        }

    def latches(self) -> dict[str, dict[str, Any]]:
        doc = self.store.get_state(MODES_KEY) or {}
        return {name: doc[name] for name in LATCHES if isinstance(doc.get(name), dict)}

    def current(self, now: datetime) -> TradingModes:
        env = self._env_flags()
        latched = self.latches()
        sources: dict[str, str] = {}
        reasons: list[str] = []
        flags: dict[str, bool] = {}
        for mode in ("kill_switch", "reduce_only"):
            latch = latched.get(mode, {})
            if latch.get("on"):
                sources[mode] = f"latched by {latch.get('set_by', '?')}"
                reasons.append(str(latch.get("reason", "")))
            elif env[mode]:
                sources[mode] = ENV_FLAGS[mode]
            elif self._fixed[mode]:
                sources[mode] = "start (command line or profile)"
            flags[mode] = mode in sources
        halt = latched.get("halt", {})
        halted = bool(halt.get("on"))
        until = halt.get("until")
        if halted and until is not None and parse_utc(until) <= now:
            halted = False  # the halt's cooldown has passed
        if halted:
            sources["halted"] = f"latched by {halt.get('set_by', '?')}"
            reasons.append(str(halt.get("reason", "")))
        return TradingModes(
            kill_switch=flags["kill_switch"],
            reduce_only=flags["reduce_only"],
            halted=halted,
            reason="; ".join(r for r in reasons if r),
            sources=sources,
        )

    def set_latch(
        self,
        mode: str,
        on: bool,
        *,
        now: datetime,
        set_by: str,
        reason: str,
        until: datetime | None = None,
    ) -> None:
        """Latch (or clear) one mode in the store; the caller commits."""
        if mode not in LATCHES:
            raise ValueError(f"unknown mode {mode!r} (choose from: {', '.join(LATCHES)})")
        doc = dict(self.store.get_state(MODES_KEY) or {})
        doc[mode] = {
            "on": on,
            "set_by": set_by,
            "reason": reason,
            "set_at": isoformat_z(now),
            "until": isoformat_z(until) if until is not None else None,
        }
        self.store.set_state(MODES_KEY, doc, now)

    def env_status(self) -> dict[str, bool]:
        return self._env_flags()
