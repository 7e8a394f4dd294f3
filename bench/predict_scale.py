"""Predictive scoring at scale on SQLite: training on `--train-leads` leads with a known outcome (features from
their events included), then bulk scoring of `--open-leads` open leads whose features come from
`--events-per-lead` events each (set-based GROUP BY), written back to `lead_predictions`.

    OMP_NUM_THREADS=1 python bench/predict_scale.py --train-leads 50000 --open-leads 1000000 --events-per-lead 20

Goals (issue 7): training on 50,000 leads < 10 s; scoring 1,000,000 open leads with 20,000,000 events < 30 s.
Rows are generated with raw sqlite3 executemany (timestamps in SQLAlchemy's storage format).
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np

from leadline.services.predict import TrainOptions, score_leads, train_version
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TYPES = np.array(["page_view", "pricing_view", "email_open", "email_click", "form_submit", "webinar", "demo_request",
                  "download"])
CHANNELS = np.array(["seo", "sea", "email", "social", "referral", "direct"])


def stamp(values: np.ndarray) -> list[str]:
    """datetime64[s] -> SQLAlchemy's SQLite text format."""
    return [f"{s}.000000" for s in np.datetime_as_string(values, unit="s")]


def generate(path: Path, train: int, open_: int, per_lead: int, seed: int = 0) -> float:
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'bench', 'bench', ?)",
                 (stamp(np.array([np.datetime64(NOW.replace(tzinfo=None), "s")]))[0],))
    total = train + open_
    now64 = np.datetime64(NOW.replace(tzinfo=None), "s")
    age_days = np.where(np.arange(total) < train, rng.integers(200, 560, total), rng.integers(0, 60, total))
    created = now64 - (age_days * 86400 + rng.integers(0, 86400, total)).astype("timedelta64[s]")
    channel = rng.choice(CHANNELS, total)
    intent = rng.gamma(1.0, 1.0, total)
    convert = rng.random(total) < 1 / (1 + np.exp(-(-2.8 + 0.9 * intent + (channel == "sea"))))
    stage = np.where((np.arange(total) < train) & convert, "customer", "mql")
    created_s = stamp(created)
    conn.executemany(
        "INSERT INTO leads (id, workspace_id, email, custom, stage, temperature, score, fit_score, engagement_score,"
        " unsubscribed, mql_ready, first_channel, created_at, updated_at) VALUES (?, 1, ?, '{}', ?, 'cold', 0, ?, 0,"
        " 0, 0, ?, ?, ?)",
        ((i + 1, f"l{i}@bench.example", stage[i], float(i % 50), channel[i], created_s[i], created_s[i])
         for i in range(total)))
    won = np.flatnonzero((np.arange(total) < train) & convert)
    won_at = stamp(created[won] + np.timedelta64(10, "D"))
    conn.executemany("INSERT INTO stage_transitions (workspace_id, lead_id, from_stage, to_stage, occurred_at,"
                     " actor_type) VALUES (1, ?, 'mql', 'customer', ?, 'user')",
                     ((int(i) + 1, w) for i, w in zip(won, won_at, strict=True)))
    # Events: `per_lead` on average, pricing views more likely for leads with intent; spread over each lead's life.
    for start in range(0, total, 100_000):
        ids = np.arange(start, min(total, start + 100_000))
        counts = rng.poisson(per_lead, len(ids))
        lead = np.repeat(ids, counts)
        life = np.maximum((now64 - created[lead]).astype(np.int64), 1)
        at = created[lead] + (rng.random(len(lead)) * np.minimum(life, 3 * 86400)).astype("timedelta64[s]")
        kind = np.where(rng.random(len(lead)) < np.clip(intent[lead] / 4, 0, 0.8), "pricing_view",
                        rng.choice(TYPES, len(lead)))
        at_s = stamp(at)
        conn.executemany("INSERT INTO events (workspace_id, type, occurred_at, received_at, lead_id)"
                         " VALUES (1, ?, ?, ?, ?)",
                         zip(kind.tolist(), at_s, at_s, (lead + 1).tolist(), strict=True))
        conn.commit()
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-leads", type=int, default=50_000)
    parser.add_argument("--open-leads", type=int, default=1_000_000)
    parser.add_argument("--events-per-lead", type=int, default=20)
    parser.add_argument("--algorithm", default=None, help="force one candidate (default: choose among all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'scale.db'}"
        upgrade(url)
        generated = generate(Path(folder) / "scale.db", args.train_leads, args.open_leads, args.events_per_lead)
        print(f"generated {args.train_leads + args.open_leads} leads, ~{args.events_per_lead} events each "
              f"in {generated:.0f} s", file=sys.stderr)
        db = Database(url)
        started = time.perf_counter()
        row = train_version(db, 1, TrainOptions(horizon_days=60, observe_days=3, algorithm=args.algorithm),
                            actor="bench", now=NOW)
        trained = time.perf_counter() - started
        started = time.perf_counter()
        scored = score_leads(db, 1, now=NOW)
        scoring = time.perf_counter() - started
        db.dispose()
    print(f"train: {row.train_rows + row.test_rows} leads in {trained:.1f} s ({row.algorithm}, ROC AUC "
          f"{row.metrics['roc_auc']:.3f}); score: {scored} open leads in {scoring:.1f} s; "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
