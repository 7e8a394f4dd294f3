"""Server-side render time of every page of the web app on the demo workspace, and the leads table's paging at
1,000,000 leads (keyset pages: first, deep, score-sorted, filtered).

    python bench/web.py [--leads 1000000] [--skip-demo] [--runs 5]

Pages are rendered in-process through the ASGI app (Starlette's TestClient), logged in as the demo admin, so a
figure is the server's time for the request (database, services, template) without a network or a browser.
Targets (issue 8): every page < 200 ms; the leads table at 1,000,000 leads < 300 ms per page.
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from leadline.api.app import create_app
from leadline.config import Settings
from leadline.services.lead_table import Sort, TableQuery, table_page
from leadline.services.leads import LeadFilter
from leadline.services.logins import LoginRole, create_login
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade


def _timed(call, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def demo_pages(folder: Path, runs: int) -> list[tuple[str, float, float]]:
    from leadline.demo.loader import load_demo
    from leadline.services.scoring.bulk import apply_version
    from leadline.services.scoring.models import built_in_source, load_document, store_version

    url = f"sqlite:///{folder / 'demo.db'}"
    upgrade(url)
    db = Database(url)
    load_demo(db)
    with db.write() as session:
        ws = get_or_create_workspace(session, "demo")
        version = store_version(session, ws.id, load_document(built_in_source("default-b2b")), source=None,
                                actor="bench").version
        create_login(session, workspace_id=ws.id, email="bench@example.com", password="bench-password",
                     role=LoginRole.ADMIN)
        workspace_id = ws.id
    apply_version(db, workspace_id, version)
    settings = Settings(database_url=url, worker_poll_seconds=0, secret_key=SecretStr("bench"))
    rows = []
    with TestClient(create_app(settings, db)) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"email": "bench@example.com", "password": "bench-password", "csrf_token": token})
        leads = client.get("/leads").text
        lead_id = re.search(r'href="/leads/(\d+)"', leads).group(1)  # type: ignore[union-attr]
        for path in ("/", "/?days=365", "/leads", "/leads?stage=customer", "/leads?q=olist", "/leads?sort=score_desc",
                     f"/leads/{lead_id}", f"/leads/{lead_id}/duplicates", "/pipeline", "/pipeline?board=sales",
                     "/scoring", "/segments", "/reports", "/settings"):
            assert client.get(path).status_code == 200, path
            median, worst = _timed(lambda p=path: client.get(p), runs)
            rows.append((path, median, worst))
    db.dispose()
    return rows


def million(folder: Path, count: int, runs: int) -> list[tuple[str, float, float]]:
    url = f"sqlite:///{folder / 'million.db'}"
    upgrade(url)
    db = Database(url)
    with db.write() as session:
        workspace_id = get_or_create_workspace(session, "big").id
    conn = sqlite3.connect(folder / "million.db")
    rng = random.Random(8)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    stages = ["new"] * 6 + ["mql", "sql", "opportunity", "customer", "disqualified", "recycled"]
    channels = ["seo", "sea", "email", "social", "referral", "direct"]
    made = time.perf_counter()
    for base in range(0, count, 50_000):
        rows = []
        for i in range(base, min(count, base + 50_000)):
            created = (start + timedelta(seconds=i * 30)).isoformat()
            score = round(rng.random() * 100, 2)
            rows.append((workspace_id, f"lead{i}@company{i % 5000}.com", f"First{i}", f"Last{i}", rng.choice(stages),
                         "hot" if score > 70 else "warm" if score > 40 else "cold", score, rng.choice(channels),
                         created, created, "{}", 0.0, 0.0, 0, 0, 0))
        conn.executemany("INSERT INTO leads (workspace_id, email, first_name, last_name, stage, temperature, score, "
                         "first_channel, created_at, updated_at, custom, fit_score, engagement_score, unsubscribed, "
                         "mql_ready, funnel_rank) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    print(f"inserted {count:,} leads in {time.perf_counter() - made:.0f} s", file=sys.stderr)
    out = []
    cases = {"newest, first page": TableQuery(), "score desc, first page": TableQuery(sort=Sort.SCORE_DESC),
             "stage=mql": TableQuery(filter=LeadFilter(stage="mql")),
             "hot, score desc": TableQuery(filter=LeadFilter(temperature="hot"), sort=Sort.SCORE_DESC),
             "channel=email, oldest": TableQuery(filter=LeadFilter(channel="email"), sort=Sort.OLDEST)}
    with db.read() as session:
        for name, query in cases.items():
            median, worst = _timed(lambda q=query: table_page(session, workspace_id=workspace_id, query=q), runs)
            out.append((name, median, worst))
            # page 200 of the same query: keyset, so it should cost what page 1 does
            cursor = None
            for _ in range(200):
                cursor = table_page(session, workspace_id=workspace_id, query=query, cursor=cursor).next_cursor
            median, worst = _timed(lambda q=query, c=cursor: table_page(session, workspace_id=workspace_id, query=q,
                                                                         cursor=c), runs)
            out.append((name + ", page 201", median, worst))
        median, worst = _timed(lambda: table_page(session, workspace_id=workspace_id,
                                                  query=TableQuery(filter=LeadFilter(q="lead99999@"))), 1)
        out.append(("text search 'lead99999@' (LIKE scan)", median, worst))
    db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if not args.skip_demo:
            print("| demo page | median ms | max ms |\n|---|---|---|")
            for path, median, worst in demo_pages(Path(folder), args.runs):
                print(f"| `{path}` | {median:.1f} | {worst:.1f} |", flush=True)
        if args.leads:
            print(f"\n| leads table at {args.leads:,} leads | median ms | max ms |\n|---|---|---|")
            for name, median, worst in million(Path(folder), args.leads, args.runs):
                print(f"| {name} | {median:.1f} | {worst:.1f} |", flush=True)


if __name__ == "__main__":
    main()
