"""Webhook subscriptions and the deliveries they get.

A subscription's URL is checked against the SSRF guard when it is created or changed (and again at every send,
see `webhook_sender`). The outbox consumer below turns each message on a subscribed topic into one
`webhook_deliveries` row per active subscription, in the outbox's transaction (no network I/O here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.ssrf import UnsafeTarget
from leadline.core.webhooks import LEAD_FIELDS, PING, TOPICS, event_body, new_secret
from leadline.services import outbox
from leadline.services.errors import Invalid, NotFound
from leadline.services.outbound import Resolver, check_target, system_resolver
from leadline.storage.tables import Lead, OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookSubscription, Workspace
from leadline.storage.types import utcnow

MAX_SUBSCRIPTIONS = 50


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """What PATCH may change; None leaves a field as it is."""

    url: str | None = None
    topics: Sequence[str] | None = None
    active: bool | None = None
    description: str | None = None


def _check_url(session: Session, workspace_id: int, url: str, resolver: Resolver) -> str:
    workspace = session.get(Workspace, workspace_id)
    allow = bool(workspace and workspace.allow_private_webhooks)
    try:
        check_target(url, allow_private=allow, resolver=resolver)
    except UnsafeTarget as error:
        raise Invalid([FieldProblem("url", error.reason)]) from error
    return url


def _check_topics(topics: Sequence[str]) -> list[str]:
    unknown = [t for t in topics if t not in TOPICS]
    if unknown or not topics:
        reason = f"unknown topic {unknown[0]!r}" if unknown else "subscribe to at least one topic"
        raise Invalid([FieldProblem("topics", f"{reason}; known topics: {', '.join(TOPICS)}")])
    return sorted(set(topics))


def create_subscription(session: Session, *, workspace_id: int, url: str, topics: Sequence[str],
                        description: str | None = None, active: bool = True,
                        resolver: Resolver = system_resolver) -> WebhookSubscription:
    """Check the URL and topics, generate the secret; the caller shows the secret once."""
    clean_topics = _check_topics(topics)
    _check_url(session, workspace_id, url, resolver)
    count = len(session.scalars(select(WebhookSubscription.id)
                                .where(WebhookSubscription.workspace_id == workspace_id)).all())
    if count >= MAX_SUBSCRIPTIONS:
        raise Invalid([FieldProblem("url", f"a workspace has at most {MAX_SUBSCRIPTIONS} webhooks")])
    row = WebhookSubscription(workspace_id=workspace_id, url=url, topics=clean_topics, secret=new_secret(),
                              description=description, active=active)
    session.add(row)
    session.flush()
    return row


def get_subscription(session: Session, workspace_id: int, subscription_id: int) -> WebhookSubscription:
    row = session.get(WebhookSubscription, subscription_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("webhook not found")
    return row


def list_subscriptions(session: Session, workspace_id: int) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.workspace_id == workspace_id)
                                .order_by(WebhookSubscription.id)))


def update_subscription(session: Session, *, workspace_id: int, subscription_id: int, change: SubscriptionChange,
                        resolver: Resolver = system_resolver) -> WebhookSubscription:
    row = get_subscription(session, workspace_id, subscription_id)
    if change.topics is not None:
        row.topics = _check_topics(change.topics)
    if change.url is not None:
        row.url = _check_url(session, workspace_id, change.url, resolver)
    if change.active is not None:
        row.active = change.active
    if change.description is not None:
        row.description = change.description
    row.updated_at = utcnow()
    session.flush()
    return row


def rotate_secret(session: Session, *, workspace_id: int, subscription_id: int, grace: timedelta,
                  now: datetime | None = None) -> WebhookSubscription:
    """A new secret signs from now on; the old one signs beside it for `grace` (zero: revoked at once, e.g.
    after a leak). The caller shows the new secret once."""
    row = get_subscription(session, workspace_id, subscription_id)
    now = now or utcnow()
    row.previous_secret, row.previous_secret_until = (row.secret, now + grace) if grace > timedelta(0) else (None, None)
    row.secret = new_secret()
    row.updated_at = now
    session.flush()
    return row


def delete_subscription(session: Session, *, workspace_id: int, subscription_id: int) -> None:
    """Its deliveries and their log go with it (ON DELETE CASCADE)."""
    session.delete(get_subscription(session, workspace_id, subscription_id))
    session.flush()


def list_deliveries(session: Session, *, workspace_id: int, subscription_id: int, limit: int = 50,
                    before: int | None = None) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """Newest first, each with its attempts (oldest first): the delivery log."""
    get_subscription(session, workspace_id, subscription_id)
    query = (select(WebhookDelivery).where(WebhookDelivery.workspace_id == workspace_id,
                                           WebhookDelivery.subscription_id == subscription_id)
             .order_by(WebhookDelivery.id.desc()).limit(limit))
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    deliveries = list(session.scalars(query))
    attempts: dict[int, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
    if deliveries:
        for attempt in session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(attempts))
                                       .order_by(WebhookAttempt.id)):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in deliveries]


def _delivery_row(*, subscription: WebhookSubscription, topic: str, lead_id: int | None,
                  lead: dict[str, Any] | None, data: dict[str, Any], now: datetime,
                  occurred_at: datetime | None = None) -> dict[str, Any]:
    payload = event_body(topic=topic, workspace_id=subscription.workspace_id, occurred_at=occurred_at or now,
                         lead=lead, data=data)
    return {"workspace_id": subscription.workspace_id, "subscription_id": subscription.id, "topic": topic,
            "lead_id": lead_id, "payload": payload, "status": "pending", "attempts": 0, "next_attempt_at": now,
            "created_at": now}


def queue_ping(session: Session, *, workspace_id: int, subscription_id: int,
               now: datetime | None = None) -> WebhookDelivery:
    """A `ping` delivery, sent like any other (even to an inactive subscription: that is how one tests it)."""
    subscription = get_subscription(session, workspace_id, subscription_id)
    row = WebhookDelivery(**_delivery_row(subscription=subscription, topic=PING, lead_id=None, lead=None,
                                          data={"subscription_id": str(subscription.id)}, now=now or utcnow()))
    session.add(row)
    session.flush()
    return row


def _lead_snapshots(session: Session, workspace_id: int, lead_ids: set[int]) -> dict[int, dict[str, Any]]:
    if not lead_ids:
        return {}
    columns = [getattr(Lead, name) for name in LEAD_FIELDS]
    rows = session.execute(select(*columns).where(Lead.workspace_id == workspace_id, Lead.id.in_(lead_ids)))
    snapshots = {}
    for row in rows:
        lead = dict(zip(LEAD_FIELDS, row, strict=True))
        lead["id"] = str(lead["id"])
        lead["owner_id"] = None if lead["owner_id"] is None else str(lead["owner_id"])
        snapshots[row[0]] = lead
    return snapshots


def _data(payload: dict[str, Any]) -> dict[str, Any]:
    """The message's payload (ids by the outbox's contract), ids as strings as everywhere in the API."""
    return {key: str(value) if key.endswith("_id") and isinstance(value, int) else value
            for key, value in payload.items()}


@outbox.consumer("webhooks", *TOPICS)
def record_deliveries(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    """One delivery per (message, active subscription on its topic), with the lead as it is now."""
    by_workspace: dict[int, list[OutboxMessage]] = {}
    for message in messages:
        by_workspace.setdefault(message.workspace_id, []).append(message)
    for workspace_id, batch in by_workspace.items():
        subscriptions = [s for s in list_subscriptions(session, workspace_id) if s.active]
        if not subscriptions:
            continue
        leads = _lead_snapshots(session, workspace_id, {m.lead_id for m in batch if m.lead_id is not None})
        rows = []
        for message in batch:
            for subscription in subscriptions:
                if message.topic in subscription.topics:
                    lead = leads.get(message.lead_id) if message.lead_id is not None else None
                    if lead is None and message.lead_id is not None:
                        lead = {"id": str(message.lead_id)}
                    rows.append(_delivery_row(subscription=subscription, topic=message.topic,
                                              lead_id=message.lead_id, lead=lead, data=_data(message.payload),
                                              now=now, occurred_at=message.created_at))
        if rows:
            session.execute(insert(WebhookDelivery), rows)


def set_private_targets(session: Session, *, workspace_id: int, allow: bool) -> None:
    """The operator's switch (CLI, not API keys) for webhooks to loopback, private and link-local addresses.
    Cloud metadata, unspecified and multicast addresses stay refused either way."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    workspace.allow_private_webhooks = allow
    session.flush()
