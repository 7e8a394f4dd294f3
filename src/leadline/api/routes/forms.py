"""Forms: managed through the API; submitted publicly from any website to `/f/{key}`."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from leadline.api.deps import Admin, DatabaseDep, Reader, ReadSession, WriteSession, gates
from leadline.api.errors import error_body
from leadline.api.schemas import FormIn, FormOut
from leadline.core.lead_input import InvalidLeadInput
from leadline.services.forms import create_form, find_form, list_forms, submit_form
from leadline.storage.database import Database
from leadline.storage.tables import Form

router = APIRouter(tags=["forms"])
MAX_FIELDS = 60
MAX_VALUE = 2000


def _out(request: Request, form: Form) -> FormOut:
    action = str(request.url_for("submit_form", form_key=form.key))
    return FormOut(id=str(form.id), key=form.key, name=form.name, redirect_url=form.redirect_url,
                   honeypot_field=form.honeypot_field, action_url=action)


@router.post("/api/v1/forms", response_model=FormOut, status_code=201)
def create(body: FormIn, request: Request, principal: Admin, session: WriteSession) -> FormOut:
    return _out(request, create_form(session, principal.workspace_id, name=body.name,
                                     redirect_url=body.redirect_url, honeypot_field=body.honeypot_field))


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


def _thanks(request: Request, form: Form) -> Response:
    if _wants_json(request):
        return JSONResponse({"status": "ok"}, status_code=200)
    if form.redirect_url:
        return RedirectResponse(form.redirect_url, status_code=303)
    return HTMLResponse(f"<!doctype html><title>Thank you</title><p>Thank you! {escape(form.name)} received.</p>")


@router.post("/f/{form_key}", name="submit_form", include_in_schema=True,
             responses={303: {"description": "Redirect to the thank-you page"}, 404: {}, 422: {}})
async def submit(form_key: str, request: Request, db: DatabaseDep) -> Response:
    """Public endpoint for plain HTML forms (urlencoded or multipart). Fills empty lead fields only."""
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
        try:
            submit_form(session, form, fields, ip=request.client.host if request.client else None,
                        user_agent=request.headers.get("user-agent"))
        except InvalidLeadInput as exc:
            session.rollback()
            problems = [{"field": p.field, "reason": p.reason} for p in exc.problems]
            if _wants_json(request):
                return JSONResponse(error_body(422, "invalid form", problems), status_code=422)
            items = "".join(f"<li>{escape(p['field'])}: {escape(p['reason'])}</li>" for p in problems)
            return HTMLResponse(f"<!doctype html><title>Please check the form</title><ul>{items}</ul>",
                                status_code=422)
        return _thanks(request, form)
