"""Funnel and channel reports over a large workspace (SQLite).

    python bench/reports.py --leads 1000000

Generates leads spread over a year with first-touch channels and campaigns and a realistic stage history
(35 % reach MQL, 12 % SQL, 6 % opportunity, 3 % customer, a fifth of them skipping a stage), then times
`funnel_report` (total, and by channel) and `channel_report`. Both read the leads' funnel rollup (kept by
`change_stage`; recomputed here once from the generated history), not the stage history or the events table,
so the 20,000,000 events of the issue's target do not change these timings; they are not generated here.
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

from sqlalchemy import text

from leadline.services.funnel_facts import refresh_funnel_facts
from leadline.services.reports.channels import channel_report
from leadline.services.reports.cohorts import Dimension
from leadline.services.reports.funnel import funnel_report
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade

START = datetime(2025, 1, 1, tzinfo=UTC)
CHANNELS = ["seo", "sea", "social", "paid_social", "email", "referral", "direct", "display", "events", "other"]
STEPS = [("mql", 0.35), ("sql", 0.12 / 0.35), ("opportunity", 0.06 / 0.12), ("customer", 0.03 / 0.06)]


def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(path: Path, leads: int, seed: int = 11) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    upgrade(url)
    rng = random.Random(seed)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'bench', 'bench', '2025-01-01')")
    for start in range(1, leads + 1, 100_000):
        lead_rows, transitions = [], []
        for i in range(start, min(leads, start + 99_999) + 1):
            created = START + timedelta(seconds=rng.randrange(365 * 86_400))
            at, stage, previous = created, "new", "new"
            for name, chance in STEPS:
                if rng.random() >= chance:
                    break
                at += timedelta(hours=rng.expovariate(1 / 120))
                stage = name
                if rng.random() < 0.8 or name == "customer":  # a fifth skip the stage
                    transitions.append((i, previous, name, _ts(at)))
                    previous = name
            lead_rows.append((i, f"l{i}@b.example", rng.choice(CHANNELS), f"campaign-{rng.randrange(40)}",
                              stage, _ts(created), _ts(at)))
        con.executemany(
            "INSERT INTO leads (id, workspace_id, email, first_channel, first_campaign, custom, stage, temperature, "
            "score, fit_score, engagement_score, unsubscribed, mql_ready, created_at, updated_at, stage_changed_at) "
            "VALUES (?, 1, ?, ?, ?, '{}', ?, 'cold', 0, 0, 0, 0, 0, ?, '2026-01-01 00:00:00.000000', ?)",
            lead_rows)
        con.executemany("INSERT INTO stage_transitions (workspace_id, lead_id, from_stage, to_stage, occurred_at, "
                        "actor_type) VALUES (1, ?, ?, ?, ?, 'bench')", transitions)
        con.commit()
    con.close()
    db = Database(url)
    started = time.perf_counter()
    with db.write() as session:  # the history went in directly: derive the leads' funnel rollup, set-based
        refresh_funnel_facts(session, workspace_id=1)
    print(f"funnel rollup recomputed from the history in {time.perf_counter() - started:.1f} s")
    with db.write() as session:
        session.execute(text("ANALYZE"))
    db.dispose()
    return url


def _timed(label: str, work) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    work()
    print(f"{label}: {time.perf_counter() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="reuse or create this SQLite file")
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp()) / "reports.db"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.leads)
        print(f"generated {args.leads:,} leads in {time.perf_counter() - started:.0f} s")
    db = Database(f"sqlite:///{path}")
    with db.read() as session:
        _timed("funnel (total)", lambda: funnel_report(session, workspace_id=1))
        _timed("funnel by channel", lambda: funnel_report(session, workspace_id=1, dimension=Dimension.channel))
        _timed("channels", lambda: channel_report(session, workspace_id=1))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
