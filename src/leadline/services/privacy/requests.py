"""Data subject requests and their one-month deadline (GDPR Art. 12(3)), with the identity check.

A request names the person by the keyed hash of the address only, so it outlives an erasure as the proof that
the request was answered. `access`, `erase_person` and `anonymise_person` are the use cases the API and the
CLI call: each checks that the identity was verified (how: a reply from the address, a signed link, a
document...), records the request as completed and writes the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.consent import notice_deadline
from leadline.core.keyed_hash import email_hash
from leadline.core.lead_input import FieldProblem
from leadline.services import audit
from leadline.services.errors import Invalid, NotFound
from leadline.services.privacy.erasure import ErasureReport, anonymise, erase, find_by_email
from leadline.services.privacy.export import export_person
from leadline.storage.tables import PrivacyRequest
from leadline.storage.types import utcnow


class RequestKind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    ANONYMISATION = "anonymisation"
    OBJECTION = "objection"
    RESTRICTION = "restriction"
    PORTABILITY = "portability"


@dataclass(frozen=True, slots=True)
class RequestView:
    id: str
    kind: str
    status: str
    received_at: datetime
    due_at: datetime
    overdue: bool
    identity_method: str | None
    identity_verified_at: datetime | None
    completed_at: datetime | None
    outcome: str | None


def view(row: PrivacyRequest, now: datetime | None = None) -> RequestView:
    at = now or utcnow()
    return RequestView(id=str(row.id), kind=row.kind, status=row.status, received_at=row.received_at,
                       due_at=row.due_at, overdue=row.status == "open" and row.due_at < at,
                       identity_method=row.identity_method, identity_verified_at=row.identity_verified_at,
                       completed_at=row.completed_at, outcome=row.outcome)


def _identity(identity: str | None) -> str:
    if not identity or not identity.strip():
        raise Invalid([FieldProblem("identity", "say how the person's identity was checked (e.g. 'reply from "
                                                "the address', 'signed link', 'ID document')")])
    return identity.strip()[:200]


def open_request(session: Session, *, workspace_id: int, kind: RequestKind, email: str, key: bytes, actor: str,
                 identity: str | None = None, lead_id: int | None = None,
                 now: datetime | None = None) -> PrivacyRequest:
    at = now or utcnow()
    if lead_id is None:
        lead = find_by_email(session, workspace_id, email)
        lead_id = lead.id if lead is not None else None
    row = PrivacyRequest(workspace_id=workspace_id, kind=kind.value, email_hash=email_hash(key, email),
                         lead_ref=lead_id, status="open", received_at=at, due_at=notice_deadline(at), actor=actor[:200])
    if identity:
        row.identity_method, row.identity_verified_at = _identity(identity), at
    session.add(row)
    session.flush()
    audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.REQUEST_OPENED,
                 target_type="privacy_request", target_id=row.id, detail={"kind": kind.value}, at=at)
    return row


def get_request(session: Session, workspace_id: int, request_id: int) -> PrivacyRequest:
    row = session.scalar(select(PrivacyRequest).where(PrivacyRequest.workspace_id == workspace_id,
                                                      PrivacyRequest.id == request_id))
    if row is None:
        raise NotFound("request not found")
    return row


def verify(session: Session, row: PrivacyRequest, *, identity: str, actor: str, now: datetime | None = None) -> None:
    at = now or utcnow()
    row.identity_method, row.identity_verified_at = _identity(identity), at
    audit.record(session, workspace_id=row.workspace_id, actor=actor, action=audit.AuditAction.REQUEST_VERIFIED,
                 target_type="privacy_request", target_id=row.id, at=at)


def complete(row: PrivacyRequest, outcome: str, now: datetime | None = None) -> None:
    row.status, row.completed_at, row.outcome = "completed", now or utcnow(), outcome[:200]


def list_requests(session: Session, workspace_id: int, *, status: str | None = None) -> list[PrivacyRequest]:
    query = select(PrivacyRequest).where(PrivacyRequest.workspace_id == workspace_id)
    if status:
        query = query.where(PrivacyRequest.status == status)
    return list(session.scalars(query.order_by(PrivacyRequest.due_at, PrivacyRequest.id)))


def _lead_for(session: Session, workspace_id: int, email: str) -> int:
    lead = find_by_email(session, workspace_id, email)
    if lead is None:
        raise NotFound("no lead with this email in this workspace", field="email")
    return lead.id


def access(session: Session, *, workspace_id: int, email: str, key: bytes, actor: str, identity: str | None,
           now: datetime | None = None) -> dict[str, Any]:
    """Export everything about the person; the request is recorded as answered and the read audited."""
    checked = _identity(identity)
    lead_id = _lead_for(session, workspace_id, email)
    document = export_person(session, workspace_id=workspace_id, lead_id=lead_id, key=key, now=now)
    row = open_request(session, workspace_id=workspace_id, kind=RequestKind.ACCESS, email=email, key=key,
                       actor=actor, identity=checked, lead_id=lead_id, now=now)
    complete(row, "export delivered", now)
    document["request_id"] = str(row.id)
    audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.EXPORT_READ,
                 target_type="lead", target_id=lead_id, detail={"request_id": row.id}, at=now)
    return document


def erase_person(session: Session, *, workspace_id: int, email: str, key: bytes, actor: str,
                 identity: str | None, anonymise_only: bool = False, now: datetime | None = None) -> ErasureReport:
    """Erase (or anonymise) the person in the caller's transaction; the caller runs `scrub` after commit."""
    checked = _identity(identity)
    lead_id = _lead_for(session, workspace_id, email)
    kind = RequestKind.ANONYMISATION if anonymise_only else RequestKind.ERASURE
    row = open_request(session, workspace_id=workspace_id, kind=kind, email=email, key=key, actor=actor,
                       identity=checked, lead_id=lead_id, now=now)
    run = anonymise if anonymise_only else erase
    report = run(session, workspace_id=workspace_id, lead_id=lead_id, key=key, actor=actor, now=now)
    complete(row, f"{'anonymised' if anonymise_only else 'erased'} {len(report.lead_ids)} lead record(s)", now)
    return report
