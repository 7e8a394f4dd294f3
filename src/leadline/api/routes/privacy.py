"""Privacy and data rights: the consent ledger, access and erasure requests, the audit log, retention, and the
public preference centre and double opt-in pages (signed links, no login). See "Privacy and data rights" in the
README."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from leadline.api.deps import Admin, DatabaseDep, Reader, ReadSession, Writer, WriteSession, gates, parse_id
from leadline.api.schemas import Short, Strict
from leadline.config import Settings
from leadline.core.consent import Action, LegalBasis, Purpose
from leadline.services import audit
from leadline.services.consent import Proof, ledger, may_email, may_profile, may_track, record_consent
from leadline.services.leads import get_lead
from leadline.services.privacy import preferences, requests, retention
from leadline.services.privacy.export import export_html
from leadline.services.privacy.scrub import scrub
from leadline.storage.tables import Lead
from leadline.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["privacy"])
public_router = APIRouter(tags=["privacy (public pages)"], include_in_schema=True)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _key(request: Request) -> bytes:
    return _settings(request).signing_key()


# --- consent ledger -----------------------------------------------------------------------------------------


class ConsentChangeIn(Strict):
    purpose: Purpose
    action: Action
    source: Short = "api"
    legal_basis: LegalBasis | None = None
    text_version: Short | None = None
    form_id: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    ip: Annotated[str, Field(max_length=64)] | None = None
    user_agent: Annotated[str, Field(max_length=300)] | None = None


class ConsentEntryOut(BaseModel):
    id: str
    purpose: str
    action: str
    recorded_at: datetime
    source: str
    legal_basis: str | None
    text_version: str | None
    form_id: str | None
    ip_truncated: str | None
    user_agent: str | None
    provenance: dict[str, Any] | None
    actor: str


class DecisionOut(BaseModel):
    allowed: bool
    reason: str


class ConsentOut(BaseModel):
    lead_id: str
    subject_type: str | None
    decisions: dict[str, DecisionOut]
    unsubscribed: bool
    objected_at: datetime | None
    notice_due_at: datetime | None
    notice_sent_at: datetime | None
    ledger: list[ConsentEntryOut]


def _consent_out(session: Any, lead: Lead) -> ConsentOut:
    entries = [ConsentEntryOut(id=str(r.id), purpose=r.purpose, action=r.action, recorded_at=r.recorded_at,
                               source=r.source, legal_basis=r.legal_basis, text_version=r.text_version,
                               form_id=None if r.form_id is None else str(r.form_id), ip_truncated=r.ip_truncated,
                               user_agent=r.user_agent, provenance=r.provenance, actor=r.actor)
               for r in ledger(session, lead.workspace_id, lead.id)]
    decisions = {name: DecisionOut(allowed=d.allowed, reason=d.reason) for name, d in (
        ("marketing_email", may_email(lead)), ("tracking", may_track(lead)), ("profiling", may_profile(lead)))}
    return ConsentOut(lead_id=str(lead.id), subject_type=lead.subject_type, decisions=decisions,
                      unsubscribed=bool(lead.unsubscribed), objected_at=lead.objected_at,
                      notice_due_at=lead.notice_due_at, notice_sent_at=lead.notice_sent_at, ledger=entries)


@router.get("/leads/{lead_id}/consent", response_model=ConsentOut)
def read_consent(lead_id: str, principal: Reader, session: ReadSession) -> ConsentOut:
    """The lead's consent ledger (oldest first) and what it allows now."""
    return _consent_out(session, get_lead(session, principal.workspace_id, parse_id(lead_id)))


@router.post("/leads/{lead_id}/consent", response_model=ConsentOut, status_code=201)
def change_consent(lead_id: str, body: ConsentChangeIn, request: Request, principal: Writer,
                   session: WriteSession) -> ConsentOut:
    """Record a grant, withdrawal, unsubscribe or objection (Art. 21: stops marketing and scoring at once)."""
    lead = get_lead(session, principal.workspace_id, parse_id(lead_id))
    proof = Proof(source=body.source, actor=principal.actor,
                  legal_basis=body.legal_basis.value if body.legal_basis else None, text_version=body.text_version,
                  form_id=body.form_id, ip=body.ip, user_agent=body.user_agent)
    rows = record_consent(session, lead, [(body.purpose, body.action)], proof, key=_key(request))
    if rows:
        audit.record(session, workspace_id=lead.workspace_id, actor=principal.actor,
                     action=audit.AuditAction.CONSENT_CHANGED, target_type="lead", target_id=lead.id,
                     detail={"changes": [f"{r.purpose}:{r.action}" for r in rows], "source": body.source})
    return _consent_out(session, lead)


