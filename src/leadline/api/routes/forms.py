"""Forms: managed through the API; submitted publicly from any website to `/f/{key}`, rendered by the snippet
(`/f/{key}/definition`) or hosted by Leadline (`GET /f/{key}`)."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from leadline.api.deps import Admin, DatabaseDep, Reader, ReadSession, WriteSession, gates
from leadline.api.errors import error_body
from leadline.api.form_pages import form_html, page
from leadline.api.rate_limits import IpRateLimit
from leadline.api.schemas import FormIn, FormOut
from leadline.core.channels import TOUCH_FIELDS
from leadline.core.lead_input import InvalidLeadInput
from leadline.core.tracking import (
    ConsentBox,
    FormField,
    InvalidBatch,
    host_allowed,
    origin_host,
    parse_consent_boxes,
    parse_fields,
    timing_token,
)
from leadline.services.errors import Invalid
from leadline.services.forms import consent_boxes, create_form, find_form, form_fields, list_forms, submit_form
from leadline.services.tracking import site_of_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Form
from leadline.storage.types import utcnow

router = APIRouter(tags=["forms"])
MAX_FIELDS = 60
MAX_VALUE = 2000


def _out(request: Request, form: Form) -> FormOut:
    action = str(request.url_for("submit_form", form_key=form.key))
    hosted = str(request.url_for("hosted_form", form_key=form.key)) if form.fields else None
    script = str(request.url_for("tracking_script"))
    embed = (f'<div data-leadline-form="{form.key}"></div>\n<script async src="{script}" data-key="PUBLIC_KEY">'
             "</script>") if form.fields else None
    return FormOut(id=str(form.id), key=form.key, name=form.name, redirect_url=form.redirect_url,
                   honeypot_field=form.honeypot_field, action_url=action, fields=form.fields,
                   consent_boxes=form.consent_boxes, thank_you_message=form.thank_you_message,
                   double_opt_in=form.double_opt_in, min_fill_seconds=form.min_fill_seconds, hosted_url=hosted,
                   embed_code=embed)


@router.post("/api/v1/forms", response_model=FormOut, status_code=201)
def create(body: FormIn, request: Request, principal: Admin, session: WriteSession) -> FormOut:
    fields: list[FormField] | None = None
    boxes: list[ConsentBox] | None = None
    try:
        if body.fields is not None:
            fields = parse_fields([f.model_dump() for f in body.fields], honeypot=body.honeypot_field)
        if body.consent_boxes is not None:
            boxes = parse_consent_boxes([b.model_dump() for b in body.consent_boxes])
    except InvalidBatch as exc:
        raise Invalid(exc.problems) from exc
    return _out(request, create_form(
        session, principal.workspace_id, name=body.name, redirect_url=body.redirect_url,
        honeypot_field=body.honeypot_field, fields=fields, consent_boxes=boxes,
        thank_you_message=body.thank_you_message, double_opt_in=body.double_opt_in,
        min_fill_seconds=body.min_fill_seconds))


@router.get("/api/v1/forms", response_model=list[FormOut])
def index(request: Request, principal: Reader, session: ReadSession) -> list[FormOut]:
    return [_out(request, form) for form in list_forms(session, principal.workspace_id)]


def _fields(form_data: FormData) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in list(form_data.multi_items())[:MAX_FIELDS]:
        if isinstance(value, str) and key not in fields:
            fields[key[:64]] = value[:MAX_VALUE]
    return fields


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _cors(request: Request, session: Session, form: Form) -> dict[str, str] | None:
    """CORS headers for the calling site; None when the site may not use this form.

    No `Origin` (a plain navigation from an old browser) or Leadline's own host (the hosted page) is fine.
    Once the workspace lists its sites (tracking settings), any other site is refused; before that, plain HTML
    forms on any site keep working, but no other site may read the answer.
    """
    origin = request.headers.get("origin")
    host = origin_host(origin)
    if origin is None or host == (request.url.hostname or "").lower():
        return {}
    site = site_of_workspace(session, form.workspace_id)
    if site is None or not site.allowed_domains:
        return {}
    if not host_allowed(host, site.allowed_domains):
        return None
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _forbidden() -> Response:
    return JSONResponse(error_body(403, "this site may not use this form", [
        {"field": "origin", "reason": "not one of the workspace's allowed domains"}]), status_code=403)


def _thanks(request: Request, form: Form, headers: dict[str, str]) -> Response:
    if _wants_json(request):
        return JSONResponse({"status": "ok", "redirect_url": form.redirect_url,
                             "message": form.thank_you_message}, status_code=200, headers=headers)
    if form.redirect_url:
        return RedirectResponse(form.redirect_url, status_code=303)
    message = form.thank_you_message or f"Thank you! {form.name} received."
    return HTMLResponse(page("Thank you", f'<p role="status">{escape(message)}</p>'))


def _timing(request: Request, form: Form) -> str:
    return timing_token(request.app.state.settings.signing_key(), form.key, utcnow())


def _definition(request: Request, form: Form) -> dict[str, Any]:
    return {"key": form.key, "name": form.name, "action_url": str(request.url_for("submit_form", form_key=form.key)),
            "fields": form.fields or [], "consent_boxes": form.consent_boxes or [],
            "honeypot_field": form.honeypot_field, "timing": _timing(request, form),
            "thank_you_message": form.thank_you_message, "redirect_url": form.redirect_url}


@router.get("/f/{form_key}/definition", name="form_definition",
            responses={404: {"description": "No such embeddable form"}})
def definition(form_key: str, request: Request, session: ReadSession) -> Response:
    """What the snippet renders: fields, consent boxes (never pre-ticked), the honeypot's name and a signed
    timing token. Readable only from the workspace's allowed sites (CORS)."""
    form = find_form(session, form_key)
    if form is None or not form.fields:
        return JSONResponse(error_body(404, "form not found"), status_code=404)
    headers = _cors(request, session, form)
    if headers is None:
        return _forbidden()
    return JSONResponse(_definition(request, form), headers={**headers, "Cache-Control": "no-store"})


