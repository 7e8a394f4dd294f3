"""Email rendering in sandboxed Jinja2.

Templates see plain data only (`lead`, `company`, `owner`, `unsubscribe_url`), built from the rows here; the
sandbox refuses attribute access to Python internals (`__class__`, `__globals__`, ...), so a template written in
the UI cannot reach the process. HTML output is autoescaped. After rendering, links in the HTML part are
rewritten to signed click links and an open pixel is appended (when tracking is on for the message).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

_HTML_ENV = SandboxedEnvironment(autoescape=True, undefined=ChainableUndefined)
_TEXT_ENV = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined)
_HREF = re.compile(r"""href\s*=\s*(["'])(https?://[^"'<>\s]+)\1""", re.IGNORECASE)
_CACHE: dict[tuple[str, str], Template] = {}
MAX_CACHE = 2000


class TemplateProblem(ValueError):
    pass


def compile_template(source: str, *, html_part: bool) -> Template:
    key = ("h" if html_part else "t", source)
    template = _CACHE.get(key)
    if template is None:
        try:
            template = (_HTML_ENV if html_part else _TEXT_ENV).from_string(source)
        except TemplateError as error:
            raise TemplateProblem(str(error)) from None
        if len(_CACHE) > MAX_CACHE:
            _CACHE.clear()
        _CACHE[key] = template
    return template


def check_templates(parts: Mapping[str, str | None]) -> list[tuple[str, str]]:
    """Syntax problems per part (`subject`, `html`, `text`), for validation before a workflow is saved."""
    problems = []
    for name, source in parts.items():
        if source is None:
            continue
        try:
            compile_template(source, html_part=name == "html")
        except TemplateProblem as error:
            problems.append((name, f"template error: {error}"))
    return problems


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def render(template: Mapping[str, Any], context: Mapping[str, Any], *,
           link: Callable[[str], str] | None = None, pixel_url: str | None = None) -> Rendered:
    """Render subject, text and HTML. Raises TemplateProblem (including the sandbox's SecurityError)."""
    try:
        subject = compile_template(template["subject"], html_part=False).render(context)
        text = compile_template(template["text"], html_part=False).render(context)
        body = template.get("html")
        rendered_html = compile_template(body, html_part=True).render(context) if body else None
    except TemplateError as error:  # SecurityError is one
        raise TemplateProblem(f"{type(error).__name__}: {error}") from None
    if rendered_html is not None:
        if link is not None:
            rendered_html = _HREF.sub(lambda m: f'href={m[1]}{html.escape(link(html.unescape(m[2])))}{m[1]}',
                                      rendered_html)
        if pixel_url is not None:
            img = f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" style="display:none">'
            at = rendered_html.lower().rfind("</body>")
            rendered_html = rendered_html[:at] + img + rendered_html[at:] if at >= 0 else rendered_html + img
    return Rendered(" ".join(subject.split())[:500], text, rendered_html)
