"""Single-event ingest latency over HTTP: an open loop at a fixed rate (8 threads with keep-alive
connections, each on its own schedule), latency counted from the *scheduled* send time so a saturated server
cannot hide its backlog. Target: p99 under 15 ms at 200 requests/s.

    python bench/ingest_single_http.py [--rate 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from local_server import LocalServer, fresh_sqlite, init_database, percentile, serve

THREADS = 8
LEADS = 500


def run(server: LocalServer, rate: float, seconds: float) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = rate / THREADS
    start = time.perf_counter() + 0.5

    def client(number: int) -> None:
        conn = server.connection()
        mine = []
        for k in range(int(per_thread * seconds)):
            due = start + (k + number / THREADS) / per_thread
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = json.dumps({"event_id": f"t{number}-{k}", "type": "page_view",
                               "email": f"u{(number * 7919 + k) % LEADS}@x.com",
                               "properties": {"url": "https://acme.fr/pricing", "title": "Pricing"}})
            conn.request("POST", "/api/v1/events", body, server.headers)
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 200, answer.status
            mine.append((time.perf_counter() - due) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    url = fresh_sqlite(Path(tempfile.gettempdir()) / "leadline-bench-single.db")
    key = init_database(url)
    with serve(url, key) as server:
        conn = server.connection()
        for i in range(LEADS):
            conn.request("POST", "/api/v1/leads", json.dumps({"email": f"u{i}@x.com"}), server.headers)
            conn.getresponse().read()
        latencies = run(server, args.rate, args.seconds)
    print(f"{len(latencies):,} single-event requests at {args.rate:g}/s: p50 {percentile(latencies, 50):.2f} ms, "
          f"p90 {percentile(latencies, 90):.2f} ms, p99 {percentile(latencies, 99):.2f} ms, "
          f"max {max(latencies):.2f} ms (target p99 < 15 ms)")


if __name__ == "__main__":
    main()
