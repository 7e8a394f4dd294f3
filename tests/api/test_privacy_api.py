"""The privacy API: the consent ledger per lead, access exports (JSON and HTML) with the identity check and
the request's deadline, erasure with Art. 19 webhook notices, the audit log, retention settings and reports."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import select

from leadline.services.outbox import drain
from leadline.services.webhooks import set_private_targets
from leadline.storage.tables import PrivacyRequest, WebhookDelivery


def test_consent_changes_are_ledger_entries_and_an_objection_stops_everything(client, auth, create_lead):
    lead = create_lead(consent={"email_marketing": True, "source": "api", "legal_basis": "consent",
                                "subject_type": "consumer", "text_version": "optin-v2"})
    read = client.get(f"/api/v1/leads/{lead['id']}/consent", headers=auth).json()
    assert read["decisions"]["marketing_email"] == {"allowed": True, "reason": "consent granted"}
    assert [(e["purpose"], e["action"], e["text_version"]) for e in read["ledger"]] == [
        ("marketing_email", "grant", "optin-v2")]
    changed = client.post(f"/api/v1/leads/{lead['id']}/consent", headers=auth,
                          json={"purpose": "profiling", "action": "object", "source": "phone call"})
    assert changed.status_code == 201, changed.text
    body = changed.json()
    assert body["objected_at"] is not None and body["unsubscribed"] is True
    assert {name: d["allowed"] for name, d in body["decisions"].items()} == {
        "marketing_email": False, "tracking": False, "profiling": False}
    assert body["ledger"][-1]["actor"].startswith("api_key:")
    audit = client.get("/api/v1/privacy/audit", params={"action": "consent.changed"}, headers=auth).json()
    assert audit[-1]["target_id"] == lead["id"] and audit[-1]["detail"]["changes"] == ["profiling:object"]


def test_bad_consent_input_is_a_precise_422(client, auth, create_lead):
    lead = create_lead()
    response = client.post(f"/api/v1/leads/{lead['id']}/consent", headers=auth,
                           json={"purpose": "telepathy", "action": "grant"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "purpose"
    bad = client.post("/api/v1/leads", headers=auth, json={"email": "x@example.org",
                                                           "consent": {"subject_type": "alien"}})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "consent.subject_type"


def test_an_export_needs_an_identity_check_and_is_a_logged_answered_request(client, auth, create_lead, db):
    lead = create_lead(email="jane@example.org", first_name="Jane")
    client.post("/api/v1/events", headers=auth, json={"type": "page_view", "lead_id": lead["id"],
                                                       "properties": {"path": "/pricing"}})
    missing = client.post("/api/v1/privacy/export", headers=auth, json={"email": "jane@example.org",
                                                                         "identity": " "})
    assert missing.status_code == 422 and missing.json()["error"]["fields"][0]["field"] == "identity"
    response = client.post("/api/v1/privacy/export", headers=auth,
                           json={"email": "Jane@Example.org", "identity": "reply from the address"})
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["format"] == "leadline-export/1" and document["profile"]["first_name"] == "Jane"
    assert [e["type"] for e in document["tables"]["events"]] == ["page_view"]
    assert document["consent"]["decisions"]["marketing_email"]["allowed"] is False
    html = client.post("/api/v1/privacy/export", headers=auth,
                       json={"email": "jane@example.org", "identity": "signed link", "format": "html"})
    assert html.headers["content-type"].startswith("text/html") and "Jane" in html.text and "<script" not in html.text
    requests = client.get("/api/v1/privacy/requests", headers=auth).json()
    assert [(r["kind"], r["status"], r["identity_method"]) for r in requests] == [
        ("access", "completed", "reply from the address"), ("access", "completed", "signed link")]
    with db.read() as session:
        stored = session.scalars(select(PrivacyRequest.email_hash)).all()
        assert all("jane" not in value for value in stored)
    reads = client.get("/api/v1/privacy/audit", params={"action": "export.read"}, headers=auth).json()
    assert len(reads) == 2 and reads[0]["target_id"] == lead["id"]
    unknown = client.post("/api/v1/privacy/export", headers=auth, json={"email": "nobody@example.org",
                                                                         "identity": "x"})
    assert unknown.status_code == 404


def test_an_open_request_tracks_its_one_month_deadline(client, auth):
    opened = client.post("/api/v1/privacy/requests", headers=auth,
                         json={"kind": "erasure", "email": "someone@example.org"})
    assert opened.status_code == 201
    body = opened.json()
    assert body["status"] == "open" and body["identity_verified_at"] is None and not body["overdue"]
    assert 28 <= (_date(body["due_at"]) - _date(body["received_at"])).days <= 31
    verified = client.post(f"/api/v1/privacy/requests/{body['id']}/verify", headers=auth,
                           json={"identity": "ID document seen"})
    assert verified.json()["identity_method"] == "ID document seen"


def _date(text):
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_erasure_tells_webhook_receivers_with_only_an_id_and_a_keyed_hash(client, auth, create_lead, db,
                                                                         workspace_id):
    with db.write() as session:  # an on-premises receiver: no DNS needed
        set_private_targets(session, workspace_id=workspace_id, allow=True)
    subscription = client.post("/api/v1/webhooks", headers=auth,
                               json={"url": "http://127.0.0.1:9/in", "topics": ["lead.erased"]})
    assert subscription.status_code == 201, subscription.text
    lead = create_lead(email="gone@example.org")
    erased = client.post("/api/v1/privacy/erase", headers=auth,
                         json={"email": "gone@example.org", "identity": "reply from the address"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["erased_lead_ids"] == [lead["id"]] and erased.json()["scrubbed"] is True
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=auth).status_code == 404
    drain(db)
    with db.read() as session:
        (delivery,) = session.scalars(select(WebhookDelivery)).all()
    expected = hmac.new(b"test-secret-key", b"gone@example.org", hashlib.sha256).hexdigest()
    assert delivery.topic == "lead.erased" and delivery.payload["data"] == {"email_hash": expected}
    assert "gone@" not in str(delivery.payload)
    again = client.post("/api/v1/leads", headers=auth, json={"email": "gone@example.org"})
    assert again.status_code == 201  # a new capture is a new lead: the suppression list keeps it unmailed


def test_retention_settings_and_the_dry_run_report(client, auth):
    assert client.get("/api/v1/privacy/settings", headers=auth).json() == {
        "enabled": False, "lead_inactive_months": 36, "lead_action": "delete", "visitor_days": 395,
        "raw_event_months": 25}
    bad = client.put("/api/v1/privacy/settings", headers=auth, json={"lead_action": "shred"})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "lead_action"
    changed = client.put("/api/v1/privacy/settings", headers=auth, json={"lead_inactive_months": 24})
    assert changed.json()["lead_inactive_months"] == 24
    report = client.get("/api/v1/privacy/retention", headers=auth).json()
    assert report["dry_run"] is True and report["inactive_leads"] == 0


def test_a_form_consent_is_a_ledger_entry_with_the_form_the_text_and_the_browser(client, auth):
    form = client.post("/api/v1/forms", headers=auth, json={"name": "Newsletter"}).json()
    response = client.post(f"/f/{form['key']}", headers={"User-Agent": "Safari/18", "Accept": "application/json"},
                           data={"email": "form@example.org", "consent_email": "on",
                                 "consent_text": "newsletter-2026-11"})
    assert response.status_code in (200, 303), response.text
    lead = client.get("/api/v1/leads", params={"email": "form@example.org"}, headers=auth).json()["data"][0]
    (entry,) = client.get(f"/api/v1/leads/{lead['id']}/consent", headers=auth).json()["ledger"]
    assert (entry["source"], entry["form_id"], entry["text_version"], entry["user_agent"]) == (
        f"form:{form['key']}", form["id"], "newsletter-2026-11", "Safari/18")
    assert "consent_text" not in lead["custom"]
