"""Batch ingest throughput: `POST /api/v1/events` with 1,000 events per request against a real `leadline serve`.

What it does, for each preload size asked for (default: a fresh database only):

1. builds a base database once: `leadline init`, an API key, N leads through the service layer, then
   (`--preload`) existing events written straight into `events` + `event_keys` with the driver (sqlite3
   executemany / PostgreSQL COPY), indexes dropped during the load and rebuilt after, exactly as the migration
   defines them;
2. for each `--concurrency` value, clones the base, starts one `leadline serve` process on the clone and POSTs a
   fixed number of events in batches from C concurrent connections (bodies serialised before the clock
   starts, so the client spends its CPU on HTTP only); reports events/s, per-request latency, and the CPU
   seconds the server and the client used;
3. measures the floor: the same rows (as the service would store them) inserted into another clone with the raw
   driver, one transaction per batch, into the same tables with the same indexes.

    python bench/ingest_batch.py                          # fresh SQLite, 200,000 events, 2 connections
    python bench/ingest_batch.py --concurrency 1,2,4
    python bench/ingest_batch.py --preload 1000000,3000000,10000000 --concurrency 2
    python bench/ingest_batch.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/leadline_bench

Target: >= 20,000 events/s into a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

from leadline.core.channels import Touch

TARGET_EVENTS_PER_S = 20_000
QUIET_WAIT = 300.0  # seconds to wait for other work on the machine to calm down before each measurement
SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"


# ----------------------------------------------------------------------------------------------------------------
# Workload


@dataclass
class Workload:
    bodies: list[bytes]          # one JSON body per batch
    raw_batches: list[list[dict[str, Any]]]  # the rows the service would store, per batch
    events: int


def _path_of(properties: dict[str, Any]) -> str | None:
    from urllib.parse import urlsplit

    if isinstance(properties.get("path"), str):
        return properties["path"]
    if isinstance(properties.get("url"), str):
        return urlsplit(properties["url"]).path or "/"
    return None


def stored_row(ws: int, g: c.Generated, received_at: datetime) -> dict[str, Any]:
    """What `record_events` stores for one generated event (for the raw floor)."""
    e = g.api
    source = Touch.from_mapping(e.get("source"))
    touch = source.with_derived_channel() if not source.is_empty() else source
    props = e.get("properties") or {}
    subject = int(e["lead_id"]) if "lead_id" in e else g.lead_id
    return {
        "workspace_id": ws, "event_key": e["event_id"], "type": e["type"],
        "occurred_at": datetime.fromisoformat(e["occurred_at"]), "received_at": received_at,
        "lead_id": g.lead_id, "subject_lead_id": subject, "anonymous_id": g.anonymous_id,
        "channel": str(touch.channel) if touch.channel else None, "campaign": touch.campaign,
        "utm_source": touch.utm_source, "utm_medium": touch.utm_medium, "utm_campaign": touch.utm_campaign,
        "utm_term": touch.utm_term, "utm_content": touch.utm_content, "referrer": touch.referrer,
        "url": props.get("url"), "path": _path_of(props), "email_id": props.get("email_id"),
        "properties": props or None,
    }


def build_workload(ws: int, leads: dict[str, int], *, events: int, batch: int, seed: int,
                   mix: c.EventMix, key_style: str = "uuid4", source_share: float | None = None) -> Workload:
    factory = c.EventFactory(leads, mix=mix, seed=seed, key_style=key_style, source_share=source_share)
    now = datetime.now(UTC)
    bodies: list[bytes] = []
    raw: list[list[dict[str, Any]]] = []
    for start in range(0, events, batch):
        gen = factory.batch(min(batch, events - start))
        bodies.append(orjson.dumps({"events": [g.api for g in gen]}))
        raw.append([stored_row(ws, g, now) for g in gen])
    return Workload(bodies, raw, events)


# ----------------------------------------------------------------------------------------------------------------
# Preload: existing events, straight into the tables


EVENT_COLUMNS = ("workspace_id", "event_key", "type", "occurred_at", "received_at", "lead_id", "subject_lead_id",
                 "anonymous_id", "channel", "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term",
                 "utm_content", "referrer", "url", "path", "email_id", "properties")


def _preload_rows(ws: int, lead_ids: list[int], start: int, count: int, total_after: int, seed: int,
                  *, sqlite_format: bool):
    """Existing events `start .. start+count`: a year of history, keys spread evenly over the UUID space (so new
    random keys land all over the key index, as they would) and produced in key order (cheap to load)."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(hours=2)
    year = 365 * 86400
    templates = []
    for path in c.PAGES:
        props = {"url": f"https://www.leadline.example{path}", "path": path, "title": path or "home"}
        templates.append(("page_view", "direct", None, None, None, None, props["url"], path, None,
                          json.dumps(props)))
    for n in range(1, 41):
        eid = f"nl-2026-{n:02d}"
        props = {"email_id": eid, "url": f"https://www.leadline.example/blog/{eid}", "link": 1}
        templates.append(("email_click", "email", eid, "newsletter", "email", eid, props["url"], f"/blog/{eid}",
                          eid, json.dumps(props)))
    for src, medium, campaign in c.UTM:
        props = {"form": "contact", "path": "/contact", "url": "https://www.leadline.example/contact"}
        channel = str(Touch(utm_source=src, utm_medium=medium).with_derived_channel().channel)
        templates.append(("form_submit", channel, campaign, src, medium, campaign, props["url"], "/contact", None,
                          json.dumps(props)))
    # Interleave with keys already loaded: offset each stage by a fraction of the spacing.
    spacing = (1 << 128) // total_after
    offset = (seed * 7919) % max(1, spacing)
    for i in range(start, start + count):
        key = str(uuid.UUID(int=(i * spacing + offset) % (1 << 128)))
        t = templates[rng.randrange(len(templates))]
        at = now - timedelta(seconds=rng.randrange(year))
        received = at + timedelta(seconds=1)
        if rng.random() < 0.1:
            lead = None
            anon = f"anon-{rng.randrange(200_000):08d}"
        else:
            lead = lead_ids[rng.randrange(len(lead_ids))]
            anon = None
        if sqlite_format:
            at_v: Any = at.strftime(SQLITE_TS)
            rec_v: Any = received.strftime(SQLITE_TS)
        else:
            at_v, rec_v = at, received
        yield (ws, key, t[0], at_v, rec_v, lead, lead, anon, t[1], t[2], t[3], t[4], t[5], None, None, None,
               t[6], t[7], t[8], t[9])


