"""Bulk rescore on SQLite: N leads with M events, the B2B starter model, results written back.
Issue 3's goals: 100,000 leads / 2,000,000 events under 5 s; 1,000,000 / 20,000,000 under 50 s and 2 GB.

    python bench/rescore.py [--leads 100000] [--events 2000000] [--naive-leads 5000] [--database-url URL]

Reports: the bulk rescore (set-based, chunked); the naive way (one lead at a time in Python: read its events,
run each through the rules, as a per-event points system does) on `--naive-leads` leads, extrapolated; a
plain SQL GROUP BY of the events by lead and type (the floor the issue quotes); peak memory (ru_maxrss).
Events: 60 % page views (10 % on /pricing, 3 % on /careers), 15 % email opens, 10 % clicks, 5 % downloads,
5 % form submits, 5 % others, spread over a year.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

from leadline.core.scoring.decay import RuleState
from leadline.services.scoring.bulk import rescore_workspace
from leadline.services.scoring.facts import event_facts
from leadline.services.scoring.models import activate, built_in_source, load_document, store_version
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.tables import Event

TYPES = (["page_view"] * 60 + ["email_open"] * 15 + ["email_click"] * 10 + ["download"] * 5 + ["form_submit"] * 5
         + ["webinar_registered", "quote_request", "demo_request", "unsubscribe", "email_bounce"])
START = datetime(2025, 11, 1, tzinfo=UTC)


def _path(rng: random.Random) -> str:
    roll = rng.random()
    return "/pricing" if roll < 0.10 else "/careers" if roll < 0.13 else f"/blog/{rng.randrange(300)}"


def generate(path: Path, leads: int, events: int, seed: int = 7) -> tuple[str, float]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    started = time.perf_counter()
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'bench', 'bench', '2025-01-01')")
    titles = ["CEO", "Head of Sales", "Marketing Manager", "Student", "Engineer", None]
    countries = ["FR", "BE", "US", "BR", "DE", None]
    con.executemany(
        "INSERT INTO leads (id, workspace_id, email, job_title, country, custom, stage, temperature, score, "
        "fit_score, engagement_score, unsubscribed, mql_ready, created_at, updated_at) "
        "VALUES (?, 1, ?, ?, ?, '{}', 'new', 'cold', 0, 0, 0, 0, 0, '2025-11-01 00:00:00.000000', "
        "'2025-11-01 00:00:00.000000')",
        [(i, f"lead{i}@company{i % 5000}.example", rng.choice(titles), rng.choice(countries))
         for i in range(1, leads + 1)])
    con.commit()
    con.execute("DROP INDEX IF EXISTS ix_events_lead")
    span = 365 * 86_400
    for start in range(0, events, 200_000):
        rows = []
        for _ in range(start, min(events, start + 200_000)):
            kind = rng.choice(TYPES)
            at = START + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000))
            lead = 1 + int(leads * rng.random() ** 2)  # some leads far busier than others
            path_value = _path(rng) if kind == "page_view" else None
            rows.append((kind, at.strftime("%Y-%m-%d %H:%M:%S.%f"), lead, lead, path_value))
        con.executemany("INSERT INTO events (workspace_id, type, occurred_at, received_at, lead_id, subject_lead_id, "
                        "path) VALUES (1, ?, ?, '2026-11-01 00:00:00.000000', ?, ?, ?)", rows)
        con.commit()
    con.execute("CREATE INDEX ix_events_lead ON events (workspace_id, lead_id, occurred_at)")
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return url, time.perf_counter() - started


def naive(db: Database, model, workspace_id: int, lead_count: int) -> float:
    """One lead at a time: read its events, run each through the matching rules in Python."""
    columns = {name: i for i, name in enumerate(("lead_id", "type", "occurred_at", "path", "url", "referrer",
                                                 "channel", "campaign", "properties"))}
    started = time.perf_counter()
    with db.read() as session:
        for lead_id in range(1, lead_count + 1):
            rows = session.execute(select(Event.lead_id, Event.type, Event.occurred_at, Event.path, Event.url,
                                          Event.referrer, Event.channel, Event.campaign, Event.properties)
                                   .where(Event.workspace_id == workspace_id, Event.lead_id == lead_id)
                                   .order_by(Event.id)).all()
            states: dict[str, RuleState] = {}
            for row in rows:
                for rule in model.rules_for(row[1]):
                    if rule.matches is None or rule.matches(event_facts(columns, row, row[8])):
                        states.setdefault(rule.key, RuleState()).add(rule.points, row[2], rule.half_life_seconds)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--naive-leads", type=int, default=5_000)
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / f"leadline-bench-rescore-{args.leads}.db"
    url, seconds = generate(path, args.leads, args.events)
    print(f"generated {args.leads:,} leads and {args.events:,} events in {seconds:.0f} s")
    db = Database(url)
    with db.write() as session:
        workspace_id = get_or_create_workspace(session, "bench").id
        model = activate(session, workspace_id, store_version(
            session, workspace_id, load_document(built_in_source("default-b2b")), source=None, actor="bench").version)
    with db.read() as session:
        started = time.perf_counter()
        session.execute(text("SELECT lead_id, type, count(*) FROM events WHERE workspace_id = 1 "
                             "GROUP BY lead_id, type")).all()
        group_by = time.perf_counter() - started
    started = time.perf_counter()
    rescored = rescore_workspace(db, workspace_id)
    bulk = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    naive_seconds = naive(db, model, workspace_id, min(args.naive_leads, args.leads))
    naive_total = naive_seconds * args.leads / min(args.naive_leads, args.leads)
    print(f"bulk rescore: {rescored:,} leads, {args.events:,} events in {bulk:.1f} s "
          f"({args.events / bulk:,.0f} events/s); peak RSS {peak_mb:,.0f} MB")
    print(f"plain GROUP BY lead, type: {group_by:.1f} s (bulk/GROUP BY = {bulk / group_by:.1f})")
    print(f"naive, one lead at a time: {naive_seconds:.1f} s for {min(args.naive_leads, args.leads):,} leads, "
          f"~{naive_total:.0f} s for all (naive/bulk = {naive_total / bulk:.1f}x)")


if __name__ == "__main__":
    main()
