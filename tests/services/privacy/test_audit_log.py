"""The audit log is append-only: the database itself refuses to change or delete an entry."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from leadline.services import audit
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import AuditEntry


def test_entries_can_be_added_and_read_but_never_changed_or_deleted(db):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "audited")
        entry = audit.record(session, workspace_id=workspace.id, actor="user:alice",
                             action=audit.AuditAction.BULK_EXPORT, target_type="leads", detail={"rows": 10})
    for statement in (update(AuditEntry).values(actor="someone else"), delete(AuditEntry)):
        with pytest.raises(DBAPIError, match="append-only"), db.write() as session:
            session.execute(statement)
    with db.read() as session:
        (kept,) = audit.entries(session, workspace.id)
        assert audit.as_dict(kept)["actor"] == "user:alice" and kept.id == entry.id
