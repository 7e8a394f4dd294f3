"""Notification emails through a real SMTP server (aiosmtpd on loopback): who gets what, plain text with a
link, and at most once: a crash mid-send is recorded as unknown and never resent."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from leadline.services import outbox
from leadline.services.notifications import STUCK_AFTER, SmtpConfig, claim, send_due_emails
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Lead, NotificationEmail, User
from loopback import free_port

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DUE = "2026-11-23T10:00:00+00:00"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, SmtpConfig]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, SmtpConfig(host="127.0.0.1", port=port, starttls=False, sender="leadline@acme.test",
                              app_url="https://leads.acme.test")
    finally:
        controller.stop()


@pytest.fixture
def people(db: Database) -> dict[str, int]:
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
        rep = User(workspace_id=ws, handle="ana", name="Ana Rep", email="ana@acme.test")
        boss = User(workspace_id=ws, handle="max", name="Max Manager", email="max@acme.test")
        silent = User(workspace_id=ws, handle="nomail", name="No Mail", email=None)
        session.add_all([rep, boss, silent])
        session.flush()
        lead = Lead(workspace_id=ws, email="jo@client.test", first_name="Jo", last_name="Client", stage="mql",
                    score=81.25, temperature="hot", owner_id=rep.id)
        session.add(lead)
        session.flush()
        return {"ws": ws, "rep": rep.id, "boss": boss.id, "silent": silent.id, "lead": lead.id}


def _emit(db: Database, people: dict[str, int], topic: str, **payload: object) -> None:
    with db.write() as session:
        outbox.emit(session, workspace_id=people["ws"], topic=topic, lead_id=people["lead"], payload=payload, now=T0)
    outbox.drain(db, now=T0)


def _rows(db: Database) -> list[NotificationEmail]:
    with db.read() as session:
        return list(session.scalars(select(NotificationEmail).order_by(NotificationEmail.id)))


def test_an_assignment_emails_the_new_owner(db: Database, people: dict[str, int], mailbox: tuple[Mailbox, SmtpConfig],
                                            ) -> None:
    box, smtp = mailbox
    _emit(db, people, "lead.assigned", owner_id=people["rep"], previous_owner_id=None, rule="round-robin",
          follow_up_due_at=DUE)
    [row] = _rows(db)
    assert (row.kind, row.user_id, row.status) == ("assigned", people["rep"], "pending")
    assert "jo@client.test" not in str(row.payload)  # ids only in the queue
    assert send_due_emails(db, smtp=smtp, now=T0) == 1

    [(recipients, message)] = box.messages
    assert recipients == ["ana@acme.test"]
    assert message["To"] == "Ana Rep <ana@acme.test>" and message["From"] == "leadline@acme.test"
    assert message["Subject"] == "New lead for you: Jo Client"
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content().replace("\r\n", "\n")
    assert message.get_content_type() == "text/plain"
    assert "A lead was assigned to you by the rule 'round-robin'." in body
    assert "Score: 81.2 (hot)" in body or "Score: 81.3 (hot)" in body
    assert "Follow up by: 2026-11-23 10:00 UTC" in body
    assert f"Open the lead: https://leads.acme.test/leads/{people['lead']}\n" in body
    assert [r.status for r in _rows(db)] == ["sent"]
    assert send_due_emails(db, smtp=smtp, now=T0) == 0 and len(box.messages) == 1


def test_overdue_goes_to_the_manager_when_escalation_notifies(db: Database, people: dict[str, int],
                                                              mailbox: tuple[Mailbox, SmtpConfig]) -> None:
    box, smtp = mailbox
    _emit(db, people, "lead.overdue", owner_id=people["rep"], follow_up_due_at=DUE, escalation="notified",
          manager_id=people["boss"])
    _emit(db, people, "lead.overdue", owner_id=people["rep"], follow_up_due_at=DUE, escalation="reassigned",
          manager_id=None)
    send_due_emails(db, smtp=smtp, now=T0)
    (to_boss, boss_mail), (to_rep, rep_mail) = box.messages
    assert to_boss == ["max@acme.test"] and to_rep == ["ana@acme.test"]
    assert boss_mail["Subject"] == "Overdue follow-up by Ana Rep: Jo Client"
    assert "Ana Rep's follow-up of this lead was due 2026-11-23 10:00 UTC" in boss_mail.get_content()
    assert rep_mail["Subject"] == "Overdue follow-up: Jo Client"
    assert "It was reassigned." in rep_mail.get_content()


def test_a_crash_mid_send_is_unknown_and_never_resent(db: Database, people: dict[str, int],
                                                      mailbox: tuple[Mailbox, SmtpConfig]) -> None:
    box, smtp = mailbox
    _emit(db, people, "lead.assigned", owner_id=people["rep"])
    with db.write() as session:  # a sender claims the row, then dies before recording anything
        assert len(claim(session, smtp=smtp, now=T0)) == 1
    assert send_due_emails(db, smtp=smtp, now=T0 + timedelta(minutes=1)) == 0
    assert [r.status for r in _rows(db)] == ["sending"]
    send_due_emails(db, smtp=smtp, now=T0 + STUCK_AFTER + timedelta(seconds=1))
    [row] = _rows(db)
    assert row.status == "unknown" and "not resent" in (row.error or "")
    send_due_emails(db, smtp=smtp, now=T0 + timedelta(days=1))
    assert box.messages == []


def test_an_unreachable_server_sends_nothing_and_keeps_them_pending(db: Database, people: dict[str, int],
                                                                    mailbox: tuple[Mailbox, SmtpConfig]) -> None:
    box, smtp = mailbox
    _emit(db, people, "lead.assigned", owner_id=people["rep"])
    send_due_emails(db, smtp=replace(smtp, port=free_port()), now=T0)
    assert [r.status for r in _rows(db)] == ["pending"]
    send_due_emails(db, smtp=replace(smtp, starttls=True), now=T0)  # the server offers no STARTTLS: refused
    assert [r.status for r in _rows(db)] == ["pending"] and box.messages == []
    send_due_emails(db, smtp=smtp, now=T0)
    assert [r.status for r in _rows(db)] == ["sent"] and len(box.messages) == 1


def test_refusals_and_missing_addresses_are_recorded(db: Database, people: dict[str, int],
                                                     mailbox: tuple[Mailbox, SmtpConfig]) -> None:
    box, smtp = mailbox
    box.refuse.add("max@acme.test")
    _emit(db, people, "lead.assigned", owner_id=people["boss"])
    _emit(db, people, "lead.assigned", owner_id=people["silent"])
    _emit(db, people, "lead.assigned", owner_id=people["rep"])
    _emit(db, people, "lead.assigned", owner_id=None)  # unassigned: nobody to tell, no row
    send_due_emails(db, smtp=smtp, now=T0)
    rows = _rows(db)
    assert [r.status for r in rows] == ["failed", "skipped", "sent"]
    assert "SMTPRecipientsRefused" in (rows[0].error or "") and rows[1].error == "the recipient has no email address"
    assert [to for to, _ in box.messages] == [["ana@acme.test"]]


def test_no_smtp_host_means_skipped(db: Database, people: dict[str, int]) -> None:
    _emit(db, people, "lead.assigned", owner_id=people["rep"])
    assert send_due_emails(db, smtp=SmtpConfig(host=None), now=T0) == 0
    [row] = _rows(db)
    assert row.status == "skipped" and "not configured" in (row.error or "")


def test_names_cannot_add_headers(db: Database, people: dict[str, int], mailbox: tuple[Mailbox, SmtpConfig]) -> None:
    box, smtp = mailbox
    with db.write() as session:
        session.get(User, people["rep"]).name = "Ana\r\nBcc: thief@evil.test"  # type: ignore[union-attr]
        session.get(Lead, people["lead"]).first_name = "Jo\nX-Injected: 1"  # type: ignore[union-attr]
    _emit(db, people, "lead.assigned", owner_id=people["rep"])
    send_due_emails(db, smtp=smtp, now=T0)
    [(recipients, message)] = box.messages
    assert recipients == ["ana@acme.test"]
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["Subject"] == "New lead for you: Jo X-Injected: 1 Client"
