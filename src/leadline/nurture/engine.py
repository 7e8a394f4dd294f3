"""The enrolment engine: enrol leads, claim due enrolments with a lease, run their steps, exit them.

The `workflow_enrolments` row is the truth: its `next_due_at` says when it must run, `lease_owner` /
`lease_until` who is running it. `claim_due` leases a batch of due rows (rows whose lease ran out count as due:
that is how a dead worker's rows are recovered). `run_claimed` re-reads the leased rows under a row lock, keeps
only those still leased to the caller, runs the pure step function (`core.workflows.advance`) and, in the same
transaction, carries out its commands, writes one `workflow_step_log` row per applied step (unique per
enrolment and step number) and stores the new position with the lease cleared. A crash before the commit
leaves nothing behind; a crash after it leaves nothing to redo: each step's state change happens exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.leads import Stage
from leadline.core.lifecycle import Actor, ActorType
from leadline.core.workflows import (
    CallWebhook,
    ChangeList,
    EnrolmentState,
    Facts,
    MoveStage,
    NotifyLeadOwner,
    SendEmail,
    SetLeadField,
    StepApplied,
    WorkflowDefinition,
    advance,
    goals_reached,
    parse_workflow,
)
from leadline.services import outbox
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.storage.database import Database
from leadline.storage.segment_sql import matching_leads
from leadline.storage.tables import (
    EmailSend,
    Event,
    Lead,
    Segment,
    Workflow,
    WorkflowEnrolment,
    WorkflowStepLog,
)
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)

BATCH = 200
DEFAULT_LEASE = timedelta(minutes=5)
WORKFLOW_ACTOR = "workflow"
WEBHOOK_TOPIC = "workflow.webhook"
_E = WorkflowEnrolment
_ENROLMENTS = WorkflowEnrolment.__table__


def worker_id() -> str:
    """Who holds a lease: host, process and thread (unique among live workers)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 100000}"


# -- definitions (immutable per version row: cached by id and creation time) ---------------------------------------
_DEFINITIONS: dict[int, tuple[datetime, WorkflowDefinition]] = {}


def definition_of(workflow: Workflow) -> WorkflowDefinition:
    found = _DEFINITIONS.get(workflow.id)
    if found is None or found[0] != workflow.created_at:  # an id SQLite reused after a workspace was deleted
        if len(_DEFINITIONS) > 10_000:
            _DEFINITIONS.clear()
        found = _DEFINITIONS[workflow.id] = (workflow.created_at, parse_workflow(workflow.definition))
    return found[1]


def _definitions(session: Session, ids: Iterable[int]) -> dict[int, WorkflowDefinition]:
    wanted = sorted(set(ids))
    stamps = dict(session.execute(select(Workflow.id, Workflow.created_at).where(Workflow.id.in_(wanted))).all())
    stale = [i for i in stamps if i not in _DEFINITIONS or _DEFINITIONS[i][0] != stamps[i]]
    if stale:
        for row in session.scalars(select(Workflow).where(Workflow.id.in_(stale))):
            definition_of(row)
    return {i: _DEFINITIONS[i][1] for i in stamps}


# -- waking the workers -------------------------------------------------------------------------------------------
_waker: Callable[[], None] | None = None


def set_waker(wake: Callable[[], None] | None) -> None:
    """The job queue registers how to wake workers (a queue message); None: nobody to wake (tests, CLI)."""
    global _waker
    _waker = wake


def wake_after_commit(session: Session) -> None:
    """Wake the workers once this transaction commits (a message sent before would find nothing to do)."""
    if _waker is None or session.info.get("nurture_wake"):
        return
    session.info["nurture_wake"] = True

    def _fire(s: Session) -> None:
        s.info.pop("nurture_wake", None)
        if _waker is not None:
            try:
                _waker()
            except Exception:  # the sweeper sends the wake-up later
                logger.warning("could not wake the nurture workers", exc_info=True)

    event.listen(session, "after_commit", _fire, once=True)


