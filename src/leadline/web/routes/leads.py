"""The leads table (filters, sort, keyset pages, bulk actions, CSV export) and the lead page (identity,
consent, owner, stage and history, score explanation, predictive score, timeline, BANT, merge suggestions)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from leadline.api.deps import ReadSession, WriteSession
from leadline.core.lead_input import FieldProblem
from leadline.core.leads import Stage, Temperature
from leadline.core.lifecycle import MQL_REJECT_REASONS, Actor, ActorType, allowed_targets
from leadline.core.qualification import ActivityKind, Authority, Timeline
from leadline.services import lifecycle, qualification
from leadline.services.activities import activities_of, log_activity
from leadline.services.deals import deals_of
from leadline.services.errors import Invalid, NotFound, ServiceError
from leadline.services.identity import duplicate_candidates, merge_leads
from leadline.services.lead_table import (
    Sort,
    TableQuery,
    bulk_add_to_list,
    bulk_assign,
    bulk_stage,
    export_csv,
    table_page,
    team_members,
    visible_lead,
)
from leadline.services.leads import LeadFilter, company_of, timeline
from leadline.services.logins import SessionUser
from leadline.services.predict import predict_lead
from leadline.services.routing import routing_info
from leadline.services.scoring.explain import explain_lead
from leadline.services.segments.catalog import list_segments
from leadline.storage.tables import User
from leadline.storage.types import utcnow
from leadline.web.auth import PageError, PostingUser, WebUser
from leadline.web.templating import gettext_for, render

router = APIRouter()
STAGES = [s.value for s in Stage]
TEMPERATURES = [t.value for t in Temperature]


@dataclass(frozen=True)
class Filters:
    """The table's query string, parsed leniently: a bad value is ignored and reported, never a 500."""

    q: str = ""
    stage: str = ""
    temperature: str = ""
    owner: str = ""
    channel: str = ""
    segment: str = ""
    score_min: float | None = None
    score_max: float | None = None
    sort: Sort = Sort.NEWEST

    def params(self, **changes: Any) -> str:
        values = {"q": self.q, "stage": self.stage, "temperature": self.temperature, "owner": self.owner,
                  "channel": self.channel, "segment": self.segment, "score_min": self.score_min,
                  "score_max": self.score_max, "sort": self.sort.value, **changes}
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and -1e6 < number < 1e6 else None


def _filters(request: Request) -> Filters:
    p = request.query_params
    sort = p.get("sort", Sort.NEWEST.value)
    return Filters(q=p.get("q", "")[:200], stage=p.get("stage", "") if p.get("stage") in STAGES else "",
                   temperature=p.get("temperature", "") if p.get("temperature") in TEMPERATURES else "",
                   owner=p.get("owner", "")[:20], channel=p.get("channel", "")[:30], segment=p.get("segment", "")[:20],
                   score_min=_number(p.get("score_min")), score_max=_number(p.get("score_max")),
                   sort=Sort(sort) if sort in Sort._value2member_map_ else Sort.NEWEST)


def _table_query(f: Filters, user: SessionUser) -> TableQuery:
    owner_id = int(f.owner) if f.owner.isdigit() and len(f.owner) < 19 else None
    segment_id = int(f.segment) if f.segment.isdigit() and len(f.segment) < 19 else None
    return TableQuery(filter=LeadFilter(stage=f.stage or None, temperature=f.temperature or None, owner_id=owner_id,
                                        score_min=f.score_min, score_max=f.score_max, q=f.q.strip() or None,
                                        channel=f.channel or None),
                      segment_id=segment_id, owner_ids=user.owner_ids, unassigned=f.owner == "none", sort=f.sort)


@router.get("/leads")
def leads_table(request: Request, user: WebUser, session: ReadSession,
                cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    f = _filters(request)
    try:
        page = table_page(session, workspace_id=user.workspace_id, query=_table_query(f, user), cursor=cursor)
    except Invalid:
        page = table_page(session, workspace_id=user.workspace_id, query=_table_query(f, user))
    context = {"f": f, "page": page, "stages": STAGES, "temperatures": TEMPERATURES, "sorts": list(Sort),
               "owners": team_members(session, workspace_id=user.workspace_id, owner_ids=user.owner_ids),
               "segments": list_segments(session, user.workspace_id), "cursor": cursor,
               "notice": request.query_params.get("notice", "")[:300]}
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "lead-rows":
        return render(request, "_lead_rows.html", context)
    return render(request, "leads.html", context)


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and len(v) < 19][:1000]


