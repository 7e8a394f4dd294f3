"""Embedded by default: the server's own worker (huey on a SQLite file of its own) runs a workflow from the
trigger to the email with nobody calling the engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from nurture_helpers import workflow

from leadline.api.app import create_app
from leadline.config import Settings
from leadline.storage.database import Database


def test_the_server_runs_a_workflow_by_itself(db: Database, settings: Settings, auth: dict[str, str],
                                              mailbox: Any, tmp_path: Path) -> None:
    embedded = settings.model_copy(update={"worker_poll_seconds": 0.2, "queue_url": f"sqlite:///{tmp_path}/q.db"})
    with TestClient(create_app(embedded, db)) as client:
        assert client.post("/api/v1/workflows", headers=auth,
                           json={"document": workflow(), "activate": True}).status_code == 201
        client.post("/api/v1/leads", headers=auth, json={"email": "jo@example.org", "first_name": "Jo",
                                                         "consent": {"email_marketing": True}})
        client.post("/api/v1/events", headers=auth, json={"type": "download", "email": "jo@example.org"})
        deadline = time.monotonic() + 30
        while not mailbox.messages and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [m["Subject"] for m in mailbox.messages] == ["Hello Jo"]
    assert (tmp_path / "q.db").exists()  # the queue keeps its own SQLite file
