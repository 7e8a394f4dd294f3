"""Website tracking: the snippet (`/t.js`), its public batch endpoint (`/t/collect`) and the settings API."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from leadline.api.collect_writer import CollectWriter
from leadline.api.deps import Admin, DatabaseDep, Reader, ReadSession, WriteSession, gates
from leadline.api.errors import error_body
from leadline.api.rate_limits import IpRateLimit
from leadline.api.schemas import Strict
from leadline.core.lead_input import FieldProblem
from leadline.core.tracking import InvalidBatch, host_allowed, is_bot, normalise_domain, origin_host, parse_batch
from leadline.services.email_tracking import lead_of_link_identity
from leadline.services.errors import Invalid
from leadline.services.tracking import (
    Delivery,
    Site,
    SiteCache,
    configure_tracking,
    find_site,
    get_tracking,
    page_counts,
)
from leadline.snippet import snippet
from leadline.storage.database import Database
from leadline.storage.tables import TrackingSettings
from leadline.storage.types import utcnow

router = APIRouter(tags=["tracking"])
#: A batch holds at most 100 events; 256 KiB is far more than that needs.
MAX_BATCH_BYTES = 256 * 1024
SCRIPT_CACHE = "public, max-age=3600, stale-while-revalidate=86400"


@router.get("/t.js", name="tracking_script", include_in_schema=False)
async def tracking_script(request: Request) -> Response:
    """The snippet, minified, gzipped when the browser takes it, cached for an hour (ETag revalidation)."""
    asset = snippet()
    headers = {"Cache-Control": SCRIPT_CACHE, "ETag": asset.etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "cross-origin"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(asset.gzipped, media_type="application/javascript; charset=utf-8",
                        headers={**headers, "Content-Encoding": "gzip"})
    return Response(asset.body, media_type="application/javascript; charset=utf-8", headers=headers)


async def _site(request: Request, db: Database, key: str) -> Site | None:
    cache: SiteCache = request.app.state.sites
    known, site = cache.get(key)
    if not known:
        async with gates(request).read:
            with db.read() as session:
                site = find_site(session, key)
        cache.put(key, site)
    return site


def _writer(request: Request, db: Database) -> CollectWriter:
    writer: CollectWriter | None = getattr(request.app.state, "collect_writer", None)
    if writer is None:
        writer = request.app.state.collect_writer = CollectWriter(db, gates(request))
    return writer


def _error(status: int, message: str, problems: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(error_body(status, message, problems), status_code=status, headers=headers)


def _allowed_origin(request: Request, site: Site) -> dict[str, str] | None:
    """CORS headers for the sending site, or None when it is not one of the workspace's allowed domains."""
    origin = request.headers.get("origin")
    if not host_allowed(origin_host(origin or request.headers.get("referer")), site.allowed_domains):
        return None
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


@router.options("/t/collect", include_in_schema=False)
async def collect_preflight(request: Request, db: DatabaseDep, k: str = "") -> Response:
    site = await _site(request, db, k[:64])
    headers = _allowed_origin(request, site) if site is not None else None
    if headers is None:
        return Response(status_code=403)
    return Response(status_code=204, headers={**headers, "Access-Control-Allow-Methods": "POST",
                                              "Access-Control-Allow-Headers": "Content-Type",
                                              "Access-Control-Max-Age": "86400"})


@router.post("/t/collect", name="tracking_collect",
             responses={200: {"description": "What was stored: accepted, duplicates, counted (no consent), bots"},
                        400: {}, 403: {}, 404: {}, 413: {}, 415: {}, 422: {}, 429: {}})
