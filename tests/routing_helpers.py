"""Shared builders for routing tests: users, leads and rules written straight to the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from leadline.services.routing_rules import RuleIn, replace_rules
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Lead, User

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Paris


def workspace(db: Database, slug: str = "acme") -> int:
    with db.write() as session:
        return get_or_create_workspace(session, slug).id


def add_users(db: Database, ws: int, *specs: dict[str, Any]) -> list[int]:
    with db.write() as session:
        users = [User(workspace_id=ws, handle=s.get("handle", f"rep{i}"), name=s.get("name", f"Rep {i}"),
                      **{k: v for k, v in s.items() if k not in ("handle", "name")})
                 for i, s in enumerate(specs, start=1)]
        session.add_all(users)
        session.flush()
        return [u.id for u in users]


def add_leads(db: Database, ws: int, n: int, **fields: Any) -> list[int]:
    with db.write() as session:
        first = session.scalar(select(Lead.id).order_by(Lead.id.desc()).limit(1)) or 0
        rows = [{"workspace_id": ws, "email": f"l{first + i}@example.org", "stage": "mql", "temperature": "hot",
                 "custom": {}, "created_at": NOW, "updated_at": NOW, **fields} for i in range(1, n + 1)]
        session.execute(insert(Lead), rows)
        return list(session.scalars(select(Lead.id).where(Lead.workspace_id == ws, Lead.id > first)
                                    .order_by(Lead.id)))


def set_rules(db: Database, ws: int, *rules: dict[str, Any]) -> None:
    with db.write() as session:
        replace_rules(session, workspace_id=ws, rules=[RuleIn(**r) for r in rules], actor="test", now=NOW)
