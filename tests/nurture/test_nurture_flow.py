"""A workflow end to end through the API, the outbox, the engine and a real SMTP server: the trigger enrols,
the email goes out with its unsubscribe headers and signed links, opens and clicks become events, and the
suppression list and consent gate stop what must not be sent."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient
from nurture_helpers import run, workflow
from sqlalchemy import select, update

from leadline.config import Settings
from leadline.services.suppression import SuppressionReason, is_suppressed, suppress
from leadline.storage.database import Database
from leadline.storage.tables import EmailEngagementCount, EmailSend, Event, Lead, WorkflowEnrolment
from leadline.storage.types import utcnow


def _lead(client: TestClient, auth: dict[str, str], email: str, *, consent: bool | None = True) -> int:
    body: dict[str, Any] = {"email": email, "first_name": "Jo",
                            "company": {"name": "Acme", "domain": "acme-corp.example.org"}}
    if consent is not None:
        body["consent"] = {"email_marketing": consent}
    response = client.post("/api/v1/leads", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _download(client: TestClient, auth: dict[str, str], email: str) -> None:
    response = client.post("/api/v1/events", json={"type": "download", "email": email}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "accepted", response.text


def _activate(client: TestClient, auth: dict[str, str], document: dict[str, Any]) -> None:
    response = client.post("/api/v1/workflows", json={"document": document, "activate": True}, headers=auth)
    assert response.status_code == 201, response.text


def _track(db: Database, lead_id: int) -> None:
    with db.write() as session:
        session.execute(update(Lead).where(Lead.id == lead_id).values(consent_tracking=True))


def _path(url: str) -> str:
    parts = urlsplit(url)
    assert parts.netloc == "leads.acme.test"
    return parts.path


def test_a_download_enrols_and_the_email_goes_out_with_unsubscribe_headers(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    _activate(client, auth, workflow())
    _lead(client, auth, "jo@client.example.org")
    _download(client, auth, "jo@client.example.org")
    result, sent = run(db, settings)
    assert (result.enrolments, result.steps, result.emails, sent) == (1, 1, 1, 1)
    [message] = mailbox.to("jo@client.example.org")
    assert message["Subject"] == "Hello Jo"
    assert message["From"] == "news@acme.test"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("https://leads.acme.test/e/u/")
    assert "Hi Jo, read Acme." in message.get_body(("plain",)).get_content()
    with db.read() as session:
        enrolment = session.scalars(select(WorkflowEnrolment)).one()
        assert enrolment.status == "completed"
        assert session.scalars(select(EmailSend.status)).all() == ["sent"]
    # the workflow does not run twice for a second download (re-entry: never)
    _download(client, auth, "jo@client.example.org")
    assert run(db, settings)[0].enrolments == 0
    assert len(mailbox.messages) == 1


def test_one_click_unsubscribe_suppresses_and_records_an_event(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    _activate(client, auth, workflow())
    lead_id = _lead(client, auth, "jo@client.example.org")
    _download(client, auth, "jo@client.example.org")
    run(db, settings)
    link = mailbox.messages[0]["List-Unsubscribe"].strip("<>")
    assert client.get(_path(link)).status_code == 200  # a confirmation page: GET changes nothing
    with db.read() as session:
        assert session.get(Lead, lead_id).unsubscribed is False
    response = client.post(_path(link), content="List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert client.post(_path(link)[:-3] + "xyz").status_code == 404  # a tampered token
    with db.read() as session:
        assert session.get(Lead, lead_id).unsubscribed is True
        assert is_suppressed(session, key=settings.signing_key(), workspace_id=session.get(Lead, lead_id)
                             .workspace_id, email="jo@client.example.org")
        assert session.scalars(select(Event.type).where(Event.lead_id == lead_id, Event.type == "unsubscribe")
                               ).all() == ["unsubscribe"]
        assert session.scalars(select(EmailSend.unsubscribed_at)).one() is not None


def test_opens_and_clicks_of_a_tracked_send_become_events_and_redirect_only_where_signed(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    _activate(client, auth, workflow())
    lead_id = _lead(client, auth, "jo@client.example.org")
    _track(db, lead_id)
    _download(client, auth, "jo@client.example.org")
    run(db, settings)
    html = mailbox.messages[0].get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+)"', html)[1]  # type: ignore[index]
    click = re.search(r'href="([^"]+)"', html)[1].replace("&amp;", "&")  # type: ignore[index]
    assert "acme.test/guide" not in click  # rewritten to a signed link
    assert client.get(_path(pixel)).headers["content-type"] == "image/gif"
    response = client.get(_path(click), follow_redirects=False)
    assert response.status_code == 302
    landing = urlsplit(response.headers["location"])  # the landing URL carries the signed identity
    assert (landing.netloc, landing.path) == ("acme.test", "/guide")
    params = dict(parse_qsl(landing.query))
    assert (params["x"], params["y"]) == ("1", "2")
    from leadline.services.email_tracking import lead_of_link_identity

    with db.read() as session:
        workspace_id = session.get(Lead, lead_id).workspace_id
    assert lead_of_link_identity(settings.signing_key(), params["ll_id"], workspace_id, utcnow()) == lead_id
    client.get(_path(click), follow_redirects=False)  # a second click of the same link: one event
    forged = client.get(_path(click).replace("/e/c/", "/e/c/x"), follow_redirects=False)
    assert forged.status_code == 404 and "location" not in forged.headers
    with db.read() as session:
        kinds = sorted(session.scalars(select(Event.type).where(Event.lead_id == lead_id,
                                                                Event.type.like("email_%"))))
        assert kinds == ["email_click", "email_open"]
        send = session.scalars(select(EmailSend)).one()
        assert send.tracked and send.opened_at is not None and send.clicked_at is not None


def test_without_tracking_consent_opens_and_clicks_are_only_counted(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    _activate(client, auth, workflow())
    lead_id = _lead(client, auth, "jo@client.example.org")
    _download(client, auth, "jo@client.example.org")
    run(db, settings)
    html = mailbox.messages[0].get_body(("html",)).get_content()
    pixel = re.search(r'<img src="([^"]+)"', html)[1]  # type: ignore[index]
    click = re.search(r'href="([^"]+)"', html)[1].replace("&amp;", "&")  # type: ignore[index]
    client.get(_path(pixel))
    assert client.get(_path(click), follow_redirects=False).status_code == 302
    with db.read() as session:
        assert session.scalars(select(Event.type).where(Event.lead_id == lead_id, Event.type.like("email_%"))
                               ).all() == []
        [counts] = session.scalars(select(EmailEngagementCount)).all()
        assert (counts.opens, counts.clicks) == (1, 1)
        assert counts.source.startswith("w:")


@pytest.mark.parametrize("case", ["suppressed", "no consent", "withdrawn"])
def test_the_suppression_list_and_the_consent_gate_stop_a_send(
        case: str, client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    _activate(client, auth, workflow())
    consent = {"suppressed": True, "no consent": None, "withdrawn": False}[case]
    _lead(client, auth, "jo@client.example.org", consent=consent)
    if case == "suppressed":
        with db.write() as session:
            lead = session.scalars(select(Lead)).one()
            suppress(session, key=settings.signing_key(), workspace_id=lead.workspace_id, email="JO@client.example.org",
                     reason=SuppressionReason.BOUNCED)
    _download(client, auth, "jo@client.example.org")
    result, sent = run(db, settings)
    assert (result.emails, sent) == (1, 0)
    assert mailbox.messages == []
    with db.read() as session:
        send = session.scalars(select(EmailSend)).one()
        assert send.status == "suppressed"
        assert send.error == {"suppressed": "suppressed address", "no consent": "no marketing consent: no consent "
                              "recorded", "withdrawn": "no marketing consent: consent withdrawn"}[case]


def test_a_refused_recipient_is_failed_without_its_address_in_the_log(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    _activate(client, auth, workflow())
    _lead(client, auth, "gone@client.example.org")
    mailbox.refuse.add("gone@client.example.org")
    _download(client, auth, "gone@client.example.org")
    assert run(db, settings)[1] == 0
    with db.read() as session:
        send = session.scalars(select(EmailSend)).one()
        assert send.status == "failed" and send.error.startswith("SMTPRecipientsRefused: 550")
        assert "gone@" not in send.error


def test_a_send_left_mid_conversation_becomes_unknown_and_is_never_resent(
        client: TestClient, auth: dict[str, str], db: Database, settings: Settings, mailbox: Any) -> None:
    from datetime import timedelta

    from leadline.nurture.engine import run_due
    from leadline.nurture.sending import claim, send_due
    from leadline.services import outbox
    from leadline.storage.types import utcnow

    _activate(client, auth, workflow())
    _lead(client, auth, "jo@client.example.org")
    _download(client, auth, "jo@client.example.org")
    outbox.drain(db)
    run_due(db)
    now = utcnow()
    with db.write() as session:  # a sender marks it sending, then dies before or during SMTP
        assert len(claim(session, settings=settings, key=settings.signing_key(), now=now)) == 1
    assert send_due(db, settings=settings, now=now + timedelta(minutes=1)) == 0  # within the lease: left alone
    assert send_due(db, settings=settings, now=now + timedelta(minutes=6)) == 0
    with db.read() as session:
        send = session.scalars(select(EmailSend)).one()
        assert send.status == "unknown" and "not resent" in (send.error or "")
    assert mailbox.messages == []
