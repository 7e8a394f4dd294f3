"""Routing 10,000 new MQLs in one pass, notifications included: rules, reps, counters, company owners and
segment memberships read set-based, choices and business-time deadlines computed in memory, owners, history rows
and `lead.assigned` outbox rows written with executemany.

    python bench/route_mqls.py [--leads 10000] [--reps 40] [--companies 3000]
           [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]   # default: a fresh SQLite file

On PostgreSQL the database `leadline_bench_route` on that server is dropped and created again. The
notifications consumer is not on this branch: a stand-in consumer of `lead.assigned` is registered so the
outbox rows a real one would get are written (one per lead). Prints one result line per run.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from leadline.services import outbox
from leadline.services.routing import route_leads, unassigned_mqls
from leadline.services.routing_rules import RuleIn, replace_rules
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.tables import Assignment, Company, Lead, OutboxMessage, User

NAME = "leadline_bench_route"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
ZONES = [("Europe/Paris", "FR"), ("Europe/Berlin", "DE"), ("America/New_York", "US"), ("America/Sao_Paulo", "BR"),
         ("Asia/Tokyo", "JP"), ("Europe/London", "GB")]


@outbox.consumer("bench-notifications", "lead.assigned")
def _stand_in(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    """Never drained here: stands for the notifications consumer, so `lead.assigned` rows are queued."""


def _database(url: str | None) -> Database:
    if url is None:
        path = Path(tempfile.mkdtemp()) / "route.db"
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(make_url(url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{NAME}"'))
        admin.dispose()
        url = make_url(url).set(database=NAME).render_as_string(hide_password=False)
    upgrade(url)
    return Database(url)


def _populate(db: Database, leads: int, reps: int, companies: int) -> int:
    rng = random.Random(7)
    with db.write() as session:
        ws = get_or_create_workspace(session, "bench").id
        users = []
        for i in range(reps):
            tz, country = ZONES[i % len(ZONES)]
            users.append({"workspace_id": ws, "handle": f"rep{i}", "name": f"Rep {i}", "role": "rep",
                          "territory_countries": [country], "territory_regions": [], "capacity": 1 + i % 3,
                          "daily_quota": 600 if i % 5 == 0 else None, "timezone": tz, "holiday_country": country,
                          "away": i % 10 == 9, "active": True, "created_at": NOW})
        session.execute(insert(User), users)
        session.execute(insert(Company), [{"workspace_id": ws, "name": f"C{i}", "domain": f"c{i}.example",
                                           "created_at": NOW, "updated_at": NOW} for i in range(companies)])
        company_ids = list(session.scalars(select(Company.id).where(Company.workspace_id == ws)))
        rep_ids = list(session.scalars(select(User.id).where(User.workspace_id == ws)))
        countries = [c for _, c in ZONES] + ["IT", "ES", None]
        # a few companies already have an owned lead: account-based routing keeps them
        owned = [{"workspace_id": ws, "email": f"old{i}@example.org", "stage": "sql", "temperature": "warm",
                  "company_id": company_ids[i], "owner_id": rep_ids[i % len(rep_ids)], "assigned_at": NOW,
                  "custom": {}, "created_at": NOW, "updated_at": NOW} for i in range(0, companies, 3)]
        session.execute(insert(Lead), owned)
        session.execute(insert(Lead), [
            {"workspace_id": ws, "email": f"mql{i}@example.org", "stage": "mql",
             "temperature": rng.choice(["hot", "warm", "warm", "cold"]), "country": rng.choice(countries),
             "company_id": rng.choice(company_ids) if rng.random() < 0.6 else None, "custom": {},
             "created_at": NOW, "updated_at": NOW} for i in range(leads)])
        replace_rules(session, workspace_id=ws, actor="bench", now=NOW, rules=[
            RuleIn(name="accounts", match={"stages": ["mql"]}, strategy="company_owner", fallback="weighted",
                   sla_minutes={"hot": 60, "warm": 480, "cold": 2400}, escalation="reassign"),
        ])
    with db.write() as session:
        session.execute(text("ANALYZE"))
    return ws


def _territory_rules(db: Database, ws: int) -> None:
    with db.write() as session:
        replace_rules(session, workspace_id=ws, actor="bench", now=NOW, rules=[
            RuleIn(name="hot by territory", match={"temperatures": ["hot"]}, strategy="territory"),
            RuleIn(name="accounts", strategy="company_owner"),
        ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--companies", type=int, default=3000)
    parser.add_argument("--url", default=None, help="a PostgreSQL server URL (default: SQLite in a temp folder)")
    args = parser.parse_args()
    db = _database(args.url)
    ws = _populate(db, args.leads, args.reps, args.companies)
    backend = db.dialect

    for label, setup in (("company owner + weighted", None), ("territory, then company owner", _territory_rules)):
        if setup is not None:
            setup(db, ws)
            with db.write() as session:  # the same leads, unassigned again
                session.execute(Lead.__table__.update().where(Lead.__table__.c.email.like("mql%"))
                                .values(owner_id=None, assigned_at=None, follow_up_due_at=None))
        started, cpu = time.perf_counter(), time.process_time()
        with db.read() as session:
            ids = unassigned_mqls(session, workspace_id=ws)
        with db.write() as session:
            result = route_leads(session, workspace_id=ws, lead_ids=ids, now=NOW + timedelta(days=1),
                                 actor="bench")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        with db.read() as session:
            queued = session.scalar(select(func.count()).select_from(OutboxMessage)
                                    .where(OutboxMessage.topic == "lead.assigned", OutboxMessage.done_at.is_(None)))
            history = session.scalar(select(func.count()).select_from(Assignment))
        print(f"{backend}: routed {result.assigned:,} of {len(ids):,} MQLs ({label}) to {len(result.by_owner)} reps "
              f"in {elapsed:.2f} s (goal < 5 s; this process's CPU {cpu:.2f} s); "
              f"outbox rows queued so far {queued:,}, history rows {history:,}; "
              f"not assigned: {result.not_assigned or 'none'}")
    db.dispose()


if __name__ == "__main__":
    main()
