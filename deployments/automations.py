#!/usr/bin/env python3
"""Register the project's Prefect automations (run by `perps-bot ops up`).

When ALERT_WEBHOOK_URL is set: a CustomWebhookNotificationBlock pointing at it, and an automation
that sends it when any GPT-Trader flow run crashes (the process died, so no hook could run).
Failed runs and guard trips are announced by the flows themselves (deduplicated per trip)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BLOCK_NAME = "gpt-trader-alerts"
AUTOMATION_NAME = "gpt-trader: flow run crashed"


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
            "guard": "bot_offline",
            "level": "crashed",
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
            expect={"prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject="flow run {{ flow_run.name }} crashed",
                body="{{ flow_run.state.message }}",
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