def preload_sqlite(path: Path, ws: int, lead_ids: list[int], start: int, count: int, seed: int) -> dict[str, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")
    conn.execute("PRAGMA temp_store=MEMORY")
    index_sql = [r[0] for r in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='events' AND sql IS NOT NULL")]
    index_names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='events' AND sql IS NOT NULL")]
    timings: dict[str, float] = {}
    t = time.perf_counter()
    for name in index_names:
        conn.execute(f"DROP INDEX {name}")
    cols = ", ".join(EVENT_COLUMNS)
    marks = ", ".join("?" * len(EVENT_COLUMNS))
    rows = _preload_rows(ws, lead_ids, start, count, start + count, seed, sqlite_format=True)
    chunk = 500_000
    done = 0
    while done < count:
        part = [next(rows) for _ in range(min(chunk, count - done))]
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO events ({cols}) VALUES ({marks})", part)
        conn.executemany("INSERT INTO event_keys (workspace_id, event_key) VALUES (?, ?)",
                         ((r[0], r[1]) for r in part))
        conn.execute("COMMIT")
        done += len(part)
        print(f"    preload: {start + done:,} events ({time.perf_counter() - t:.0f} s)", flush=True)
    timings["insert_s"] = time.perf_counter() - t
    t2 = time.perf_counter()
    for sql in index_sql:
        conn.execute(sql)
    timings["index_s"] = time.perf_counter() - t2
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    timings["total_s"] = time.perf_counter() - t
    return timings


def preload_postgres(url: str, ws: int, lead_ids: list[int], start: int, count: int, seed: int) -> dict[str, float]:
    import psycopg
    from sqlalchemy import create_engine

    from leadline.storage.partitions import ensure_event_partitions, forget_known_partitions

    now = datetime.now(UTC)
    engine = create_engine(url)
    with engine.begin() as conn:
        ensure_event_partitions(conn, [now - timedelta(days=d) for d in range(0, 400, 10)] + [now])
    engine.dispose()
    forget_known_partitions()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with psycopg.connect(c.pg_conninfo(url)) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET synchronous_commit = off")
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'events' "
                               "AND indexname <> 'pk_events'").fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        rows = _preload_rows(ws, lead_ids, start, count, start + count, seed, sqlite_format=False)
        chunk = 500_000
        done = 0
        cols = ", ".join(EVENT_COLUMNS)
        while done < count:
            part = [next(rows) for _ in range(min(chunk, count - done))]
            with conn.cursor() as cur:
                with cur.copy(f"COPY events ({cols}) FROM STDIN") as copy:
                    for r in part:
                        copy.write_row(r)
                with cur.copy("COPY event_keys (workspace_id, event_key) FROM STDIN") as copy:
                    for r in part:
                        copy.write_row((r[0], r[1]))
            conn.commit()
            done += len(part)
            print(f"    preload: {start + done:,} events ({time.perf_counter() - t:.0f} s)", flush=True)
        timings["insert_s"] = time.perf_counter() - t
        t2 = time.perf_counter()
        for _, sql in indexes:
            conn.execute(sql)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE event_keys")
        timings["index_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t
    return timings


# ----------------------------------------------------------------------------------------------------------------
# Clones


def checkpoint_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def clone(base_url: str, name: str, workdir: Path) -> str:
    if c.is_sqlite(base_url):
        src = c.sqlite_path(base_url)
        checkpoint_sqlite(src)
        dst = workdir / f"{name}.db"
        for suffix in ("-wal", "-shm"):
            Path(str(dst) + suffix).unlink(missing_ok=True)
        shutil.copyfile(src, dst)
        return c.sqlite_url(dst)
    import psycopg

    target = c.pg_dbname(base_url) + "_" + name
    with psycopg.connect(c.pg_conninfo(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{c.pg_dbname(base_url)}"')
    return c.pg_with_db(base_url, target)


def drop_clone(url: str) -> None:
    if c.is_sqlite(url):
        p = c.sqlite_path(url)
        for suffix in ("", "-wal", "-shm"):
            Path(str(p) + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(c.pg_conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{c.pg_dbname(url)}" WITH (FORCE)')


def count_events(url: str) -> int:
    if c.is_sqlite(url):
        conn = sqlite3.connect(c.sqlite_path(url))
        n = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.close()
        return int(n)
    import psycopg

    with psycopg.connect(c.pg_conninfo(url)) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def db_size_mb(url: str) -> float:
    if c.is_sqlite(url):
        p = c.sqlite_path(url)
        return sum(Path(str(p) + s).stat().st_size for s in ("", "-wal") if Path(str(p) + s).exists()) / 2**20
    import psycopg

    with psycopg.connect(c.pg_conninfo(url)) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]) / 2**20


# ----------------------------------------------------------------------------------------------------------------
# The API run


async def _post_all(base: str, key: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], list[dict]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    answers: list[dict[str, Any]] = []
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=300.0) as client:
        async def worker() -> None:
            for body in queue:
                t = time.perf_counter()
                r = await client.post("/api/v1/events", content=body)
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:500]}")
                d = orjson.loads(r.content)
                answers.append({"accepted": d["accepted"], "duplicates": d["duplicates"], "errors": d["errors"]})

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, answers


def run_api(url: str, key: str, workload: Workload, concurrency: int, warmup: Workload, log: Path,
            workers: int, profile: str | None) -> dict[str, Any]:
    with c.Server(url, log=log, workers=workers) as server:
        asyncio.run(_post_all(server.base, key, warmup.bodies, 1))
        spy = None
        if profile:
            import subprocess

            spy = subprocess.Popen([c.PY_SPY, "record", "--pid", str(server.pid), "--rate", "200", "--format",
                                    "speedscope" if profile.endswith(".json") else "raw", "-o", profile,
                                    "--subprocesses"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        quiet = c.wait_quiet(max_wait=QUIET_WAIT) if QUIET_WAIT else float("nan")
        cpu0 = c.server_cpu(server)
        client0 = time.process_time()
        machine0 = c.machine_cpu_seconds()
        t = time.perf_counter()
        latencies, answers = asyncio.run(_post_all(server.base, key, workload.bodies, concurrency))
        elapsed = time.perf_counter() - t
        server_cpu = c.server_cpu(server) - cpu0
        client_cpu = time.process_time() - client0
        other = (c.machine_cpu_seconds() - machine0 - server_cpu - client_cpu) / elapsed
        if spy is not None:
            import signal

            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=120)
    accepted = sum(a["accepted"] for a in answers)
    return {
        "concurrency": concurrency, "events": workload.events, "requests": len(answers), "seconds": elapsed,
        "events_per_s": workload.events / elapsed, "accepted": accepted,
        "duplicates": sum(a["duplicates"] for a in answers), "errors": sum(a["errors"] for a in answers),
        "request_latency": c.latency_summary(latencies), "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
        "server_cpu_ms_per_1k_events": server_cpu / workload.events * 1e6,
        "other_load_cores": max(0.0, other), "other_load_before_cores": quiet,
    }


# ----------------------------------------------------------------------------------------------------------------
# The raw floor


def _sqlite_row(r: dict[str, Any]) -> tuple[Any, ...]:
    out = []
    for col in EVENT_COLUMNS:
        v = r[col]
        if isinstance(v, datetime):
            v = v.astimezone(UTC).strftime(SQLITE_TS)
        elif isinstance(v, dict):
            v = json.dumps(v)
        out.append(v)
    return tuple(out)


def run_raw_sqlite(url: str, workload: Workload) -> dict[str, Any]:
    """sqlite3 executemany, one BEGIN IMMEDIATE .. COMMIT per batch, the app's connection settings."""
    batches = [[_sqlite_row(r) for r in b] for b in workload.raw_batches]  # conversion outside the clock
    conn = sqlite3.connect(c.sqlite_path(url), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000",
                   "cache_size=-65536"):
        conn.execute(f"PRAGMA {pragma}")
    cols = ", ".join(EVENT_COLUMNS)
    marks = ", ".join("?" * len(EVENT_COLUMNS))
    if QUIET_WAIT:
        c.wait_quiet(max_wait=QUIET_WAIT)
    t = time.perf_counter()
    for rows in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO event_keys (workspace_id, event_key) VALUES (?, ?)",
                         [(r[0], r[1]) for r in rows])
        conn.executemany(f"INSERT INTO events ({cols}) VALUES ({marks})", rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t
    conn.close()
    return {"method": "sqlite3 executemany, 1 txn per batch", "events": workload.events, "seconds": elapsed,
            "events_per_s": workload.events / elapsed}


def run_raw_postgres(url: str, workload: Workload, method: str) -> dict[str, Any]:
    import psycopg
    from psycopg.types.json import Jsonb
    from sqlalchemy import create_engine

    from leadline.storage.partitions import ensure_event_partitions, forget_known_partitions

    engine = create_engine(url)  # the monthly partitions the rows need, as the service creates them
    with engine.begin() as sa_conn:
        ensure_event_partitions(sa_conn, {r["occurred_at"] for b in workload.raw_batches for r in b})
    engine.dispose()
    forget_known_partitions()
    cols = ", ".join(EVENT_COLUMNS)
    batches = [[tuple(Jsonb(r[col]) if col == "properties" and r[col] is not None else r[col]
                      for col in EVENT_COLUMNS) for r in b] for b in workload.raw_batches]
    with psycopg.connect(c.pg_conninfo(url)) as conn:
        if QUIET_WAIT:
            c.wait_quiet(max_wait=QUIET_WAIT)
        t = time.perf_counter()
        for rows in batches:
            with conn.cursor() as cur:
                if method == "copy":
                    with cur.copy("COPY event_keys (workspace_id, event_key) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row((r[0], r[1]))
                    with cur.copy(f"COPY events ({cols}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(r)
                else:
                    cur.executemany("INSERT INTO event_keys (workspace_id, event_key) VALUES (%s, %s)",
                                    [(r[0], r[1]) for r in rows])
                    marks = ", ".join(["%s"] * len(EVENT_COLUMNS))
                    cur.executemany(f"INSERT INTO events ({cols}) VALUES ({marks})", rows)
            conn.commit()
        elapsed = time.perf_counter() - t
    label = "psycopg COPY, 1 txn per batch" if method == "copy" else "psycopg executemany (pipeline), 1 txn per batch"
    return {"method": label, "events": workload.events, "seconds": elapsed, "events_per_s": workload.events / elapsed}


# ----------------------------------------------------------------------------------------------------------------


def main() -> None:  # noqa: C901 - a linear script
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000, help="events to POST per measurement (default 200,000)")
    p.add_argument("--batch", type=int, default=1000, help="events per request (default 1,000; API max 1,000)")
    p.add_argument("--concurrency", default="2", help="client connections; a list runs each on a fresh clone")
    p.add_argument("--leads", type=int, default=10_000, help="leads created before ingest (default 10,000)")
    p.add_argument("--preload", default="0",
                   help="existing events before the measurement; a list (0,1000000,3000000) grows one base")
    p.add_argument("--mix", default="email=50,lead_id=40,anon=10", help="subject shares of the events")
    p.add_argument("--keys", choices=["uuid4", "sequential"], default="uuid4", help="shape of the event ids")
    p.add_argument("--source-share", type=float, default=None,
                   help="share of events carrying a source/UTM (default: by type, about 70%%)")
    p.add_argument("--database-url", default=None,
                   help="PostgreSQL URL of a database to (re)create, e.g. "
                        "postgresql+psycopg://postgres@127.0.0.1:5432/leadline_bench (default: SQLite files)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/leadline-bench"), help="where SQLite files go")
    p.add_argument("--workers", type=int, default=1, help="server processes (PostgreSQL only)")
    p.add_argument("--no-raw", action="store_true", help="skip the raw driver floor")
    p.add_argument("--pg-raw", default="copy,executemany", help="raw floor methods on PostgreSQL")
    p.add_argument("--profile", default=None,
                   help="py-spy the server during the (first) API run; FILE.json = speedscope, else raw folded")
    p.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quiet-wait", type=float, default=300.0,
                   help="seconds to wait for the machine to be quiet before each measurement (0: don't)")
    p.add_argument("--tag", default="", help="suffix of the JSON file name")
    args = p.parse_args()

    global QUIET_WAIT
    QUIET_WAIT = args.quiet_wait
    concurrencies = [int(x) for x in args.concurrency.split(",")]
    preloads = sorted(int(x) for x in args.preload.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    pg = args.database_url is not None
    dialect = "postgresql" if pg else "sqlite"
    print(f"ingest_batch: {dialect}, {args.events:,} events in batches of {args.batch}, "
          f"concurrency {concurrencies}, {args.leads:,} leads, preload {preloads}")

    base_url = c.fresh_database(args.database_url, args.workdir, "base")
    setup: dict[str, Any] = {"init_s": c.init_database(base_url)}
    key = c.create_key(base_url)
    leads, setup["leads_s"] = c.create_leads(base_url, args.leads)
    ws = c.workspace_id(base_url)
    print(f"  base ready: {args.leads:,} leads in {setup['leads_s']:.1f} s")
    lead_ids = list(leads.values())
    mix = c.EventMix.parse(args.mix)
    t = time.perf_counter()
    shape = {"key_style": args.keys, "source_share": args.source_share}
    workload = build_workload(ws, leads, events=args.events, batch=args.batch, seed=args.seed, mix=mix, **shape)
    warmup = build_workload(ws, leads, events=min(2 * args.batch, 2000), batch=args.batch, seed=args.seed + 1000,
                            mix=mix, **shape)
    setup["workload_build_s"] = time.perf_counter() - t
    setup["body_bytes_per_batch"] = sum(len(b) for b in workload.bodies) / len(workload.bodies)

    results: list[dict[str, Any]] = []
    loaded = 0
    for stage, target in enumerate(preloads):
        stage_info: dict[str, Any] = {"preload_events": target}
        if target > loaded:
            print(f"  preloading {target - loaded:,} events (to {target:,}) ...", flush=True)
            if pg:
                stage_info["preload"] = preload_postgres(base_url, ws, lead_ids, loaded, target - loaded,
                                                         args.seed + 17 * (stage + 1))
            else:
                stage_info["preload"] = preload_sqlite(c.sqlite_path(base_url), ws, lead_ids, loaded,
                                                       target - loaded, args.seed + 17 * (stage + 1))
            loaded = target
            print(f"  preload done in {stage_info['preload']['total_s']:.1f} s "
                  f"(insert {stage_info['preload']['insert_s']:.1f} s, "
                  f"indexes {stage_info['preload']['index_s']:.1f} s)")
        stage_info["base_size_mb"] = db_size_mb(base_url)
        stage_info["api"] = []
        for conc in concurrencies:
            run_url = clone(base_url, "run", args.workdir)
            before = count_events(run_url)
            profile = args.profile if (args.profile and stage == 0 and conc == concurrencies[0]) else None
            res = run_api(run_url, key, workload, conc, warmup, args.workdir / "server.log", args.workers, profile)
            after = count_events(run_url)
            res["stored_events"] = after - before - warmup.events
            res["existing_events"] = before
            stage_info["api"].append(res)
            lat = res["request_latency"]
            print(f"  API   c={conc}: {res['events_per_s']:,.0f} events/s ({res['seconds']:.1f} s), "
                  f"request p50 {lat['p50_ms']:.0f} ms p99 {lat['p99_ms']:.0f} ms, server CPU "
                  f"{res['server_cpu_ms_per_1k_events']:.0f} ms per 1k events; other load "
                  f"{res['other_load_cores']:.2f} cores", flush=True)
            if res["accepted"] != workload.events or res["stored_events"] != workload.events:
                print(f"  WARNING: accepted {res['accepted']}, stored {res['stored_events']} of {workload.events}")
            if not args.keep:
                drop_clone(run_url)
        stage_info["raw"] = []
        if not args.no_raw:
            methods = args.pg_raw.split(",") if pg else ["executemany"]
            for method in methods:
                raw_url = clone(base_url, "raw", args.workdir)
                res = run_raw_postgres(raw_url, workload, method) if pg else run_raw_sqlite(raw_url, workload)
                stage_info["raw"].append(res)
                print(f"  raw   {res['method']}: {res['events_per_s']:,.0f} events/s ({res['seconds']:.1f} s)",
                      flush=True)
                if not args.keep:
                    drop_clone(raw_url)
        results.append(stage_info)

    # Summary
    rows = []
    for s in results:
        raw_best = max((r["events_per_s"] for r in s["raw"]), default=float("nan"))
        for a in s["api"]:
            lat = a["request_latency"]
            rows.append([f"{s['preload_events']:,}", a["concurrency"], a["events_per_s"], raw_best,
                         f"{a['events_per_s'] / raw_best:.3f}" if raw_best == raw_best else "-",
                         lat["p50_ms"], lat["p99_ms"], a["server_cpu_ms_per_1k_events"],
                         f"{a['other_load_cores']:.2f}",
                         "yes" if a["events_per_s"] >= TARGET_EVENTS_PER_S else "NO"])
    print()
    print(f"Batch ingest, {dialect}, {args.events:,} events, batches of {args.batch} "
          f"(target >= {TARGET_EVENTS_PER_S:,} events/s)")
    print(c.table(rows, ["existing events", "conns", "API events/s", "raw events/s", "API/raw",
                         "req p50 ms", "req p99 ms", "srv CPU ms/1k ev", "other load", "target met"]))
    for s in results:
        if "preload" in s:
            pl = s["preload"]
            print(f"preload to {s['preload_events']:,}: {pl['total_s']:.0f} s (insert {pl['insert_s']:.0f} s, "
                  f"indexes {pl['index_s']:.0f} s); base {s['base_size_mb']:,.0f} MB")
    name = "ingest_batch" + ("_pg" if pg else "_sqlite") + (f"_{args.tag}" if args.tag else "")
    path = c.write_json(name, {
        "target_events_per_s": TARGET_EVENTS_PER_S, "dialect": dialect,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "setup": setup, "stages": results,
    })
    print(f"\nJSON: {path}")
    if not args.keep:
        drop_clone(base_url)


if __name__ == "__main__":
    main()
