"""Double opt-in and the preference centre: a form's `consent.confirmation_requested` becomes one email over a
real SMTP server (aiosmtpd on loopback) with a signed link; confirming records the grants and a
`consent_confirmed` event; the preference centre changes consents or unsubscribes from everything, and a
person who opts in again themselves comes off the suppression list."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from leadline.core.lead_input import ConsentInput, LeadInput
from leadline.services import outbox
from leadline.services.consent import ledger
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.notifications import SmtpConfig
from leadline.services.privacy.preferences import (
    BadToken,
    Token,
    make_token,
    preferences_url,
    read_token,
    send_due_confirmations,
)
from leadline.services.suppression import SuppressionReason, is_suppressed, suppress
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import ConsentEmail, Event, Lead
from loopback import free_port

KEY = b"test-secret-key"  # what the `client` fixture's settings sign with


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, SmtpConfig]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, SmtpConfig(host="127.0.0.1", port=port, starttls=False, sender="news@acme.test",
                              app_url="http://testserver")
    finally:
        controller.stop()


def _lead(db, email_address: str, **consent: Any) -> tuple[int, int]:
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        lead = upsert_lead(session, workspace.id, LeadInput(
            email=email_address, consent=ConsentInput(**consent) if consent else None),
            mode=WriteMode.FILL_EMPTY).lead
        return workspace.id, lead.id


def test_a_confirmation_request_is_mailed_once_and_confirming_records_the_grant(db, client, mailbox):
    box, smtp = mailbox
    workspace_id, lead_id = _lead(db, "optin@example.org")
    with db.write() as session:
        outbox.emit(session, workspace_id=workspace_id, topic="consent.confirmation_requested", lead_id=lead_id,
                    payload={"purposes": ["marketing_email", "tracking"], "form_id": 7})
    outbox.drain(db)
    assert send_due_confirmations(db, smtp=smtp, key=KEY) == 1
    assert send_due_confirmations(db, smtp=smtp, key=KEY) == 0  # at most once
    (message,) = box.messages
    assert message["To"] == "optin@example.org"
    link = re.search(r"http://testserver(/privacy/confirm/\S+)", message.get_content()).group(1)
    with db.read() as session:
        assert session.scalar(select(ConsentEmail.status)) == "sent"
        assert session.get(Lead, lead_id).consent_email is None  # nothing granted before the click

    page = client.get(link)
    assert page.status_code == 200 and "I confirm" in page.text
    with db.read() as session:  # opening the link (a mail scanner does) grants nothing
        assert session.get(Lead, lead_id).consent_email is None
    confirmed = client.post(link, headers={"User-Agent": "Firefox/140"})
    assert confirmed.status_code == 200 and "confirmed" in confirmed.text
    assert "already" in client.post(link).text
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert (lead.consent_email, lead.consent_tracking) == (True, True)
        entries = ledger(session, workspace_id, lead_id)
        assert {(e.purpose, e.action, e.source, e.form_id, e.user_agent) for e in entries} == {
            ("marketing_email", "grant", "double_opt_in", 7, "Firefox/140"),
            ("tracking", "grant", "double_opt_in", 7, "Firefox/140")}
        assert session.scalars(select(Event.type).where(Event.lead_id == lead_id)).all() == ["consent_confirmed"]


def test_a_double_opt_in_form_grants_consent_only_once_the_person_confirms(db, client, auth, mailbox):
    """End to end: the embeddable form asks, the outbox carries the request, the email goes out, the click
    grants exactly the ticked purposes."""
    box, smtp = mailbox
    form = client.post("/api/v1/forms", json={
        "name": "Newsletter", "double_opt_in": True,
        "fields": [{"name": "email", "label": "Email", "type": "email", "required": True}],
        "consent_boxes": [{"purpose": "marketing_email", "label": "Send me the newsletter"},
                          {"purpose": "tracking", "label": "Remember my visits"}]}, headers=auth).json()
    assert client.post(f"/f/{form['key']}", data={"email": "dora@example.org", "consent_marketing_email": "yes"},
                       headers={"Accept": "application/json"}).status_code == 200
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "dora@example.org"))
        assert lead.consent_email is None
    outbox.drain(db)
    assert send_due_confirmations(db, smtp=smtp, key=KEY) == 1
    link = re.search(r"http://testserver(/privacy/confirm/\S+)", box.messages[0].get_content()).group(1)
    assert client.post(link).status_code == 200
    with db.read() as session:
        lead = session.get(Lead, lead.id)
        assert (lead.consent_email, lead.consent_tracking) == (True, None)  # only the ticked box
        assert {(e.purpose, e.source, e.form_id) for e in ledger(session, lead.workspace_id, lead.id)} == {
            ("marketing_email", "double_opt_in", int(form["id"]))}


def test_links_cannot_be_forged_reused_for_another_purpose_or_used_late(db):
    token = make_token(KEY, Token(workspace_id=1, lead_id=2, kind="confirm"))
    assert read_token(KEY, token, kind="confirm").lead_id == 2
    _payload, _, mac = token.partition(".")
    forged = make_token(b"another-key", Token(workspace_id=1, lead_id=3, kind="confirm"))
    for bad, kind in ((forged, "confirm"), (f"{forged.partition('.')[0]}.{mac}", "confirm"), (token, "prefs"),
                      ("garbage", "confirm")):
        with pytest.raises(BadToken):
            read_token(KEY, bad, kind=kind)
    from datetime import UTC, datetime, timedelta

    with pytest.raises(BadToken, match="expired"):
        read_token(KEY, token, kind="confirm", now=datetime.now(UTC) + timedelta(days=8))


def test_the_preference_centre_changes_consents_and_unsubscribes_from_everything(db, client):
    workspace_id, lead_id = _lead(db, "prefs@example.org", email_marketing=True, tracking=True)
    with db.read() as session:
        url = preferences_url("http://testserver", KEY, session.get(Lead, lead_id))
    path = url.removeprefix("http://testserver")
    page = client.get(path)
    assert page.status_code == 200
    assert 'name="profiling" checked' not in page.text.replace("'", '"')  # nothing pre-ticked
    saved = client.post(path, data={"marketing_email": "on", "action": "save"})
    assert "saved" in saved.text
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert (lead.consent_email, lead.consent_tracking, lead.consent_profiling) == (True, False, False)
    client.post(path, data={"action": "unsubscribe_all"})
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert lead.unsubscribed and lead.consent_email is False
        assert is_suppressed(session, key=KEY, workspace_id=workspace_id, email="prefs@example.org")
        assert ledger(session, workspace_id, lead_id)[-1].source == "preference_centre"
    client.post(path, data={"marketing_email": "on", "action": "save"})  # the person opts in again
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert (lead.unsubscribed, lead.consent_email) == (False, True)
        assert not is_suppressed(session, key=KEY, workspace_id=workspace_id, email="prefs@example.org")
    assert client.get(path[:-3] + "abc").status_code == 404


def test_an_erased_address_stays_suppressed_even_if_the_person_opts_in_again(db, client):
    workspace_id, lead_id = _lead(db, "back@example.org")
    with db.write() as session:
        suppress(session, key=KEY, workspace_id=workspace_id, email="back@example.org",
                 reason=SuppressionReason.ERASED)
        url = preferences_url("http://testserver", KEY, session.get(Lead, lead_id))
    client.post(url.removeprefix("http://testserver"), data={"marketing_email": "on", "action": "save"})
    with db.read() as session:
        assert is_suppressed(session, key=KEY, workspace_id=workspace_id, email="back@example.org")
