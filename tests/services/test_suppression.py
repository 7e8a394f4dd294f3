"""The suppression list keeps keyed hashes only, answers per address and per batch, and never lifts an erasure."""

from __future__ import annotations

from sqlalchemy import select

from leadline.services.suppression import SuppressionReason, is_suppressed, lift, suppress, suppressed_among
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Suppression

KEY = b"k" * 32


def test_a_suppressed_address_is_found_whatever_its_case_and_never_stored_in_clear(db: Database) -> None:
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
        suppress(session, key=KEY, workspace_id=ws, email="Jane.Doe@Example.com ",
                 reason=SuppressionReason.UNSUBSCRIBED, source="one-click")
        suppress(session, key=KEY, workspace_id=ws, email="jane.doe@example.com", reason=SuppressionReason.BOUNCED)
    with db.read() as session:
        rows = session.scalars(select(Suppression)).all()
        assert len(rows) == 1 and rows[0].reason == "unsubscribed"
        assert "jane" not in rows[0].email_hash and len(rows[0].email_hash) == 64
        assert is_suppressed(session, key=KEY, workspace_id=ws, email="JANE.DOE@example.com")
        assert not is_suppressed(session, key=b"another key", workspace_id=ws, email="jane.doe@example.com")
        assert suppressed_among(session, key=KEY, workspace_id=ws,
                                emails=["jane.doe@example.com", "bob@example.com"]) == {"jane.doe@example.com"}


def test_suppression_is_per_workspace(db: Database) -> None:
    with db.write() as session:
        acme = get_or_create_workspace(session, "acme").id
        other = get_or_create_workspace(session, "other").id
        suppress(session, key=KEY, workspace_id=acme, email="a@example.com", reason=SuppressionReason.COMPLAINED)
    with db.read() as session:
        assert not is_suppressed(session, key=KEY, workspace_id=other, email="a@example.com")


def test_opting_in_again_lifts_an_unsubscribe_but_not_an_erasure(db: Database) -> None:
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
        suppress(session, key=KEY, workspace_id=ws, email="a@example.com", reason=SuppressionReason.UNSUBSCRIBED)
        suppress(session, key=KEY, workspace_id=ws, email="b@example.com", reason=SuppressionReason.ERASED)
        assert lift(session, key=KEY, workspace_id=ws, email="a@example.com")
        assert not lift(session, key=KEY, workspace_id=ws, email="b@example.com")
    with db.read() as session:
        assert not is_suppressed(session, key=KEY, workspace_id=ws, email="a@example.com")
        assert is_suppressed(session, key=KEY, workspace_id=ws, email="b@example.com")
