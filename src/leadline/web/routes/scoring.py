"""The scoring model page: the active rules, the model's text to edit, a preview of what a change would do
before it is applied, the version history and rollback."""

from __future__ import annotations

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from leadline.api.deps import DatabaseDep, ReadSession, gates
from leadline.services.errors import Invalid, ServiceError
from leadline.services.logins import SessionUser
from leadline.services.scoring.bulk import plan_rescore, preview, try_model
from leadline.services.scoring.models import (
    activate,
    active_model,
    built_in_source,
    list_versions,
    load_document,
    model_version,
    store_version,
    validate,
)
from leadline.storage.database import Database
from leadline.web.auth import PageError, PostingUser, WebUser
from leadline.web.templating import gettext_for, render

router = APIRouter()
MAX_SOURCE = 200_000


def _source_of(row: Any) -> str:
    if row is None:
        return built_in_source("default-b2b")
    return str(row.source) if row.source else yaml.safe_dump(row.document, sort_keys=False, allow_unicode=True)


@router.get("/scoring")
def scoring_page(request: Request, user: WebUser, session: ReadSession) -> Response:
    versions = list_versions(session, user.workspace_id)
    active = active_model(session, user.workspace_id)
    row = next((v for v in versions if v.active), None)
    return render(request, "scoring.html", {
        "versions": versions, "model": active.model if active else None, "active_version": row,
        "source": _source_of(row), "notice": request.query_params.get("notice", "")[:300],
        "error": request.query_params.get("error", "")[:300]})


def _editor(user: SessionUser, request: Request) -> None:
    if not user.can_edit_scoring:
        _ = gettext_for(request)
        raise PageError(403, _("Only marketers and admins change the scoring model."))


def _parse(source: str) -> tuple[dict[str, Any], Any]:
    document = load_document(source)
    if not isinstance(document, dict):
        raise Invalid([])
    return document, validate(document)


def _problems(request: Request, exc: Invalid) -> list[str]:
    _ = gettext_for(request)
    return [f"{p.field}: {p.reason}" for p in exc.problems] or [_("The model must be a mapping of keys.")]


@router.post("/scoring/preview")
async def scoring_preview(request: Request, user: PostingUser, db: DatabaseDep,
                          source: Annotated[str, Form(max_length=MAX_SOURCE)]) -> Response:
    """What the edited model would change, computed from the events; nothing is written."""
    _editor(user, request)
    try:
        _, model = _parse(source)
    except Invalid as exc:
        return render(request, "_preview.html", {"problems": _problems(request, exc), "result": None})
    async with gates(request).read:
        result = await run_in_threadpool(lambda: preview(db, user.workspace_id, model, examples=10))
    return render(request, "_preview.html", {"problems": [], "result": result})


async def _rescore(request: Request, db: Database, workspace_id: int) -> int:
    """Chunk by chunk, each through the write gate, so other writes keep flowing during a long rescore."""
    plan = await run_in_threadpool(plan_rescore, db, workspace_id)
    if plan is None:
        return 0
    done = 0
    for index in range(len(plan.chunks)):
        async with gates(request).write:
            done += await run_in_threadpool(plan.run_chunk, db, index)
    return done


def _redirect(key: str, message: str) -> Response:
    from urllib.parse import urlencode

    return RedirectResponse("/scoring?" + urlencode({key: message}), status_code=303)


@router.post("/scoring/apply")
async def scoring_apply(request: Request, user: PostingUser, db: DatabaseDep,
                        source: Annotated[str, Form(max_length=MAX_SOURCE)]) -> Response:
    _editor(user, request)
    _ = gettext_for(request)
    try:
        document, model = _parse(source)
        await run_in_threadpool(try_model, db, user.workspace_id, model)
    except Invalid as exc:
        return _redirect("error", "; ".join(_problems(request, exc))[:300])

    def store() -> int:
        with db.write() as session:
            row = store_version(session, user.workspace_id, document, source=source, actor=f"user:{user.user_id}")
            activate(session, user.workspace_id, row.version)
            return row.version

    async with gates(request).write:
        version = await run_in_threadpool(store)
    done = await _rescore(request, db, user.workspace_id)
    return _redirect("notice", _("Version %(version)d applied; %(leads)d leads rescored.")
                     % {"version": version, "leads": done})


@router.post("/scoring/versions/{version}/activate")
async def scoring_rollback(request: Request, version: int, user: PostingUser, db: DatabaseDep) -> Response:
    _editor(user, request)
    _ = gettext_for(request)
    if not 0 < version < 2**31:
        raise PageError(404, "")

    def switch() -> None:
        with db.write() as session:
            model_version(session, user.workspace_id, version)
            activate(session, user.workspace_id, version)

    try:
        async with gates(request).write:
            await run_in_threadpool(switch)
    except ServiceError as exc:
        raise PageError(404, exc.message) from exc
    done = await _rescore(request, db, user.workspace_id)
    return _redirect("notice", _("Version %(version)d is active again; %(leads)d leads rescored.")
                     % {"version": version, "leads": done})
