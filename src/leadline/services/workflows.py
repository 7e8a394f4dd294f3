"""Nurture workflows as use cases: validate, save a version, activate, list, report.

Saving a document adds a version (`draft`); activating it makes it the one version of its key that takes new
enrolments (the previous active version is `retired`, and its running enrolments finish on it). An invalid
workflow gets every problem with its path and is neither saved nor activated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.workflows import (
    EventTrigger,
    FormTrigger,
    InvalidWorkflow,
    MqlReadyTrigger,
    SegmentTrigger,
    StageTrigger,
    TemperatureTrigger,
    WorkflowDefinition,
    parse_workflow,
)
from leadline.nurture.engine import definition_of, enrol
from leadline.nurture.rendering import check_templates
from leadline.services.errors import Invalid, NotFound
from leadline.storage.tables import (
    EmailEngagementCount,
    EmailSend,
    Segment,
    Workflow,
    WorkflowEnrolment,
    WorkflowStepLog,
)
from leadline.storage.types import utcnow

_INTEREST_CACHE: dict[int, tuple[float, Interest]] = {}


def load_document(text: str) -> Any:
    """A workflow file's text, YAML or JSON (JSON is YAML); raises Invalid on a syntax error."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise Invalid([FieldProblem("document", f"not YAML or JSON: {error}")]) from None


def _problems(error: InvalidWorkflow) -> Invalid:
    return Invalid([FieldProblem(where or "document", why) for where, why in error.problems])


def validate(session: Session, workspace_id: int, document: Any) -> tuple[WorkflowDefinition, str | None]:
    """The parsed definition and the trigger's stored value; raises Invalid with every problem found."""
    try:
        definition = parse_workflow(document)
    except InvalidWorkflow as error:
        raise _problems(error) from None
    problems: list[FieldProblem] = []
    for i, step in enumerate(definition.steps):
        if step.send_email is not None:
            parts = {"subject": step.send_email.subject, "text": step.send_email.text, "html": step.send_email.html}
            problems += [FieldProblem(f"steps[{i}].send_email.{part}", why) for part, why in check_templates(parts)]
        for name, kind in ((step.add_to_list, "add_to_list"), (step.remove_from_list, "remove_from_list")):
            if name is not None and _static_list(session, workspace_id, name) is None:
                problems.append(FieldProblem(f"steps[{i}].{kind}", f"no static list named {name!r}"))
    value: str | None = None
    trigger = definition.trigger
    if isinstance(trigger, SegmentTrigger):
        segment = session.scalars(select(Segment).where(Segment.workspace_id == workspace_id,
                                                        Segment.name == trigger.segment_entered)).first()
        if segment is None:
            problems.append(FieldProblem("trigger.segment_entered", f"no segment named {trigger.segment_entered!r}"))
        else:
            value = str(segment.id)
    if problems:
        raise Invalid(problems)
    return definition, value if value is not None else _trigger_value(definition)


def _static_list(session: Session, workspace_id: int, name: str) -> Segment | None:
    return session.scalars(select(Segment).where(Segment.workspace_id == workspace_id, Segment.name == name,
                                                 Segment.kind == "static")).first()


def trigger_kind(definition: WorkflowDefinition) -> str:
    trigger = definition.trigger
    if isinstance(trigger, EventTrigger):
        return "event"
    if isinstance(trigger, FormTrigger):
        return "form"
    if isinstance(trigger, SegmentTrigger):
        return "segment"
    if isinstance(trigger, StageTrigger):
        return "stage"
    if isinstance(trigger, TemperatureTrigger):
        return "temperature"
    assert isinstance(trigger, MqlReadyTrigger)
    return "mql_ready"


def _trigger_value(definition: WorkflowDefinition) -> str | None:
    trigger = definition.trigger
    if isinstance(trigger, EventTrigger):
        return trigger.event
    if isinstance(trigger, FormTrigger):
        return trigger.form
    if isinstance(trigger, StageTrigger):
        return trigger.stage.value
    if isinstance(trigger, TemperatureTrigger):
        return trigger.temperature_reaches
    return None


