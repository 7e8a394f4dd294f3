"""CPU profile of the real server, all threads (event loop and the threadpool running sync endpoints), with yappi.

Runs the app under uvicorn in *this* process (as `leadline serve` does, same factory and options) on a fresh
SQLite file or a PostgreSQL database, drives it from a client subprocess, then prints where the CPU went, per
request, by function (inclusive and own time). yappi roughly doubles the cost of Python calls, so read the shares,
not the absolute microseconds; `--no-profile` gives the unprofiled CPU per request for the same run.

    pip install yappi
    python bench/profile_server.py --mode single --requests 2000          # sequential single-event POSTs
    python bench/profile_server.py --mode batch --requests 20             # 1,000-event batches
    python bench/profile_server.py --mode single --match leadline         # only our functions
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c


def client(args: argparse.Namespace) -> None:
    import httpx
    import orjson

    leads = json.loads(Path(args.leads_file).read_text())
    factory = c.EventFactory(leads, seed=5)
    headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"}
    if args.mode == "single":
        bodies = [orjson.dumps(factory.one().api) for _ in range(args.requests + 50)]
    else:
        bodies = [orjson.dumps({"events": [g.api for g in factory.batch(1000)]}) for _ in range(args.requests + 2)]
    warm = 50 if args.mode == "single" else 2
    with httpx.Client(base_url=args.base, headers=headers, timeout=120) as cl:
        for b in bodies[:warm]:
            cl.post("/api/v1/events", content=b).raise_for_status()
        print("WARM", flush=True)
        sys.stdin.readline()  # the server side starts its profiler, then says go
        t = time.perf_counter()
        for b in bodies[warm:]:
            cl.post("/api/v1/events", content=b).raise_for_status()
        print(f"DONE {time.perf_counter() - t}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["single", "batch"], default="single")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--leads", type=int, default=2000)
    p.add_argument("--top", type=int, default=45)
    p.add_argument("--match", default="", help="only list functions whose module or name contains this")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--database-url", default=None)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/leadline-bench"))
    # client subprocess
    p.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--leads-file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        client(args)
        return

    import uvicorn

    args.workdir.mkdir(parents=True, exist_ok=True)
    url = c.fresh_database(args.database_url, args.workdir, "profile_server")
    c.init_database(url)
    key = c.create_key(url)
    leads, _ = c.create_leads(url, args.leads)
    leads_file = args.workdir / "profile_server_leads.json"
    leads_file.write_text(json.dumps(leads))
    os.environ["LEADLINE_DATABASE_URL"] = url
    port = c.free_port()
    config = uvicorn.Config("leadline.api.app:create_app", factory=True, host="127.0.0.1", port=port,
                            log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    result: dict[str, float] = {}

    def drive() -> None:
        while not server.started:
            time.sleep(0.05)
        proc = subprocess.Popen([sys.executable, __file__, "--client", "--mode", args.mode, "--requests",
                                 str(args.requests), "--base", f"http://127.0.0.1:{port}", "--key", key,
                                 "--leads-file", str(leads_file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().startswith("WARM")
        if not args.no_profile:
            import yappi

            yappi.set_clock_type("cpu")
            yappi.start(builtins=False, profile_threads=True)
        result["cpu0"] = time.process_time()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        result["cpu"] = time.process_time() - result["cpu0"]
        if not args.no_profile:
            import yappi

            yappi.stop()
        result["wall"] = float(line.split()[1])
        proc.wait()
        server.should_exit = True

    threading.Thread(target=drive, daemon=True).start()
    server.run()

    n = args.requests
    unit = "request" if args.mode == "single" else "batch of 1,000"
    print(f"\n{args.mode}: {n} requests, wall {result['wall'] / n * 1000:.2f} ms per {unit}, server CPU "
          f"{result['cpu'] / n * 1000:.2f} ms per {unit}" + ("" if args.no_profile else " (under yappi)"))
    if args.no_profile:
        return
    import yappi

    stats = yappi.get_func_stats()
    total = result["cpu"]
    rows = []
    for s in sorted(stats, key=lambda s: s.ttot, reverse=True):
        label = f"{s.name} ({_short(s.module)}:{s.lineno})"
        if args.match and args.match not in label:
            continue
        rows.append([label[:110], s.ncall / n, s.ttot / n * 1e6, s.tsub / n * 1e6, 100 * s.ttot / total])
        if len(rows) >= args.top:
            break
    print(c.table(rows, ["function", "calls/req", "incl us/req", "own us/req", "incl % CPU"]))
    own = sorted(stats, key=lambda s: s.tsub, reverse=True)
    rows = [[f"{s.name} ({_short(s.module)}:{s.lineno})"[:110], s.tsub / n * 1e6, 100 * s.tsub / total]
            for s in own if not args.match or args.match in f"{s.name} {s.module}"][: args.top]
    print()
    print(c.table(rows, ["function (own time)", "own us/req", "% CPU"]))


def _short(module: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in module:
            return module.split(marker, 1)[1]
    return module


if __name__ == "__main__":
    main()
