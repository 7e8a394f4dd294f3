"""Routing through the outbox (a lead that becomes MQL, or enters a segment) and the overdue job (flag,
reassign or notify the manager) driven by the worker with a later `now`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadline.jobs.runner import Worker
from leadline.services import outbox
from leadline.services.routing import mark_overdue
from leadline.storage.database import Database
from leadline.storage.tables import Assignment, Lead, OutboxMessage, Segment
from routing_helpers import NOW, add_leads, add_users, set_rules, workspace

SEEN: list[tuple[str, int | None, dict[str, object]]] = []


@outbox.consumer("test-routing-flow", "lead.assigned", "lead.overdue")
def _record(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    SEEN.extend((m.topic, m.lead_id, dict(m.payload)) for m in messages)


def _lead(db: Database, lead_id: int) -> Lead:
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        session.expunge(lead)
        return lead


def _emit(db: Database, ws: int, topic: str, items: list[tuple[int, dict[str, object]]]) -> None:
    with db.write() as session:
        outbox.emit_many(session, workspace_id=ws, topic=topic, items=items, now=NOW)


def test_stage_changed_to_mql_routes_unowned_leads(db: Database) -> None:
    SEEN.clear()
    ws = workspace(db)
    rep, other = add_users(db, ws, {}, {})
    set_rules(db, ws, {"name": "mql", "match": {"stages": ["mql"]}})
    fresh, owned, sql = add_leads(db, ws, 1)[0], add_leads(db, ws, 1, owner_id=other)[0], add_leads(db, ws, 1)[0]
    _emit(db, ws, "lead.stage_changed", [
        (fresh, {"from": "new", "to": "mql", "transition_id": 1, "actor_type": "rule"}),
        (owned, {"from": "new", "to": "mql", "transition_id": 2, "actor_type": "rule"}),
        (sql, {"from": "mql", "to": "sql", "transition_id": 3, "actor_type": "user"})])
    outbox.drain(db, now=NOW)
    assert _lead(db, fresh).owner_id in (rep, other) and _lead(db, fresh).follow_up_due_at is not None
    assert _lead(db, owned).owner_id == other and _lead(db, sql).owner_id is None
    with db.read() as session:
        history = session.scalars(select(Assignment)).all()
    assert [(h.lead_id, h.actor) for h in history] == [(fresh, "routing:auto")]
    assert [(t, lead) for t, lead, _ in SEEN] == [("lead.assigned", fresh)]  # notifications get it


def test_segment_entered_routes_only_for_a_rule_naming_the_segment(db: Database) -> None:
    ws = workspace(db)
    (rep,) = add_users(db, ws, {})
    with db.write() as session:
        named, unnamed = Segment(workspace_id=ws, name="vip", kind="static"), Segment(workspace_id=ws, name="x")
        session.add_all([named, unnamed])
        session.flush()
        named_id, unnamed_id = named.id, unnamed.id
    set_rules(db, ws, {"name": "vip", "match": {"segment_id": str(named_id)}},
              {"name": "rest", "match": {"stages": ["mql"]}})
    a, b = add_leads(db, ws, 2, stage="new")
    with db.write() as session:
        from leadline.storage.tables import SegmentMembership

        session.add_all([SegmentMembership(segment_id=named_id, lead_id=a, workspace_id=ws, entered_at=NOW),
                         SegmentMembership(segment_id=unnamed_id, lead_id=b, workspace_id=ws, entered_at=NOW)])
    _emit(db, ws, "segment.entered", [(a, {"segment_id": named_id}), (b, {"segment_id": unnamed_id})])
    outbox.drain(db, now=NOW)
    assert _lead(db, a).owner_id == rep and _lead(db, b).owner_id is None


def _overdue_setup(db: Database, escalation: str) -> tuple[int, list[int], list[int]]:
    SEEN.clear()
    ws = workspace(db)
    boss = add_users(db, ws, {"handle": "boss", "role": "manager"})[0]
    reps = add_users(db, ws, {"handle": "a", "manager_id": boss}, {"handle": "b", "manager_id": boss})
    set_rules(db, ws, {"name": "all", "sla_minutes": {"hot": 60}, "escalation": escalation})
    leads = add_leads(db, ws, 4)
    with db.write() as session:
        from leadline.services.routing import route_leads

        route_leads(session, workspace_id=ws, lead_ids=leads, now=NOW, actor="t")
    return ws, reps, leads


def test_overdue_notify_manager_via_worker(db: Database) -> None:
    _, _, leads = _overdue_setup(db, "notify_manager")
    touched = leads[0]
    with db.write() as session:  # a sales touch after assignment answers the SLA
        session.execute(update(Lead).where(Lead.id == touched).values(first_sales_touch_at=NOW + timedelta(minutes=5)))
    worker = Worker(db)
    worker.tick(now=NOW + timedelta(minutes=59))
    assert all(_lead(db, i).overdue_at is None for i in leads)
    SEEN.clear()
    Worker(db).tick(now=NOW + timedelta(minutes=61))
    assert _lead(db, touched).overdue_at is None
    late = leads[1:]
    assert all(_lead(db, i).overdue_at == NOW + timedelta(minutes=61) for i in late)
    overdue = [(lead, p) for t, lead, p in SEEN if t == "lead.overdue"]
    assert sorted(lead for lead, _ in overdue) == late
    boss = _lead_owner_manager(db, late[0])
    assert all(p["escalation"] == "notified" and p["manager_id"] == boss for _, p in overdue)
    # flagged once: a later run does nothing more
    SEEN.clear()
    with db.write() as session:
        assert mark_overdue(session, now=NOW + timedelta(hours=5)).marked == 0


def _lead_owner_manager(db: Database, lead_id: int) -> int | None:
    from leadline.storage.tables import User

    with db.read() as session:
        owner = session.get(User, _lead(db, lead_id).owner_id)
        return owner.manager_id if owner else None


def test_overdue_reassign_moves_the_lead_to_another_rep(db: Database) -> None:
    _, reps, leads = _overdue_setup(db, "reassign")
    before = {i: _lead(db, i).owner_id for i in leads}
    later = NOW + timedelta(hours=2)
    Worker(db).tick(now=later)
    for lead_id in leads:
        lead = _lead(db, lead_id)
        assert lead.owner_id != before[lead_id] and lead.owner_id in reps
        assert lead.assigned_at == later and lead.overdue_at is None and lead.follow_up_due_at > later
    with db.read() as session:
        rows = session.scalars(select(Assignment).where(Assignment.at == later)).all()
    assert {(r.lead_id, r.previous_owner_id, r.actor) for r in rows} == {
        (i, before[i], "routing:overdue") for i in leads}
    assert all(r.reason.startswith("overdue; ") for r in rows)
    overdue = [p for t, _, p in SEEN if t == "lead.overdue"]
    assert len(overdue) == 4 and {p["escalation"] for p in overdue} == {"reassigned"}


def test_overdue_reassign_with_nobody_else_notifies(db: Database) -> None:
    _, reps, leads = _overdue_setup(db, "reassign")
    with db.write() as session:
        from leadline.storage.tables import User

        session.execute(update(User).where(User.id.in_(reps)).values(away=True))
    Worker(db).tick(now=NOW + timedelta(hours=2))
    assert all(_lead(db, i).overdue_at is not None for i in leads)
    assert {p["escalation"] for t, _, p in SEEN if t == "lead.overdue"} == {"notified"}