def save(session: Session, *, workspace_id: int, document: Any, actor: str, activate: bool = False,
         now: datetime | None = None) -> Workflow:
    """Validate and store a new version of the workflow `document["key"]` (activated at once if asked)."""
    definition, value = validate(session, workspace_id, document)
    at = now or utcnow()
    latest = session.scalar(select(func.max(Workflow.version)).where(
        Workflow.workspace_id == workspace_id, Workflow.key == definition.key)) or 0
    row = Workflow(workspace_id=workspace_id, key=definition.key, version=latest + 1, name=definition.name,
                   definition=json.loads(definition.model_dump_json(by_alias=True, exclude_none=True)),
                   status="draft", trigger_kind=trigger_kind(definition), trigger_value=value,
                   awaited_events=sorted(definition.event_types_awaited()), created_at=at, created_by=actor)
    session.add(row)
    session.flush()
    if activate:
        activate_version(session, workspace_id=workspace_id, key=definition.key, version=row.version, now=at)
    return row


def get(session: Session, *, workspace_id: int, key: str, version: int | None = None) -> Workflow:
    query = select(Workflow).where(Workflow.workspace_id == workspace_id, Workflow.key == key)
    if version is not None:
        query = query.where(Workflow.version == version)
    else:  # the active version, else the newest
        query = query.order_by(case((Workflow.status == "active", 0), else_=1), Workflow.version.desc())
    row = session.scalars(query.limit(1)).first()
    if row is None:
        raise NotFound("workflow not found" if version is None else f"workflow {key} has no version {version}")
    return row


def activate_version(session: Session, *, workspace_id: int, key: str, version: int | None = None,
                     now: datetime | None = None) -> Workflow:
    if version is None:  # the newest version
        version = session.scalar(select(func.max(Workflow.version)).where(Workflow.workspace_id == workspace_id,
                                                                          Workflow.key == key))
        if version is None:
            raise NotFound("workflow not found")
    row = get(session, workspace_id=workspace_id, key=key, version=version)
    validate(session, workspace_id, row.definition)  # lists and segments may have gone since it was saved
    for other in session.scalars(select(Workflow).where(Workflow.workspace_id == workspace_id, Workflow.key == key,
                                                        Workflow.status == "active", Workflow.id != row.id)):
        other.status = "retired"
    row.status, row.activated_at = "active", now or utcnow()
    session.flush()
    _INTEREST_CACHE.pop(workspace_id, None)
    return row


def deactivate(session: Session, *, workspace_id: int, key: str) -> Workflow:
    row = get(session, workspace_id=workspace_id, key=key)
    if row.status == "active":
        row.status = "retired"
    _INTEREST_CACHE.pop(workspace_id, None)
    return row


def list_workflows(session: Session, *, workspace_id: int) -> list[Workflow]:
    """The newest version of each key, or its active one."""
    rows = session.scalars(select(Workflow).where(Workflow.workspace_id == workspace_id)
                           .order_by(Workflow.key, Workflow.version.desc()))
    chosen: dict[str, Workflow] = {}
    for row in rows:
        if row.key not in chosen or row.status == "active":
            chosen[row.key] = row
    return list(chosen.values())


def enrol_leads(session: Session, *, workspace_id: int, key: str, lead_ids: list[int],
                now: datetime | None = None) -> int:
    """Enrol leads by hand in the active version (the trigger's lead filter does not apply)."""
    row = get(session, workspace_id=workspace_id, key=key)
    if row.status != "active":
        raise Invalid([FieldProblem("key", f"workflow {key} is not active")])
    return enrol(session, row, lead_ids, now=now or utcnow(), check_filter=False)


# -- observability -----------------------------------------------------------------------------------------------
@dataclass
class StepStats:
    step: str
    action: str
    applied: int = 0
    waiting: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0