# -- enrolment ----------------------------------------------------------------------------------------------------
def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    dialect = session.get_bind().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = builder(_ENROLMENTS).values(rows).on_conflict_do_nothing(
        index_elements=["workspace_id", "workflow_key", "lead_id"], index_where=_ENROLMENTS.c.status == "active")
    return len(session.execute(statement.returning(_ENROLMENTS.c.id)).all())


def enrol(session: Session, workflow: Workflow, lead_ids: Iterable[int], *, now: datetime,
          check_filter: bool = True) -> int:
    """Enrol these leads in the workflow's active version, following its re-entry rule and its trigger's lead
    filter; returns how many were enrolled. Safe under concurrent triggers (one running enrolment per lead)."""
    definition = definition_of(workflow)
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    ws = workflow.workspace_id
    # Live leads only (a merged-away lead's triggers count for its survivor).
    exit_stages = {s.value for s in definition.exit.stages}
    ids = [lead_id for lead_id, stage, unsubscribed in session.execute(
        select(Lead.id, Lead.stage, Lead.unsubscribed).where(Lead.workspace_id == ws, Lead.id.in_(ids),
                                                             Lead.merged_into_id.is_(None)))
           if stage not in exit_stages and not (unsubscribed and definition.exit.unsubscribed)]
    where = getattr(definition.trigger, "where", None)
    if check_filter and where is not None and ids:
        from leadline.core.segments import parse_filter

        flt = parse_filter(where)
        ids = list(session.scalars(matching_leads(flt, workspace_id=ws, now=now, mode="probe", lead_ids=ids,
                                                  dialect=session.get_bind().dialect.name)))
    if not ids:
        return 0
    delay = definition.re_entry_delay()
    past = select(_E.lead_id).where(_E.workspace_id == ws, _E.workflow_key == workflow.key, _E.lead_id.in_(ids))
    if delay is None:
        blocked = set(session.scalars(past))
    else:
        blocked = set(session.scalars(past.where(or_(_E.status == "active", _E.finished_at > now - delay))))
    rows = [{"workspace_id": ws, "workflow_id": workflow.id, "workflow_key": workflow.key, "lead_id": lead_id,
             "status": "active", "position": 0, "seq": 0, "step_started_at": now, "next_due_at": now,
             "entered_at": now} for lead_id in ids if lead_id not in blocked]
    if not rows:
        return 0
    added = _insert_ignoring_duplicates(session, rows)
    if added:
        wake_after_commit(session)
    return added


def active_workflows(session: Session, workspace_id: int, kind: str, values: Iterable[str | None] | None = None
                     ) -> list[Workflow]:
    query = select(Workflow).where(Workflow.workspace_id == workspace_id, Workflow.status == "active",
                                   Workflow.trigger_kind == kind)
    if values is not None:
        query = query.where(Workflow.trigger_value.in_(list(values)))
    return list(session.scalars(query.order_by(Workflow.id)))


