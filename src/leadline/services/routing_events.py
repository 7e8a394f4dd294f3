"""Routing driven by the outbox: a lead that becomes MQL, or enters a segment a rule names, is routed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.leads import Stage
from leadline.services import outbox
from leadline.services.routing import route_leads
from leadline.storage.tables import AssignmentRule, OutboxMessage


def _segment_rules(session: Session, workspace_id: int) -> set[int]:
    documents = session.scalars(select(AssignmentRule.document).where(AssignmentRule.workspace_id == workspace_id))
    return {int(d["match"]["segment_id"]) for d in documents if (d.get("match") or {}).get("segment_id")}


@outbox.consumer("routing", "lead.stage_changed", "segment.entered")
def route_on_events(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    """One `route_leads` call per workspace for the whole batch. Leads that already have an owner keep it
    unless the matching rule says `reroute_owned` (`route_leads` decides)."""
    by_workspace: dict[int, list[int]] = {}
    segment_rules: dict[int, set[int]] = {}
    for message in messages:
        if message.lead_id is None:
            continue
        if message.topic == "lead.stage_changed" and message.payload.get("to") != Stage.MQL:
            continue
        if message.topic == "segment.entered":
            if message.workspace_id not in segment_rules:
                segment_rules[message.workspace_id] = _segment_rules(session, message.workspace_id)
            if int(message.payload.get("segment_id") or 0) not in segment_rules[message.workspace_id]:
                continue
        by_workspace.setdefault(message.workspace_id, []).append(message.lead_id)
    for workspace_id, lead_ids in by_workspace.items():
        route_leads(session, workspace_id=workspace_id, lead_ids=lead_ids, now=now, actor="routing:auto")
