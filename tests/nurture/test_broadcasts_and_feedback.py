"""Broadcasts to a segment through the same gates as workflow email, the frequency cap across workflows and
broadcasts, send windows, per-workspace SMTP settings, and bounce/complaint notifications from providers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from nurture_helpers import run, workflow
from sqlalchemy import select, update

from leadline.config import Settings
from leadline.services.suppression import is_suppressed
from leadline.storage.database import Database
from leadline.storage.tables import EmailSend, Event, Lead


def _leads(client: TestClient, auth: dict[str, str], *emails: str) -> list[str]:
    ids = []
    for address in emails:
        response = client.post("/api/v1/leads", headers=auth, json={
            "email": address, "first_name": address.split("@")[0].title(), "consent": {"email_marketing": True}})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _list(client: TestClient, auth: dict[str, str], lead_ids: list[str]) -> str:
    segment = client.post("/api/v1/segments", headers=auth, json={"name": "Newsletter", "kind": "static"}).json()
    assert client.post(f"/api/v1/segments/{segment['id']}/members", headers=auth,
                       json={"lead_ids": lead_ids}).status_code == 200
    return str(segment["id"])


TEMPLATE = {"subject": "News for {{ lead.first_name }}", "text": "Hello {{ lead.first_name }}"}


def test_a_broadcast_goes_once_to_each_member_and_reports_its_emails(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    ids = _leads(client, auth, "ann@example.org", "bob@example.org", "cid@example.org")
    segment_id = _list(client, auth, ids)
    with db.write() as session:  # one of them unsubscribed: the gate stops it
        session.execute(update(Lead).where(Lead.email == "cid@example.org").values(unsubscribed=True))
    response = client.post("/api/v1/broadcasts", headers=auth, json={
        "name": "November news", "segment_id": segment_id, "template": TEMPLATE, "send": True})
    assert response.status_code == 201, response.text
    broadcast = response.json()
    assert (broadcast["status"], broadcast["recipients"]) == ("queued", 3)
    run(db, settings)
    assert sorted(m["Subject"] for m in mailbox.messages) == ["News for Ann", "News for Bob"]
    again = client.post(f"/api/v1/broadcasts/{broadcast['id']}/send", headers=auth)
    assert again.status_code == 409
    stats = client.get(f"/api/v1/broadcasts/{broadcast['id']}", headers=auth).json()
    assert stats["emails"] == {"sent": 2, "suppressed": 1}


def test_a_broadcast_with_a_bad_template_is_refused_with_the_field(
        client: TestClient, auth: dict[str, str]) -> None:
    segment_id = _list(client, auth, _leads(client, auth, "ann@example.org"))
    response = client.post("/api/v1/broadcasts", headers=auth, json={
        "name": "Bad", "segment_id": segment_id, "template": {"subject": "{{ oops", "text": "x"}})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "template.subject"
    assert client.get("/api/v1/broadcasts", headers=auth).json() == []


def test_the_frequency_cap_counts_workflows_and_broadcasts_together(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    assert client.patch("/api/v1/email/settings", headers=auth,
                        json={"frequency_cap": 1, "frequency_days": 7}).status_code == 200
    assert client.post("/api/v1/workflows", headers=auth,
                       json={"document": workflow(), "activate": True}).status_code == 201
    ids = _leads(client, auth, "ann@example.org")
    client.post("/api/v1/events", headers=auth, json={"type": "download", "email": "ann@example.org"})
    run(db, settings)
    assert len(mailbox.messages) == 1
    segment_id = _list(client, auth, ids)
    client.post("/api/v1/broadcasts", headers=auth, json={"name": "N", "segment_id": segment_id,
                                                          "template": TEMPLATE, "send": True})
    run(db, settings)
    assert len(mailbox.messages) == 1
    with db.read() as session:
        capped = session.scalars(select(EmailSend).where(EmailSend.broadcast_id.is_not(None))).one()
        assert (capped.status, capped.error) == ("suppressed", "frequency cap: 1 in 7 days")


def test_outside_the_send_window_an_email_waits_for_the_lead_s_morning(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    assert client.patch("/api/v1/email/settings", headers=auth, json={
        "window_start_hour": 9, "window_end_hour": 18, "timezone": "Europe/Paris"}).status_code == 200
    assert client.patch("/api/v1/email/settings", headers=auth, json={"timezone": "Mars/Olympus"}
                        ).json()["error"]["fields"][0]["field"] == "timezone"
    reset = client.patch("/api/v1/email/settings", headers=auth, json={"frequency_days": None}).json()
    assert reset["frequency_days"] == 7 and reset["timezone"] == "Europe/Paris"
    segment_id = _list(client, auth, _leads(client, auth, "ann@example.org"))
    client.post("/api/v1/broadcasts", headers=auth, json={"name": "N", "segment_id": segment_id,
                                                          "template": TEMPLATE, "send": True})
    night = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 03:00 in Paris
    run(db, settings, now=night)
    assert mailbox.messages == []
    with db.read() as session:
        send = session.scalars(select(EmailSend)).one()
        assert send.status == "queued" and send.not_before == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    run(db, settings, now=night + timedelta(hours=6))
    assert len(mailbox.messages) == 1


def test_per_workspace_smtp_settings_override_the_instance_ones(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    response = client.patch("/api/v1/email/settings", headers=auth, json={
        "from_address": "hello@acme.example.org", "from_name": "Acme Team", "smtp_password": "s3cret"})
    body = response.json()
    assert body["smtp_password_set"] is True and "s3cret" not in response.text
    segment_id = _list(client, auth, _leads(client, auth, "ann@example.org"))
    client.post("/api/v1/broadcasts", headers=auth, json={"name": "N", "segment_id": segment_id,
                                                          "template": TEMPLATE, "send": True})
    run(db, settings)
    assert mailbox.messages[0]["From"] == "Acme Team <hello@acme.example.org>"


SES = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                                                 "bouncedRecipients": [{"emailAddress": "ann@example.org"}]}}


def test_bounce_and_complaint_notifications_suppress_the_address(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings) -> None:
    _leads(client, auth, "ann@example.org", "bob@example.org", "cid@example.org")
    url = client.get("/api/v1/email/settings", headers=auth).json()["inbound_url"]
    path = url.removeprefix("http://testserver")
    sns = {"Type": "Notification", "Message": json.dumps(SES)}
    postmark = {"RecordType": "SpamComplaint", "Email": "bob@example.org"}
    sendgrid = [{"event": "bounce", "email": "cid@example.org", "reason": "550 no such user"},
                {"event": "bounce", "email": "dan@example.org", "type": "blocked"}]
    answers = [client.post(path, content=json.dumps(body)).json() for body in (sns, postmark, sendgrid)]
    assert [(a["provider"], a["suppressed"]) for a in answers] == [("ses", 1), ("postmark", 1), ("sendgrid", 1)]
    assert client.post(path[:-4] + "abcd", json=postmark).status_code == 404
    assert client.post(path, json={"hello": 1}).status_code == 422
    with db.read() as session:
        ws = session.scalars(select(Lead.workspace_id)).first()
        key = settings.signing_key()
        assert all(is_suppressed(session, key=key, workspace_id=ws, email=e)
                   for e in ("ann@example.org", "bob@example.org", "cid@example.org"))
        assert not is_suppressed(session, key=key, workspace_id=ws, email="dan@example.org")
        bob = session.scalars(select(Lead).where(Lead.email == "bob@example.org")).one()
        assert bob.unsubscribed  # a complaint is an unsubscribe
        kinds = sorted(session.scalars(select(Event.type).where(Event.type.in_(("email_bounce", "unsubscribe")))))
        assert kinds == ["email_bounce", "email_bounce", "unsubscribe"]