@dataclass
class WorkflowStats:
    key: str
    name: str
    versions: list[int]
    enrolled: int = 0
    active: int = 0
    completed: int = 0
    exited: dict[str, int] = field(default_factory=dict)
    conversions: int = 0
    steps: list[StepStats] = field(default_factory=list)


def stats(session: Session, *, workspace_id: int, key: str) -> WorkflowStats:
    """Per workflow (all its versions) and per step: counts from the enrolments, step log and send log."""
    versions = list(session.scalars(select(Workflow).where(Workflow.workspace_id == workspace_id,
                                                           Workflow.key == key).order_by(Workflow.version)))
    if not versions:
        raise NotFound("workflow not found")
    ids = [v.id for v in versions]
    current = get(session, workspace_id=workspace_id, key=key)
    out = WorkflowStats(key=key, name=current.name, versions=[v.version for v in versions])
    E = WorkflowEnrolment
    for status, reason, count, converted in session.execute(
            select(E.status, E.exit_reason, func.count(), func.count(E.converted_at))
            .where(E.workflow_id.in_(ids)).group_by(E.status, E.exit_reason)):
        out.enrolled += count
        out.conversions += converted
        if status == "active":
            out.active += count
        elif status == "completed":
            out.completed += count
        else:
            out.exited[reason or "unknown"] = out.exited.get(reason or "unknown", 0) + count
    by_step: dict[str, StepStats] = {}
    for definition in (definition_of(v) for v in versions):
        for step in definition.steps:
            by_step.setdefault(step.id, StepStats(step.id, step.action))
    for step_id, outcome, count in session.execute(
            select(WorkflowStepLog.step, WorkflowStepLog.outcome, func.count())
            .where(WorkflowStepLog.workflow_id.in_(ids)).group_by(WorkflowStepLog.step, WorkflowStepLog.outcome)):
        stat = by_step.setdefault(step_id, StepStats(step_id, "?"))
        stat.applied += count
        stat.outcomes[outcome] = count
    positions = session.execute(select(E.workflow_id, E.position, func.count()).where(
        E.workflow_id.in_(ids), E.status == "active").group_by(E.workflow_id, E.position))
    by_id = {v.id: definition_of(v) for v in versions}
    for workflow_id, position, count in positions:
        steps = by_id[workflow_id].steps
        if position < len(steps):
            by_step[steps[position].id].waiting += count
    S = EmailSend
    for step_id, status, count, opened, clicked, unsubscribed in session.execute(
            select(S.step, S.status, func.count(), func.count(S.opened_at), func.count(S.clicked_at),
                   func.count(S.unsubscribed_at))
            .where(S.workflow_id.in_(ids)).group_by(S.step, S.status)):
        stat = by_step.setdefault(step_id, StepStats(step_id, "send_email"))
        stat.emails[status] = count
        stat.opened += opened
        stat.clicked += clicked
        stat.unsubscribed += unsubscribed
    for source, opens, clicks in session.execute(
            select(EmailEngagementCount.source, EmailEngagementCount.opens, EmailEngagementCount.clicks)
            .where(EmailEngagementCount.workspace_id == workspace_id,
                   EmailEngagementCount.source.in_([f"w:{i}:{s}" for i in ids for s in by_step]))):
        step_id = source.split(":", 2)[2]
        by_step[step_id].opened += opens
        by_step[step_id].clicked += clicks
    out.steps = list(by_step.values())
    return out


