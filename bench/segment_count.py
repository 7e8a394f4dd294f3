"""Counting segments with event-history conditions (issue 4: 1,000,000 leads / 20,000,000 events on SQLite
under 2 s; PostgreSQL: report).

    python bench/segment_count.py [--leads 1000000] [--events 20000000] [--postgres URL] [--repeat 3]
                                  [--no-type-index] [--regenerate] [--plans]

Generates (once; kept in the temp folder and reused) a workspace with raw sqlite3 executemany: leads with
mixed stages and countries; events over a year: 60 % page views (10 % on /pricing), 15 % email opens, 10 %
clicks, 1 % quote requests...; busy leads far busier than others. Then times `count_filter` (the service the
API and CLI call) for each filter below, `--repeat` times, and prints the best and the first run (the first
reads from a cold-ish page cache), with SQLite's query plan. `--postgres` copies the same data into the
database `leadline_bench_segments` on that server (dropped and created again) and times the same counts.
`--no-type-index` drops the events index `(workspace_id, type, occurred_at)` that migration 0004 adds
for segments (bench/README.md has its ingest cost).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from leadline.core.segments import parse_any
from leadline.services.segments.catalog import count_filter
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.segment_sql import count_query

TYPES = (["page_view"] * 60 + ["email_open"] * 15 + ["email_click"] * 10 + ["download"] * 5 + ["form_submit"] * 5
         + ["webinar_registered", "quote_request", "demo_request", "unsubscribe", "email_bounce"])
STAGES = ["new"] * 70 + ["mql"] * 15 + ["sql"] * 5 + ["customer"] * 5 + ["disqualified"] * 5
START = datetime(2025, 11, 1, tzinfo=UTC)
NOW = START + timedelta(days=365)
FILTERS = {
    "pricing 2x in 14 days, not customer":
        'visited "/pricing" at least twice in the last 14 days and stage != customer',
    "ever asked for a quote": "did quote_request",
    "pricing 3x ever and FR/BE": 'did page_view where path = "/pricing" at least 3 times and country in [FR, BE]',
    "no email open in 30 days, MQL": "never did email_open in the last 30 days and stage = mql",
}
TYPE_INDEX = "CREATE INDEX IF NOT EXISTS ix_events_type_time ON events (workspace_id, type, occurred_at)"
PG_NAME = "leadline_bench_segments"
LEAD_COLUMNS = ("id", "workspace_id", "email", "country", "custom", "stage", "temperature", "score", "fit_score",
                "engagement_score", "unsubscribed", "mql_ready", "created_at", "updated_at")
EVENT_COLUMNS = ("workspace_id", "type", "occurred_at", "received_at", "lead_id", "subject_lead_id", "path")


def generate(path: Path, leads: int, events: int, seed: int = 11) -> float:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    upgrade(f"sqlite:///{path}")
    started = time.perf_counter()
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'bench', 'bench', '2025-01-01')")
    countries = ["FR", "BE", "US", "BR", "DE", None]
    con.executemany(
        "INSERT INTO leads (id, workspace_id, email, country, custom, stage, temperature, score, fit_score, "
        "engagement_score, unsubscribed, mql_ready, created_at, updated_at) VALUES (?, 1, ?, ?, '{}', ?, 'cold', "
        "0, 0, 0, 0, 0, '2025-11-01 00:00:00.000000', '2025-11-01 00:00:00.000000')",
        [(i, f"lead{i}@company{i % 5000}.example", rng.choice(countries), rng.choice(STAGES))
         for i in range(1, leads + 1)])
    con.commit()
    con.execute("DROP INDEX IF EXISTS ix_events_lead")  # built once at the end: much faster than row by row
    con.execute("DROP INDEX IF EXISTS ix_events_type_time")
    span = 365 * 86_400
    for start in range(0, events, 200_000):
        rows = []
        for _ in range(start, min(events, start + 200_000)):
            kind = rng.choice(TYPES)
            at = START + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
            lead = 1 + int(leads * rng.random() ** 2)
            roll = rng.random()
            page = ("/pricing" if roll < 0.10 else f"/blog/{rng.randrange(300)}") if kind == "page_view" else None
            rows.append((kind, at.strftime("%Y-%m-%d %H:%M:%S.%f"), lead, lead, page))
        con.executemany("INSERT INTO events (workspace_id, type, occurred_at, received_at, lead_id, subject_lead_id, "
                        "path) VALUES (1, ?, ?, '2026-11-01 00:00:00.000000', ?, ?, ?)", rows)
        con.commit()
    con.execute("CREATE INDEX ix_events_lead ON events (workspace_id, lead_id, occurred_at)")
    con.execute(TYPE_INDEX)
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.perf_counter() - started


def time_counts(db: Database, repeat: int, plans: bool, only: str | None = None) -> None:
    for label, source in FILTERS.items():
        if only and only not in label:
            continue
        flt = parse_any(source)
        runs = []
        count = 0
        for _ in range(repeat):
            with db.read() as session:
                started = time.perf_counter()
                count = count_filter(session, 1, flt, now=NOW)
                runs.append(time.perf_counter() - started)
        print(f"  {label:40s} count {count:>9,}  best {min(runs):7.3f} s  first {runs[0]:7.3f} s")
        if plans:
            query = count_query(flt, workspace_id=1, now=NOW, dialect=db.dialect)
            compiled = query.compile(dialect=db.reader.dialect, compile_kwargs={"render_postcompile": True})
            with db.reader.connect() as conn:
                params = tuple(compiled.params[k] for k in compiled.positiontup or ())
                params = tuple(p.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(p, datetime) else p for p in params)
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params):
                    print(f"      plan: {row[-1]}")


def copy_to_postgres(source: Path, server: str) -> str:
    import psycopg
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from leadline.storage.partitions import ensure_event_partitions

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_NAME}"))
    admin.dispose()
    url = make_url(server).set(database=PG_NAME).render_as_string(hide_password=False)
    upgrade(url)
    lite = sqlite3.connect(source)
    started = time.perf_counter()
    with Database(url).writer.begin() as conn:
        months = {m for (m,) in lite.execute("SELECT DISTINCT substr(occurred_at, 1, 7) FROM events")}
        ensure_event_partitions(conn, [datetime.strptime(m, "%Y-%m").replace(tzinfo=UTC) for m in months])
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as pg:
        pg.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'bench', 'bench', now())")
        with pg.cursor().copy(f"COPY leads ({', '.join(LEAD_COLUMNS)}) FROM STDIN") as copy:
            for row in lite.execute(f"SELECT {', '.join(LEAD_COLUMNS)} FROM leads"):
                copy.write_row([*row[:10], bool(row[10]), bool(row[11]), f"{row[12]}+00", f"{row[13]}+00"])
        with pg.cursor().copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in lite.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"):
                copy.write_row([row[0], row[1], f"{row[2]}+00", f"{row[3]}+00", *row[4:]])
        pg.commit()
    with Database(url).writer.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"  copied to PostgreSQL in {time.perf_counter() - started:.0f} s")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to time the same counts on")
    parser.add_argument("--no-type-index", action="store_true",
                        help="drop (workspace_id, type, occurred_at) first, to see what it brings")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--only", help="time only the filters whose label contains this")
    parser.add_argument("--plans", action="store_true", help="print SQLite's query plans")
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / f"leadline-bench-segments-{args.leads}-{args.events}.db"
    if args.regenerate or not path.exists():
        print(f"generating {args.leads:,} leads / {args.events:,} events in {path} ...")
        print(f"  generated in {generate(path, args.leads, args.events):.0f} s")
    con = sqlite3.connect(path)
    started = time.perf_counter()
    con.execute("DROP INDEX IF EXISTS ix_events_type_time" if args.no_type_index else TYPE_INDEX)
    con.execute("ANALYZE")
    con.commit()
    con.close()
    print(f"  type index {'dropped' if args.no_type_index else 'ready'} in {time.perf_counter() - started:.0f} s")
    db = Database(f"sqlite:///{path}")
    print(f"SQLite, {args.leads:,} leads / {args.events:,} events:")
    time_counts(db, args.repeat, args.plans, args.only)
    db.dispose()
    if args.postgres:
        pg = Database(copy_to_postgres(path, args.postgres))
        print(f"PostgreSQL, {args.leads:,} leads / {args.events:,} events:")
        time_counts(pg, args.repeat, plans=False, only=args.only)
        pg.dispose()


if __name__ == "__main__":
    main()
