"""Webhooks end to end against a real HTTP server on loopback: topics emitted through the outbox become signed
deliveries, retried with backoff on 5xx, given up after the last attempt, never redirected, and refused by
the SSRF guard (at subscription time and at send time) unless the workspace allows private targets."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadline.core.ssrf import IPAddress
from leadline.core.webhooks import MAX_ATTEMPTS, verify
from leadline.jobs.runner import Worker
from leadline.services import outbox
from leadline.services.errors import Invalid
from leadline.services.webhook_sender import claim, send_due_webhooks
from leadline.services.webhooks import (
    SubscriptionChange,
    create_subscription,
    queue_ping,
    set_private_targets,
    update_subscription,
)
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Lead, User, WebhookAttempt, WebhookDelivery
from loopback import Answer, Receiver, free_port

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def ws(db: Database) -> int:
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        workspace.allow_private_webhooks = True  # the receiver is on loopback
        session.flush()
        return workspace.id


@pytest.fixture
def lead_id(db: Database, ws: int) -> int:
    with db.write() as session:
        owner = User(workspace_id=ws, handle="rep", name="Rep", email="rep@example.org")
        session.add(owner)
        session.flush()
        lead = Lead(workspace_id=ws, email="private.person@example.org", first_name="Private", stage="mql",
                    score=72.5, temperature="hot", owner_id=owner.id)
        session.add(lead)
        session.flush()
        return lead.id


def _subscribe(db: Database, ws: int, url: str, topics: tuple[str, ...] = ("lead.assigned",), **kw: object) -> tuple[
        int, str]:
    with db.write() as session:
        row = create_subscription(session, workspace_id=ws, url=url, topics=topics, **kw)  # type: ignore[arg-type]
        return row.id, row.secret


def _emit(db: Database, ws: int, lead_id: int | None, topic: str = "lead.assigned", **payload: object) -> None:
    with db.write() as session:
        outbox.emit(session, workspace_id=ws, topic=topic, lead_id=lead_id, payload=payload, now=T0)
    outbox.drain(db, now=T0)


def _deliveries(db: Database) -> list[WebhookDelivery]:
    with db.read() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _attempts(db: Database) -> list[WebhookAttempt]:
    with db.read() as session:
        return list(session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))


def test_a_topic_becomes_one_signed_delivery_per_subscription(db: Database, ws: int, lead_id: int,
                                                              receiver: Receiver) -> None:
    _, secret = _subscribe(db, ws, receiver.url())
    _subscribe(db, ws, receiver.url("/other"), ("lead.overdue",))  # another topic: gets nothing
    _subscribe(db, ws, receiver.url("/off"), active=False)  # inactive: gets nothing
    _emit(db, ws, lead_id, owner_id=7, previous_owner_id=None, rule="round-robin")
    assert send_due_webhooks(db, now=T0) == 1

    [got] = receiver.received
    assert got.method == "POST" and got.path == "/hook"
    assert got.headers["Content-Type"] == "application/json"
    # The receiver's check, written out as the README tells integrators.
    stamp, mac = (part.split("=", 1)[1] for part in got.headers["Leadline-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    assert abs(int(stamp) - time.time()) < 60
    assert verify(secret, got.headers["Leadline-Signature"], got.body, now=int(time.time()))
    assert not verify("whsec_wrong", got.headers["Leadline-Signature"], got.body, now=int(time.time()))
    assert not verify(secret, got.headers["Leadline-Signature"], got.body + b" ", now=int(time.time()))

    body = json.loads(got.body)
    [delivery] = _deliveries(db)
    assert body["id"] == got.headers["Idempotency-Key"] == got.headers["Leadline-Delivery"] == str(delivery.id)
    assert body["type"] == got.headers["Leadline-Event"] == "lead.assigned"
    assert body["lead"] == {"id": str(lead_id), "stage": "mql", "score": 72.5, "temperature": "hot",
                            "owner_id": body["lead"]["owner_id"]}
    assert body["data"] == {"owner_id": "7", "previous_owner_id": None, "rule": "round-robin"}
    assert b"private.person" not in got.body and b"Private" not in got.body  # no contact details
    assert delivery.status == "delivered" and delivery.attempts == 1
    [attempt] = _attempts(db)
    assert attempt.status_code == 200 and attempt.response_body == "ok" and attempt.error is None


def test_5xx_is_retried_with_backoff_and_the_same_bytes_and_key(db: Database, ws: int, lead_id: int,
                                                                 receiver: Receiver) -> None:
    _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    receiver.script(Answer(500, b"boom"), Answer(503), Answer(200))
    assert send_due_webhooks(db, now=T0) == 1
    [delivery] = _deliveries(db)
    assert delivery.status == "pending" and delivery.next_attempt_at == T0 + timedelta(seconds=10)
    assert send_due_webhooks(db, now=T0 + timedelta(seconds=9)) == 0  # not due yet
    assert send_due_webhooks(db, now=T0 + timedelta(seconds=10)) == 1
    [delivery] = _deliveries(db)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=10 + 20)
    assert send_due_webhooks(db, now=T0 + timedelta(seconds=30)) == 1

    [delivery] = _deliveries(db)
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert len({r.body for r in receiver.received}) == 1
    assert {r.headers["Idempotency-Key"] for r in receiver.received} == {str(delivery.id)}
    assert [r.headers["Leadline-Attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert [(a.number, a.status_code, a.response_body) for a in _attempts(db)] == [
        (1, 500, "boom"), (2, 503, "ok"), (3, 200, "ok")]


def test_gives_up_after_the_last_attempt(db: Database, ws: int, lead_id: int, receiver: Receiver) -> None:
    _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    receiver.default = Answer(500)
    at = T0
    for _ in range(MAX_ATTEMPTS):
        assert send_due_webhooks(db, now=at) == 1
        at += timedelta(hours=2)
    assert send_due_webhooks(db, now=at + timedelta(days=1)) == 0
    [delivery] = _deliveries(db)
    assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS
    assert delivery.last_error == f"gave up after {MAX_ATTEMPTS} attempts: HTTP 500"
    assert len(receiver.received) == MAX_ATTEMPTS == len(_attempts(db))


def test_429_waits_for_retry_after_and_4xx_is_final(db: Database, ws: int, lead_id: int,
                                                    receiver: Receiver) -> None:
    _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    receiver.script(Answer(429, headers={"Retry-After": "120"}), Answer(410, b"gone"))
    send_due_webhooks(db, now=T0)
    [delivery] = _deliveries(db)
    assert delivery.status == "pending" and delivery.next_attempt_at == T0 + timedelta(seconds=120)
    send_due_webhooks(db, now=T0 + timedelta(seconds=120))
    [delivery] = _deliveries(db)
    assert delivery.status == "failed" and delivery.last_status_code == 410 and delivery.attempts == 2


def test_redirects_are_not_followed(db: Database, ws: int, lead_id: int, receiver: Receiver) -> None:
    _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    receiver.script(Answer(307, headers={"Location": receiver.url("/elsewhere")}))
    send_due_webhooks(db, now=T0)
    assert [r.path for r in receiver.received] == ["/hook"]
    [delivery] = _deliveries(db)
    assert delivery.status == "failed" and delivery.last_status_code == 307
    assert "redirect to" in (delivery.last_error or "") and "not followed" in (delivery.last_error or "")


def test_network_errors_are_retried_and_logged(db: Database, ws: int, lead_id: int) -> None:
    _subscribe(db, ws, f"http://127.0.0.1:{free_port()}/nobody-listens")
    _emit(db, ws, lead_id)
    assert send_due_webhooks(db, now=T0) == 1
    [delivery] = _deliveries(db)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code is None
    [attempt] = _attempts(db)
    assert attempt.status_code is None and "ConnectError" in (attempt.error or "")


def test_only_the_first_kilobyte_of_an_answer_is_kept(db: Database, ws: int, lead_id: int,
                                                     receiver: Receiver) -> None:
    _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    receiver.script(Answer(200, b"x" * 50_000))
    send_due_webhooks(db, now=T0)
    [attempt] = _attempts(db)
    assert attempt.response_body == "x" * 1024


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_passes(db: Database, ws: int, lead_id: int,
                                                                         receiver: Receiver) -> None:
    _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    with db.write() as session:
        assert len(claim(session, now=T0)) == 1
    with db.write() as session:
        assert claim(session, now=T0 + timedelta(seconds=30)) == []
    # The first sender died without recording: the delivery comes back (at least once).
    assert send_due_webhooks(db, now=T0 + timedelta(seconds=61)) == 1
    [delivery] = _deliveries(db)
    assert delivery.status == "delivered" and delivery.attempts == 2


def test_ping_and_the_worker_tick(db: Database, ws: int, receiver: Receiver) -> None:
    subscription_id, _ = _subscribe(db, ws, receiver.url(), active=False)
    with db.write() as session:
        queue_ping(session, workspace_id=ws, subscription_id=subscription_id)
    assert Worker(db).tick() >= 1
    [got] = receiver.received
    body = json.loads(got.body)
    assert body["type"] == "ping" and body["lead"] is None
    assert body["data"] == {"subscription_id": str(subscription_id)}


def test_deactivating_cancels_what_was_not_sent_yet(db: Database, ws: int, lead_id: int,
                                                    receiver: Receiver) -> None:
    subscription_id, _ = _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    with db.write() as session:
        update_subscription(session, workspace_id=ws, subscription_id=subscription_id,
                            change=SubscriptionChange(active=False))
    assert send_due_webhooks(db, now=T0) == 0
    assert receiver.received == []
    assert [d.status for d in _deliveries(db)] == ["cancelled"]


# --- SSRF -----------------------------------------------------------------------------------------------------

REFUSED = [
    ("http://127.0.0.1:{port}/hook", "127.0.0.1: loopback address refused"),
    ("http://10.1.2.3/hook", "10.1.2.3: private address refused"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254: cloud metadata address refused"),
    ("http://[::1]:{port}/hook", "::1: loopback address refused"),
    ("http://[::ffff:127.0.0.1]:{port}/hook", "loopback (IPv4 127.0.0.1 inside IPv6) address refused"),
    ("http://localhost:{port}/hook", "localhost resolves to "),
    ("http://100.64.0.1/hook", "carrier-grade NAT"),
    ("http://0.0.0.0:{port}/", "unspecified"),
    ("http://2130706433:{port}/", "loopback address refused"),  # 127.0.0.1 written as one number
    ("ftp://example.org/hook", "only http and https"),
    ("http://user:pass@example.org/hook", "credentials in the URL"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_private_targets_are_refused_without_the_allowance(db: Database, url: str, reason: str) -> None:
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
    with pytest.raises(Invalid) as refused, db.write() as session:
        create_subscription(session, workspace_id=ws, url=url.format(port=8080), topics=["lead.assigned"])
    [problem] = refused.value.problems
    assert problem.field == "url" and reason in problem.reason, problem.reason


def test_the_allowance_admits_loopback_but_never_metadata(db: Database, ws: int) -> None:
    with db.write() as session:
        assert create_subscription(session, workspace_id=ws, url="http://localhost:9/x", topics=["lead.overdue"])
        assert create_subscription(session, workspace_id=ws, url="http://[::1]:9/x", topics=["lead.overdue"])
    with pytest.raises(Invalid, match="cloud metadata"), db.write() as session:
        create_subscription(session, workspace_id=ws, url="http://169.254.169.254/", topics=["lead.overdue"])


def test_the_guard_runs_again_at_send_time(db: Database, ws: int, lead_id: int, receiver: Receiver) -> None:
    _subscribe(db, ws, receiver.url())
    _emit(db, ws, lead_id)
    with db.write() as session:
        set_private_targets(session, workspace_id=ws, allow=False)
    assert send_due_webhooks(db, now=T0) == 1
    assert receiver.received == []
    [delivery] = _deliveries(db)
    assert delivery.status == "failed" and delivery.attempts == 1
    assert (delivery.last_error or "").startswith("refused: 127.0.0.1: loopback address refused")


class Rebinding:
    """A DNS answer that changes between the subscription's check and the send (DNS rebinding)."""

    def __init__(self, *answers: str) -> None:
        self.answers = [ipaddress.ip_address(a) for a in answers]
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return [self.answers[min(len(self.asked), len(self.answers)) - 1]]


