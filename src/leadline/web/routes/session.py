"""Logging in and out, and the language switch."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from leadline.api.deps import DatabaseDep, gates
from leadline.services import logins
from leadline.services.errors import Invalid
from leadline.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    PageError,
    PostingUser,
    request_locale,
    secure_cookies,
)
from leadline.web.templating import gettext_for, render

router = APIRouter()


class LoginLimiter:
    """Login attempts per client address and per email, in a moving window (per process: several processes
    each keep their own count, which still bounds guessing to a few attempts per minute)."""

    def __init__(self, per_email: str = "10/minute", per_address: str = "30/minute") -> None:
        self._window = MovingWindowRateLimiter(MemoryStorage())
        self._email, self._address = parse(per_email), parse(per_address)

    def allow(self, address: str, email: str) -> bool:
        by_address = self._window.hit(self._address, "address", address)
        return self._window.hit(self._email, "email", email.strip().lower()[:320]) and by_address


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no //host): an open redirect would help phishing."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, *, next_url: str, error: str | None = None, email: str = "",
                workspace: str = "", status: int = 200) -> Response:
    request.state.locale = request_locale(request)
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", {"next_url": next_url, "error": error, "email": email,
                                              "workspace": workspace, "login_csrf": token}, status_code=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request),
                        max_age=3600, path="/login")
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_url=_safe_next(next))


@router.post("/login")
async def login(request: Request, db: DatabaseDep, email: Annotated[str, Form(max_length=320)],
                password: Annotated[str, Form(max_length=1024)],
                csrf_token: Annotated[str, Form(max_length=100)] = "",
                workspace: Annotated[str, Form(max_length=64)] = "",
                next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    request.state.locale = request_locale(request)
    _ = gettext_for(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(request, next_url=_safe_next(next), email=email, workspace=workspace, status=400,
                           error=_("Your login form expired. Please try again."))
    limiter: LoginLimiter = request.app.state.login_limiter
    if not limiter.allow(request.client.host if request.client else "?", email):
        return _login_page(request, next_url=_safe_next(next), email=email, workspace=workspace, status=429,
                           error=_("Too many login attempts. Wait a minute and try again."))
    try:
        async with gates(request).write:
            with db.write() as session:
                done = logins.log_in(session, email=email, password=password, workspace=workspace or None)
    except Invalid as exc:
        several = exc.problems[0].field == "workspace"
        message = (_("This email has logins in several workspaces: name the workspace.") if several
                   else _("Wrong email or password."))
        return _login_page(request, next_url=_safe_next(next), email=email, workspace=workspace, status=400,
                           error=message)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, done.token, httponly=True, samesite="lax", secure=secure_cookies(request),
                        max_age=int(logins.SESSION_LIFETIME.total_seconds()), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, db: DatabaseDep, user: PostingUser) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    async with gates(request).write:
        with db.write() as session:
            logins.log_out(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/locale")
async def change_locale(request: Request, db: DatabaseDep, user: PostingUser,
                        locale: Annotated[str, Form(max_length=8)],
                        next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    try:
        async with gates(request).write:
            with db.write() as session:
                logins.set_locale(session, workspace_id=user.workspace_id, user_id=user.user_id, locale=locale)
    except Invalid as exc:
        raise PageError(400, exc.problems[0].reason) from exc
    return RedirectResponse(_safe_next(next), status_code=303)