@router.post("/leads/bulk")
async def leads_bulk(request: Request, user: PostingUser, session: WriteSession) -> Response:
    form = await request.form()
    _ = gettext_for(request)
    action = str(form.get("action", ""))
    ids = _ids([str(v) for v in form.getlist("lead")])
    back = "/leads?" + str(form.get("back", ""))[:2000].lstrip("?")
    if action == "export":
        return _export(session, user, _filters(request), ids)
    if not ids:
        return RedirectResponse(back + "&notice=" + _("Select at least one lead."), status_code=303)
    actor = Actor(ActorType.USER, str(user.user_id))
    try:
        if action == "assign":
            if not user.can_manage_leads:
                raise PageError(403, _("Only managers and admins assign leads; new leads reach reps by routing."))
            owner = str(form.get("owner_id", ""))
            if not owner.isdigit():
                raise Invalid([FieldProblem("owner_id", _("Choose who gets the leads."))])
            outcome = bulk_assign(session, workspace_id=user.workspace_id, lead_ids=ids, owner_id=int(owner),
                                  owner_ids=user.owner_ids, actor=f"user:{user.user_id}", now=utcnow())
        elif action == "stage":
            stage = str(form.get("stage", ""))
            if stage not in STAGES:
                raise Invalid([FieldProblem("stage", _("Choose a stage."))])
            outcome = bulk_stage(session, workspace_id=user.workspace_id, lead_ids=ids, to=Stage(stage),
                                 reason=str(form.get("reason", "")) or None, owner_ids=user.owner_ids, actor=actor)
        elif action == "list":
            segment = str(form.get("segment_id", ""))
            if not segment.isdigit() or len(segment) > 18:
                raise Invalid([FieldProblem("segment_id", _("Choose a list."))])
            outcome = bulk_add_to_list(session, workspace_id=user.workspace_id, lead_ids=ids,
                                       segment_id=int(segment), owner_ids=user.owner_ids)
        else:
            raise Invalid([FieldProblem("action", _("Unknown action."))])
    except ServiceError as exc:
        return RedirectResponse(back + "&" + urlencode({"notice": _reason_of(exc)}), status_code=303)
    notice = _("%(done)d leads updated.") % {"done": outcome.done}
    if outcome.refused:
        first_id, why = outcome.refused[0]
        notice += " " + _("%(count)d refused (lead %(id)d: %(reason)s).") % {
            "count": len(outcome.refused), "id": first_id, "reason": why}
    return RedirectResponse(back + "&" + urlencode({"notice": notice}), status_code=303)


