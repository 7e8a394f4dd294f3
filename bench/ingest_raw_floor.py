"""The floor no API can beat: the same kind of 1,000-event batches inserted with raw sqlite3 executemany
(events and event_keys, the same indexes and PRAGMAs as Leadline's writer, one transaction per batch).

    python bench/ingest_raw_floor.py [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from local_server import fresh_sqlite, init_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / "leadline-bench-raw.db"
    init_database(fresh_sqlite(path))
    con = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
        con.execute(f"PRAGMA {pragma}")
    rng = random.Random(1)
    batches = [[(1, f"e{b * 1000 + i}", "page_view", "2026-11-01 10:00:00.000000", "2026-11-23 10:00:00.000000",
                 rng.randrange(1, 10_001), rng.randrange(1, 10_001), f"https://acme.fr/p/{i % 50}", f"/p/{i % 50}",
                 json.dumps({"url": f"https://acme.fr/p/{i % 50}", "title": "x"})) for i in range(1000)]
               for b in range(args.events // 1000)]
    started = time.perf_counter()
    for rows in batches:
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO event_keys (workspace_id, event_key) VALUES (?, ?)", [(1, r[1]) for r in rows])
        con.executemany("INSERT INTO events (workspace_id, event_key, type, occurred_at, received_at, lead_id, "
                        "subject_lead_id, url, path, properties) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - started
    print(f"raw sqlite3 executemany: {args.events:,} events in {elapsed:.1f} s: {args.events / elapsed:,.0f} events/s")


if __name__ == "__main__":
    main()
