"""The suppression list: every send checks it; unsubscribes, bounces, complaints and erasures add to it; a
person who opts in again themselves comes off it (`lift`). Addresses are stored as keyed hashes only."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from leadline.core.keyed_hash import email_hash
from leadline.storage.tables import Suppression


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    ERASED = "erased"
    MANUAL = "manual"


def suppress(session: Session, *, key: bytes, workspace_id: int, email: str, reason: SuppressionReason,
             source: str | None = None, now: datetime | None = None) -> None:
    """Idempotent: an address already listed keeps its first reason."""
    digest = email_hash(key, email)
    exists = session.scalar(select(Suppression.id).where(
        Suppression.workspace_id == workspace_id, Suppression.email_hash == digest))
    if exists is None:
        row = Suppression(workspace_id=workspace_id, email_hash=digest, reason=reason.value, source=source)
        if now is not None:
            row.created_at = now
        session.add(row)
        session.flush()


def is_suppressed(session: Session, *, key: bytes, workspace_id: int, email: str) -> bool:
    digest = email_hash(key, email)
    return session.scalar(select(Suppression.id).where(
        Suppression.workspace_id == workspace_id, Suppression.email_hash == digest)) is not None


def suppressed_among(session: Session, *, key: bytes, workspace_id: int, emails: Iterable[str]) -> set[str]:
    """Which of these addresses are suppressed: one query for a whole send batch."""
    by_hash = {email_hash(key, email): email for email in emails}
    found: set[str] = set()
    hashes = list(by_hash)
    for start in range(0, len(hashes), 500):
        chunk = hashes[start:start + 500]
        found.update(by_hash[h] for h in session.scalars(select(Suppression.email_hash).where(
            Suppression.workspace_id == workspace_id, Suppression.email_hash.in_(chunk))))
    return found


def lift(session: Session, *, key: bytes, workspace_id: int, email: str) -> bool:
    """The person opted in again themselves; erasure stays (an erased person comes back as a new lead only)."""
    result = session.execute(delete(Suppression).where(
        Suppression.workspace_id == workspace_id, Suppression.email_hash == email_hash(key, email),
        Suppression.reason != SuppressionReason.ERASED.value))
    return bool(getattr(result, "rowcount", 0))