@router.post("/leads/{lead_id}/notice-sent", response_model=ConsentOut)
def notice_sent(lead_id: str, principal: Writer, session: WriteSession) -> ConsentOut:
    """The Art. 14 notice was sent to a person whose data came from a list."""
    lead = get_lead(session, principal.workspace_id, parse_id(lead_id))
    lead.notice_sent_at, lead.notice_due_at = utcnow(), None
    session.flush()
    return _consent_out(session, lead)


class NoticeOut(BaseModel):
    lead_id: str
    due_at: datetime
    overdue: bool


@router.get("/privacy/notices", response_model=list[NoticeOut])
def notices_due(principal: Admin, session: ReadSession,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[NoticeOut]:
    """Leads from lists (imports, partners) still owed their Art. 14 notice, soonest deadline first."""
    now = utcnow()
    rows = session.execute(select(Lead.id, Lead.notice_due_at).where(
        Lead.workspace_id == principal.workspace_id, Lead.notice_due_at.is_not(None),
        Lead.merged_into_id.is_(None)).order_by(Lead.notice_due_at, Lead.id).limit(limit)).all()
    return [NoticeOut(lead_id=str(i), due_at=due, overdue=due < now) for i, due in rows]


class PreferencesLinkOut(BaseModel):
    url: str


@router.post("/leads/{lead_id}/preferences-link", response_model=PreferencesLinkOut)
def preferences_link(lead_id: str, request: Request, principal: Writer, session: ReadSession) -> PreferencesLinkOut:
    """A signed preference-centre link for this lead (put it in every marketing email)."""
    lead = get_lead(session, principal.workspace_id, parse_id(lead_id))
    return PreferencesLinkOut(url=preferences.preferences_url(_settings(request).app_url, _key(request), lead))


# --- data subject requests ----------------------------------------------------------------------------------


class SubjectIn(Strict):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    identity: Annotated[str, Field(max_length=200, description=(
        "How the person's identity was checked (reply from the address, signed link, ID document...)"))]


class ExportIn(SubjectIn):
    format: Literal["json", "html"] = "json"


@router.post("/privacy/export", responses={200: {"content": {"application/json": {}, "text/html": {}}}})
def export(body: ExportIn, request: Request, principal: Admin, session: WriteSession) -> Response:
    """Everything held about the person (Art. 15), as JSON or readable HTML. The address travels in the body,
    never in a URL (which access logs keep). Recorded as an answered access request and in the audit log."""
    document = requests.access(session, workspace_id=principal.workspace_id, email=body.email, key=_key(request),
                               actor=principal.actor, identity=body.identity)
    if body.format == "html":
        return HTMLResponse(export_html(document))
    return JSONResponse(document)


class EraseIn(SubjectIn):
    mode: Literal["erase", "anonymise"] = "erase"
    vacuum: bool = Field(default=False, description="SQLite: also rebuild the file (slow on a large database)")


class EraseOut(BaseModel):
    lead_id: str
    erased_lead_ids: list[str]
    mode: str
    tables: list[str]
    scrubbed: bool
    scrub_detail: str


@router.post("/privacy/erase", response_model=EraseOut)
async def erase(body: EraseIn, request: Request, principal: Admin, db: DatabaseDep) -> EraseOut:
    """Erase (or anonymise) the person everywhere (Art. 17); the address stays only as a keyed hash on the
    suppression list, webhook receivers get `lead.erased`, and the freed database pages are scrubbed."""

    def run() -> EraseOut:
        with db.write() as session:
            report = requests.erase_person(session, workspace_id=principal.workspace_id, email=body.email,
                                           key=_key(request), actor=principal.actor, identity=body.identity,
                                           anonymise_only=body.mode == "anonymise")
        result = scrub(db, report.tables, vacuum=body.vacuum)
        return EraseOut(lead_id=str(report.lead_id), erased_lead_ids=[str(i) for i in report.lead_ids],
                        mode=body.mode, tables=report.tables, scrubbed=result.complete,
                        scrub_detail=result.detail)

    async with gates(request).write:  # the one writer connection (SQLite) is taken in turn, never fought over
        return await run_in_threadpool(run)


class RequestIn(Strict):
    kind: requests.RequestKind
    email: Annotated[str, Field(min_length=3, max_length=320)]
    identity: Annotated[str, Field(max_length=200)] | None = None


class VerifyIn(Strict):
    identity: Annotated[str, Field(min_length=1, max_length=200)]


class RequestOut(BaseModel):
    id: str
    kind: str
    status: str
    received_at: datetime
    due_at: datetime
    overdue: bool
    identity_method: str | None
    identity_verified_at: datetime | None
    completed_at: datetime | None
    outcome: str | None


def _request_out(row: Any) -> RequestOut:
    return RequestOut(**asdict(requests.view(row)))


@router.get("/privacy/requests", response_model=list[RequestOut])
def list_requests(principal: Admin, session: ReadSession,
                  status: Literal["open", "completed", "refused"] | None = None) -> list[RequestOut]:
    """Data subject requests, soonest deadline first; `overdue` once the month has passed unanswered."""
    return [_request_out(row) for row in requests.list_requests(session, principal.workspace_id, status=status)]


@router.post("/privacy/requests", response_model=RequestOut, status_code=201)
def open_request(body: RequestIn, request: Request, principal: Admin, session: WriteSession) -> RequestOut:
    """Log a request when it arrives: its one-month deadline starts now."""
    row = requests.open_request(session, workspace_id=principal.workspace_id, kind=body.kind, email=body.email,
                                key=_key(request), actor=principal.actor, identity=body.identity)
    return _request_out(row)


@router.post("/privacy/requests/{request_id}/verify", response_model=RequestOut)
def verify_request(request_id: str, body: VerifyIn, principal: Admin, session: WriteSession) -> RequestOut:
    row = requests.get_request(session, principal.workspace_id, parse_id(request_id, "request"))
    requests.verify(session, row, identity=body.identity, actor=principal.actor)
    return _request_out(row)


# --- audit log ----------------------------------------------------------------------------------------------


class AuditOut(BaseModel):
    id: str
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any]


