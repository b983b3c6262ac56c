"""Protective modes: the kill switch (no orders at all) and reduce-only (only exposure-reducing
orders). Read at start from settings/env/CLI; the runner may refresh them every cycle."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TradingModes:
    kill_switch: bool = False
    reduce_only: bool = False
    halted: bool = False  # set by runtime guards: no new orders, exits still allowed
    reason: str = ""

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
