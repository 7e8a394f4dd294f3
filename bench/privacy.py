"""Privacy costs, in-process on SQLite: what `secure_delete` costs on the ingest path, how long one erasure (and
its WAL scrub) takes in a populated database, and the retention dry run.

    python bench/privacy.py                      # 20,000 leads, 100,000 events
    python bench/privacy.py --leads 100000 --events 500000

1. builds a database: N leads through `upsert_many`, then events through `record_events` in batches of
   1,000, alternately with `PRAGMA secure_delete` ON (the default now) and OFF, so both see the same growth;
2. erases 20 leads one by one (each with its events), timing the transaction and the scrub separately;
3. times the retention dry run (every inactive-lead, visitor and raw-event query) over the whole workspace.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from leadline.core.lead_input import LeadInput
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, upsert_many
from leadline.services.privacy.erasure import erase
from leadline.services.privacy.retention import plan
from leadline.services.privacy.scrub import scrub
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.tables import Lead

TYPES = ("page_view", "email_open", "email_click", "download", "form_submit")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="leadline-privacy-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    now = datetime.now(UTC)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "bench")
    for start in range(0, args.leads, 2000):
        with db.write() as session:
            upsert_many(session, workspace.id, [
                LeadInput(email=f"lead{i}@example.org", first_name=f"First{i}", last_name=f"Last{i}",
                          created_at=now - timedelta(days=random.randint(0, 2000)))
                for i in range(start, min(start + 2000, args.leads))], mode=WriteMode.OVERWRITE)
    with db.read() as session:
        ids = [i for (i,) in session.query(Lead.id).all()]
    rates: dict[str, list[float]] = {"on": [], "off": []}
    batches = args.events // 1000
    for batch in range(batches):
        mode = "on" if batch % 2 == 0 else "off"
        drafts = [EventDraft(type=random.choice(TYPES), lead_id=random.choice(ids),
                             occurred_at=now - timedelta(days=random.randint(0, 1500)),
                             properties={"path": f"/p/{random.randint(0, 500)}"}) for _ in range(1000)]
        with db.write() as session:
            session.connection().exec_driver_sql(f"PRAGMA secure_delete={mode.upper()}")
            started = time.perf_counter()
            record_events(session, workspace, drafts)
        rates[mode].append(1000 / (time.perf_counter() - started))
    with db.write() as session:
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
    print(f"database: {args.leads:,} leads, {batches * 1000:,} events, {folder}")
    for mode, values in rates.items():
        print(f"ingest with secure_delete {mode:>3}: median {statistics.median(values):,.0f} events/s "
              f"over {len(values)} batches of 1,000")
    erase_ms, scrub_ms = [], []
    for lead_id in random.sample(ids, 20):
        started = time.perf_counter()
        with db.write() as session:
            report = erase(session, workspace_id=workspace.id, lead_id=lead_id, key=b"bench", actor="bench")
        middle = time.perf_counter()
        scrub(db, report.tables)
        erase_ms.append((middle - started) * 1000)
        scrub_ms.append((time.perf_counter() - middle) * 1000)
    print(f"erase one lead: median {statistics.median(erase_ms):.0f} ms, max {max(erase_ms):.0f} ms; "
          f"scrub (WAL truncate): median {statistics.median(scrub_ms):.0f} ms")
    started = time.perf_counter()
    with db.read() as session:
        report = plan(session, workspace.id, now=now)
    print(f"retention dry run: {(time.perf_counter() - started) * 1000:.0f} ms "
          f"({report.inactive_leads:,} inactive leads, {report.raw_events:,} raw events beyond 25 months)")
    db.dispose()


if __name__ == "__main__":
    sys.exit(main())
