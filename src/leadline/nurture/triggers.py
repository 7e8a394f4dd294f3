"""What enrols leads and moves running enrolments: outbox consumers (never I/O, one transaction per batch).

- `lead.event_recorded` (emitted by ingest only for event types an active workflow triggers on or waits for):
  enrols in `event` and `form` workflows, counts event goals, wakes `wait_until` steps;
- `lead.stage_changed`: enrols in `stage` workflows, counts stage goals, exits on exit stages;
- `lead.mql_ready`: enrols in `score_crosses: mql` workflows;
- `segment.entered`: enrols in `segment_entered` workflows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from leadline.nurture.engine import active_workflows, enrol, on_lead_changed
from leadline.services import outbox
from leadline.storage.tables import OutboxMessage

EVENT_RECORDED = "lead.event_recorded"
TOPICS = (EVENT_RECORDED, "lead.stage_changed", "lead.mql_ready", "segment.entered")


@outbox.consumer("nurture-triggers", *TOPICS)
def on_messages(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    # (workspace, trigger kind, trigger value) -> leads, and the changes running enrolments must see
    starts: dict[tuple[int, str, str | None], list[int]] = defaultdict(list)
    changes: dict[tuple[int, str, str], list[int]] = defaultdict(list)
    for m in messages:
        if m.lead_id is None:
            continue
        payload = m.payload or {}
        if m.topic == "lead.stage_changed" and isinstance(payload.get("to"), str):
            changes[(m.workspace_id, "stage", payload["to"])].append(m.lead_id)
            starts[(m.workspace_id, "stage", payload["to"])].append(m.lead_id)
        elif m.topic == EVENT_RECORDED and isinstance(payload.get("type"), str):
            changes[(m.workspace_id, "event", payload["type"])].append(m.lead_id)
            starts[(m.workspace_id, "event", payload["type"])].append(m.lead_id)
            if payload["type"] == "form_submit" and isinstance(payload.get("form_key"), str):
                starts[(m.workspace_id, "form", payload["form_key"])].append(m.lead_id)
        elif m.topic == "lead.mql_ready":
            starts[(m.workspace_id, "mql_ready", None)].append(m.lead_id)
        elif m.topic == "segment.entered" and payload.get("segment_id") is not None:
            starts[(m.workspace_id, "segment", str(payload["segment_id"]))].append(m.lead_id)
    for (ws, kind, value), lead_ids in changes.items():
        if kind == "stage":
            on_lead_changed(session, ws, lead_ids, now=now, stage=value)
        else:
            on_lead_changed(session, ws, lead_ids, now=now, event_type=value)
    for (ws, kind, value), lead_ids in starts.items():
        for workflow in active_workflows(session, ws, kind, None if value is None else [value]):
            enrol(session, workflow, lead_ids, now=now)
