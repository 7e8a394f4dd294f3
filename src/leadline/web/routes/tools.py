"""No-code tools for marketers: the form builder (with the code to paste on a site) and the CSV import wizard
(upload, mapping and preview with a dry run, then the import and its errors)."""

from __future__ import annotations

import csv
import re
import secrets
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from leadline.api.deps import DatabaseDep, ReadSession, WriteSession, gates
from leadline.services.forms import create_form, list_forms
from leadline.services.importing import CsvImportError, import_csv, preview_import
from leadline.services.logins import SessionUser
from leadline.web.auth import PageError, PostingUser, WebUser
from leadline.web.templating import gettext_for, render

router = APIRouter()
UPLOADS = Path(tempfile.gettempdir()) / "leadline-imports"
FORM_FIELDS = ("email", "first_name", "last_name", "company", "phone", "job_title", "country", "consent_email")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,60}$")


def _marketing(request: Request, user: SessionUser) -> None:
    if not user.can_edit_scoring:
        _ = gettext_for(request)
        raise PageError(403, _("Only marketers and admins use these tools."))


@router.get("/forms")
def forms_page(request: Request, user: WebUser, session: ReadSession) -> Response:
    _marketing(request, user)
    base = str(request.app.state.settings.app_url).rstrip("/")
    return render(request, "forms.html", {"forms": list_forms(session, user.workspace_id), "base": base,
                                          "fields": FORM_FIELDS,
                                          "chosen": request.query_params.getlist("field") or list(FORM_FIELDS[:4]),
                                          "notice": request.query_params.get("notice", "")[:300],
                                          "error": request.query_params.get("error", "")[:300]})


@router.post("/forms")
def forms_create(request: Request, user: PostingUser, session: WriteSession,
                 name: Annotated[str, Form(min_length=1, max_length=200)],
                 redirect_url: Annotated[str, Form(max_length=2000)] = "") -> Response:
    _marketing(request, user)
    _ = gettext_for(request)
    if redirect_url and not redirect_url.startswith(("https://", "http://")):
        return RedirectResponse("/forms?" + urlencode({"error": _("The thank-you page must be an http(s) URL.")}),
                                status_code=303)
    create_form(session, user.workspace_id, name=name.strip(), redirect_url=redirect_url or None)
    return RedirectResponse("/forms?" + urlencode({"notice": _("Form created: paste its code on your site.")}),
                            status_code=303)


@router.get("/import")
def import_page(request: Request, user: WebUser) -> Response:
    _marketing(request, user)
    return render(request, "import.html", {"step": "upload", "error": ""})


def _upload_path(user: SessionUser, token: str) -> Path:
    if not _TOKEN.fullmatch(token):
        raise PageError(404, "")
    return UPLOADS / f"{user.workspace_id}-{user.user_id}-{token}.csv"


def _errors(path: Path, limit: int = 50) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for _, row in zip(range(limit), csv.DictReader(handle), strict=False)]


@router.post("/import")
async def import_upload(request: Request, user: PostingUser, db: DatabaseDep, file: UploadFile,
                        country: Annotated[str, Form(max_length=2)] = "") -> Response:
    """Step 2: the file is kept (for this user only) and checked: mapping, first rows, a dry run's counts."""
    _marketing(request, user)
    _ = gettext_for(request)
    UPLOADS.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path = _upload_path(user, token)
    path.write_bytes(await file.read())
    report_path = path.with_suffix(".errors.csv")
    try:
        preview = await run_in_threadpool(preview_import, path)
        report = await run_in_threadpool(lambda: import_csv(db, user.workspace_id, path, dry_run=True,
                                                            default_country=country.upper() or None,
                                                            error_report=report_path))
    except CsvImportError as exc:
        path.unlink(missing_ok=True)
        return render(request, "import.html", {"step": "upload", "error": str(exc)}, status_code=400)
    return render(request, "import.html", {"step": "preview", "error": "", "preview": preview, "report": report,
                                           "problems": _errors(report_path), "token": token,
                                           "country": country.upper(), "filename": file.filename or ""})


@router.post("/import/{token}")
async def import_run(request: Request, token: str, user: PostingUser, db: DatabaseDep,
                     country: Annotated[str, Form(max_length=2)] = "") -> Response:
    """Step 3: import the file checked in step 2; rows with errors are skipped and listed."""
    _marketing(request, user)
    path = _upload_path(user, token)
    if not path.exists():
        raise PageError(404, "")
    report_path = path.with_suffix(".errors.csv")
    try:
        async with gates(request).write:
            report = await run_in_threadpool(lambda: import_csv(db, user.workspace_id, path,
                                                                default_country=country.upper() or None,
                                                                error_report=report_path))
    except CsvImportError as exc:
        return render(request, "import.html", {"step": "upload", "error": str(exc)}, status_code=400)
    problems = _errors(report_path)
    path.unlink(missing_ok=True)
    report_path.unlink(missing_ok=True)
    return render(request, "import.html", {"step": "done", "error": "", "report": report, "problems": problems})
