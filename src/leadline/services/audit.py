"""The audit log: who (a user, an API key, the CLI, the person through the preference centre, the system) did
what (read an export, changed consent, erased, anonymised, merged, changed a scoring model, bulk-exported) to
which record. Append-only: the database refuses UPDATE and DELETE on `audit_log` (triggers), and entries hold
ids and counts, never personal data, so they can outlive an erasure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.storage.tables import AuditEntry
from leadline.storage.types import utcnow


class AuditAction(StrEnum):
    EXPORT_READ = "export.read"
    CONSENT_CHANGED = "consent.changed"
    LEAD_ERASED = "lead.erased"
    LEAD_ANONYMISED = "lead.anonymised"
    LEAD_MERGED = "lead.merged"
    LEAD_RECTIFIED = "lead.rectified"
    SCORING_MODEL_CHANGED = "scoring_model.changed"
    BULK_EXPORT = "bulk.export"
    RETENTION_RUN = "retention.run"
    REQUEST_OPENED = "request.opened"
    REQUEST_VERIFIED = "request.verified"
    SETTINGS_CHANGED = "privacy_settings.changed"


def record(session: Session, *, workspace_id: int, actor: str, action: AuditAction, target_type: str | None = None,
           target_id: int | str | None = None, detail: Mapping[str, Any] | None = None,
           at: datetime | None = None) -> AuditEntry:
    entry = AuditEntry(workspace_id=workspace_id, at=at or utcnow(), actor=actor[:200], action=action.value,
                       target_type=target_type, target_id=None if target_id is None else str(target_id),
                       detail=dict(detail) if detail else None)
    session.add(entry)
    session.flush()
    return entry


def entries(session: Session, workspace_id: int, *, action: str | None = None, after_id: int | None = None,
            since: datetime | None = None, limit: int = 1000) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.workspace_id == workspace_id)
    if action:
        query = query.where(AuditEntry.action == action)
    if after_id is not None:
        query = query.where(AuditEntry.id > after_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.scalars(query.order_by(AuditEntry.id).limit(limit)))


def as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {"id": str(entry.id), "at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
            "target_type": entry.target_type, "target_id": entry.target_id, "detail": entry.detail or {}}