async def collect_batch(request: Request, db: DatabaseDep,
                        k: Annotated[str, Query(max_length=64, description="The workspace's public key")] = ""
                        ) -> Response:
    """A batch from the snippet (text/plain or application/json). Public: the public key names the workspace,
    and the sending page must be on one of its allowed domains (Origin, else Referer)."""
    limit: IpRateLimit = request.app.state.tracking_limit
    if not limit.allow(request):
        return _error(429, "too many batches from this address", headers={"Retry-After": str(limit.retry_after)})
    site = await _site(request, db, k)
    if site is None:
        return _error(404, "unknown tracking key", [{"field": "k", "reason": "no workspace has this public key"}])
    headers = _allowed_origin(request, site)
    if headers is None:
        return _error(403, "this site may not send to this workspace",
                      [{"field": "origin", "reason": "not one of the workspace's allowed domains"}])
    if not request.headers.get("content-type", "").startswith(("text/plain", "application/json")):
        return _error(415, "send the batch as text/plain or application/json", headers=headers)
    body = await request.body()
    if len(body) > MAX_BATCH_BYTES:
        return _error(413, f"a batch is at most {MAX_BATCH_BYTES} bytes", headers=headers)
    try:
        batch = parse_batch(orjson.loads(body))
    except orjson.JSONDecodeError:
        return _error(400, "malformed JSON", [{"field": "body", "reason": "not JSON"}], headers=headers)
    except InvalidBatch as exc:
        return _error(422, "invalid batch", [{"field": p.field, "reason": p.reason} for p in exc.problems],
                      headers=headers)
    if any(e.token for e in batch.events):  # email-link identities: verified here, never trusted from the page
        key, now = request.app.state.settings.signing_key(), utcnow()
        batch = replace(batch, events=tuple(
            replace(e, lead_id=lead_of_link_identity(key, e.token, site.workspace_id, now)) if e.token else e
            for e in batch.events))
    delivery = Delivery(site, batch, bot=is_bot(request.headers.get("user-agent")),
                        gpc=request.headers.get("sec-gpc") == "1")
    result = await _writer(request, db).submit(delivery)
    return Response(orjson.dumps(result.as_dict()), media_type="application/json", headers=headers)


# --- settings ---------------------------------------------------------------------------------------------


class TrackingIn(Strict):
    allowed_domains: Annotated[list[Annotated[str, Field(min_length=1, max_length=253)]], Field(max_length=50)] \
        | None = None
    require_consent: bool | None = Field(default=None, description=(
        "Wait for leadline.consent(true) before storing or sending anything identified (default: yes)"))
    honour_gpc: bool | None = Field(default=None, description="Treat Global Privacy Control as a refusal")
    rotate_key: bool = False


class TrackingOut(BaseModel):
    public_key: str
    allowed_domains: list[str]
    require_consent: bool
    honour_gpc: bool
    script_url: str
    embed_code: str


def _tracking_out(request: Request, settings: TrackingSettings) -> TrackingOut:
    script = str(request.url_for("tracking_script"))
    extra = "" if settings.require_consent else ' data-require-consent="false"'
    extra += "" if settings.honour_gpc else ' data-honour-gpc="false"'
    return TrackingOut(public_key=settings.public_key, allowed_domains=list(settings.allowed_domains),
                       require_consent=settings.require_consent, honour_gpc=settings.honour_gpc, script_url=script,
                       embed_code=f'<script async src="{script}" data-key="{settings.public_key}"{extra}></script>')


@router.get("/api/v1/tracking", response_model=TrackingOut, responses={404: {}})
def show_tracking(request: Request, principal: Reader, session: ReadSession) -> TrackingOut:
    settings = get_tracking(session, principal.workspace_id)
    if settings is None:
        raise HTTPException(404, "website tracking is not set up: PUT /api/v1/tracking with allowed_domains")
    return _tracking_out(request, settings)


@router.put("/api/v1/tracking", response_model=TrackingOut)
def put_tracking(body: TrackingIn, request: Request, principal: Admin, session: WriteSession) -> TrackingOut:
    """Set up or change website tracking; the answer holds the code to paste into the site's pages."""
    for i, domain in enumerate(body.allowed_domains or []):
        try:
            normalise_domain(domain)
        except ValueError as exc:
            raise Invalid([FieldProblem(f"allowed_domains.{i}", str(exc))]) from exc
    settings = configure_tracking(session, principal.workspace_id, allowed_domains=body.allowed_domains,
                                  require_consent=body.require_consent, honour_gpc=body.honour_gpc,
                                  rotate_key=body.rotate_key)
    request.app.state.sites.clear()
    return _tracking_out(request, settings)


class PageCountOut(BaseModel):
    day: str
    audience: str
    path: str
    views: int


@router.get("/api/v1/tracking/page-counts", response_model=list[PageCountOut])
def show_page_counts(principal: Reader, session: ReadSession,
                     days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[PageCountOut]:
    """Page views counted without identifiers: `anonymous` (no consent) and `bot` (crawlers, headless)."""
    since = (utcnow() - timedelta(days=days - 1)).date()
    return [PageCountOut(day=c.day.isoformat(), audience=c.audience, path=c.path, views=c.views)
            for c in page_counts(session, principal.workspace_id, since=since)]