def _export(session: Session, user: SessionUser, f: Filters, ids: list[int]) -> Response:
    rows = list(export_csv(session, workspace_id=user.workspace_id, query=_table_query(f, user), lead_ids=ids or None))
    return StreamingResponse(iter(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="leads.csv"'})


@router.get("/leads/export.csv")
def leads_export(request: Request, user: WebUser, session: ReadSession) -> Response:
    return _export(session, user, _filters(request), [])


def _lead_or_404(session: Session, user: SessionUser, lead_id: int) -> Any:
    """The lead if this user may see it; another rep's lead is as missing as a lead that does not exist."""
    if not 0 < lead_id < 2**63:
        raise PageError(404, "")
    try:
        return visible_lead(session, workspace_id=user.workspace_id, lead_id=lead_id, owner_ids=user.owner_ids)
    except NotFound as exc:
        raise PageError(404, "") from exc


def _lead_context(request: Request, session: Session, user: SessionUser, lead_id: int) -> dict[str, Any]:
    lead = _lead_or_404(session, user, lead_id)
    explanation = explain_lead(session, user.workspace_id, lead.id)
    try:
        prediction = predict_lead(session, user.workspace_id, lead.id) if lead.merged_into_id is None else None
    except NotFound:
        prediction = None
    half_lives = {}
    if explanation.model is not None:
        half_lives = {r.key: r.half_life_seconds for r in explanation.model.engagement}
    owner = session.get(User, lead.owner_id) if lead.owner_id else None
    return {
        "lead": lead, "company": company_of(session, lead), "owner": owner,
        "history": lifecycle.stage_history(session, workspace_id=user.workspace_id, lead_id=lead.id),
        "targets": sorted((s.value for s in allowed_targets(Stage(lead.stage))), key=STAGES.index),
        "reasons": lifecycle.reason_lists(session, user.workspace_id), "reject_reasons": MQL_REJECT_REASONS,
        "explanation": explanation, "half_lives": half_lives, "prediction": prediction,
        "events": timeline(session, user.workspace_id, lead.id, limit=100),
        "activities": activities_of(session, workspace_id=user.workspace_id, lead_id=lead.id),
        "deals": deals_of(session, workspace_id=user.workspace_id, lead_id=lead.id),
        "routing": routing_info(session, workspace_id=user.workspace_id, lead_id=lead.id),
        "bant": qualification.bant_of(lead), "authorities": [a.value for a in Authority],
        "timelines": [t.value for t in Timeline], "now": utcnow(), "activity_kinds": [k.value for k in ActivityKind],
        "notice": request.query_params.get("notice", "")[:300], "error": request.query_params.get("error", "")[:300],
    }


@router.get("/leads/{lead_id}")
def lead_page(request: Request, lead_id: int, user: WebUser, session: ReadSession) -> Response:
    return render(request, "lead.html", _lead_context(request, session, user, lead_id))


def _back(lead_id: int, key: str, message: str) -> Response:
    return RedirectResponse(f"/leads/{lead_id}?" + urlencode({key: message}), status_code=303)


def _reason_of(exc: ServiceError) -> str:
    return "; ".join(p.reason for p in exc.problems) if isinstance(exc, Invalid) else exc.message


@router.post("/leads/{lead_id}/stage")
def lead_stage(request: Request, lead_id: int, user: PostingUser, session: WriteSession,
               stage: Annotated[str, Form(max_length=20)], reason: Annotated[str, Form(max_length=200)] = "",
               note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    _ = gettext_for(request)
    lead = _lead_or_404(session, user, lead_id)
    if stage not in STAGES:
        return _back(lead.id, "error", _("Choose a stage."))
    try:
        with session.begin_nested():
            lifecycle.change_stage(session, workspace_id=user.workspace_id, lead=lead.id, to=Stage(stage),
                                   actor=Actor(ActorType.USER, str(user.user_id)), reason=reason or None,
                                   note=note or None)
    except ServiceError as exc:
        return _back(lead.id, "error", _("Move refused: %(reason)s") % {"reason": _reason_of(exc)})
    return _back(lead.id, "notice", _("Stage changed."))


def _money(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        value = Decimal(text.strip().replace(" ", "").replace(",", "."))
    except InvalidOperation as exc:
        raise Invalid([FieldProblem("budget", "not a number")]) from exc
    if not Decimal(0) <= value <= Decimal("999999999999.99"):
        raise Invalid([FieldProblem("budget", "out of range")])
    return value.quantize(Decimal("0.01"))


@router.post("/leads/{lead_id}/bant")
def lead_bant(request: Request, lead_id: int, user: PostingUser, session: WriteSession,
              budget: Annotated[str, Form(max_length=30)] = "", currency: Annotated[str, Form(max_length=3)] = "EUR",
              authority: Annotated[str, Form(max_length=20)] = "", need: Annotated[str, Form(max_length=2000)] = "",
              timeline_: Annotated[str, Form(alias="timeline", max_length=20)] = "") -> Response:
    _ = gettext_for(request)
    lead = _lead_or_404(session, user, lead_id)
    try:
        changes: dict[str, object] = {
            "budget": _money(budget), "currency": currency.upper() if currency.isalpha() and len(currency) == 3
            else None, "authority": Authority(authority) if authority in Authority._value2member_map_ else None,
            "need": need.strip() or None,
            "timeline": Timeline(timeline_) if timeline_ in Timeline._value2member_map_ else None}
        with session.begin_nested():
            qualification.update_bant(session, workspace_id=user.workspace_id, lead_id=lead.id, changes=changes)
    except ServiceError as exc:
        return _back(lead.id, "error", _("Not saved: %(reason)s") % {"reason": _reason_of(exc)})
    return _back(lead.id, "notice", _("Qualification saved."))


@router.post("/leads/{lead_id}/activity")
def lead_activity(request: Request, lead_id: int, user: PostingUser, session: WriteSession,
                  kind: Annotated[str, Form(max_length=10)], subject: Annotated[str, Form(max_length=300)] = "",
                  outcome: Annotated[str, Form(max_length=50)] = "") -> Response:
    """Log a call, email, meeting or note; the first contact ends the follow-up deadline."""
    _ = gettext_for(request)
    lead = _lead_or_404(session, user, lead_id)
    if kind not in ActivityKind._value2member_map_:
        return _back(lead.id, "error", _("Choose what you did."))
    try:
        with session.begin_nested():
            log_activity(session, workspace_id=user.workspace_id, lead_id=lead.id, kind=ActivityKind(kind),
                         actor=Actor(ActorType.USER, str(user.user_id)), user_id=user.user_id,
                         subject=subject.strip() or None, outcome=outcome.strip() or None)
    except ServiceError as exc:
        return _back(lead.id, "error", _("Not saved: %(reason)s") % {"reason": _reason_of(exc)})
    return _back(lead.id, "notice", _("Activity logged."))


@router.post("/leads/{lead_id}/review")
def lead_review(request: Request, lead_id: int, user: PostingUser, session: WriteSession,
                decision: Annotated[str, Form(max_length=10)], reason: Annotated[str, Form(max_length=50)] = "",
                note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Sales accepts an MQL (it becomes SQL) or rejects it with a reason (back to nurturing)."""
    _ = gettext_for(request)
    lead = _lead_or_404(session, user, lead_id)
    try:
        with session.begin_nested():
            lifecycle.review_mql(session, workspace_id=user.workspace_id, lead_id=lead.id,
                                 accept=decision == "accept", actor=Actor(ActorType.USER, str(user.user_id)),
                                 reason=reason or None, note=note.strip() or None)
    except ServiceError as exc:
        return _back(lead.id, "error", _("Not saved: %(reason)s") % {"reason": _reason_of(exc)})
    return _back(lead.id, "notice", _("MQL accepted.") if decision == "accept" else _("MQL rejected."))


@router.get("/leads/{lead_id}/duplicates")
def lead_duplicates(request: Request, lead_id: int, user: WebUser, session: ReadSession) -> Response:
    """Merge suggestions, loaded after the page (the duplicate search reads the whole workspace's blocks)."""
    lead = _lead_or_404(session, user, lead_id)
    pairs = [c for c in duplicate_candidates(session, user.workspace_id, limit=2000, min_score=85)
             if lead.id in (c.lead_id, c.other_id)][:5]
    others = []
    for pair in pairs:
        other_id = pair.other_id if pair.lead_id == lead.id else pair.lead_id
        try:
            others.append((visible_lead(session, workspace_id=user.workspace_id, lead_id=other_id,
                                        owner_ids=user.owner_ids), pair))
        except NotFound:
            continue
    return render(request, "_duplicates.html", {"lead": lead, "others": others})


@router.post("/leads/{lead_id}/merge")
def lead_merge(request: Request, lead_id: int, user: PostingUser, session: WriteSession,
               other_id: Annotated[int, Form(ge=1, le=2**63 - 1)]) -> Response:
    _ = gettext_for(request)
    lead = _lead_or_404(session, user, lead_id)
    other = _lead_or_404(session, user, other_id)
    try:
        with session.begin_nested():
            merge_leads(session, user.workspace_id, lead.id, other.id, actor=f"user:{user.user_id}")
    except ServiceError as exc:
        return _back(lead.id, "error", _("Not merged: %(reason)s") % {"reason": _reason_of(exc)})
    return _back(lead.id, "notice", _("Lead %(id)d merged into this one.") % {"id": other.id})
