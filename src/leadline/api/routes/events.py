"""Events: one at a time or in batches of up to 1,000, each item answered on its own."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from leadline.api.deps import DatabaseDep, Writer, gates, workspace_of
from leadline.api.schemas import EventBatchIn, EventBatchOut, EventIn
from leadline.core.channels import Touch
from leadline.core.lead_input import FieldProblem
from leadline.services.errors import Invalid
from leadline.services.events import EventDraft, EventOutcome, record_events

router = APIRouter(prefix="/api/v1", tags=["events"])


def _draft(event: EventIn, touches: dict[tuple[Any, ...], Touch] | None = None) -> EventDraft:
    """`touches` shares one `Touch` between the events of a request that carry the same source."""
    draft = EventDraft(event.type, event.event_id, event.email, int(event.lead_id) if event.lead_id else None,
                       event.anonymous_id, event.occurred_at, event.properties)
    source = event.source
    if source is not None:
        fields = source.__dict__  # the touch fields, None where absent
        key = tuple(fields.values())
        touch = touches.get(key) if touches is not None else None
        if touch is None:
            touch = Touch.from_mapping(fields)
            if touches is not None:
                touches[key] = touch
        draft.source = touch
    return draft


@router.post("/events", response_model=EventBatchOut, status_code=200)
async def post_events(
    request: Request, principal: Writer, db: DatabaseDep,
    body: Annotated[EventIn | EventBatchIn, Body(description="One event, or {\"events\": [...]}")],
) -> Response:
    """Runs on the event loop, not in the thread pool: SQLite has one writer anyway, and the thread hops and
    GIL hand-offs of a sync handler cost more than the insert itself (measured: twice the throughput)."""
    events = body.events if isinstance(body, EventBatchIn) else [body]
    limit = request.app.state.settings.max_batch_events
    if len(events) > limit:
        raise HTTPException(413, f"a batch holds at most {limit} events; got {len(events)}")
    missing = [i for i, e in enumerate(events) if not (e.email or e.lead_id or e.anonymous_id)]
    if missing:
        raise Invalid([FieldProblem(f"events.{i}" if isinstance(body, EventBatchIn) else "email",
                                    "an event needs a subject: email, lead_id or anonymous_id") for i in missing])
    touches: dict[tuple[Any, ...], Touch] = {}
    drafts = [_draft(e, touches) for e in events]

    def store() -> list[EventOutcome]:
        with db.write() as session:
            return record_events(session, principal.workspace or workspace_of(session, principal), drafts)

    async with gates(request).write:
        # SQLite work is sub-millisecond and has one writer: inline beats a thread hop. PostgreSQL waits on
        # the network, so it goes to a thread and the loop keeps serving others.
        outcomes = store() if db.is_sqlite else await run_in_threadpool(store)
    # Built as plain JSON (the shape `EventBatchOut` documents): validating 1,000 response models again would
    # cost more than storing the events.
    results = [{"index": o.index, "status": o.status, "event_id": o.event_id,
                "lead_id": str(o.lead_id) if o.lead_id else None, "error": o.error, "field": o.field}
               for o in outcomes]
    counts = Counter(o.status for o in outcomes)
    return Response(orjson.dumps({
        "accepted": counts["accepted"], "duplicates": counts["duplicate"], "errors": counts["error"],
        "results": results,
    }), media_type="application/json")
