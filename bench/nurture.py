"""Nurture at scale: N leads through a 3-step workflow (send an email, wait a day, branch on a condition) on
SQLite, run by the embedded worker's code path (`jobs.queue.run_nurture`: the engine, then the SMTP sender)
against an aiosmtpd server on loopback. Prints one line per phase and the throughput figures.

    python bench/nurture.py --leads 10000 [--url postgresql+psycopg://...] [--in-process]

Phases: enrol (one set-based insert through `enrol`), step 1 (claim, advance, queue the email), send (check
suppression/consent/caps, render with Jinja2, hand to SMTP, record), then the wait is over (clock moved a day)
and step 3 runs the branch (one SQL probe per batch) for every lead.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from pydantic import SecretStr
from sqlalchemy import func, insert, select

from leadline.config import Settings
from leadline.jobs.queue import run_nurture
from leadline.nurture.engine import enrol
from leadline.services.workflows import save
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.tables import EmailSend, Lead, WorkflowEnrolment, WorkflowStepLog
from leadline.storage.types import utcnow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback import free_port

WORKFLOW = {
    "format": "leadline-workflow/1", "key": "bench", "name": "Bench", "trigger": {"event": "download"},
    "steps": [
        {"id": "hello", "send_email": {
            "subject": "Hello {{ lead.first_name }}",
            "text": "Hi {{ lead.first_name }} from {{ company.name or 'your company' }}.\nUnsubscribe: "
                    "{{ unsubscribe_url }}",
            "html": "<p>Hi {{ lead.first_name }}</p><p><a href='https://acme.example/guide'>Guide</a> "
                    "<a href='https://acme.example/pricing'>Pricing</a></p>"}},
        {"id": "pause", "wait": {"days": 1}},
        {"id": "hot", "branch": {"if": {"field": "score", "gte": 50}, "then": "end", "else": "end"}},
    ],
}


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def _wait_for(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the SMTP server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--url", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--in-process", action="store_true", help="run aiosmtpd in this process (a thread)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="leadline-bench-nurture-")
    url = args.url or f"sqlite:///{Path(folder) / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    port = free_port()
    if args.in_process:  # shares the GIL with the sender: measures both sides at once
        sink: Sink | None = Sink()
        controller: Controller | None = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        server = None
    else:  # a separate process, as a real SMTP relay would be
        sink = controller = None
        server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                                   "-c", "aiosmtpd.handlers.Sink"])
        _wait_for(port)
    settings = Settings(database_url=url, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                        secret_key=SecretStr("bench-secret"), app_url="https://leads.acme.example")
    try:
        with db.write() as session:
            ws = get_or_create_workspace(session, "bench").id
            session.execute(insert(Lead), [
                {"workspace_id": ws, "email": f"lead{i}@example.org", "first_name": f"Lead{i}",
                 "consent_email": True, "consent_tracking": i % 2 == 0} for i in range(args.leads)])
            workflow = save(session, workspace_id=ws, document=WORKFLOW, actor="bench", activate=True)
            ids = list(session.scalars(select(Lead.id).where(Lead.workspace_id == ws)))
        t0 = utcnow()
        start = time.perf_counter()
        with db.write() as session:
            enrolled = enrol(session, workflow, ids, now=t0)
        enrol_s = time.perf_counter() - start
        print(f"enrol: {enrolled} leads in {enrol_s:.2f} s ({enrolled / enrol_s:,.0f} leads/s)")

        start = time.perf_counter()
        from leadline.nurture.engine import run_due
        from leadline.nurture.sending import send_due

        step1 = run_due(db, now=t0)
        step_s = time.perf_counter() - start
        print(f"step 1 (email queued, wait started): {step1.enrolments} enrolments in {step_s:.2f} s "
              f"({step1.enrolments / step_s:,.0f}/s)")
        from leadline.nurture import sending

        spent = {"claim": 0.0, "deliver": 0.0}

        def timed(name: str, function: Any) -> Any:
            def run(*a: Any, **k: Any) -> Any:
                begin = time.perf_counter()
                try:
                    return function(*a, **k)
                finally:
                    spent[name] += time.perf_counter() - begin
            return run

        sending.claim, sending.deliver_parallel = (  # type: ignore[assignment]
            timed("claim", sending.claim), timed("deliver", sending.deliver_parallel))
        start = time.perf_counter()
        sent = send_due(db, settings=settings, now=t0)
        send_s = time.perf_counter() - start
        print(f"  checks + rendering + marking sending: {spent['claim']:.2f} s ({sent / spent['claim']:,.0f} "
              f"emails/s); SMTP conversations ({settings.smtp_connections} connections, overlapping the next "
              f"batch's rendering): {spent['deliver']:.2f} s ({sent / spent['deliver']:,.0f} emails/s)")
        print(f"send: {sent} emails rendered and handed to SMTP in {send_s:.2f} s ({sent / send_s:,.0f}/s); "
              f"server received {sink.count if sink else 'n/a (separate process)'}")

        start = time.perf_counter()
        later = run_due(db, now=t0 + timedelta(days=1, seconds=1))
        branch_s = time.perf_counter() - start
        print(f"wait over + branch: {later.enrolments} enrolments, {later.steps} steps in {branch_s:.2f} s "
              f"({later.enrolments / branch_s:,.0f}/s)")
        total = enrol_s + step_s + send_s + branch_s
        with db.read() as session:
            done = session.scalar(select(func.count()).select_from(WorkflowEnrolment).where(
                WorkflowEnrolment.status == "completed"))
            steps = session.scalar(select(func.count()).select_from(WorkflowStepLog))
            sends = session.scalar(select(func.count()).select_from(EmailSend).where(EmailSend.status == "sent"))
        print(f"total: {done} leads completed 3 steps ({steps} step rows, {sends} emails sent) in {total:.2f} s: "
              f"{done / total:,.0f} leads/s end to end")
        # the same through the embedded worker's entry point (what a huey wake-up runs), on fresh enrolments
        with db.write() as session:
            session.execute(WorkflowEnrolment.__table__.delete())
            enrol(session, workflow, ids, now=utcnow())
        start = time.perf_counter()
        worked = run_nurture(db, settings)
        print(f"run_nurture (embedded worker pass: steps + sends): {worked} items in "
              f"{time.perf_counter() - start:.2f} s")
    finally:
        if controller is not None:
            controller.stop()
        if server is not None:
            server.terminate()
            server.wait()
        db.dispose()
        asyncio.set_event_loop(None)


if __name__ == "__main__":
    main()
