"""Where a batch of events spends its time, in-process (no HTTP), phase by phase, in microseconds per event.

Runs the same steps the `POST /api/v1/events` handler runs on each 1,000-event body, timing each one:

    parse       JSON body -> Python (Starlette's `Request.json()` uses the stdlib `json`)
    validate    FastAPI's body validation: `EventIn | EventBatchIn` through pydantic (`TypeAdapter.validate_python`)
    drafts      `_draft()` per event (route)
    resolve     `_resolve_subjects` (lead lookups by id / email, visitors)
    claim       claiming the event ids in `event_keys` (`_claim_event_keys` / `_insert_ignoring_conflicts`)
    insert      the INSERT of the event rows (`bulk_insert` / `session.execute(insert(Event), rows)`)
    touches     moving the leads' first/last touch (`TouchBatch.write` / `_apply_touches`)
    rest        the remainder of `record_events`: checks, touch derivation, building the rows
    commit      COMMIT
    response    EventResultOut list + EventBatchOut, then FastAPI's response_model validation and JSON encoding

    python bench/profile_ingest.py [--batches 40] [--leads 10000] [--cprofile N] [--database-url URL]

`--cprofile N` also prints the N most expensive functions (cumulative) of the whole loop under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

import leadline.services.events as ev
from leadline.api.routes.events import _draft
from leadline.api.schemas import EventBatchIn, EventBatchOut, EventIn, EventResultOut
from leadline.services.workspaces import authenticate
from leadline.storage.database import Database
from leadline.storage.tables import Workspace

PHASES = ["auth", "parse", "validate", "drafts", "begin+workspace", "resolve", "claim", "insert events",
          "touches", "rest of record_events", "commit", "response"]


def _instrument(timer: Timer) -> None:
    """Wrap the service's steps, whichever version of `leadline.services.events` is installed."""
    for name, phase in (("_resolve_subjects", "resolve"), ("_claim_event_keys", "claim"),
                        ("_insert_ignoring_conflicts", "claim"), ("_apply_touches", "touches")):
        if hasattr(ev, name):
            setattr(ev, name, timer.wrap(phase, getattr(ev, name)))
    if hasattr(ev, "TouchBatch"):
        ev.TouchBatch.write = timer.wrap("touches", ev.TouchBatch.write)
    if hasattr(ev, "bulk_insert"):
        original = ev.bulk_insert

        def bulk_insert(conn: Any, table: Any, *a: Any, **k: Any) -> Any:
            if table.name != "events":
                return original(conn, table, *a, **k)
            return timer.wrap("insert events", original)(conn, table, *a, **k)

        ev.bulk_insert = bulk_insert
    else:  # the ORM bulk insert of the first version: session.execute(insert(Event), rows)
        from sqlalchemy.orm import Session

        original_execute = Session.execute

        def execute(self: Any, statement: Any, params: Any = None, *a: Any, **k: Any) -> Any:
            table = getattr(statement, "table", None)
            if getattr(table, "name", None) == "events" and isinstance(params, list):
                return timer.wrap("insert events", original_execute)(self, statement, params, *a, **k)
            return original_execute(self, statement, params, *a, **k)

        Session.execute = execute


