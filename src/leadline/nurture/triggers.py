"""What enrols leads and moves running enrolments: outbox consumers (never I/O, one transaction per batch).

- `lead.event_recorded` (emitted by ingest only for event types an active workflow triggers on or waits for):
  enrols in `event` and `form` workflows, counts event goals, wakes `wait_until` steps;
- `lead.stage_changed`: enrols in `stage` workflows, counts stage goals, exits on exit stages;
- `lead.mql_ready`: enrols in `score_crosses: mql` workflows;
- `segment.entered`: enrols in `segment_entered` workflows;
- `lead.temperature_changed`: enrols in `temperature_reaches` workflows for each band the lead rose to or past.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from leadline.core.workflows import EventTrigger
from leadline.nurture.engine import active_workflows, definition_of, enrol, on_lead_changed
from leadline.services import outbox
from leadline.storage.tables import OutboxMessage

EVENT_RECORDED = "lead.event_recorded"
TEMPERATURE_CHANGED = "lead.temperature_changed"
TOPICS = (EVENT_RECORDED, "lead.stage_changed", "lead.mql_ready", "segment.entered", TEMPERATURE_CHANGED)
_BANDS = {"cold": 0, "warm": 1, "hot": 2}


Starts = dict[tuple[int, str, str | None], list[int]]
Changes = dict[tuple[int, str, str], list[int]]
Matched = dict[tuple[int, str, int], list[int]]


def _collect(messages: Sequence[OutboxMessage]) -> tuple[Starts, Changes, Matched]:
    """(workspace, trigger kind, trigger value) -> leads to enrol; the changes running enrolments must see; and
    (workspace, event type, workflow id) -> leads whose event met that workflow's property condition."""
    starts: Starts = defaultdict(list)
    changes: Changes = defaultdict(list)
    matched: Matched = defaultdict(list)
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
            for workflow_id in payload.get("workflows") or ():
                matched[(m.workspace_id, payload["type"], workflow_id)].append(m.lead_id)
            if payload["type"] == "form_submit" and isinstance(payload.get("form_key"), str):
                starts[(m.workspace_id, "form", payload["form_key"])].append(m.lead_id)
        elif m.topic == "lead.mql_ready":
            starts[(m.workspace_id, "mql_ready", None)].append(m.lead_id)
        elif m.topic == "segment.entered" and payload.get("segment_id") is not None:
            starts[(m.workspace_id, "segment", str(payload["segment_id"]))].append(m.lead_id)
        elif m.topic == TEMPERATURE_CHANGED:
            before, after = _BANDS.get(str(payload.get("from")), 0), _BANDS.get(str(payload.get("to")), 0)
            for band in ("warm", "hot"):  # cold -> hot also reaches warm
                if before < _BANDS[band] <= after:
                    starts[(m.workspace_id, "temperature", band)].append(m.lead_id)
    return starts, changes, matched


@outbox.consumer("nurture-triggers", *TOPICS)
def on_messages(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    starts, changes, matched = _collect(messages)
    for (ws, kind, value), lead_ids in changes.items():
        if kind == "stage":
            on_lead_changed(session, ws, lead_ids, now=now, stage=value)
        else:
            on_lead_changed(session, ws, lead_ids, now=now, event_type=value)
    for (ws, kind, value), lead_ids in starts.items():
        for workflow in active_workflows(session, ws, kind, None if value is None else [value]):
            trigger = definition_of(workflow).trigger
            if isinstance(trigger, EventTrigger) and trigger.properties:  # only the events that met it
                enrol(session, workflow, matched.get((ws, trigger.event, workflow.id), []), now=now)
            else:
                enrol(session, workflow, lead_ids, now=now)