# -- exits and goals (from outbox messages, and from the steps themselves) -----------------------------------------
def finish(session: Session, enrolment_ids: Sequence[int], *, status: str, reason: str, now: datetime) -> int:
    if not enrolment_ids:
        return 0
    result = session.execute(update(WorkflowEnrolment).where(
        WorkflowEnrolment.id.in_(enrolment_ids), WorkflowEnrolment.status == "active").values(
        status=status, exit_reason=reason, finished_at=now, next_due_at=None, lease_owner=None, lease_until=None),
        execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


def on_lead_changed(session: Session, workspace_id: int, lead_ids: Sequence[int], *, now: datetime,
                    stage: str | None = None, event_type: str | None = None, unsubscribed: bool = False) -> None:
    """A lead changed stage, recorded an event or unsubscribed: exit, count goals, wake waiting steps."""
    if not lead_ids:
        return
    rows = session.execute(select(_E.id, _E.workflow_id, _E.lead_id, _E.converted_at).where(
        _E.workspace_id == workspace_id, _E.lead_id.in_(list(lead_ids)), _E.status == "active")).all()
    if not rows:
        return
    definitions = _definitions(session, {r.workflow_id for r in rows})
    exits: dict[str, list[int]] = {}
    wake: list[int] = []
    for row in rows:
        definition = definitions.get(row.workflow_id)
        if definition is None:
            continue
        reached = goals_reached(definition, stage=stage, event=event_type)
        if reached and row.converted_at is None:
            session.execute(update(WorkflowEnrolment).where(WorkflowEnrolment.id == row.id).values(
                converted_at=now, goal=reached[0].name), execution_options={"synchronize_session": False})
        if any(g.exit for g in reached):
            exits.setdefault(f"goal:{reached[0].name}"[:100], []).append(row.id)
        elif unsubscribed and definition.exit.unsubscribed:
            exits.setdefault("unsubscribed", []).append(row.id)
        elif stage is not None and stage in {s.value for s in definition.exit.stages}:
            exits.setdefault(f"stage:{stage}", []).append(row.id)
        elif event_type is not None and event_type in definition.event_types_awaited():
            wake.append(row.id)
    for reason, ids in exits.items():
        finish(session, ids, status="exited", reason=reason, now=now)
    if wake:  # a waiting step re-checks at once (its own timeout stays in the definition)
        session.execute(update(WorkflowEnrolment).where(WorkflowEnrolment.id.in_(wake),
                                                        WorkflowEnrolment.status == "active")
                        .values(next_due_at=now), execution_options={"synchronize_session": False})
        wake_after_commit(session)


# -- claiming and running -----------------------------------------------------------------------------------------
def due_count(session: Session, now: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(WorkflowEnrolment).where(
        WorkflowEnrolment.status == "active", WorkflowEnrolment.next_due_at <= now,
        or_(WorkflowEnrolment.lease_until.is_(None), WorkflowEnrolment.lease_until < now))) or 0)


def claim_due(db: Database, *, owner: str, now: datetime, limit: int = BATCH,
              lease: timedelta = DEFAULT_LEASE) -> list[int]:
    """Lease up to `limit` due enrolments to `owner` (skipping rows another worker is claiming)."""
    with db.write() as session:
        query = (select(_E.id).where(_E.status == "active", _E.next_due_at <= now,
                                     or_(_E.lease_until.is_(None), _E.lease_until < now))
                 .order_by(_E.next_due_at, _E.id).limit(limit))
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(session.scalars(query))
        if ids:
            session.execute(update(WorkflowEnrolment).where(WorkflowEnrolment.id.in_(ids)).values(
                lease_owner=owner, lease_until=now + lease), execution_options={"synchronize_session": False})
        return ids


@dataclass(frozen=True, slots=True)
class RunResult:
    enrolments: int
    steps: int
    emails: int


def _branch_facts(session: Session, definitions: dict[int, WorkflowDefinition], rows: Sequence[Any],
                  now: datetime) -> dict[tuple[int, str], set[int]]:
    """(workflow id, branch step) -> the leads for which its condition holds now: one query per branch step."""
    found: dict[tuple[int, str], set[int]] = {}
    dialect = session.get_bind().dialect.name
    by_workflow: dict[int, list[int]] = {}
    for row in rows:
        by_workflow.setdefault(row.workflow_id, []).append(row.lead_id)
    for workflow_id, lead_ids in by_workflow.items():
        definition = definitions[workflow_id]
        ws = rows[0].workspace_id if len({r.workspace_id for r in rows}) == 1 else None
        for step_id, flt in definition.branch_filters().items():
            workspace_ids = {r.workspace_id for r in rows if r.workflow_id == workflow_id} if ws is None else {ws}
            holds: set[int] = set()
            for workspace_id in workspace_ids:
                holds.update(session.scalars(matching_leads(flt, workspace_id=workspace_id, now=now, mode="probe",
                                                            lead_ids=lead_ids, dialect=dialect)))
            found[(workflow_id, step_id)] = holds
    return found


