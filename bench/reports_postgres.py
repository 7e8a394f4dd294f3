"""The funnel and channel reports on PostgreSQL, over the leads `bench/reports.py` generated in SQLite.

    python bench/reports.py --leads 1000000 --db /tmp/reports.db
    python bench/reports_postgres.py --sqlite /tmp/reports.db [--url postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports]

The PostgreSQL database (its name must contain `bench`) is dropped and created again, migrated, and filled with
COPY from the SQLite file (the leads and their funnel rollup); then ANALYZE and each report, best of two runs.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leadline.services.reports.channels import channel_report
from leadline.services.reports.cohorts import Dimension
from leadline.services.reports.funnel import funnel_report
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade

COLUMNS = ("id", "workspace_id", "email", "first_channel", "first_campaign", "stage", "created_at", "updated_at",
           "stage_changed_at", "funnel_rank", "mql_at", "sql_at", "opportunity_at", "customer_at")
FIXED = {"custom": "{}", "temperature": "cold", "score": "0", "fit_score": "0", "engagement_score": "0",
         "unsubscribed": "f", "mql_ready": "f"}


def _fresh(url: str) -> None:
    target = make_url(url)
    assert target.database and "bench" in target.database, "the database name must contain 'bench'"
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    upgrade(url)


def _utc(value: str | None) -> str | None:
    return None if value is None else (value if "+" in value[10:] else value + "+00")


def copy_leads(sqlite_path: Path, url: str) -> int:
    source = sqlite3.connect(sqlite_path)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    names = (*COLUMNS, *FIXED)
    count = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'bench', 'bench', now())")
        with cur.copy(f"COPY leads ({', '.join(names)}) FROM STDIN") as copy:
            for row in source.execute(f"SELECT {', '.join(COLUMNS)} FROM leads ORDER BY id"):
                values = [*row]
                for i in (6, 7, 8, 10, 11, 12, 13):
                    values[i] = _utc(values[i])
                copy.write_row([*values, *FIXED.values()])
                count += 1
        cur.execute("ANALYZE leads")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sqlite", type=Path, required=True)
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports")
    args = parser.parse_args()
    started = time.perf_counter()
    _fresh(args.url)
    count = copy_leads(args.sqlite, args.url)
    print(f"copied {count:,} leads in {time.perf_counter() - started:.0f} s")
    db = Database(args.url)
    reports = {"funnel (total)": lambda s: funnel_report(s, workspace_id=1),
               "funnel by channel": lambda s: funnel_report(s, workspace_id=1, dimension=Dimension.channel),
               "channels": lambda s: channel_report(s, workspace_id=1)}
    for label, work in reports.items():
        best = float("inf")
        for _ in range(2):
            with db.read() as session:
                begun = time.perf_counter()
                work(session)
                best = min(best, time.perf_counter() - begun)
        print(f"{label}: {best:.2f} s")
    db.dispose()


if __name__ == "__main__":
    main()
