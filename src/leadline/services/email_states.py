"""Unsubscribes and bounces are states that stop sends, not points that decay away."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from leadline.storage.tables import Lead


def apply_email_states(session: Session, workspace_id: int, columns: dict[str, int],
                       rows: Sequence[Sequence[Any]]) -> None:
    """`unsubscribe` marks the lead unsubscribed; `email_bounce` records when its address first bounced."""
    type_at, lead_at, time_at = columns["type"], columns["lead_id"], columns["occurred_at"]
    unsubscribed: set[int] = set()
    bounced: dict[int, datetime] = {}
    for row in rows:
        lead_id, kind = row[lead_at], row[type_at]
        if lead_id is None:
            continue
        if kind == "unsubscribe":
            unsubscribed.add(lead_id)
        elif kind == "email_bounce":
            at = row[time_at]
            bounced[lead_id] = min(at, bounced.get(lead_id, at))
    if unsubscribed:
        session.execute(update(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(unsubscribed))
                        .values(unsubscribed=True), execution_options={"synchronize_session": False})
    for lead_id, at in bounced.items():
        session.execute(update(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
                        .values(email_bounced_at=func.coalesce(Lead.email_bounced_at, at)),
                        execution_options={"synchronize_session": False})
