"""Bulk rescore on PostgreSQL: the same workspace as `rescore.py` (run that first: it leaves its SQLite file
in the temp folder), copied into a fresh PostgreSQL database with COPY, then rescored.

    python bench/rescore_postgres.py [--leads 100000] [--server postgresql+psycopg://postgres@127.0.0.1:5432/test]

The database `leadline_bench_rescore` on that server is dropped and created again.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leadline.services.scoring.bulk import rescore_workspace
from leadline.services.scoring.models import activate, built_in_source, load_document, store_version
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.partitions import ensure_event_partitions

NAME = "leadline_bench_rescore"
LEAD_COLUMNS = ("id", "workspace_id", "email", "job_title", "country", "custom", "stage", "temperature", "score",
                "fit_score", "engagement_score", "unsubscribed", "mql_ready", "created_at", "updated_at")
EVENT_COLUMNS = ("workspace_id", "type", "occurred_at", "received_at", "lead_id", "subject_lead_id", "path")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    source = Path(tempfile.gettempdir()) / f"leadline-bench-rescore-{args.leads}.db"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/rescore.py --leads {args.leads} first")
    admin = create_engine(args.server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {NAME}"))
    admin.dispose()
    url = make_url(args.server).set(database=NAME).render_as_string(hide_password=False)
    upgrade(url)
    lite = sqlite3.connect(source)
    started = time.perf_counter()
    events = 0
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as pg:
        pg.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'bench', 'bench', now())")
        with pg.cursor().copy(f"COPY leads ({', '.join(LEAD_COLUMNS)}) FROM STDIN") as copy:
            for row in lite.execute(f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads"):
                copy.write_row([*row[:11], bool(row[11]), bool(row[12]), f"{row[13]}+00", f"{row[14]}+00"])
        pg.execute("SELECT setval('leads_id_seq', (SELECT max(id) FROM leads))")
        months = {m for (m,) in lite.execute("SELECT DISTINCT substr(occurred_at, 1, 7) FROM events")}
        with Database(url).writer.begin() as conn:
            from datetime import UTC, datetime
            ensure_event_partitions(conn, [datetime.strptime(m, "%Y-%m").replace(tzinfo=UTC) for m in months])
        with pg.cursor().copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in lite.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"):
                copy.write_row([row[0], row[1], f"{row[2]}+00", f"{row[3]}+00", *row[4:]])
                events += 1
        pg.execute("ANALYZE")
    print(f"copied {args.leads:,} leads and {events:,} events in {time.perf_counter() - started:.0f} s")
    db = Database(url)
    with db.write() as session:
        activate(session, 1, store_version(session, 1, load_document(built_in_source("default-b2b")), source=None,
                                           actor="bench").version)
    started = time.perf_counter()
    rescored = rescore_workspace(db, 1)
    seconds = time.perf_counter() - started
    print(f"PostgreSQL bulk rescore: {rescored:,} leads, {events:,} events in {seconds:.1f} s "
          f"({events / seconds:,.0f} events/s)")
    db.dispose()


if __name__ == "__main__":
    main()
