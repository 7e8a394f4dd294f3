"""Notifications at routing scale: N `lead.assigned` messages through the outbox with one webhook subscription
(the webhook and email consumers write their rows), then the webhook sender delivering them to a receiver on
loopback. Prints one line per phase.

    python bench/notifications.py --leads 10000 [--send 2000] [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

from sqlalchemy import insert, select

from leadline.services import outbox
from leadline.services.webhook_sender import send_due_webhooks
from leadline.services.webhooks import create_subscription
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.tables import Lead, NotificationEmail, User, WebhookDelivery
from leadline.storage.types import utcnow


class Quiet(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--send", type=int, default=2_000, help="deliveries to send in the second phase")
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    url = args.url or f"sqlite:///{Path(folder) / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    Thread(target=server.serve_forever, daemon=True).start()
    with db.write() as session:
        ws = get_or_create_workspace(session, "bench")
        ws.allow_private_webhooks = True
        session.flush()
        rep = User(workspace_id=ws.id, handle="rep", name="Rep", email="rep@bench.test")
        session.add(rep)
        session.flush()
        session.execute(insert(Lead), [{"workspace_id": ws.id, "email": f"l{i}@bench.test", "owner_id": rep.id}
                                       for i in range(args.leads)])
        create_subscription(session, workspace_id=ws.id, url=f"http://127.0.0.1:{server.server_port}/hook",
                            topics=["lead.assigned"])
        ids = list(session.scalars(select(Lead.id).where(Lead.workspace_id == ws.id)))
        workspace_id, rep_id = ws.id, rep.id
    now = utcnow()
    started = time.perf_counter()
    with db.write() as session:
        outbox.emit_many(session, workspace_id=workspace_id, topic="lead.assigned", now=now,
                         items=[(i, {"owner_id": rep_id, "previous_owner_id": None, "rule": "rr"}) for i in ids])
    emitted = time.perf_counter() - started
    outbox.drain(db, now=now)
    queued = time.perf_counter() - started
    with db.read() as session:
        deliveries = len(session.scalars(select(WebhookDelivery.id)).all())
        emails = len(session.scalars(select(NotificationEmail.id)).all())
    print(f"{db.dialect}: {args.leads} lead.assigned: emit {emitted:.2f} s, emit + consumers {queued:.2f} s "
          f"({deliveries} deliveries, {emails} emails queued)")
    started, sent = time.perf_counter(), 0
    while sent < min(args.send, deliveries):
        sent += send_due_webhooks(db, now=utcnow())
    elapsed = time.perf_counter() - started
    print(f"{db.dialect}: sent {sent} webhooks to loopback in {elapsed:.2f} s ({sent / elapsed:.0f}/s)")
    server.shutdown()
    db.dispose()


if __name__ == "__main__":
    sys.exit(main())
