"""Who is browsing: the session cookie, the CSRF check on every form, and the errors pages turn into."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request

from leadline.api.deps import DatabaseDep, gates
from leadline.services.logins import SessionUser, session_user
from leadline.web.i18n import negotiate
from leadline.web.templating import gettext_for

SESSION_COOKIE = "leadline_session"
LOGIN_CSRF_COOKIE = "leadline_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """No valid session: the page answers with a redirect to the login form."""


class PageError(Exception):
    """A page that cannot be shown (404, 403, 400), rendered as HTML with its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def request_locale(request: Request) -> str:
    user: SessionUser | None = getattr(request.state, "user", None)
    if user is not None and user.locale:
        return user.locale
    return negotiate(request.headers.get("accept-language"))


def secure_cookies(request: Request) -> bool:
    """Secure cookies whenever the app is reached over HTTPS (directly or as the configured public URL)."""
    return request.url.scheme == "https" or str(request.app.state.settings.app_url).startswith("https://")


async def web_user(request: Request, db: DatabaseDep) -> SessionUser:
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token and len(token) < 200:
        async with gates(request).read:
            with db.read() as session:
                user = session_user(session, token)
    if user is None:
        raise LoginRequired()
    request.state.user = user
    request.state.locale = request_locale(request)
    request.state.csrf_token = user.csrf_token
    return user


async def checked_user(request: Request, user: Annotated[SessionUser, Depends(web_user)]) -> SessionUser:
    """The user of a state-changing request whose CSRF token (form field or htmx header) matches its session."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent.encode(), user.csrf_token.encode()):
        _ = gettext_for(request)
        raise PageError(403, _("This form has expired: reload the page and try again."))
    return user


WebUser = Annotated[SessionUser, Depends(web_user)]
PostingUser = Annotated[SessionUser, Depends(checked_user)]
