"""Webhook subscriptions (admin scope): create (the secret is shown once), list, change, delete, the delivery
log, and a test ping."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from leadline.api.deps import Admin, ReadSession, WriteSession, parse_id
from leadline.core.ssrf import MAX_URL_LENGTH
from leadline.core.webhooks import SIGNATURE_HEADER, TOPICS, with_id
from leadline.services.webhooks import (
    SubscriptionChange,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_deliveries,
    list_subscriptions,
    queue_ping,
    rotate_secret,
    update_subscription,
)
from leadline.storage.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

_TOPICS_HELP = f"Topics to receive: {', '.join(TOPICS)}"
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH, description=(
    "http or https URL; hosts on loopback, private or link-local addresses are refused unless the workspace "
    "allows private webhook targets"))]


class WebhookIn(BaseModel):
    url: Url
    topics: list[str] = Field(min_length=1, max_length=len(TOPICS), description=_TOPICS_HELP)
    description: str | None = Field(default=None, max_length=200)
    active: bool = True


class WebhookPatch(BaseModel):
    url: Url | None = None
    topics: list[str] | None = Field(default=None, min_length=1, max_length=len(TOPICS), description=_TOPICS_HELP)
    description: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    topics: list[str]
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookSubscription) -> WebhookOut:
        return cls(id=str(row.id), url=row.url, topics=list(row.topics), description=row.description,
                   active=row.active, created_at=row.created_at, updated_at=row.updated_at)


class WebhookCreated(WebhookOut):
    secret: str = Field(description=(
        f"Signs every body (header {SIGNATURE_HEADER}); shown only in this response: keep it now"))


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    response_body: str | None = Field(description="The first 1 KB of the answer")


class DeliveryOut(BaseModel):
    id: str = Field(description="Also the Idempotency-Key header and the body's `id`")
    topic: str
    lead_id: str | None
    status: str = Field(description="pending, delivered, failed or cancelled")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next")
    finished_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    payload: dict[str, Any]
    log: list[AttemptOut]

    @classmethod
    def of(cls, row: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
        return cls(id=str(row.id), topic=row.topic, lead_id=None if row.lead_id is None else str(row.lead_id),
                   status=row.status, attempts=row.attempts, created_at=row.created_at,
                   next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
                   finished_at=row.finished_at, last_status_code=row.last_status_code, last_error=row.last_error,
                   payload=with_id(row.payload, row.id),
                   log=[AttemptOut(number=a.number, started_at=a.started_at, duration_ms=a.duration_ms,
                                   status_code=a.status_code, error=a.error, response_body=a.response_body)
                        for a in attempts])


@router.post("", response_model=WebhookCreated, status_code=201)
def create_webhook(body: WebhookIn, principal: Admin, session: WriteSession) -> WebhookCreated:
    row = create_subscription(session, workspace_id=principal.workspace_id, url=body.url, topics=body.topics,
                              description=body.description, active=body.active)
    return WebhookCreated(**WebhookOut.of(row).model_dump(), secret=row.secret)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(principal: Admin, session: ReadSession) -> list[WebhookOut]:
    return [WebhookOut.of(row) for row in list_subscriptions(session, principal.workspace_id)]


@router.get("/{webhook_id}", response_model=WebhookOut)
def read_webhook(webhook_id: str, principal: Admin, session: ReadSession) -> WebhookOut:
    return WebhookOut.of(get_subscription(session, principal.workspace_id, parse_id(webhook_id, "webhook")))


@router.patch("/{webhook_id}", response_model=WebhookOut)
def patch_webhook(webhook_id: str, body: WebhookPatch, principal: Admin, session: WriteSession) -> WebhookOut:
    change = SubscriptionChange(url=body.url, topics=body.topics, active=body.active, description=body.description)
    return WebhookOut.of(update_subscription(session, workspace_id=principal.workspace_id,
                                             subscription_id=parse_id(webhook_id, "webhook"), change=change))


class RotationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_hours: int = Field(default=24, ge=0, le=168, description=(
        "How long the old secret keeps signing beside the new one (0: revoke it now, e.g. after a leak)"))


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookCreated)
def rotate_webhook_secret(webhook_id: str, principal: Admin, session: WriteSession,
                          body: RotationIn | None = None) -> WebhookCreated:
    """A new secret, shown once; during the grace period each body carries two `v1` signatures."""
    grace = timedelta(hours=(body or RotationIn()).grace_hours)
    row = rotate_secret(session, workspace_id=principal.workspace_id,
                        subscription_id=parse_id(webhook_id, "webhook"), grace=grace)
    return WebhookCreated(**WebhookOut.of(row).model_dump(), secret=row.secret)


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: str, principal: Admin, session: WriteSession) -> Response:
    delete_subscription(session, workspace_id=principal.workspace_id, subscription_id=parse_id(webhook_id, "webhook"))
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
def webhook_deliveries(
    webhook_id: str, principal: Admin, session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(description="Only deliveries older than this delivery id")] = None,
) -> list[DeliveryOut]:
    rows = list_deliveries(session, workspace_id=principal.workspace_id,
                           subscription_id=parse_id(webhook_id, "webhook"), limit=limit,
                           before=None if before is None else parse_id(before, "delivery"))
    return [DeliveryOut.of(delivery, attempts) for delivery, attempts in rows]


@router.post("/{webhook_id}/test", response_model=DeliveryOut, status_code=202)
def test_webhook(webhook_id: str, principal: Admin, session: WriteSession) -> DeliveryOut:
    """Queue a `ping` delivery; the worker sends it within about a second (see its log for the answer)."""
    delivery = queue_ping(session, workspace_id=principal.workspace_id,
                          subscription_id=parse_id(webhook_id, "webhook"))
    return DeliveryOut.of(delivery, [])
