"""Shared steps for nurture tests: a workflow document, a consenting lead, running the machinery once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadline.config import Settings
from leadline.nurture.engine import RunResult, run_due
from leadline.nurture.sending import send_due
from leadline.services import outbox
from leadline.storage.database import Database

EMAIL = {"subject": "Hello {{ lead.first_name }}", "text": "Hi {{ lead.first_name }}, read {{ company.name }}.",
         "html": "<p>Hi {{ lead.first_name }}</p><a href=\"https://acme.test/guide?x=1&amp;y=2\">Guide</a>"}


def workflow(key: str = "wp", *, steps: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"format": "leadline-workflow/1", "key": key, "name": f"Workflow {key}",
            "trigger": {"event": "download"},
            "steps": steps or [{"id": "thanks", "send_email": EMAIL}], **extra}


def run(db: Database, settings: Settings, now: datetime | None = None) -> tuple[RunResult, int]:
    """Drain the outbox, run due steps, send queued emails (one pass of what the worker does)."""
    outbox.drain(db, now=now)
    result = run_due(db, now=now)
    outbox.drain(db, now=now)
    sent = send_due(db, settings=settings, now=now)
    return result, sent
