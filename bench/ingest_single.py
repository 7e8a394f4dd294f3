"""Single-event latency: `POST /api/v1/events` with one event per request, open loop, at a fixed rate.

Sends are scheduled on a clock (request i at t0 + i/rate) whatever the previous answers do, from one asyncio
client with an httpx connection pool, against one real `leadline serve` process on a fresh database. Latency is
measured from the *scheduled* send time (so a stalled server or client cannot hide queueing: no coordinated
omission); the time from the actual send is reported beside it, with the client's own lag.

    python bench/ingest_single.py                           # SQLite, 200 req/s for 30 s
    python bench/ingest_single.py --rate 400 --duration 30
    python bench/ingest_single.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/leadline_bench

Target: p99 < 15 ms at 200 requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

TARGET_P99_MS = 15.0


async def _run(base: str, key: str, bodies: list[bytes], rate: float, connections: int,
               timeout: float, max_lag: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    from_schedule: list[float] = []
    from_send: list[float] = []
    lags: list[float] = []
    failures: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    # At most `connections` requests inside httpx at once: httpcore's pool scans every queued request on each
    # event, so thousands queued there burn the client's CPU. Requests waiting here still count from their
    # scheduled time, so the measurement stays open-loop.
    gate = asyncio.Semaphore(connections)
    state = {"overloaded": False, "sent": 0, "pending": 0}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=timeout) as client:
        await asyncio.gather(*(client.get("/healthz") for _ in range(min(connections, 8))), return_exceptions=True)

        async def send(body: bytes, scheduled: float) -> None:
            state["pending"] += 1
            async with gate:
                started = loop.time()
                lags.append(started - scheduled)
                if started - scheduled > max_lag:
                    state["overloaded"] = True
                try:
                    r = await client.post("/api/v1/events", content=body)
                    done = loop.time()
                    ok = r.status_code == 200 and orjson.loads(r.content)["accepted"] == 1
                    if not ok:
                        failures[f"HTTP {r.status_code}"] = failures.get(f"HTTP {r.status_code}", 0) + 1
                except httpx.HTTPError as exc:
                    done = loop.time()
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            state["pending"] -= 1
            from_schedule.append(done - scheduled)
            from_send.append(done - started)

        tasks = []
        t0 = loop.time() + 0.05
        for i, body in enumerate(bodies):
            if state["pending"] > max(connections, rate * max_lag):  # more than max_lag seconds of backlog
                state["overloaded"] = True
            if state["overloaded"]:
                break
            scheduled = t0 + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(send(body, scheduled)))
        state["sent"] = len(tasks)
        await asyncio.gather(*tasks)
        elapsed = loop.time() - t0
    return {"from_schedule": from_schedule, "from_send": from_send, "lags": lags, "failures": failures,
            "elapsed": elapsed, "overloaded": state["overloaded"], "sent": state["sent"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds at the same rate, not counted (default 3)")
    p.add_argument("--connections", type=int, default=64, help="client connection pool size (default 64)")
    p.add_argument("--leads", type=int, default=10_000)
    p.add_argument("--mix", default="email=50,lead_id=40,anon=10")
    p.add_argument("--keys", choices=["uuid4", "sequential"], default="uuid4", help="shape of the event ids")
    p.add_argument("--source-share", type=float, default=None,
                   help="share of events carrying a source/UTM (default: by type, about 70%%)")
    p.add_argument("--database-url", default=None, help="PostgreSQL database to (re)create; default SQLite")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/leadline-bench"))
    p.add_argument("--workers", type=int, default=1, help="server processes (PostgreSQL only)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    p.add_argument("--max-lag", type=float, default=5.0,
                   help="stop scheduling once the backlog exceeds this many seconds of requests (overload)")
    p.add_argument("--profile", default=None, help="py-spy the server during the measurement (raw folded file)")
    p.add_argument("--quiet-wait", type=float, default=300.0,
                   help="seconds to wait for the machine to be quiet before measuring (0: don't)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    pg = args.database_url is not None
    dialect = "postgresql" if pg else "sqlite"

    url = c.fresh_database(args.database_url, args.workdir, "single")
    c.init_database(url)
    key = c.create_key(url)
    leads, leads_s = c.create_leads(url, args.leads)
    factory = c.EventFactory(leads, mix=c.EventMix.parse(args.mix), seed=11, key_style=args.keys,
                             source_share=args.source_share)
    warm = [orjson.dumps(factory.one().api) for _ in range(int(args.rate * args.warmup))]
    bodies = [orjson.dumps(factory.one().api) for _ in range(int(args.rate * args.duration))]
    print(f"ingest_single: {dialect}, {args.rate:g} req/s for {args.duration:g} s ({len(bodies):,} requests), "
          f"{args.leads:,} leads ({leads_s:.0f} s to create), pool of {args.connections}")

    with c.Server(url, log=args.workdir / "server-single.log", workers=args.workers) as server:
        if warm:
            asyncio.run(_run(server.base, key, warm, args.rate, args.connections, args.timeout, args.max_lag))
        spy = None
        if args.profile:
            import subprocess

            spy = subprocess.Popen([c.PY_SPY, "record", "--pid", str(server.pid), "--rate", "500", "--format",
                                    "raw", "-o", args.profile, "--subprocesses"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        quiet = c.wait_quiet(max_wait=args.quiet_wait) if args.quiet_wait else float("nan")
        cpu0 = c.server_cpu(server)
        client0 = time.process_time()
        machine0 = c.machine_cpu_seconds()
        run = asyncio.run(_run(server.base, key, bodies, args.rate, args.connections, args.timeout, args.max_lag))
        server_cpu = c.server_cpu(server) - cpu0
        client_cpu = time.process_time() - client0
        other = max(0.0, (c.machine_cpu_seconds() - machine0 - server_cpu - client_cpu) / run["elapsed"])
        if spy is not None:
            import signal

            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=120)

    sched = c.latency_summary(run["from_schedule"])
    send = c.latency_summary(run["from_send"])
    lag = c.latency_summary(run["lags"])
    achieved = run["sent"] / run["elapsed"]
    failed = sum(run["failures"].values())
    print()
    print(f"Single-event POSTs, {dialect}, open loop at {args.rate:g}/s (achieved {achieved:,.1f}/s), "
          f"{run['sent']:,} requests, {failed} failed {run['failures'] or ''}")
    if run["overloaded"]:
        print(f"OVERLOADED: more than {args.max_lag:g} s of requests were waiting; stopped after "
              f"{run['sent']:,} of {len(bodies):,} scheduled requests. The server cannot sustain {args.rate:g}/s.")
    print(c.table([
        ["from scheduled send", sched["p50_ms"], sched["p90_ms"], sched["p99_ms"], sched["p999_ms"], sched["max_ms"]],
        ["from actual send", send["p50_ms"], send["p90_ms"], send["p99_ms"], send["p999_ms"], send["max_ms"]],
        ["client lag (send - schedule)", lag["p50_ms"], lag["p90_ms"], lag["p99_ms"], lag["p999_ms"], lag["max_ms"]],
    ], ["latency (ms)", "p50", "p90", "p99", "p99.9", "max"]))
    met = sched["p99_ms"] < TARGET_P99_MS and failed == 0 and not run["overloaded"]
    print(f"server CPU {server_cpu:.1f} s ({server_cpu / max(1, run['sent']) * 1000:.2f} ms per request, "
          f"{100 * server_cpu / run['elapsed']:.0f}% of a core); client CPU {client_cpu:.1f} s; "
          f"other load on the machine {other:.2f} cores")
    print(f"target p99 < {TARGET_P99_MS:g} ms: {'met' if met else 'NOT met'} (p99 {sched['p99_ms']:.1f} ms)")
    path = c.write_json("ingest_single_" + dialect + (f"_{args.tag}" if args.tag else ""), {
        "target_p99_ms": TARGET_P99_MS, "dialect": dialect,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "requests": run["sent"], "scheduled": len(bodies), "overloaded": run["overloaded"],
        "achieved_rate": achieved, "failures": run["failures"],
        "latency_from_schedule": sched, "latency_from_send": send, "client_lag": lag,
        "server_cpu_s": server_cpu, "server_cpu_ms_per_request": server_cpu / max(1, run["sent"]) * 1000,
        "client_cpu_s": client_cpu, "target_met": met, "other_load_cores": other,
        "other_load_before_cores": quiet,
    })
    print(f"\nJSON: {path}")
    if not args.keep:
        if pg:
            pass  # left for inspection; recreated on the next run
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(str(c.sqlite_path(url)) + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
