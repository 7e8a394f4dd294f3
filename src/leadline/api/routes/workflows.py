"""Nurture workflows: save versions (YAML or JSON), validate, activate, enrol by hand, and report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from leadline.api.deps import Admin, Reader, ReadSession, Writer, WriteSession, parse_id
from leadline.services import workflows
from leadline.storage.tables import Workflow

router = APIRouter(tags=["workflows"])

DocumentIn = Annotated[dict[str, Any] | str, Field(description=(
    "A `leadline-workflow/1` document as JSON, or its YAML text (README, \"Nurture workflows\")"),
    max_length=200_000)]


class WorkflowIn(BaseModel):
    document: DocumentIn
    activate: bool = Field(False, description="Make this version the active one at once")


class ValidateIn(BaseModel):
    document: DocumentIn


class WorkflowOut(BaseModel):
    key: str
    version: int
    name: str
    status: str = Field(description="draft, active or retired")
    trigger: str
    definition: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None

    @classmethod
    def of(cls, w: Workflow) -> WorkflowOut:
        trigger = w.trigger_kind + (f":{w.trigger_value}" if w.trigger_value else "")
        return cls(key=w.key, version=w.version, name=w.name, status=w.status, trigger=trigger,
                   definition=w.definition, created_at=w.created_at, activated_at=w.activated_at)


class WorkflowList(BaseModel):
    data: list[WorkflowOut]


class ValidOut(BaseModel):
    valid: bool
    key: str
    steps: int


class StepStatsOut(BaseModel):
    step: str
    action: str
    applied: int = Field(description="How many times the step ran")
    waiting: int = Field(description="Active enrolments at this step now")
    outcomes: dict[str, int]
    emails: dict[str, int] = Field(description="Emails by state: queued, sending, sent, unknown, failed, suppressed")
    opened: int
    clicked: int
    unsubscribed: int


class StatsOut(BaseModel):
    key: str
    name: str
    versions: list[int]
    enrolled: int
    active: int
    completed: int
    exited: dict[str, int] = Field(description="Exited enrolments by reason")
    conversions: int = Field(description="Enrolments that reached a goal")
    steps: list[StepStatsOut]


class EnrolIn(BaseModel):
    lead_ids: list[Annotated[str, Field(max_length=20)]] = Field(min_length=1, max_length=10_000)


class EnrolOut(BaseModel):
    enrolled: int


def _document(value: dict[str, Any] | str) -> Any:
    return workflows.load_document(value) if isinstance(value, str) else value


@router.get("/api/v1/workflows", response_model=WorkflowList)
def index(principal: Reader, session: ReadSession) -> WorkflowList:
    return WorkflowList(data=[WorkflowOut.of(w) for w in workflows.list_workflows(
        session, workspace_id=principal.workspace_id)])


@router.post("/api/v1/workflows", response_model=WorkflowOut, status_code=201)
def create(body: WorkflowIn, principal: Admin, session: WriteSession) -> WorkflowOut:
    """Save a new version of the workflow named by the document's `key`; 422 lists every problem by path."""
    row = workflows.save(session, workspace_id=principal.workspace_id, document=_document(body.document),
                         actor=f"api_key:{principal.key_id}", activate=body.activate)
    return WorkflowOut.of(row)


@router.post("/api/v1/workflows/validate", response_model=ValidOut)
def validate(body: ValidateIn, principal: Reader, session: ReadSession) -> ValidOut:
    definition, _ = workflows.validate(session, principal.workspace_id, _document(body.document))
    return ValidOut(valid=True, key=definition.key, steps=len(definition.steps))


@router.get("/api/v1/workflows/{key}", response_model=WorkflowOut)
def read(key: Annotated[str, Field(max_length=64)], principal: Reader, session: ReadSession,
         version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> WorkflowOut:
    return WorkflowOut.of(workflows.get(session, workspace_id=principal.workspace_id, key=key, version=version))


@router.post("/api/v1/workflows/{key}/activate", response_model=WorkflowOut)
def activate(key: Annotated[str, Field(max_length=64)], principal: Admin, session: WriteSession,
             version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None) -> WorkflowOut:
    """Activate a version (default: the newest); running enrolments stay on the version they started."""
    return WorkflowOut.of(workflows.activate_version(session, workspace_id=principal.workspace_id, key=key,
                                                     version=version))


@router.post("/api/v1/workflows/{key}/deactivate", response_model=WorkflowOut)
def deactivate(key: Annotated[str, Field(max_length=64)], principal: Admin, session: WriteSession) -> WorkflowOut:
    """No new enrolments; running ones finish."""
    return WorkflowOut.of(workflows.deactivate(session, workspace_id=principal.workspace_id, key=key))


@router.get("/api/v1/workflows/{key}/stats", response_model=StatsOut)
def stats(key: Annotated[str, Field(max_length=64)], principal: Reader, session: ReadSession) -> StatsOut:
    found = workflows.stats(session, workspace_id=principal.workspace_id, key=key)
    return StatsOut(key=found.key, name=found.name, versions=found.versions, enrolled=found.enrolled,
                    active=found.active, completed=found.completed, exited=found.exited,
                    conversions=found.conversions,
                    steps=[StepStatsOut(**vars(s)) for s in found.steps])


@router.post("/api/v1/workflows/{key}/enrolments", response_model=EnrolOut)
def enrol(key: Annotated[str, Field(max_length=64)], body: EnrolIn, principal: Writer,
          session: WriteSession) -> EnrolOut:
    """Enrol leads by hand (re-entry rules apply; leads already running it are skipped)."""
    return EnrolOut(enrolled=workflows.enrol_leads(session, workspace_id=principal.workspace_id, key=key,
                                                   lead_ids=[parse_id(v) for v in body.lead_ids]))


@router.get("/api/v1/leads/{lead_id}/workflows")
def journey(lead_id: str, principal: Reader, session: ReadSession) -> dict[str, Any]:
    """Where the lead is in each workflow it entered, the steps it went through and the emails it received."""
    return {"data": workflows.lead_journey(session, workspace_id=principal.workspace_id,
                                           lead_id=parse_id(lead_id))}
