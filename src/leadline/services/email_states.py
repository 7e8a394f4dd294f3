"""Unsubscribes and bounces are states that stop sends, not points that decay away."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from leadline.services.consent import Action, Proof, Purpose, after_change, ledger_rows
from leadline.storage.tables import ConsentRecord, Lead


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
        _unsubscribe(session, workspace_id, sorted(unsubscribed), rows, columns)
    for lead_id, at in bounced.items():
        session.execute(update(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
                        .values(email_bounced_at=func.coalesce(Lead.email_bounced_at, at)),
                        execution_options={"synchronize_session": False})


def _unsubscribe(session: Session, workspace_id: int, lead_ids: list[int], rows: Sequence[Sequence[Any]],
                 columns: dict[str, int]) -> None:
    """An unsubscribe event is a consent-ledger entry (source `email_unsubscribe`): the lead is marked
    unsubscribed, its email consent withdrawn and its address suppressed, in the event's transaction."""
    fresh = list(session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.id.in_(lead_ids),
                                                       Lead.unsubscribed.is_not(True))))
    if not fresh:
        return
    session.execute(update(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(fresh))
                    .values(unsubscribed=True, consent_email=False), execution_options={"synchronize_session": False})
    at = max(row[columns["occurred_at"]] for row in rows)
    proof = Proof(source="email_unsubscribe", actor="email_unsubscribe")
    session.execute(insert(ConsentRecord.__table__), [
        row for lead_id in fresh
        for row in ledger_rows(workspace_id, lead_id, [(Purpose.MARKETING_EMAIL, Action.UNSUBSCRIBE)], proof, at)])
    after_change(session, fresh, workspace_id=workspace_id, at=at)
