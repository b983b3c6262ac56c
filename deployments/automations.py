#!/usr/bin/env python3
"""Register the project's Prefect automations (run by `perps-bot ops up`).

When ALERT_WEBHOOK_URL is set: a CustomWebhookNotificationBlock pointing at it, and a dead man's
switch: an automation that pages (SEV-1) when no guard-sweep run has finished for five minutes,
i.e. the operations stack itself is down or stuck, which no flow hook can report. Failed and
crashed runs page from their flows' hooks (the runner runs on_crashed for a killed run); guard
trips page from the guard-sweep flow, once per trip."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BLOCK_NAME = "gpt-trader-alerts"
AUTOMATION_NAME = "gpt-trader: guard sweeps stopped"
SILENCE_S = 300


async def register(url: str) -> str:
    from prefect.automations import Automation
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture

    block = CustomWebhookNotificationBlock(
        name=BLOCK_NAME,
        url=url,
        json_data={
            "text": "[SEV-1] {{ subject }}",
            "severity": "SEV-1",
            "guard": "guard_sweep_stalled",
            "level": "critical",
            "body": "{{ body }}",
        },
    )
    block_id = await block.save(BLOCK_NAME, overwrite=True)
    try:  # re-registering replaces the old automation instead of adding a second one
        existing = await Automation.aread(name=AUTOMATION_NAME)
    except Exception:
        existing = None
    if existing is not None:
        await existing.adelete()
    automation = Automation(
        name=AUTOMATION_NAME,
        trigger=EventTrigger(
            expect={"prefect.flow-run.Completed", "prefect.flow-run.Failed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": "guard-sweep"},
            posture=Posture.Proactive,
            threshold=1,
            within=SILENCE_S,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject=f"no guard-sweep run finished in {SILENCE_S // 60} minutes",
                body="the GPT-Trader operations stack is down or stuck: check perps-bot ops status",
            )
        ],
    )
    created = await automation.acreate()
    return str(created.id)


def main() -> int:
    url = os.environ.get("ALERT_WEBHOOK_URL")
    if not url:
        print("automations: ALERT_WEBHOOK_URL unset, nothing to register")
        return 0
    automation_id = asyncio.run(register(url))
    print(f"automations: '{AUTOMATION_NAME}' registered ({automation_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
