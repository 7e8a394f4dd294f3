"""Broadcasts (one-off sends to a segment), the workspace's sending settings, and the inbound endpoint for
bounce and complaint notifications from email providers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr

from leadline.api.deps import Admin, DatabaseDep, Reader, ReadSession, WriteSession, gates, parse_id
from leadline.api.errors import error_body
from leadline.config import Settings
from leadline.core.email_feedback import UnknownFormat, parse_feedback
from leadline.services import broadcasts
from leadline.storage.tables import Broadcast, NurtureSettings

router = APIRouter(tags=["broadcasts"])
MAX_INBOUND = 1024 * 1024


class TemplateIn(BaseModel):
    subject: str = Field(min_length=1, max_length=500, description="Jinja2 (sandboxed): lead, company, owner")
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(None, max_length=200_000)
    from_name: str | None = Field(None, max_length=200)


class BroadcastIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    segment_id: str = Field(max_length=20)
    template: TemplateIn
    send: bool = Field(False, description="Queue it at once (otherwise POST .../send later)")


class BroadcastOut(BaseModel):
    id: str
    name: str
    segment_id: str
    status: str = Field(description="draft or queued")
    recipients: int
    template: dict[str, Any]
    created_at: datetime
    queued_at: datetime | None
    emails: dict[str, int] | None = None
    opened: int | None = None
    clicked: int | None = None
    unsubscribed: int | None = None

    @classmethod
    def of(cls, b: Broadcast, stats: broadcasts.BroadcastStats | None = None) -> BroadcastOut:
        extra: dict[str, Any] = {}
        if stats is not None:
            extra = {"emails": stats.emails, "opened": stats.opened, "clicked": stats.clicked,
                     "unsubscribed": stats.unsubscribed}
        return cls(id=str(b.id), name=b.name, segment_id=str(b.segment_id), status=b.status,
                   recipients=b.recipients, template=b.template, created_at=b.created_at, queued_at=b.queued_at,
                   **extra)


class SettingsIn(BaseModel):
    smtp_host: str | None = Field(None, max_length=253)
    smtp_port: int | None = Field(None, ge=1, le=65535)
    smtp_starttls: bool | None = None
    smtp_user: str | None = Field(None, max_length=200)
    smtp_password: SecretStr | None = Field(None, max_length=500, description="Write-only")
    from_address: str | None = Field(None, max_length=320, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    from_name: str | None = Field(None, max_length=200)
    frequency_cap: int | None = Field(None, ge=1, le=1000, description="Marketing emails per lead per period")
    frequency_days: int | None = Field(None, ge=1, le=365)
    window_start_hour: int | None = Field(None, ge=0, le=23, description="Send window start (local hour)")
    window_end_hour: int | None = Field(None, ge=0, le=24)
    timezone: str | None = Field(None, max_length=64, description="IANA zone for leads without custom.timezone")
    per_minute: int | None = Field(None, ge=1, le=1_000_000, description="Throttle for the workspace")


class SettingsOut(BaseModel):
    smtp_host: str | None
    smtp_port: int | None
    smtp_starttls: bool | None
    smtp_user: str | None
    smtp_password_set: bool
    from_address: str | None
    from_name: str | None
    frequency_cap: int | None
    frequency_days: int
    window_start_hour: int | None
    window_end_hour: int | None
    timezone: str
    per_minute: int | None
    inbound_url: str = Field(description="Give this URL to your provider for bounce and complaint notifications")

    @classmethod
    def of(cls, row: NurtureSettings, inbound_url: str) -> SettingsOut:
        return cls(smtp_host=row.smtp_host, smtp_port=row.smtp_port, smtp_starttls=row.smtp_starttls,
                   smtp_user=row.smtp_user, smtp_password_set=bool(row.smtp_password),
                   from_address=row.from_address, from_name=row.from_name, frequency_cap=row.frequency_cap,
                   frequency_days=row.frequency_days or 7, window_start_hour=row.window_start_hour,
                   window_end_hour=row.window_end_hour, timezone=row.timezone or "UTC", per_minute=row.per_minute,
                   inbound_url=inbound_url)


def _key(request: Request) -> bytes:
    settings: Settings = request.app.state.settings
    return settings.signing_key()


def _inbound_url(request: Request, workspace_id: int) -> str:
    return str(request.url_for("email_feedback", token=broadcasts.inbound_token(_key(request), workspace_id)))


@router.post("/api/v1/broadcasts", response_model=BroadcastOut, status_code=201)
def create(body: BroadcastIn, principal: Admin, session: WriteSession) -> BroadcastOut:
    row = broadcasts.create_broadcast(session, workspace_id=principal.workspace_id, name=body.name,
                                      segment_id=parse_id(body.segment_id, "segment"),
                                      template=body.template.model_dump(exclude_none=True),
                                      actor=f"api_key:{principal.key_id}")
    if body.send:
        row = broadcasts.send_broadcast(session, workspace_id=principal.workspace_id, broadcast_id=row.id)
    return BroadcastOut.of(row)


@router.get("/api/v1/broadcasts", response_model=list[BroadcastOut])
def index(principal: Reader, session: ReadSession) -> list[BroadcastOut]:
    return [BroadcastOut.of(b) for b in broadcasts.list_broadcasts(session, workspace_id=principal.workspace_id)]


@router.get("/api/v1/broadcasts/{broadcast_id}", response_model=BroadcastOut)
def read(broadcast_id: str, principal: Reader, session: ReadSession) -> BroadcastOut:
    """The broadcast with its emails by state, opens, clicks and unsubscribes."""
    bid = parse_id(broadcast_id, "broadcast")
    row = broadcasts.get_broadcast(session, workspace_id=principal.workspace_id, broadcast_id=bid)
    return BroadcastOut.of(row, broadcasts.broadcast_stats(session, workspace_id=principal.workspace_id,
                                                           broadcast_id=bid))


@router.post("/api/v1/broadcasts/{broadcast_id}/send", response_model=BroadcastOut)
def send(broadcast_id: str, principal: Admin, session: WriteSession) -> BroadcastOut:
    """Queue one email per current segment member (409 when already sent)."""
    return BroadcastOut.of(broadcasts.send_broadcast(session, workspace_id=principal.workspace_id,
                                                     broadcast_id=parse_id(broadcast_id, "broadcast")))


@router.get("/api/v1/email/settings", response_model=SettingsOut)
def read_settings(request: Request, principal: Admin, session: ReadSession) -> SettingsOut:
    row = broadcasts.sending_settings(session, workspace_id=principal.workspace_id)
    return SettingsOut.of(row, _inbound_url(request, principal.workspace_id))


@router.patch("/api/v1/email/settings", response_model=SettingsOut)
def change_settings(body: SettingsIn, request: Request, principal: Admin, session: WriteSession) -> SettingsOut:
    """Change the given fields (SMTP per workspace; unset ones fall back to the instance's LEADLINE_SMTP_*)."""
    changes = body.model_dump(exclude_unset=True)
    if isinstance(changes.get("smtp_password"), SecretStr):
        changes["smtp_password"] = changes["smtp_password"].get_secret_value()
    row = broadcasts.update_sending_settings(session, workspace_id=principal.workspace_id, changes=changes)
    return SettingsOut.of(row, _inbound_url(request, principal.workspace_id))


@router.post("/hooks/email/{token}", name="email_feedback", tags=["email links"],
             responses={404: {"description": "Unknown token"}, 422: {"description": "Unknown format"}})
async def email_feedback(token: Annotated[str, Field(max_length=500)], request: Request,
                         db: DatabaseDep) -> JSONResponse:
    """Bounce and complaint notifications (Amazon SES via SNS, Postmark, SendGrid): hard bounces and complaints
    put the address on the suppression list. The URL's token (from GET /api/v1/email/settings) authenticates."""
    key = _key(request)
    workspace_id = broadcasts.workspace_of_inbound(key, token)
    if workspace_id is None:
        return JSONResponse(error_body(404, "unknown notification URL"), status_code=404)
    raw = await request.body()
    if len(raw) > MAX_INBOUND:
        return JSONResponse(error_body(413, "notification too large"), status_code=413)
    try:
        parsed = parse_feedback(json.loads(raw))
    except (ValueError, UnknownFormat) as error:
        return JSONResponse(error_body(422, "not a bounce or complaint notification",
                                       [{"field": "body", "reason": str(error)[:300]}]), status_code=422)
    async with gates(request).write:
        with db.write() as session:
            suppressed = broadcasts.apply_feedback(session, key=key, workspace_id=workspace_id, parsed=parsed)
    answer: dict[str, Any] = {"provider": parsed.provider, "suppressed": suppressed, "ignored": parsed.ignored}
    if parsed.subscribe_url:
        answer["note"] = "SNS subscription: confirm it by opening its SubscribeURL (Leadline never fetches it)"
    return JSONResponse(answer)
