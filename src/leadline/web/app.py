"""Mount the web app on the FastAPI application: pages, static files, security headers, error pages."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadline.web.auth import LoginRequired, PageError, request_locale
from leadline.web.routes import dashboard, leads, pipeline, scoring, session, tools, workspace
from leadline.web.templating import render

#: No inline script or style anywhere (htmx's own indicator styles are switched off in the page's config).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                           "base-uri 'none'; object-src 'none'")
#: Not the app's pages: the API, the snippet and its endpoint (cached, cross-site), the email links and
#: provider hooks, and the demo website (a stand-in for a customer's own site, with its own inline banner).
_API_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/healthz", "/f/", "/t.js", "/t/", "/e/", "/hooks/",
                 "/demo/site")


class SecurityHeaders:
    """nosniff everywhere; on the app's pages also a strict CSP, no framing, no referrer across origins."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = not str(scope.get("path", "")).startswith(_API_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if page:
                    headers += [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                                (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                                (b"cache-control", b"no-store")
                                if not str(scope.get("path", "")).startswith("/static/") else
                                (b"cache-control", b"public, max-age=3600")]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    app.state.login_limiter = session.LoginLimiter()
    app.mount("/static/vendor", StaticFiles(packages=[("js_lib_htmx", "static")]), name="vendor")
    app.mount("/static/app", StaticFiles(packages=[("leadline.web", "static")]), name="static")
    for module in (session, dashboard, leads, pipeline, scoring, workspace, tools):
        app.include_router(module.router, include_in_schema=False)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = "/login?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                                        safe="")
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        if not hasattr(request.state, "locale"):
            request.state.locale = request_locale(request)
        return render(request, "error.html", {"status": exc.status, "message": exc.message},
                      status_code=exc.status)

    app.add_middleware(SecurityHeaders)
