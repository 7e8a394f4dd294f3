"""The issue's "done when": in the demo, a lead that downloads the white paper gets the sequence, its opens and
clicks raise its score, it becomes MQL and leaves the workflow (goal reached)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from nurture_helpers import run
from sqlalchemy import select, update

from leadline.config import Settings
from leadline.demo.loader import load_demo
from leadline.services.scoring.bulk import apply_version
from leadline.services.scoring.models import built_in_source, load_document, store_version
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import EmailSend, Lead, WorkflowEnrolment
from leadline.storage.types import utcnow


def _links(message: object) -> tuple[str, list[str]]:
    html = message.get_body(("html",)).get_content()  # type: ignore[attr-defined]
    pixel = re.search(r'<img src="([^"]+)"', html)[1]  # type: ignore[index]
    clicks = [u.replace("&amp;", "&") for u in re.findall(r'href="([^"]+)"', html) if "/e/c/" in u]
    return urlsplit(pixel).path, [urlsplit(u).path for u in clicks]


def test_a_white_paper_download_gets_the_sequence_until_the_lead_is_mql(
        db: Database, client: TestClient, make_key: Callable[..., str], settings: Settings, mailbox: object) -> None:
    load_demo(db)
    with db.write() as session:
        workspace_id = get_or_create_workspace(session, "demo").id
        model = store_version(session, workspace_id, load_document(built_in_source("default-b2b")), source=None,
                              actor="test")
    apply_version(db, workspace_id, model.version)
    auth = {"Authorization": f"Bearer {make_key('demo')}"}
    response = client.post("/api/v1/leads", headers=auth, json={
        "email": "camille@brightcorp.example.org", "first_name": "Camille", "job_title": "CTO", "country": "FR",
        "company": {"name": "Brightcorp", "domain": "brightcorp.example.org", "size": 120},
        "consent": {"email_marketing": True}})
    assert response.status_code == 201, response.text
    lead_id = int(response.json()["id"])
    with db.write() as session:  # tracking consent comes with the privacy work's consent ledger
        session.execute(update(Lead).where(Lead.id == lead_id).values(consent_tracking=True))
    events = [{"type": "page_view", "lead_id": str(lead_id), "properties": {"path": "/pricing"}},
              {"type": "page_view", "lead_id": str(lead_id), "properties": {"path": "/pricing/teams"}},
              {"type": "download", "lead_id": str(lead_id), "properties": {"asset": "whitepaper"}}]
    assert client.post("/api/v1/events", headers=auth, json={"events": events}).status_code == 200

    run(db, settings)  # enrolled by the download; the first email goes out
    [first] = [m for m in mailbox.messages if m["To"] == "camille@brightcorp.example.org"]  # type: ignore[attr-defined]
    assert first["Subject"] == "Your white paper, Camille"
    with db.read() as session:
        before = session.get(Lead, lead_id)
        assert before is not None and before.stage == "new"
        score_before = before.engagement_score
    pixel, clicks = _links(first)
    client.get(pixel)
    assert client.get(clicks[0], follow_redirects=False).status_code == 302
    run(db, settings)
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None and lead.engagement_score > score_before  # the open and the click count
        assert lead.stage == "new"

    later = utcnow() + timedelta(days=2, minutes=1)  # the two-day wait is over; it clicked: the case study
    run(db, settings, now=later)
    second = [m for m in mailbox.messages if m["To"] == "camille@brightcorp.example.org"][1]  # type: ignore[attr-defined]
    assert second["Subject"].startswith("How Brightcorp could answer leads")
    pixel, clicks = _links(second)
    client.get(pixel)
    client.get(clicks[0], follow_redirects=False)
    run(db, settings)
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None and lead.stage == "mql"
        enrolment = session.scalars(select(WorkflowEnrolment).where(WorkflowEnrolment.lead_id == lead_id)).one()
        assert (enrolment.status, enrolment.exit_reason) == ("exited", "goal:Became MQL")
        assert enrolment.converted_at is not None
        assert [s.step for s in session.scalars(select(EmailSend).where(EmailSend.lead_id == lead_id))] == [
            "thanks", "case-study"]
    stats = client.get("/api/v1/workflows/b2b-whitepaper/stats", headers=auth).json()
    assert (stats["enrolled"], stats["conversions"], stats["exited"]) == (1, 1, {"goal:Became MQL": 1})
    thanks = next(s for s in stats["steps"] if s["step"] == "thanks")
    assert (thanks["emails"], thanks["opened"], thanks["clicked"]) == ({"sent": 1}, 1, 1)
    run(db, settings, now=utcnow() + timedelta(days=30))  # nothing more for a lead that left
    assert len([m for m in mailbox.messages if m["To"] == "camille@brightcorp.example.org"]) == 2  # type: ignore[attr-defined]
