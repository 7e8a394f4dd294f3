"""The webhooks API: admin only, the secret shown once, precise 422s from the SSRF guard, the delivery log and a
ping that reaches a real server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from leadline.services.webhook_sender import send_due_webhooks
from leadline.services.webhooks import set_private_targets
from leadline.storage.database import Database
from loopback import Answer, Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def private_ok(db: Database, workspace_id: int) -> None:
    with db.write() as session:
        set_private_targets(session, workspace_id=workspace_id, allow=True)


def _create(client: TestClient, auth: dict[str, str], url: str, topics: list[str] | None = None) -> dict:
    response = client.post("/api/v1/webhooks", json={"url": url, "topics": topics or ["lead.assigned"]},
                           headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_crud_and_the_secret_is_shown_once(client: TestClient, auth: dict[str, str], receiver: Receiver,
                                           private_ok: None) -> None:
    created = _create(client, auth, receiver.url(), ["lead.overdue", "lead.assigned", "lead.overdue"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["topics"] == ["lead.assigned", "lead.overdue"] and created["active"] is True
    hook = f"/api/v1/webhooks/{created['id']}"
    assert "secret" not in client.get(hook, headers=auth).json()
    assert [h["id"] for h in client.get("/api/v1/webhooks", headers=auth).json()] == [created["id"]]
    assert "secret" not in client.get("/api/v1/webhooks", headers=auth).json()[0]

    patched = client.patch(hook, json={"active": False, "topics": ["segment.entered"]}, headers=auth)
    assert patched.status_code == 200
    assert patched.json()["active"] is False and patched.json()["topics"] == ["segment.entered"]
    assert patched.json()["url"] == receiver.url()

    assert client.delete(hook, headers=auth).status_code == 204
    assert client.get(hook, headers=auth).status_code == 404
    assert client.delete(hook, headers=auth).status_code == 404


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:8080/hook", "127.0.0.1: loopback address refused"),
    ("http://localhost:8080/hook", "localhost resolves to"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[::ffff:127.0.0.1]/", "IPv4 127.0.0.1 inside IPv6"),
    ("javascript:alert(1)", "only http and https"),
])
def test_unsafe_urls_get_a_precise_422(client: TestClient, auth: dict[str, str], url: str, reason: str) -> None:
    response = client.post("/api/v1/webhooks", json={"url": url, "topics": ["lead.assigned"]}, headers=auth)
    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert field["field"] == "url" and reason in field["reason"]


def test_patching_the_url_is_checked_too(client: TestClient, auth: dict[str, str], receiver: Receiver,
                                         db: Database, workspace_id: int, private_ok: None) -> None:
    created = _create(client, auth, receiver.url())
    with db.write() as session:
        set_private_targets(session, workspace_id=workspace_id, allow=False)
    response = client.patch(f"/api/v1/webhooks/{created['id']}", json={"url": "http://10.0.0.8/x"}, headers=auth)
    assert response.status_code == 422 and "private address refused" in response.json()["error"]["fields"][0]["reason"]


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "https://example.org/h", "topics": ["lead.deleted"]}, "topics"),
    ({"url": "https://example.org/h", "topics": []}, "topics"),
    ({"url": "", "topics": ["lead.assigned"]}, "url"),
    ({"topics": ["lead.assigned"]}, "url"),
])
def test_bad_fields_get_422_naming_them(client: TestClient, auth: dict[str, str], body: dict, field: str) -> None:
    response = client.post("/api/v1/webhooks", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == field


def test_admin_scope_and_workspace_isolation(client: TestClient, auth: dict[str, str], make_key: Callable[..., str],
                                             receiver: Receiver, private_ok: None) -> None:
    created = _create(client, auth, receiver.url())
    writer = {"Authorization": f"Bearer {make_key('acme', 'read,write')}"}
    assert client.get("/api/v1/webhooks", headers=writer).status_code == 403
    assert client.post("/api/v1/webhooks", json={"url": receiver.url(), "topics": ["lead.assigned"]},
                       headers=writer).status_code == 403
    other = {"Authorization": f"Bearer {make_key('globex')}"}
    assert client.get(f"/api/v1/webhooks/{created['id']}", headers=other).status_code == 404
    assert client.post(f"/api/v1/webhooks/{created['id']}/test", headers=other).status_code == 404
    assert client.get(f"/api/v1/webhooks/{created['id']}/deliveries", headers=other).status_code == 404
    assert client.get("/api/v1/webhooks", headers=other).json() == []
    assert client.get("/api/v1/webhooks/99999999999999999999", headers=auth).status_code == 404


def test_ping_then_the_delivery_log(client: TestClient, auth: dict[str, str], db: Database, receiver: Receiver,
                                    private_ok: None) -> None:
    created = _create(client, auth, receiver.url())
    queued = client.post(f"/api/v1/webhooks/{created['id']}/test", headers=auth)
    assert queued.status_code == 202 and queued.json()["status"] == "pending" and queued.json()["topic"] == "ping"
    receiver.script(Answer(500, b"not yet"))
    send_due_webhooks(db)
    log = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", headers=auth).json()
    [delivery] = log
    assert delivery["id"] == queued.json()["id"] and delivery["status"] == "pending"
    assert delivery["attempts"] == 1 and delivery["next_attempt_at"] is not None
    assert [(a["number"], a["status_code"], a["response_body"]) for a in delivery["log"]] == [(1, 500, "not yet")]
    assert receiver.received[0].headers["Idempotency-Key"] == delivery["id"]
    older = client.get(f"/api/v1/webhooks/{created['id']}/deliveries", params={"before": delivery["id"]},
                       headers=auth)
    assert older.status_code == 200 and older.json() == []


def _ping_signature(client: TestClient, auth: dict[str, str], db: Database, receiver: Receiver, hook: str) -> tuple:
    assert client.post(f"/api/v1/webhooks/{hook}/test", headers=auth).status_code == 202
    send_due_webhooks(db)
    last = receiver.received[-1]
    return last.headers["Leadline-Signature"], last.body


def test_rotating_the_secret_signs_with_both_during_the_grace_period(client: TestClient, auth: dict[str, str],
                                                                   db: Database, receiver: Receiver,
                                                                   private_ok: None) -> None:
    import time

    from leadline.core.webhooks import verify

    created = _create(client, auth, receiver.url())
    old = created["secret"]
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", json={"grace_hours": 1}, headers=auth)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and new.startswith("whsec_")
    header, body = _ping_signature(client, auth, db, receiver, created["id"])
    assert header.count("v1=") == 2
    assert verify(new, header, body, now=int(time.time())) and verify(old, header, body, now=int(time.time()))

    # revoked at once (a leak): only the newest secret signs
    newest = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", json={"grace_hours": 0},
                         headers=auth).json()["secret"]
    header, body = _ping_signature(client, auth, db, receiver, created["id"])
    assert header.count("v1=") == 1 and verify(newest, header, body, now=int(time.time()))
    assert not verify(new, header, body, now=int(time.time()))


@pytest.mark.parametrize("body", [{"grace_hours": -1}, {"grace_hours": 500}, {"grace": 1}])
def test_a_bad_rotation_request_gets_422(client: TestClient, auth: dict[str, str], receiver: Receiver,
                                         private_ok: None, body: dict) -> None:
    created = _create(client, auth, receiver.url())
    assert client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", json=body, headers=auth).status_code == 422