@router.get("/privacy/audit", response_model=list[AuditOut])
def read_audit(principal: Admin, session: ReadSession, action: Annotated[str | None, Query(max_length=40)] = None,
               after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Entries after this id")] = None,
               limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[AuditOut]:
    """The append-only audit log, oldest first (page with `after` = the last id you read)."""
    return [AuditOut(**audit.as_dict(e)) for e in audit.entries(session, principal.workspace_id, action=action,
                                                                  after_id=after, limit=limit)]


# --- retention ----------------------------------------------------------------------------------------------


class RetentionSettingsIn(Strict):
    enabled: bool | None = None
    lead_inactive_months: Annotated[int, Field(ge=1, le=1200)] | None = None
    lead_action: Literal["delete", "anonymise"] | None = None
    visitor_days: Annotated[int, Field(ge=1, le=36_500)] | None = None
    raw_event_months: Annotated[int, Field(ge=1, le=1200)] | None = None


class RetentionSettingsOut(BaseModel):
    enabled: bool
    lead_inactive_months: int
    lead_action: str
    visitor_days: int
    raw_event_months: int


def _settings_out(row: Any) -> RetentionSettingsOut:
    return RetentionSettingsOut(**{name: getattr(row, name) for name in RetentionSettingsOut.model_fields})


@router.get("/privacy/settings", response_model=RetentionSettingsOut)
def read_settings(principal: Admin, session: ReadSession) -> RetentionSettingsOut:
    return _settings_out(retention.settings_of(session, principal.workspace_id))


@router.put("/privacy/settings", response_model=RetentionSettingsOut)
def write_settings(body: RetentionSettingsIn, principal: Admin, session: WriteSession) -> RetentionSettingsOut:
    changes = body.model_dump(exclude_none=True)
    return _settings_out(retention.update_settings(session, principal.workspace_id, changes, actor=principal.actor))


@router.get("/privacy/retention")
def retention_report(principal: Admin, db: DatabaseDep) -> dict[str, Any]:
    """What retention would delete now (a dry run: nothing changes)."""
    return retention.run(db, principal.workspace_id, dry_run=True).as_dict()


@router.post("/privacy/retention/run")
async def retention_run(principal: Admin, request: Request, db: DatabaseDep) -> dict[str, Any]:
    """Apply retention now (whether or not the schedule is enabled)."""
    async with gates(request).write:
        report = await run_in_threadpool(retention.run, db, principal.workspace_id, dry_run=False,
                                         actor=principal.actor, key=_key(request))
    return report.as_dict()


# --- public pages: preference centre and double opt-in ------------------------------------------------------

_PAGE = ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
         "<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
         "<style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}}"
         "button{{font-size:1em;padding:.6em 1.2em;margin:.3em .3em .3em 0}}label{{display:block;margin:.5em 0}}"
         "</style></head><body><h1>{title}</h1>{body}</body></html>")