def _events_since(session: Session, definitions: dict[int, WorkflowDefinition], rows: Sequence[Any]
                  ) -> dict[int, frozenset[str]]:
    """Enrolment id -> the awaited event types its lead recorded since its current step started."""
    waiting = []
    for row in rows:
        steps = definitions[row.workflow_id].steps
        if row.position < len(steps) and (w := steps[row.position].wait_until) is not None and w.event:
            waiting.append((row, w.event))
    if not waiting:
        return {}
    types = sorted({t for _, t in waiting})
    earliest = min(row.step_started_at for row, _ in waiting)
    latest: dict[tuple[int, str], datetime] = {}
    for workspace_id in {row.workspace_id for row, _ in waiting}:
        lead_ids = sorted({row.lead_id for row, _ in waiting if row.workspace_id == workspace_id})
        query = (select(Event.lead_id, Event.type, func.max(Event.occurred_at))
                 .where(Event.workspace_id == workspace_id, Event.type.in_(types), Event.lead_id.in_(lead_ids),
                        Event.occurred_at >= earliest).group_by(Event.lead_id, Event.type))
        for lead_id, kind, at in session.execute(query):
            latest[(lead_id, kind)] = at
    out = {}
    for row, kind in waiting:
        at = latest.get((row.lead_id, kind))
        if at is not None and at >= row.step_started_at:
            out[row.id] = frozenset({kind})
    return out


def run_claimed(db: Database, ids: Sequence[int], *, owner: str, now: datetime) -> RunResult:
    """Run the leased enrolments' due steps in one transaction (see the module's docstring)."""
    if not ids:
        return RunResult(0, 0, 0)
    with db.write() as session:
        query = select(_E).where(_E.id.in_(list(ids)), _E.lease_owner == owner, _E.status == "active")
        if db.dialect == "postgresql":
            query = query.with_for_update()
        rows = list(session.scalars(query.order_by(_E.id)))
        if not rows:
            return RunResult(0, 0, 0)
        definitions = _definitions(session, {r.workflow_id for r in rows})
        rows = [r for r in rows if r.workflow_id in definitions]
        leads = {lead.id: lead for lead in session.scalars(select(Lead).where(
            Lead.id.in_([r.lead_id for r in rows])))}
        conditions = _branch_facts(session, definitions, rows, now)
        events_since = _events_since(session, definitions, rows)
        logs: list[dict[str, Any]] = []
        sends: list[dict[str, Any]] = []
        applier = _Applier(session, now)
        for row in rows:
            lead = leads.get(row.lead_id)
            definition = definitions[row.workflow_id]
            if lead is None or lead.merged_into_id is not None:
                _store(row, EnrolmentState(row.position, row.seq, row.step_started_at, "exited",
                                           "lead merged or deleted" if lead else "lead deleted"), now)
                continue
            facts = Facts(stage=lead.stage, unsubscribed=bool(lead.unsubscribed), lead_id=lead.id,
                          conditions={step: lead.id in holds for (wid, step), holds in conditions.items()
                                      if wid == row.workflow_id},
                          events_since_step=events_since.get(row.id, frozenset()))
            state = EnrolmentState(row.position, row.seq, row.step_started_at, "active")
            new_state, commands = advance(definition, state, now, facts)
            refused: dict[str, str] = {}
            for command in commands:
                if isinstance(command, StepApplied):
                    outcome = refused.pop(command.step, command.outcome)
                    logs.append({"workspace_id": row.workspace_id, "enrolment_id": row.id,
                                 "workflow_id": row.workflow_id, "lead_id": row.lead_id, "seq": command.seq,
                                 "step": command.step, "outcome": outcome[:100], "at": now})
                elif isinstance(command, SendEmail):
                    sends.append({"workspace_id": row.workspace_id, "lead_id": row.lead_id, "enrolment_id": row.id,
                                  "workflow_id": row.workflow_id, "step": command.step, "status": "queued",
                                  "created_at": now, "not_before": now, "tracked": False})
                else:
                    problem = applier.apply(row, lead, command)
                    if problem:  # the step counts as applied; its log says why it changed nothing
                        refused[command.step] = problem
            _store(row, new_state, now)
        if logs:
            session.execute(insert(WorkflowStepLog.__table__), logs)
        if sends:
            session.execute(insert(EmailSend.__table__), sends)
            wake_after_commit(session)
        return RunResult(len(rows), len(logs), len(sends))


