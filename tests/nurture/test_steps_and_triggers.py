"""Each kind of step changes Leadline through its own services (stage through the lifecycle, lists, tasks for
the owner, webhooks through the outbox), and each kind of trigger enrols: stage, MQL, segment, form."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from leadline.nurture.engine import run_due
from leadline.services import outbox
from leadline.services.events import EventDraft, record_events
from leadline.services.segments.catalog import create_segment
from leadline.services.workflows import save
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import (
    Lead,
    OutboxMessage,
    SalesTask,
    SegmentMembership,
    User,
    WorkflowEnrolment,
    WorkflowStepLog,
)


def _setup(db: Database, trigger: dict[str, Any], steps: list[dict[str, Any]]) -> tuple[int, int]:
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme")
        owner = User(workspace_id=ws.id, handle="ana", name="Ana", email="ana@example.org")
        session.add(owner)
        session.flush()
        create_segment(session, ws.id, name="Nurtured", kind="static")
        lead = Lead(workspace_id=ws.id, email="jo@example.org", owner_id=owner.id, consent_email=True)
        session.add(lead)
        session.flush()
        save(session, workspace_id=ws.id, actor="test", activate=True, document={
            "format": "leadline-workflow/1", "key": "wf", "name": "WF", "trigger": trigger, "steps": steps})
        return ws.id, lead.id


def test_steps_change_stage_fields_lists_tasks_and_emit_webhooks(db: Database) -> None:
    _ws, lead_id = _setup(db, {"event": "download"}, [
        {"id": "tag", "set_field": {"field": "custom.nurtured", "value": True}},
        {"id": "title", "set_field": {"field": "job_title", "value": "Buyer"}},
        {"id": "list", "add_to_list": "Nurtured"},
        {"id": "call", "notify_owner": {"message": "Call Jo"}},
        {"id": "crm", "webhook": {"name": "crm-sync"}},
        {"id": "bad-move", "set_stage": {"stage": "recycled"}},     # not allowed from new: refused, goes on
        {"id": "recycle", "set_stage": {"stage": "disqualified", "reason": "unreachable"}},
        {"id": "never", "wait": {"days": 1}}])
    with db.write() as session:
        record_events(session, get_or_create_workspace(session, "acme"), [EventDraft(type="download",
                                                                                   lead_id=lead_id)])
    outbox.drain(db)
    result = run_due(db)
    assert result.enrolments == 1
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        assert (lead.custom, lead.job_title, lead.stage) == ({"nurtured": True}, "Buyer", "disqualified")
        assert session.scalars(select(SegmentMembership.lead_id)).all() == [lead_id]
        assert session.scalars(select(SalesTask.title)).all() == ["Call Jo"]
        hooks = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "workflow.webhook")).all()
        assert [(h.lead_id, h.payload["name"]) for h in hooks] == [(lead_id, "crm-sync")]
        log = session.execute(select(WorkflowStepLog.step, WorkflowStepLog.outcome)
                              .order_by(WorkflowStepLog.seq)).all()
        assert [s for s, _ in log] == ["tag", "title", "list", "call", "crm", "bad-move", "recycle"]
        outcomes = dict(log)
        assert outcomes["bad-move"].startswith("refused: ")  # the refused move changed nothing, and says so
        assert outcomes["recycle"] == "set_stage"
        enrolment = session.scalars(select(WorkflowEnrolment)).one()
        assert enrolment.status == "active"  # the stage change exits it when the outbox is drained
    outbox.drain(db)
    with db.read() as session:
        enrolment = session.scalars(select(WorkflowEnrolment)).one()
        assert (enrolment.status, enrolment.exit_reason) == ("exited", "stage:disqualified")


def test_stage_segment_and_form_triggers_enrol(db: Database) -> None:
    ws, lead_id = _setup(db, {"stage": "mql"}, [{"id": "w", "wait": {"days": 1}}])
    with db.write() as session:
        from leadline.core.leads import Stage
        from leadline.core.lifecycle import Actor, ActorType
        from leadline.services.lifecycle import change_stage

        change_stage(session, workspace_id=ws, lead=lead_id, to=Stage.MQL, actor=Actor(ActorType.SYSTEM))
        segment = create_segment(session, ws, name="Hot", kind="static")
        save(session, workspace_id=ws, actor="t", activate=True, document={
            "format": "leadline-workflow/1", "key": "seg", "name": "Seg", "trigger": {"segment_entered": "Hot"},
            "steps": [{"id": "w", "wait": {"days": 1}}]})
        save(session, workspace_id=ws, actor="t", activate=True, document={
            "format": "leadline-workflow/1", "key": "form", "name": "Form", "trigger": {"form": "contact"},
            "steps": [{"id": "w", "wait": {"days": 1}}]})
    with db.write() as session:
        from leadline.services.segments.catalog import add_members

        add_members(session, ws, segment.id, [lead_id])
        record_events(session, get_or_create_workspace(session, "acme"), [EventDraft(
            type="form_submit", lead_id=lead_id, properties={"form_key": "contact"})])
        record_events(session, get_or_create_workspace(session, "acme"), [EventDraft(
            type="form_submit", lead_id=lead_id, properties={"form_key": "other"})])
    outbox.drain(db)
    with db.read() as session:
        keys = sorted(session.scalars(select(WorkflowEnrolment.workflow_key)))
    assert keys == ["form", "seg", "wf"]


def test_an_event_trigger_with_properties_enrols_only_for_matching_events(db: Database) -> None:
    _ws, lead_id = _setup(db, {"event": "download", "properties": {"asset": "whitepaper"}},
                          [{"id": "w", "wait": {"days": 1}}])
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        record_events(session, workspace, [EventDraft(type="download", lead_id=lead_id,
                                                      properties={"asset": "price-list"})])
    outbox.drain(db)
    with db.read() as session:
        assert session.scalars(select(WorkflowEnrolment)).all() == []
        payloads = session.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.topic == "lead.event_recorded")).all()
        assert payloads == [{"type": "download", "workflows": []}]  # ids only, never the properties
    with db.write() as session:
        record_events(session, get_or_create_workspace(session, "acme"), [EventDraft(
            type="download", lead_id=lead_id, properties={"asset": "whitepaper"})])
    outbox.drain(db)
    with db.read() as session:
        assert session.scalars(select(WorkflowEnrolment.lead_id)).all() == [lead_id]


def test_a_lead_warming_up_enrols_in_temperature_workflows_for_each_band_it_reaches(db: Database) -> None:
    from leadline.services.scoring.bulk import apply_version
    from leadline.services.scoring.models import built_in_source, load_document, store_version

    ws, lead_id = _setup(db, {"temperature_reaches": "hot"}, [{"id": "w", "wait": {"days": 1}}])
    with db.write() as session:
        save(session, workspace_id=ws, actor="t", activate=True, document={
            "format": "leadline-workflow/1", "key": "warm", "name": "Warm", "trigger": {"temperature_reaches": "warm"},
            "steps": [{"id": "w", "wait": {"days": 1}}]})
        version = store_version(session, ws, load_document(built_in_source("default-b2b")), source=None,
                                actor="t").version
        lukewarm = Lead(workspace_id=ws, email="lu@example.org", consent_email=True)
        session.add(lukewarm)
        session.flush()
        lukewarm_id = lukewarm.id
    apply_version(db, ws, version)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        record_events(session, workspace, [EventDraft(type=t, lead_id=lead_id)
                                           for t in ("quote_request", "demo_request", "trial_started")])
        record_events(session, workspace, [EventDraft(type=t, lead_id=lukewarm_id)
                                           for t in ("quote_request", "demo_request")])
    outbox.drain(db)
    with db.read() as session:
        temperatures = {i: session.get(Lead, i).temperature for i in (lead_id, lukewarm_id)}
        enrolled = sorted(session.execute(select(WorkflowEnrolment.workflow_key, WorkflowEnrolment.lead_id)).all())
    assert temperatures == {lead_id: "hot", lukewarm_id: "warm"}
    assert enrolled == sorted([("wf", lead_id), ("warm", lead_id), ("warm", lukewarm_id)])


def test_an_unknown_temperature_is_refused_with_its_place() -> None:
    from leadline.core.workflows import InvalidWorkflow, parse_workflow

    try:
        parse_workflow({"format": "leadline-workflow/1", "key": "x", "name": "X",
                        "trigger": {"temperature_reaches": "boiling"}, "steps": [{"id": "w", "wait": {"days": 1}}]})
    except InvalidWorkflow as error:
        assert any("temperature_reaches" in where for where, _ in error.problems), error.problems
    else:
        raise AssertionError("accepted")
