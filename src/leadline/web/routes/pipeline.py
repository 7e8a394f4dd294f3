"""Pipeline boards: drag a card, or pick its column with the keyboard; refused moves say why."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from leadline.api.deps import ReadSession, WriteSession
from leadline.core.lifecycle import Actor, ActorType
from leadline.services import boards
from leadline.services.errors import Invalid, NotFound, ServiceError
from leadline.services.lead_table import visible_lead
from leadline.web.auth import PageError, PostingUser, WebUser
from leadline.web.templating import gettext_for, render

router = APIRouter()


def _board(value: str) -> boards.Board:
    return boards.Board(value) if value in boards.Board._value2member_map_ else boards.Board.DEALS


@router.get("/pipeline")
def pipeline(request: Request, user: WebUser, session: ReadSession, board: str = "deals") -> Response:
    which = _board(board)
    columns = boards.board(session, workspace_id=user.workspace_id, which=which, owner_ids=user.owner_ids)
    context = {"board": which.value, "columns": columns, "keys": [c.key for c in columns],
               "notice": request.query_params.get("notice", "")[:300],
               "error": request.query_params.get("error", "")[:300]}
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "board":
        return render(request, "_board.html", context)
    return render(request, "pipeline.html", context)


@router.post("/pipeline/move")
def move(request: Request, user: PostingUser, session: WriteSession,
         lead_id: Annotated[int, Form(ge=1, le=2**63 - 1)], to: Annotated[str, Form(max_length=30)],
         board: Annotated[str, Form(max_length=10)] = "deals") -> Response:
    _ = gettext_for(request)
    which = _board(board)
    try:
        visible_lead(session, workspace_id=user.workspace_id, lead_id=lead_id, owner_ids=user.owner_ids)
    except NotFound as exc:
        raise PageError(404, "") from exc
    outcome: dict[str, str]
    try:
        with session.begin_nested():
            boards.move(session, workspace_id=user.workspace_id, which=which, lead_id=lead_id, to=to,
                        actor=Actor(ActorType.USER, str(user.user_id)))
        outcome = {"notice": _("Lead %(id)d moved.") % {"id": lead_id}}
    except ServiceError as exc:
        reason = "; ".join(p.reason for p in exc.problems) if isinstance(exc, Invalid) else exc.message
        outcome = {"error": _("Move refused: %(reason)s") % {"reason": reason}}
    if request.headers.get("hx-request"):
        columns = boards.board(session, workspace_id=user.workspace_id, which=which, owner_ids=user.owner_ids)
        return render(request, "_board.html", {"board": which.value, "columns": columns,
                                               "keys": [c.key for c in columns], "notice": outcome.get("notice", ""),
                                               "error": outcome.get("error", "")})
    return RedirectResponse(f"/pipeline?board={which.value}&" + urlencode(outcome), status_code=303)
