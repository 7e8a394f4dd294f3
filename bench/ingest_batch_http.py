"""Batch ingest over HTTP into SQLite: one `leadline serve` process, two client threads posting pre-built
1,000-event batches (90 % of events name a lead by email, 10 % an anonymous visitor; 10 % carry a UTM source).
Target: at least 20,000 events/s into a fresh database.

    python bench/ingest_batch_http.py [--events 200000] [--preload 0]

`--preload N` first writes N events into the workspace straight through sqlite3 (the issue asks for the
figure at 10,000,000). `ingest_raw_floor.py` gives the floor for the same rows.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from local_server import fresh_sqlite, init_database, serve

LEADS = 10_000


def make_batch(rng: random.Random, number: int) -> bytes:
    events = []
    for i in range(1000):
        key = number * 1000 + i
        event: dict[str, object] = {
            "event_id": f"e{key}", "type": rng.choice(["page_view", "email_click", "form_submit"]),
            "occurred_at": "2026-11-01T10:00:00Z",
            "properties": {"url": f"https://acme.fr/p/{key % 50}", "title": "x"},
        }
        if rng.random() < 0.9:
            event["email"] = f"u{rng.randrange(LEADS)}@x.com"
        else:
            event["anonymous_id"] = f"anon{rng.randrange(5000)}"
        if rng.random() < 0.1:
            event["source"] = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"}
        events.append(event)
    return json.dumps({"events": events}).encode()


def preload(path: Path, count: int) -> float:
    """Write `count` events (and their keys) for workspace 1 at driver speed; returns the seconds taken."""
    started = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-262144")
    for start in range(0, count, 100_000):
        rows = [(1, f"pre{k}", "page_view", f"2025-{1 + k % 12:02d}-{1 + k % 28:02d} 10:00:00.000000",
                 "2026-01-01 00:00:00.000000", 1 + k % LEADS, 1 + k % LEADS, "https://acme.fr/p", "/p",
                 '{"url":"https://acme.fr/p","title":"x"}') for k in range(start, min(count, start + 100_000))]
        con.executemany("INSERT INTO events (workspace_id, event_key, type, occurred_at, received_at, lead_id, "
                        "subject_lead_id, url, path, properties) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        con.executemany("INSERT INTO event_keys (workspace_id, event_key) VALUES (?, ?)", [(1, r[1]) for r in rows])
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--preload", type=int, default=0)
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / "leadline-bench-batch.db"
    url = fresh_sqlite(path)
    key = init_database(url)
    if args.preload:
        print(f"preloaded {args.preload:,} events in {preload(path, args.preload):.0f} s")
    rng = random.Random(1)
    bodies = [make_batch(rng, n) for n in range(args.events // 1000)]
    with serve(url, key) as server:
        conn = server.connection()
        for n in range(LEADS // 1000):  # the leads the events name
            conn.request("POST", "/api/v1/events", json.dumps({"events": [
                {"type": "import", "email": f"u{n * 1000 + i}@x.com"} for i in range(1000)]}), server.headers)
            conn.getresponse().read()
        pending = list(range(len(bodies)))
        lock = threading.Lock()

        def client() -> None:
            own = server.connection()
            while True:
                with lock:
                    if not pending:
                        return
                    number = pending.pop()
                own.request("POST", "/api/v1/events", bodies[number], server.headers)
                answer = json.loads(own.getresponse().read())
                assert answer["accepted"] == 1000, answer

        started, cpu_before = time.perf_counter(), server.cpu_seconds()
        threads = [threading.Thread(target=client) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu_us = (server.cpu_seconds() - cpu_before) / args.events * 1e6
    print(f"{args.events:,} events over HTTP in {elapsed:.1f} s: {args.events / elapsed:,.0f} events/s "
          f"(workspace already holding {args.preload + LEADS // 1000 * 1000:,} events); "
          f"server CPU {cpu_us:.0f} us per event")


if __name__ == "__main__":
    main()
