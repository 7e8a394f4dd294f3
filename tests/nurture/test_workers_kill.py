"""Two real `leadline worker` processes on PostgreSQL and Redis (huey), one killed with SIGKILL in the middle of
a run: every step's state change happens exactly once (none lost, none twice), no email is received twice (one
the killed worker was sending is recorded `unknown`, never resent), and every webhook is delivered at least
once with its idempotency key."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from huey import RedisHuey
from sqlalchemy import func, select

from leadline.nurture.engine import enrol
from leadline.services.webhooks import create_subscription, set_private_targets
from leadline.services.workflows import save
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import EmailSend, Lead, WebhookDelivery, WorkflowEnrolment, WorkflowStepLog
from leadline.storage.types import utcnow
from loopback import Receiver, free_port

LEADS = 240
PG_URL = os.environ.get("LEADLINE_TEST_DATABASE_URL")


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping())
    except Exception:
        return False


pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not PG_URL, reason="needs LEADLINE_TEST_DATABASE_URL (PostgreSQL)"),
              pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379")]


class SlowMailbox:
    """Takes a few milliseconds per message, so that a kill lands in the middle of a batch."""

    def __init__(self) -> None:
        self.sends: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.004)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.sends[str(message["X-Leadline-Send"])] += 1
        return "250 Message accepted"


@pytest.fixture
def pg(db: Database) -> Database:
    """Several worker processes need PostgreSQL (SQLite has one writer): the `postgres` mark keeps this test
    off SQLite."""
    assert db.dialect == "postgresql"
    return db


def _workflow() -> dict[str, Any]:
    mail = {"subject": "Hi {{ lead.first_name }}", "text": "Hello {{ lead.first_name }}"}
    return {"format": "leadline-workflow/1", "key": "kill", "name": "Kill test", "trigger": {"event": "download"},
            "steps": [{"id": "first", "send_email": mail}, {"id": "crm", "webhook": {"name": "crm"}},
                      {"id": "second", "send_email": mail}]}


def _start_worker(url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    script = "from leadline.cli.main import app; app(['worker', '--poll', '0.2'])"
    handle = log.open("wb")
    return subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **env, "LEADLINE_DATABASE_URL": url},
                            stdout=handle, stderr=subprocess.STDOUT)


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_run_loses_nothing_and_repeats_nothing(pg: Database, tmp_path: Path) -> None:
    box, smtp_port = SlowMailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with Receiver() as receiver:
        with pg.write() as session:
            ws = get_or_create_workspace(session, "acme")
            set_private_targets(session, workspace_id=ws.id, allow=True)
            create_subscription(session, workspace_id=ws.id, url=receiver.url(), topics=["workflow.webhook"])
            session.add_all([Lead(workspace_id=ws.id, email=f"p{i}@example.org", first_name=f"P{i}",
                                  consent_email=True) for i in range(LEADS)])
            session.flush()
            workflow = save(session, workspace_id=ws.id, document=_workflow(), actor="test", activate=True)
            lead_ids = list(session.scalars(select(Lead.id)))
            assert enrol(session, workflow, lead_ids, now=utcnow()) == LEADS
        env = {"LEADLINE_QUEUE_URL": "redis://127.0.0.1:6379/0", "LEADLINE_QUEUE_NAME": f"leadline-test-{os.getpid()}",
               "LEADLINE_SMTP_HOST": "127.0.0.1", "LEADLINE_SMTP_PORT": str(smtp_port),
               "LEADLINE_SMTP_STARTTLS": "false", "LEADLINE_SECRET_KEY": "kill-test-secret",
               "LEADLINE_NURTURE_LEASE_SECONDS": "3", "LEADLINE_SCORE_REFRESH_SECONDS": "0",
               "OMP_NUM_THREADS": "1"}
        workers = [_start_worker(pg.url, env, tmp_path / f"worker{i}.log") for i in range(2)]
        try:
            _wait(lambda: sum(box.sends.values()) >= LEADS // 3, 60, "the first emails")
            os.kill(workers[0].pid, signal.SIGKILL)  # in the middle of the run
            workers[0].wait()

            def finished() -> bool:
                with pg.read() as session:
                    active = session.scalar(select(func.count()).select_from(WorkflowEnrolment).where(
                        WorkflowEnrolment.status == "active"))
                    open_sends = session.scalar(select(func.count()).select_from(EmailSend).where(
                        EmailSend.status.in_(("queued", "sending"))))
                    pending_hooks = session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                        WebhookDelivery.status == "pending"))
                return active == 0 and open_sends == 0 and pending_hooks == 0

            killed_at = time.monotonic()
            _wait(finished, 150, "the surviving worker to finish the run")
            print(f"finished {time.monotonic() - killed_at:.1f} s after the kill")
        finally:
            for process in workers:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            for process in workers:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
            controller.stop()
            RedisHuey(env["LEADLINE_QUEUE_NAME"], url=env["LEADLINE_QUEUE_URL"]).flush()  # leave Redis clean
        with pg.read() as session:
            statuses = Counter(session.scalars(select(WorkflowEnrolment.status)))
            assert statuses == {"completed": LEADS}
            per_enrolment = Counter(session.scalars(select(WorkflowStepLog.enrolment_id)))
            assert set(per_enrolment.values()) == {3}  # every step applied, none twice
            sends = session.execute(select(EmailSend.id, EmailSend.status)).all()
            deliveries = session.execute(select(WebhookDelivery.id, WebhookDelivery.status)).all()
        print("email states", Counter(status for _, status in sends), "webhook posts", len(receiver.received))
        assert len(sends) == 2 * LEADS  # one row per email step and lead: the state change happened once
        states = Counter(status for _, status in sends)
        assert set(states) <= {"sent", "unknown"}, states
        assert max(box.sends.values()) == 1, "an email was received twice"
        received = set(box.sends)
        assert all(str(send_id) in received for send_id, status in sends if status == "sent")
        assert len(deliveries) == LEADS and {status for _, status in deliveries} == {"delivered"}
        keys = Counter(r.headers.get("Idempotency-Key") for r in receiver.received)
        assert {str(d) for d, _ in deliveries} <= set(keys)  # at least once; repeats carry the same key