def lead_journey(session: Session, *, workspace_id: int, lead_id: int) -> list[dict[str, Any]]:
    """Where a lead is in each workflow it entered, the steps it went through and the emails it received."""
    E = WorkflowEnrolment
    enrolments = list(session.scalars(select(E).where(E.workspace_id == workspace_id, E.lead_id == lead_id)
                                      .order_by(E.entered_at, E.id)))
    out = []
    for enrolment in enrolments:
        workflow = session.get(Workflow, enrolment.workflow_id)
        assert workflow is not None
        definition = definition_of(workflow)
        at = definition.steps[enrolment.position].id if enrolment.position < len(definition.steps) else None
        steps = session.execute(select(WorkflowStepLog.seq, WorkflowStepLog.step, WorkflowStepLog.outcome,
                                       WorkflowStepLog.at).where(WorkflowStepLog.enrolment_id == enrolment.id)
                                .order_by(WorkflowStepLog.seq)).all()
        emails = session.scalars(select(EmailSend).where(EmailSend.enrolment_id == enrolment.id)
                                 .order_by(EmailSend.id)).all()
        out.append({
            "enrolment_id": str(enrolment.id), "workflow": workflow.key, "version": workflow.version,
            "status": enrolment.status, "current_step": at if enrolment.status == "active" else None,
            "next_due_at": enrolment.next_due_at, "entered_at": enrolment.entered_at,
            "finished_at": enrolment.finished_at, "exit_reason": enrolment.exit_reason,
            "converted_at": enrolment.converted_at, "goal": enrolment.goal,
            "steps": [{"seq": s.seq, "step": s.step, "outcome": s.outcome, "at": s.at} for s in steps],
            "emails": [{"id": str(e.id), "step": e.step, "status": e.status, "sent_at": e.finished_at
                        if e.status == "sent" else None, "opened_at": e.opened_at, "clicked_at": e.clicked_at,
                        "error": e.error} for e in emails],
        })
    return out


# -- what ingest must tell the engine about ------------------------------------------------------------------------
@dataclass(frozen=True)
class Interest:
    """Event types an active workflow of the workspace triggers on or waits for, and the event triggers that
    also require property values: type -> ((workflow id, {property: value}), ...)."""

    types: frozenset[str]
    conditioned: dict[str, tuple[tuple[int, dict[str, Any]], ...]]

    def matching(self, event_type: str, properties: dict[str, Any] | None) -> list[int]:
        """The conditioned workflows this event meets (ingest checks it: payloads carry ids, not properties)."""
        props = properties or {}
        return [workflow_id for workflow_id, wanted in self.conditioned.get(event_type, ())
                if all(k in props and props[k] == v and type(props[k]) is type(v) for k, v in wanted.items())]


def interest_of(session: Session, workspace_id: int, *, ttl: float = 1.0) -> Interest:
    """What ingest must tell the workflows about (cached for `ttl` seconds; activation clears it here)."""
    import time

    clock = time.monotonic()
    cached = _INTEREST_CACHE.get(workspace_id)
    if cached is not None and clock - cached[0] < ttl:
        return cached[1]
    found: set[str] = set()
    conditioned: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for workflow_id, kind, value, awaited, definition in session.execute(
            select(Workflow.id, Workflow.trigger_kind, Workflow.trigger_value, Workflow.awaited_events,
                   Workflow.definition).where(Workflow.workspace_id == workspace_id, Workflow.status == "active")):
        if kind == "event" and value:
            found.add(value)
            wanted = (definition.get("trigger") or {}).get("properties")
            if isinstance(wanted, dict) and wanted:
                conditioned.setdefault(value, []).append((workflow_id, wanted))
        elif kind == "form":
            found.add("form_submit")
        found.update(awaited or [])
    result = Interest(frozenset(found), {k: tuple(v) for k, v in conditioned.items()})
    _INTEREST_CACHE[workspace_id] = (clock, result)
    return result


def interesting_event_types(session: Session, workspace_id: int) -> frozenset[str]:
    return interest_of(session, workspace_id).types


def install_examples(session: Session, *, workspace_id: int, actor: str = "demo") -> list[Workflow]:
    """Save and activate the example workflows the workspace does not have yet (the demo calls it)."""
    from leadline.nurture.examples import example_names, example_text

    installed = []
    for name in example_names():
        document = load_document(example_text(name))
        exists = session.scalar(select(Workflow.id).where(Workflow.workspace_id == workspace_id,
                                                          Workflow.key == document["key"]).limit(1))
        if exists is None:
            installed.append(save(session, workspace_id=workspace_id, document=document, actor=actor,
                                  activate=True))
    return installed
