"""Do many concurrent *sync* write requests stall the SQLite server? (threadpool vs the one writer connection)

Sync endpoints with the `WriteSession` yield dependency hold the single writer connection until the dependency
exits, which happens after the response is validated. For a sync endpoint FastAPI validates the response *in
the threadpool* (`serialize_response(..., is_coroutine=False)` -> `run_in_threadpool(field.validate, ...)`).
With 40 or more requests waiting for the writer connection, every threadpool thread (anyio's default limit is 40)
blocks in `QueuePool` checkout, and the request holding the connection cannot get a thread to finish. The server
then sits idle until `pool_timeout` (60 s) fails the waiters with 500s.

    python bench/write_concurrency.py [--concurrency 64] [--requests 400] [--path /api/v1/leads]

Prints how many requests succeeded and failed, the latency percentiles, and the server's CPU. A healthy server
answers them all within a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c


async def _run(base: str, key: str, path: str, n: int, concurrency: int, timeout: float) -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    status: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=timeout) as client:
        async def one(i: int) -> None:
            if path.endswith("/events"):
                body = {"event_id": f"wc-{i}", "type": "page_view", "email": f"wc{i % 50}@company0001.example",
                        "properties": {"path": "/pricing"}}
            else:
                body = {"email": f"wc{i}@company{i % 97:04d}.example", "first_name": "Anne"}
            async with gate:
                t = time.perf_counter()
                try:
                    r = await client.post(path, content=orjson.dumps(body))
                    k = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    k = type(exc).__name__
                lat.append(time.perf_counter() - t)
                status[k] = status.get(k, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return {"lat": lat, "status": status, "elapsed": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--path", default="/api/v1/leads")
    p.add_argument("--timeout", type=float, default=90.0)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/leadline-bench"))
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    url = c.fresh_database(None, args.workdir, "write_concurrency")
    c.init_database(url)
    key = c.create_key(url)
    with c.Server(url, log=args.workdir / "server-write-concurrency.log") as server:
        cpu0 = c.server_cpu(server)
        run = asyncio.run(_run(server.base, key, args.path, args.requests, args.concurrency, args.timeout))
        cpu = c.server_cpu(server) - cpu0
    s = c.latency_summary(run["lat"])
    ok = run["status"].get("HTTP 200", 0) + run["status"].get("HTTP 201", 0)
    print(f"POST {args.path}: {args.requests} requests, {args.concurrency} at a time: {run['status']} "
          f"in {run['elapsed']:.1f} s; server CPU {cpu:.1f} s")
    print(f"latency ms: p50 {s['p50_ms']:.0f}  p99 {s['p99_ms']:.0f}  max {s['max_ms']:.0f}")
    stalled = ok < args.requests or run["elapsed"] > 10 * max(cpu, 0.5)
    print("STALLED: the server sat idle while requests waited (see the module docstring)" if stalled
          else "no stall")
    path = c.write_json("write_concurrency", {"args": {k: str(v) for k, v in vars(args).items()},
                                              "status": run["status"], "elapsed_s": run["elapsed"],
                                              "server_cpu_s": cpu, "latency": s, "stalled": stalled})
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
