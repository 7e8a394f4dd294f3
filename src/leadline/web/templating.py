"""Jinja2 environments, one per locale (autoescaping on for every template), and the page renderer."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from leadline.web.i18n import Formats, translations
from leadline.web.labels import label_functions

TEMPLATES = Path(__file__).parent / "templates"
_loader = FileSystemLoader(TEMPLATES)


@cache
def environment(locale: str) -> Environment:
    env = Environment(loader=_loader, autoescape=select_autoescape(default=True, default_for_string=True),
                      extensions=["jinja2.ext.i18n"], undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, auto_reload=False)
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["locale"] = locale
    env.globals.update(label_functions(translations(locale).gettext))
    return env


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render `template` in the request's locale with the page context every template may use."""
    locale: str = request.state.locale
    user = getattr(request.state, "user", None)
    fmt = Formats(locale, user.timezone if user is not None else "UTC")
    html = environment(locale).get_template(template).render(
        request=request, user=user, fmt=fmt, csrf_token=getattr(request.state, "csrf_token", ""),
        path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def gettext_for(request: Request) -> Any:
    """`_` for messages made in Python (flash messages, errors), in the request's locale."""
    return translations(request.state.locale).gettext
