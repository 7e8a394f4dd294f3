"""Page views through the snippet's endpoint (`POST /t/collect`) into SQLite: one `leadline serve` process,
`--clients` client threads (16) posting pre-built text/plain batches as `t.js` sends them (consented:
anonymous visitors' page views through the ordinary ingest path; `--no-consent`: the consent-free daily
counters). Target: at least 5,000 page views/s.

    python bench/snippet.py [--views 100000] [--batch 20] [--clients 16] [--visitors 5000] [--no-consent]

The per-IP rate limit is lifted for the run (`LEADLINE_TRACKING_RATE_LIMIT`): the clients share 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from local_server import LEADLINE, fresh_sqlite, init_database, serve

ORIGIN = "https://www.bench.example"
PATHS = ["/", "/pricing", "/features", "/blog/a-post", "/docs/start", "/contact", "/about", "/customers"]


def make_batch(rng: random.Random, number: int, size: int, visitors: int, consent: bool) -> bytes:
    visitor = f"v1.bench{rng.randrange(visitors):08d}"
    events = []
    for i in range(size):
        path = rng.choice(PATHS)
        event: dict[str, object] = {"type": "page_view", "id": f"b{number}x{i}", "at": 1_763_900_000_000 + i,
                                    "props": {"path": path, "title": "Bench", "url": ORIGIN + path,
                                              "referrer": ORIGIN + "/"}}
        if i == 0 and rng.random() < 0.2:
            event["source"] = {"utm_source": "google", "utm_medium": "cpc", "gclid": f"g{number}",
                               "landing_page": ORIGIN + path}
        events.append(event)
    body: dict[str, object] = {"consent": consent, "events": events}
    if consent:
        body["visitor"] = visitor
    return json.dumps(body).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=20, help="page views per request (t.js sends up to 50)")
    parser.add_argument("--visitors", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=16, help="concurrent connections (browsers)")
    parser.add_argument("--no-consent", action="store_true", help="consent-free batches (counters only)")
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / "leadline-bench-snippet.db"
    url = fresh_sqlite(path)
    init_database(url)
    env = {**os.environ, "LEADLINE_DATABASE_URL": url}
    tag = subprocess.run([LEADLINE, "tracking", "setup", "-w", "bench", "-d", "bench.example"], env=env,
                         check=True, capture_output=True, text=True).stdout
    public_key = re.search(r'data-key="([^"]+)"', tag).group(1)  # type: ignore[union-attr]
    rng = random.Random(1)
    requests = args.views // args.batch
    bodies = [make_batch(rng, n, args.batch, args.visitors, not args.no_consent) for n in range(requests)]
    os.environ["LEADLINE_TRACKING_RATE_LIMIT"] = "1000000/second"
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8",
               "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}
    target = f"/t/collect?k={public_key}"
    with serve(url, "unused") as server:
        pending = list(range(len(bodies)))
        lock = threading.Lock()
        field = "counted" if args.no_consent else "accepted"

        failures: list[BaseException] = []

        def client() -> None:
            try:
                send()
            except BaseException as error:  # a failed client must fail the run, not shorten it
                failures.append(error)

        def send() -> None:
            own = server.connection()
            while True:
                with lock:
                    if not pending:
                        return
                    number = pending.pop()
                own.request("POST", target, bodies[number], headers)
                response = own.getresponse()
                answer = json.loads(response.read())
                assert response.status == 200 and answer[field] == args.batch, answer

        started, cpu_before = time.perf_counter(), server.cpu_seconds()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{len(failures)} client(s) failed, no figure: {failures[0]!r}")
        cpu_us = (server.cpu_seconds() - cpu_before) / (requests * args.batch) * 1e6
    views = requests * args.batch
    kind = "consent-free (counters)" if args.no_consent else "consented (events)"
    print(f"{views:,} {kind} page views in batches of {args.batch} from {args.clients} clients over HTTP in "
          f"{elapsed:.1f} s: "
          f"{views / elapsed:,.0f} page views/s, {requests / elapsed:,.0f} requests/s; "
          f"server CPU {cpu_us:.0f} us per page view")


if __name__ == "__main__":
    main()