@router.get("/f/{form_key}", name="hosted_form", response_class=HTMLResponse,
            responses={404: {"description": "No such embeddable form"}})
def hosted(form_key: str, request: Request, session: ReadSession) -> Response:
    """The form as a page of its own; UTM fields and click ids in its address are passed on as hidden fields."""
    form = find_form(session, form_key)
    if form is None or not form.fields:
        return HTMLResponse(page("Not found", "<p>This form does not exist.</p>"), status_code=404)
    hidden = {name: request.query_params.get(name, "")[:500] for name in TOUCH_FIELDS if name != "channel"}
    fields = form_fields(form)
    values = {f.name: request.query_params.get(f.name, "")[:500] for f in fields if f.type == "hidden"}
    body = form_html(key=form.key, name=form.name, action=str(request.url_for("submit_form", form_key=form.key)),
                     fields=fields, boxes=consent_boxes(form), honeypot=form.honeypot_field,
                     timing=_timing(request, form), hidden=hidden, values=values)
    return HTMLResponse(page(form.name, body), headers={"Cache-Control": "no-store"})


@router.post("/f/{form_key}", name="submit_form", include_in_schema=True,
             responses={303: {"description": "Redirect to the thank-you page"}, 403: {}, 404: {}, 422: {},
                        429: {"description": "Too many submissions from this address"}})
async def submit(form_key: str, request: Request, db: DatabaseDep) -> Response:
    """Public endpoint for HTML forms (urlencoded or multipart). Fills empty lead fields only."""
    limit: IpRateLimit = request.app.state.form_limit
    if not limit.allow(request):
        return JSONResponse(error_body(429, "too many submissions from this address; try again in a minute"),
                            status_code=429, headers={"Retry-After": str(limit.retry_after)})
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return JSONResponse(error_body(415, "post the form as application/x-www-form-urlencoded"), status_code=415)
    try:
        fields = _fields(await request.form(max_files=0, max_fields=MAX_FIELDS * 2))
    except Exception:  # malformed multipart: Starlette raises assorted parser errors
        return JSONResponse(error_body(400, "malformed form body"), status_code=400)
    async with gates(request).write:
        return _submit(request, db, form_key, fields)


def _submit(request: Request, db: Database, form_key: str, fields: dict[str, str]) -> Response:
    with db.write() as session:
        form = find_form(session, form_key)
        if form is None:
            return JSONResponse(error_body(404, "form not found"), status_code=404)
        headers = _cors(request, session, form)
        if headers is None:
            return _forbidden()
        # Read before the submission: a rollback expires the form's attributes.
        key, name, honeypot, definition, boxes = (form.key, form.name, form.honeypot_field, form_fields(form),
                                                  consent_boxes(form))
        try:
            submit_form(session, form, fields, secret=request.app.state.settings.signing_key(),
                        ip=request.client.host if request.client else None,
                        user_agent=request.headers.get("user-agent"))
        except InvalidLeadInput as exc:
            session.rollback()
            problems = [{"field": p.field, "reason": p.reason} for p in exc.problems]
            if _wants_json(request):
                return JSONResponse(error_body(422, "invalid form", problems), status_code=422, headers=headers)
            if definition:  # show the hosted form again, with the reasons beside their fields
                errors = {p["field"]: p["reason"] for p in problems}
                keep = {f.name: fields.get(f.name, "") for f in definition}
                hidden = {n: fields.get(n, "") for n in TOUCH_FIELDS if n != "channel"}
                body = form_html(key=key, name=name, action=str(request.url), fields=definition, boxes=boxes,
                                 honeypot=honeypot, timing=fields.get("_t", ""), hidden=hidden, values=keep,
                                 errors=errors)
                return HTMLResponse(page("Please check the form", body), status_code=422)
            items = "".join(f"<li>{escape(p['field'])}: {escape(p['reason'])}</li>" for p in problems)
            return HTMLResponse(f"<!doctype html><title>Please check the form</title><ul>{items}</ul>",
                                status_code=422)
        return _thanks(request, form, headers)
