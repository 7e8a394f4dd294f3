"""Sending webhook deliveries: claim, POST (signed, through the SSRF guard), record.

At least once, with an idempotency key: a delivery is claimed in a short write transaction (on PostgreSQL
`FOR UPDATE SKIP LOCKED`, on SQLite the single writer) by pushing its `next_attempt_at` one lease ahead and
counting the attempt; the POSTs run with no transaction open; the results are written in a second transaction.
A sender that dies mid-way leaves the row pending, due again when the lease passes, so the receiver may see
the same delivery twice: the `Idempotency-Key` header (the delivery id, also `id` in the body) tells it so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline import __version__
from leadline.core.ssrf import UnsafeTarget
from leadline.core.webhooks import (
    MAX_ATTEMPTS,
    PING,
    SIGNATURE_HEADER,
    Outcome,
    Verdict,
    body_bytes,
    judge,
    retry_delay,
    sign,
    with_id,
)
from leadline.services.outbound import Resolver, UnresolvedHost, guarded_client, system_resolver
from leadline.storage.database import Database
from leadline.storage.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription, Workspace
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # far longer than one attempt (5 s timeout) plus recording it
BATCH = 32
THREADS = 8
TIMEOUT = 5.0
RESPONSE_KEPT = 1024


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: int
    number: int
    topic: str
    url: str
    secret: str
    body: bytes
    allow_private: bool
    #: The previous secret while a rotation's grace period lasts: it signs too.
    previous_secret: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    job: Job
    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None
    refused: bool = False  # the SSRF guard said no: final, not retried

    def verdict(self) -> Verdict:
        if self.refused:
            return Verdict(Outcome.FAILED, self.error)
        return judge(self.status_code, self.error)


def claim(session: Session, *, now: datetime, limit: int = BATCH) -> list[Job]:
    """Take up to `limit` due deliveries for one attempt each (see the module's docstring)."""
    query = (select(WebhookDelivery, WebhookSubscription, Workspace.allow_private_webhooks)
             .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
             .join(Workspace, Workspace.id == WebhookDelivery.workspace_id)
             .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
             .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=WebhookDelivery, skip_locked=True)
    jobs = []
    for delivery, subscription, allow_private in session.execute(query):
        if not subscription.active and delivery.topic != PING:
            delivery.status, delivery.finished_at = "cancelled", now
            delivery.last_error = "the subscription was deactivated before this was sent"
            continue
        delivery.attempts += 1
        delivery.next_attempt_at = now + LEASE
        previous = subscription.previous_secret if subscription.previous_secret_until is not None \
            and subscription.previous_secret_until > now else None
        jobs.append(Job(delivery.id, delivery.attempts, delivery.topic, subscription.url, subscription.secret,
                        body_bytes(with_id(delivery.payload, delivery.id)), bool(allow_private), previous))
    return jobs


def _headers(job: Job) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": f"Leadline-Webhooks/{__version__}",
            SIGNATURE_HEADER: sign(job.secret, int(time.time()), job.body,
                                   also=(job.previous_secret,) if job.previous_secret else ()),
            "Leadline-Event": job.topic, "Leadline-Delivery": str(job.delivery_id),
            "Idempotency-Key": str(job.delivery_id), "Leadline-Attempt": str(job.number)}


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:  # an HTTP date: ignored, the backoff applies
        return None


def post(job: Job, *, resolver: Resolver = system_resolver, timeout: float = TIMEOUT) -> Result:
    """One attempt. Reads at most 1 KB of the answer (a huge or endless body cannot hold the sender)."""
    started, clock = utcnow(), time.perf_counter()

    def done(**fields: object) -> Result:
        return Result(job=job, started_at=started, duration_ms=(time.perf_counter() - clock) * 1000,
                      **fields)  # type: ignore[arg-type]

    try:
        with (guarded_client(allow_private=job.allow_private, timeout=timeout, resolver=resolver) as client,
              client.stream("POST", job.url, content=job.body, headers=_headers(job)) as response):
            kept = bytearray()
            for chunk in response.iter_bytes():
                kept += chunk
                if len(kept) >= RESPONSE_KEPT:
                    break
            return done(status_code=response.status_code, response_body=_text(bytes(kept[:RESPONSE_KEPT])),
                        retry_after=_retry_after(response.headers.get("Retry-After")),
                        error=_redirect(response))
    except UnsafeTarget as error:
        return done(error=f"refused: {error.reason}", refused=True)
    except UnresolvedHost as error:
        return done(error=str(error))
    except httpx.TimeoutException as error:
        return done(error=f"timeout after {timeout:g} s ({type(error).__name__})")
    except httpx.HTTPError as error:
        return done(error=f"{type(error).__name__}: {error}"[:1000])
    except OSError as error:
        return done(error=f"{type(error).__name__}: {error}"[:1000])


def _text(raw: bytes) -> str | None:
    return raw.decode("utf-8", "replace") if raw else None


def _redirect(response: httpx.Response) -> str | None:
    if response.is_redirect:
        return f"redirect to {response.headers.get('Location', '?')[:300]} not followed"
    return None


def record(session: Session, results: Sequence[Result], *, now: datetime) -> None:
    """Log each attempt and decide the delivery's next state."""
    for result in results:
        delivery = session.get(WebhookDelivery, result.job.delivery_id)
        if delivery is None:  # the subscription was deleted meanwhile
            continue
        session.add(WebhookAttempt(delivery_id=delivery.id, number=result.job.number, started_at=result.started_at,
                                   duration_ms=round(result.duration_ms, 3), status_code=result.status_code,
                                   error=result.error, response_body=result.response_body))
        verdict = result.verdict()
        delivery.last_status_code, delivery.last_error = result.status_code, result.error or verdict.reason
        if verdict.outcome is Outcome.DELIVERED:
            delivery.status, delivery.finished_at, delivery.last_error = "delivered", now, None
        elif verdict.outcome is Outcome.RETRY and delivery.attempts < MAX_ATTEMPTS:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts, result.retry_after)
        else:
            delivery.status, delivery.finished_at = "failed", now
            if verdict.outcome is Outcome.RETRY:
                delivery.last_error = f"gave up after {delivery.attempts} attempts: {verdict.reason}"


def send_due_webhooks(db: Database, *, now: datetime | None = None, resolver: Resolver = system_resolver,
                      limit: int = BATCH, timeout: float = TIMEOUT) -> int:
    """One batch: claim, send in parallel (at most `THREADS` at once), record; returns the attempts made."""
    at = now or utcnow()
    with db.write() as session:
        jobs = claim(session, now=at, limit=limit)
    if not jobs:
        return 0
    with ThreadPoolExecutor(max_workers=min(THREADS, len(jobs)), thread_name_prefix="webhook") as pool:
        results = list(pool.map(lambda job: post(job, resolver=resolver, timeout=timeout), jobs))
    with db.write() as session:
        record(session, results, now=now or utcnow())
    return len(results)
