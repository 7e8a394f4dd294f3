"""Web app fixtures: logins of each role in workspace `acme`, and a logged-in test client per role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from leadline.services.logins import LoginRole, create_login
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from web_helpers import PASSWORD, log_in


@pytest.fixture
def logins(db: Database) -> dict[str, int]:
    """admin, marketer, manager, and two reps (rep1 in the manager's team, rep2 not): user ids by name."""
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme")
        ids = {role: create_login(session, workspace_id=ws.id, email=f"{role}@acme.org", password=PASSWORD,
                                  role=LoginRole(kind)).id
               for role, kind in (("admin", "admin"), ("marketer", "marketer"), ("manager", "manager"),
                                  ("rep1", "sales"), ("rep2", "sales"))}
        from leadline.storage.tables import User

        session.get(User, ids["rep1"]).manager_id = ids["manager"]  # type: ignore[union-attr]
    return ids


@pytest.fixture
def browse(client: TestClient, logins: dict[str, int]) -> Callable[[str], TestClient]:
    """`browse("rep1")` -> the client logged in as that user (cookies replaced)."""

    def as_user(name: str) -> TestClient:
        client.cookies.clear()
        response = log_in(client, f"{name}@acme.org")
        assert response.status_code == 303, response.text
        return client

    return as_user


@pytest.fixture
def lead_ids(client: TestClient, auth: dict[str, str], logins: dict[str, int]) -> dict[str, int]:
    """One lead per owner (rep1, rep2, none), created through the API and assigned directly."""
    from leadline.storage.tables import Lead

    out = {}
    for owner in ("rep1", "rep2", "none"):
        body = {"email": f"{owner}.lead@client.org", "first_name": owner.title(), "last_name": "Lead"}
        response = client.post("/api/v1/leads", json=body, headers=auth)
        out[owner] = int(response.json()["id"])
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    with db.write() as session:
        for owner in ("rep1", "rep2"):
            session.get(Lead, out[owner]).owner_id = logins[owner]  # type: ignore[union-attr]
    return out