def test_dns_rebinding_to_loopback_is_refused_at_send_time(db: Database, lead_id: int, receiver: Receiver) -> None:
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme")
        ws.allow_private_webhooks = False
        resolver = Rebinding("93.184.216.34", "127.0.0.1")
        create_subscription(session, workspace_id=ws.id, url=f"http://hooks.example.test:{receiver.port}/hook",
                            topics=["lead.assigned"], resolver=resolver)
    _emit(db, ws.id, lead_id)
    send_due_webhooks(db, now=T0, resolver=resolver)
    assert receiver.received == [] and resolver.asked == ["hooks.example.test"] * 2
    assert "hooks.example.test resolves to 127.0.0.1: loopback" in (_deliveries(db)[0].last_error or "")


def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(db: Database, ws: int, lead_id: int,
                                                                            receiver: Receiver) -> None:
    resolver = Rebinding("127.0.0.1")
    with db.write() as session:
        create_subscription(session, workspace_id=ws, url=f"http://hooks.example.test:{receiver.port}/hook",
                            topics=["lead.assigned"], resolver=resolver)
    _emit(db, ws, lead_id)
    send_due_webhooks(db, now=T0, resolver=resolver)
    [got] = receiver.received
    assert got.headers["Host"] == f"hooks.example.test:{receiver.port}"