_LABELS = {Purpose.MARKETING_EMAIL: "Emails about our offers", Purpose.TRACKING: "Measure my visits and email reads",
           Purpose.PROFILING: "Tailor what you send me to my interests (scoring)",
           Purpose.PARTNER_SHARING: "Share my details with your partners"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _visit(request: Request) -> preferences.Visit:
    return preferences.Visit(ip=request.client.host if request.client else None,
                             user_agent=request.headers.get("user-agent"))


def _bad_link(error: preferences.BadToken) -> HTMLResponse:
    return _page("Link not valid", f"<p>{escape(str(error))}.</p>", status=404)


def _preferences_form(lead: Lead, token: str, message: str = "") -> HTMLResponse:
    current = {Purpose.MARKETING_EMAIL: lead.consent_email, Purpose.TRACKING: lead.consent_tracking,
               Purpose.PROFILING: lead.consent_profiling, Purpose.PARTNER_SHARING: lead.consent_partners}
    boxes = "".join(
        f"<label><input type='checkbox' name='{p.value}'"
        f"{' checked' if current[p] is True and not (p is Purpose.MARKETING_EMAIL and lead.unsubscribed) else ''}>"
        f" {escape(_LABELS[p])}</label>" for p in Purpose)
    body = (f"{f'<p><strong>{escape(message)}</strong></p>' if message else ''}"
            f"<form method='post' action='/privacy/preferences/{escape(token)}'>{boxes}"
            "<button type='submit' name='action' value='save'>Save my choices</button>"
            "<button type='submit' name='action' value='unsubscribe_all'>Unsubscribe from everything</button>"
            "</form>")
    return _page("Your choices", body)


@public_router.get("/privacy/preferences/{token}", response_class=HTMLResponse)
def preference_centre(token: str, request: Request, session: ReadSession) -> HTMLResponse:
    """The preference centre: a signed link, no login; nothing is ticked that the person did not choose."""
    try:
        lead = preferences.lead_of(session, preferences.read_token(_key(request), token, kind="prefs"))
    except preferences.BadToken as error:
        return _bad_link(error)
    return _preferences_form(lead, token)


@public_router.post("/privacy/preferences/{token}", response_class=HTMLResponse)
async def save_preference_centre(token: str, request: Request, db: DatabaseDep) -> HTMLResponse:
    form = await request.form()

    def save() -> HTMLResponse:
        try:
            parsed = preferences.read_token(_key(request), token, kind="prefs")
            with db.write() as session:
                lead = preferences.lead_of(session, parsed)
                everything = form.get("action") == "unsubscribe_all"
                chosen = {p for p in Purpose if form.get(p.value) in ("on", "true", "1", "yes")}
                preferences.save_preferences(session, lead, chosen, key=_key(request), visit=_visit(request),
                                             unsubscribe_all=everything)
                message = ("You are unsubscribed from everything." if everything else "Your choices are saved.")
                return _preferences_form(lead, token, message)
        except preferences.BadToken as error:
            return _bad_link(error)

    async with gates(request).write:
        return await run_in_threadpool(save)


@public_router.get("/privacy/confirm/{token}", response_class=HTMLResponse)
def confirmation_page(token: str, request: Request, session: ReadSession) -> HTMLResponse:
    """The double opt-in link shows a button; only pressing it (POST) confirms, so that mail scanners that
    open links do not subscribe anyone."""
    try:
        parsed = preferences.read_token(_key(request), token, kind="confirm")
        preferences.lead_of(session, parsed)
    except preferences.BadToken as error:
        return _bad_link(error)
    wanted = "".join(f"<li>{escape(_LABELS[p])}</li>" for p in parsed.purposes)
    return _page("Please confirm", f"<p>You asked for:</p><ul>{wanted}</ul>"
                 f"<form method='post' action='/privacy/confirm/{escape(token)}'>"
                 "<button type='submit'>Yes, I confirm</button></form>"
                 "<p>If it was not you, close this page: nothing will be sent to you.</p>")


@public_router.post("/privacy/confirm/{token}", response_class=HTMLResponse)
async def confirm(token: str, request: Request, db: DatabaseDep) -> HTMLResponse:

    def run() -> HTMLResponse:
        try:
            parsed = preferences.read_token(_key(request), token, kind="confirm")
            with db.write() as session:
                written = preferences.confirm(session, parsed, key=_key(request), visit=_visit(request))
        except preferences.BadToken as error:
            return _bad_link(error)
        return _page("Thank you", "<p>Your subscription is confirmed.</p>" if written
                     else "<p>You had already confirmed.</p>")

    async with gates(request).write:
        return await run_in_threadpool(run)
