"""The public side of marketing email: open pixel, click redirects and one-click unsubscribe (RFC 8058).

Every link carries a signed token: a tampered or foreign token gets 404 (the pixel is served anyway), and a
click only ever redirects to the URL its own token signed, so these endpoints are no open redirect.
"""

from __future__ import annotations

import base64
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadline.api.deps import DatabaseDep, gates
from leadline.config import Settings
from leadline.services import email_tracking

router = APIRouter(tags=["email links"], include_in_schema=True)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


def _key(request: Request) -> bytes:
    settings: Settings = request.app.state.settings
    return settings.signing_key()


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
                        f"<meta name=viewport content='width=device-width'></head><body><main>"
                        f"<h1>{escape(title)}</h1>{body}</main></body></html>", status_code=status, headers=NO_STORE)


@router.get("/e/o/{token}.gif", include_in_schema=False)
async def open_pixel(token: str, request: Request, db: DatabaseDep) -> Response:
    async with gates(request).write:
        with db.write() as session:
            email_tracking.record_open(session, key=_key(request), token=token)
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/e/c/{token}", include_in_schema=False)
async def click(token: str, request: Request, db: DatabaseDep) -> Response:
    async with gates(request).write:
        with db.write() as session:
            url = email_tracking.record_click(session, key=_key(request), token=token)
    if url is None:
        return _page("Link not found", "<p>This link is not valid.</p>", 404)
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


@router.get("/e/u/{token}", include_in_schema=False)
async def unsubscribe_page(token: str, request: Request) -> Response:
    """A confirmation page (link scanners follow GET links: only the POST unsubscribes)."""
    if email_tracking.check_unsubscribe(_key(request), token) is None:
        return _page("Link not found", "<p>This unsubscribe link is not valid.</p>", 404)
    action = escape(str(request.url_for("unsubscribe", token=token)))
    return _page("Unsubscribe", f"<form method=post action='{action}'><p>Stop receiving these emails?</p>"
                 "<button type=submit>Unsubscribe</button></form>")


@router.post("/e/u/{token}", include_in_schema=False, name="unsubscribe")
async def unsubscribe(token: str, request: Request, db: DatabaseDep) -> Response:
    """One-click unsubscribe: mail clients POST `List-Unsubscribe=One-Click` here; the page's button too."""
    async with gates(request).write:
        with db.write() as session:
            done = email_tracking.unsubscribe(session, key=_key(request), token=token)
    if done is None:
        return _page("Link not found", "<p>This unsubscribe link is not valid.</p>", 404)
    return _page("You are unsubscribed", "<p>You will not receive these emails any more.</p>")