def _store(row: WorkflowEnrolment, state: EnrolmentState, now: datetime) -> None:
    row.position, row.seq, row.step_started_at = state.position, state.seq, state.step_started_at
    row.lease_owner = row.lease_until = None
    if state.status == "active":
        row.next_due_at = state.due_at
    else:
        row.status, row.exit_reason, row.finished_at, row.next_due_at = state.status, state.exit_reason, now, None


class _Applier:
    """Carries out the commands that change Leadline itself, each in a savepoint: a refused change (a stage
    move the lifecycle does not allow) is logged and the workflow goes on."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session, self.now = session, now
        self._lists: dict[tuple[int, str], Segment | None] = {}

    def apply(self, row: WorkflowEnrolment, lead: Lead, command: Any) -> str | None:
        try:
            with self.session.begin_nested():
                return self._apply(row, lead, command)
        except (Conflict, Invalid, NotFound) as error:
            return f"refused: {error}"

    def _list(self, workspace_id: int, name: str) -> Segment | None:
        key = (workspace_id, name)
        if key not in self._lists:
            self._lists[key] = self.session.scalars(select(Segment).where(
                Segment.workspace_id == workspace_id, Segment.name == name, Segment.kind == "static")).first()
        return self._lists[key]

    def _apply(self, row: WorkflowEnrolment, lead: Lead, command: Any) -> str | None:
        from leadline.services.activities import add_task
        from leadline.services.lifecycle import change_stage
        from leadline.services.segments.catalog import add_members, remove_members
        from leadline.services.segments.membership import mark_lead_fields

        ws, actor = row.workspace_id, Actor(ActorType.RULE, f"{WORKFLOW_ACTOR}:{row.workflow_key}")
        if isinstance(command, SetLeadField):
            prefix, _, key = command.field.partition(".")
            if prefix == "custom":
                lead.custom = {**(lead.custom or {}), key: command.value}
            else:
                setattr(lead, command.field, None if command.value is None else str(command.value))
            mark_lead_fields(self.session, ws, [lead.id], [command.field], now=self.now)
            return None
        if isinstance(command, MoveStage):
            change_stage(self.session, workspace_id=ws, lead=lead, to=Stage(command.stage), actor=actor,
                         reason=command.reason, now=self.now)
            return None
        if isinstance(command, ChangeList):
            segment = self._list(ws, command.list_name)
            if segment is None:
                raise NotFound(f"no static list named {command.list_name!r}")
            (add_members if command.add else remove_members)(self.session, ws, segment.id, [lead.id])
            return None
        if isinstance(command, NotifyLeadOwner):
            if lead.owner_id is None:
                return "no owner to notify"
            add_task(self.session, workspace_id=ws, lead_id=lead.id, title=command.message, actor=actor,
                     due_at=self.now, remind_at=self.now)
            return None
        if isinstance(command, CallWebhook):
            outbox.emit(self.session, workspace_id=ws, topic=WEBHOOK_TOPIC, lead_id=lead.id, now=self.now,
                        payload={"workflow_id": row.workflow_id, "workflow": row.workflow_key,
                                 "step": command.step, "name": command.name, "enrolment_id": row.id,
                                 "idempotency_key": f"wf-{row.id}-{row.seq}-{command.step}"})
            return None
        raise Invalid([FieldProblem("step", f"unknown command {command!r}")])


def run_due(db: Database, *, now: datetime | None = None, owner: str | None = None, limit: int = BATCH,
            lease: timedelta = DEFAULT_LEASE, max_batches: int = 1000) -> RunResult:
    """Claim and run due enrolments, batch after batch, until none is due; returns the totals."""
    who = owner or worker_id()
    total = RunResult(0, 0, 0)
    for _ in range(max_batches):
        at = now or utcnow()
        ids = claim_due(db, owner=who, now=at, limit=limit, lease=lease)
        if not ids:
            break
        done = run_claimed(db, ids, owner=who, now=at)
        total = RunResult(total.enrolments + done.enrolments, total.steps + done.steps, total.emails + done.emails)
        if len(ids) < limit:
            break
    return total

