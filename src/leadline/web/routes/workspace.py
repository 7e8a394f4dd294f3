"""Segments, reports and settings (users and logins, API keys, webhooks)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from leadline.api.deps import ReadSession, WriteSession
from leadline.core.leads import Scope
from leadline.core.webhooks import TOPICS
from leadline.services import logins
from leadline.services.errors import ServiceError
from leadline.services.lead_table import latest_created
from leadline.services.reports.channels import channel_report
from leadline.services.reports.cohorts import Period
from leadline.services.reports.funnel import funnel_report
from leadline.services.segments.catalog import count_filter, create_segment, list_segments, parse_or_invalid
from leadline.services.users import list_users
from leadline.services.webhooks import create_subscription, list_subscriptions
from leadline.services.workspaces import create_api_key, list_api_keys, revoke_api_key
from leadline.storage.tables import SegmentMembership, Workspace
from leadline.storage.types import utcnow
from leadline.web.auth import PageError, PostingUser, WebUser
from leadline.web.templating import gettext_for, render

router = APIRouter()


@router.get("/segments")
def segments_page(request: Request, user: WebUser, session: ReadSession) -> Response:
    segments = list_segments(session, user.workspace_id)
    counts = dict(session.execute(select(SegmentMembership.segment_id, func.count()).where(
        SegmentMembership.workspace_id == user.workspace_id).group_by(SegmentMembership.segment_id)).all())
    return render(request, "segments.html", {"segments": segments, "counts": counts,
                                             "notice": request.query_params.get("notice", "")[:300],
                                             "error": request.query_params.get("error", "")[:300]})


@router.post("/segments/count")
def segment_count(request: Request, user: PostingUser, session: ReadSession,
                  filter: Annotated[str, Form(max_length=20_000)]) -> Response:
    """How many leads a filter matches now (the segment form's preview)."""
    _ = gettext_for(request)
    try:
        count = count_filter(session, user.workspace_id, parse_or_invalid(filter))
    except ServiceError as exc:
        reason = "; ".join(f"{p.field}: {p.reason}" for p in getattr(exc, "problems", [])) or exc.message
        return render(request, "_segment_count.html", {"count": None, "problem": reason})
    return render(request, "_segment_count.html", {"count": count, "problem": ""})


@router.post("/segments")
def segment_create(request: Request, user: PostingUser, session: WriteSession,
                   name: Annotated[str, Form(min_length=1, max_length=200)],
                   kind: Annotated[str, Form(max_length=10)] = "dynamic",
                   filter: Annotated[str, Form(max_length=20_000)] = "",
                   description: Annotated[str, Form(max_length=2000)] = "") -> Response:
    _ = gettext_for(request)
    if not user.can_edit_scoring:
        raise PageError(403, _("Only marketers and admins use these tools."))
    try:
        with session.begin_nested():
            create_segment(session, user.workspace_id, name=name.strip(), kind=kind,
                           filter=filter.strip() if kind == "dynamic" else None,
                           description=description.strip() or None)
    except ServiceError as exc:
        reason = "; ".join(f"{p.field}: {p.reason}" for p in getattr(exc, "problems", [])) or exc.message
        return RedirectResponse("/segments?" + urlencode({"error": reason[:300]}), status_code=303)
    return RedirectResponse("/segments?" + urlencode({"notice": _("Segment created.")}), status_code=303)


@router.get("/reports")
def reports_page(request: Request, user: WebUser, session: ReadSession, days: int = 365) -> Response:
    days = days if 0 < days <= 3650 else 365
    newest = latest_created(session, workspace_id=user.workspace_id)
    end = min(utcnow(), newest + timedelta(days=1)) if newest is not None else utcnow()
    period = Period(end - timedelta(days=days), end)
    funnel = funnel_report(session, workspace_id=user.workspace_id, period=period, as_of=end).total
    channels = channel_report(session, workspace_id=user.workspace_id, period=period)
    return render(request, "reports.html", {"days": days, "start": period.start, "end": end, "funnel": funnel,
                                            "channels": sorted(channels, key=lambda r: -r.leads)})


def _admin(request: Request, user: logins.SessionUser) -> None:
    if not user.is_admin:
        _ = gettext_for(request)
        raise PageError(403, _("Only admins see the settings."))


def _settings(request: Request, user: logins.SessionUser, session: Session, **extra: object) -> Response:
    return render(request, "settings.html", {
        "users": list_users(session, workspace_id=user.workspace_id),
        "keys": list_api_keys(session, user.workspace_id),
        "webhooks": list_subscriptions(session, user.workspace_id),
        "roles": [r.value for r in logins.LoginRole], "scopes": [s.value for s in Scope], "topics": TOPICS,
        "notice": request.query_params.get("notice", "")[:300],
        "error": request.query_params.get("error", "")[:300], "new_key": None, "new_secret": None, **extra})


@router.get("/settings")
def settings_page(request: Request, user: WebUser, session: ReadSession) -> Response:
    _admin(request, user)
    return _settings(request, user, session)


@router.post("/settings/keys")
async def create_key(request: Request, user: PostingUser, session: WriteSession,
                     name: Annotated[str, Form(max_length=200)] = "") -> Response:
    """A new API key, shown once on the page that answers (only its hash is kept)."""
    _admin(request, user)
    _ = gettext_for(request)
    form = await request.form()
    wanted = [str(v) for v in form.getlist("scope") if str(v) in Scope._value2member_map_]
    if not wanted:
        return RedirectResponse("/settings?" + urlencode({"error": _("Choose at least one scope.")}),
                                status_code=303)
    workspace = session.get(Workspace, user.workspace_id)
    assert workspace is not None
    token = create_api_key(session, workspace, frozenset(Scope(v) for v in wanted), name=name.strip() or "web")
    return _settings(request, user, session, new_key=token)


@router.post("/settings/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: int, user: PostingUser, session: WriteSession) -> Response:
    _admin(request, user)
    _ = gettext_for(request)
    if not 0 < key_id < 2**63 or not revoke_api_key(session, user.workspace_id, key_id):
        raise PageError(404, "")
    return RedirectResponse("/settings?" + urlencode({"notice": _("Key revoked.")}), status_code=303)


@router.post("/settings/webhooks")
async def create_webhook(request: Request, user: PostingUser, session: WriteSession,
                         url: Annotated[str, Form(max_length=2000)],
                         description: Annotated[str, Form(max_length=200)] = "") -> Response:
    """A webhook subscription (URL checked against private addresses); its signing secret is shown once."""
    _admin(request, user)
    form = await request.form()
    topics = [str(v) for v in form.getlist("topic")][:50]
    try:
        with session.begin_nested():
            row = await run_in_threadpool(lambda: create_subscription(
                session, workspace_id=user.workspace_id, url=url.strip(), topics=topics,
                description=description.strip() or None))
    except ServiceError as exc:
        reason = "; ".join(p.reason for p in getattr(exc, "problems", [])) or exc.message
        return RedirectResponse("/settings?" + urlencode({"error": reason[:300]}), status_code=303)
    return _settings(request, user, session, new_secret=row.secret)


@router.post("/settings/users")
def create_login(request: Request, user: PostingUser, session: WriteSession,
                 email: Annotated[str, Form(max_length=320)], password: Annotated[str, Form(max_length=1024)],
                 role: Annotated[str, Form(max_length=20)],
                 name: Annotated[str, Form(max_length=200)] = "") -> Response:
    _admin(request, user)
    _ = gettext_for(request)
    if role not in logins.LoginRole._value2member_map_:
        return RedirectResponse("/settings?" + urlencode({"error": _("Choose a role.")}), status_code=303)
    try:
        with session.begin_nested():
            logins.create_login(session, workspace_id=user.workspace_id, email=email, password=password,
                                role=logins.LoginRole(role), name=name or None)
    except (ServiceError, ValueError) as exc:
        reason = "; ".join(p.reason for p in getattr(exc, "problems", [])) or str(exc)
        return RedirectResponse("/settings?" + urlencode({"error": reason[:300]}), status_code=303)
    return RedirectResponse("/settings?" + urlencode({"notice": _("Login created.")}), status_code=303)