class Timer:
    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn: Any) -> Any:
        def timed(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.totals[name] += time.perf_counter() - t

        return timed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--batch", type=int, default=1000, help="events per body; 1 = single-event bodies")
    p.add_argument("--leads", type=int, default=10_000)
    p.add_argument("--mix", default="email=50,lead_id=40,anon=10")
    p.add_argument("--cprofile", type=int, default=0, help="print the top N functions under cProfile")
    p.add_argument("--database-url", default=None)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/leadline-bench"))
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    url = c.fresh_database(args.database_url, args.workdir, "profile")
    c.init_database(url)
    key = c.create_key(url)
    leads, _ = c.create_leads(url, args.leads)
    factory = c.EventFactory(leads, mix=c.EventMix.parse(args.mix), seed=3)
    warmup = 2 if args.batch > 1 else 50
    bodies = [orjson.dumps({"events": [g.api for g in factory.batch(args.batch)]}) if args.batch > 1
              else orjson.dumps(factory.one().api) for _ in range(args.batches + warmup)]

    from fastapi._compat import v2  # noqa: F401 - FastAPI's own validation path
    from pydantic import TypeAdapter

    body_adapter = TypeAdapter(EventIn | EventBatchIn)
    out_adapter = TypeAdapter(EventBatchOut)
    db = Database(url)
    timer = Timer()
    _instrument(timer)

    def one(body: bytes, t: dict[str, float]) -> None:
        s = time.perf_counter()
        with db.read() as rs:  # get_principal: its own read session, the key looked up by SHA-256
            assert authenticate(rs, key) is not None
        t["auth"] += time.perf_counter() - s
        s = time.perf_counter()
        data = json.loads(body)
        t["parse"] += time.perf_counter() - s
        s = time.perf_counter()
        model = body_adapter.validate_python(data)
        t["validate"] += time.perf_counter() - s
        s = time.perf_counter()
        shared: dict[Any, Any] = {}  # the route shares one Touch per distinct source in a request
        drafts = [_draft(e, shared) for e in (model.events if isinstance(model, EventBatchIn) else [model])]
        t["drafts"] += time.perf_counter() - s
        s = time.perf_counter()
        with db._write_sessions() as session:
            session.begin()
            workspace = session.get(Workspace, ws_id)
            t["begin+workspace"] += time.perf_counter() - s
            s = time.perf_counter()
            outcomes = ev.record_events(session, workspace, drafts)
            t["record_events"] += time.perf_counter() - s
            s = time.perf_counter()
            session.commit()
            t["commit"] += time.perf_counter() - s
        s = time.perf_counter()
        results = [EventResultOut(index=o.index, status=o.status, event_id=o.event_id,
                                  lead_id=str(o.lead_id) if o.lead_id else None, error=o.error, field=o.field)
                   for o in outcomes]
        out = EventBatchOut(accepted=sum(r.status == "accepted" for r in results),
                            duplicates=sum(r.status == "duplicate" for r in results),
                            errors=sum(r.status == "error" for r in results), results=results)
        # FastAPI: validate the return value against response_model, then dump it to JSON bytes.
        out_adapter.dump_json(out_adapter.validate_python(out.model_dump()))
        t["response"] += time.perf_counter() - s

    ws_id = c.workspace_id(url)
    warm: dict[str, float] = defaultdict(float)
    for body in bodies[:warmup]:
        one(body, warm)
    timer.totals.clear()
    totals: dict[str, float] = defaultdict(float)
    c.wait_quiet()
    prof = cProfile.Profile() if args.cprofile else None
    wall = time.perf_counter()
    if prof:
        prof.enable()
    for body in bodies[warmup:]:
        one(body, totals)
    if prof:
        prof.disable()
    wall = time.perf_counter() - wall
    totals.update(timer.totals)
    totals["rest of record_events"] = (totals["record_events"] - totals["resolve"] - totals["claim"]
                                       - totals["insert events"] - totals["touches"])
    n = args.batches * args.batch
    rows = [[name, totals[name] / n * 1e6, 100 * totals[name] / wall] for name in PHASES]
    rows.append(["total (wall)", wall / n * 1e6, 100.0])
    if args.batch == 1:
        rows.append(["total per request", wall / args.batches * 1e6, 100.0])
    print(f"\nIn-process cost per event ({c.sqlite_path(url).name if c.is_sqlite(url) else 'postgresql'}, "
          f"{args.batches} batches of {args.batch}, {args.leads:,} leads{', under cProfile' if prof else ''})")
    print(c.table(rows, ["phase", "us/event", "% of wall"]))
    print(f"=> at most {n / wall:,.0f} events/s on one core for this work alone (GIL: one process = ~1 core)")
    c.write_json(f"profile_ingest_b{args.batch}" + ("_cprofile" if prof else ""), {
        "args": {k: str(v) for k, v in vars(args).items()},
        "us_per_event": {name: totals[name] / n * 1e6 for name in [*PHASES, "record_events"]},
        "wall_us_per_event": wall / n * 1e6, "events_per_s_one_core": n / wall,
    })
    if prof:
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(args.cprofile)
        stats.sort_stats("tottime").print_stats(args.cprofile)
    db.dispose()


if __name__ == "__main__":
    main()
