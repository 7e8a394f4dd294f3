"""The demo's sales team at work: a routing rule hands the open Olist MQLs to the SDRs, and the follow-up
deadlines that passed untouched are flagged overdue.

The Olist files say who closed each won deal (its SR owns the customer) but not who worked the other 7,158
MQLs, nor when anyone called them. So the demo does what Leadline would have done: the reps work in São Paulo
(time zone America/Sao_Paulo, Brazilian public holidays, Monday to Friday 09:00-17:00) under one manager, one
rule ("Open MQLs to SDRs": weighted and fair among the SDRs, deadlines from the default SLA per temperature,
overdue leads escalated to the manager) routes each week's new MQLs at the end of that week of first contact,
and, as no call was ever logged, every deadline that has passed is flagged overdue. Owners, assignment
history, deadlines and overdue flags are therefore the rule's, not the data's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadline.core.routing import Escalation
from leadline.services.routing import OVERDUE_BATCH, mark_overdue, route_leads
from leadline.services.routing_rules import RuleIn, list_rules, replace_rules
from leadline.storage.database import Database
from leadline.storage.tables import Lead, User
from leadline.storage.types import utcnow

RULE_NAME = "Open MQLs to SDRs"
MANAGER_HANDLE = "sales-manager"
ACTOR = "demo:routing"


@dataclass(frozen=True)
class DemoRouting:
    routed: int
    overdue: int


def _team(session: Session, workspace_id: int) -> list[int]:
    """Put the reps in São Paulo under one manager; return the SDRs' ids (the rule's pool)."""
    manager = session.scalars(select(User).where(User.workspace_id == workspace_id,
                                                 User.handle == MANAGER_HANDLE)).first()
    if manager is None:
        manager = User(workspace_id=workspace_id, handle=MANAGER_HANDLE, name="Sales manager", role="manager",
                       timezone="America/Sao_Paulo", holiday_country="BR")
        session.add(manager)
        session.flush()
    session.execute(update(User).where(User.workspace_id == workspace_id, User.role == "rep")
                    .values(timezone="America/Sao_Paulo", holiday_country="BR", manager_id=manager.id))
    return list(session.scalars(select(User.id).where(User.workspace_id == workspace_id, User.role == "rep",
                                                      User.handle.like("sdr-%")).order_by(User.id)))


def route_demo(db: Database, workspace_id: int, *, now: datetime | None = None) -> DemoRouting:
    """Idempotent: a second run finds the rule in place and no unassigned MQL."""
    with db.write() as session:
        sdrs = _team(session, workspace_id)
        if not list_rules(session, workspace_id=workspace_id):
            replace_rules(session, workspace_id=workspace_id, actor=ACTOR, now=now or utcnow(), rules=[
                RuleIn(name=RULE_NAME, match={"stages": ["mql"]}, strategy="weighted",
                       pool=[str(i) for i in sdrs], escalation=Escalation.NOTIFY_MANAGER)])
        open_mqls = session.execute(select(Lead.id, Lead.created_at).where(
            Lead.workspace_id == workspace_id, Lead.stage == "mql", Lead.owner_id.is_(None),
            Lead.merged_into_id.is_(None)).order_by(Lead.created_at, Lead.id)).all()
    weeks: dict[tuple[int, int], list[tuple[int, datetime]]] = defaultdict(list)
    for lead_id, created_at in open_mqls:
        weeks[created_at.isocalendar()[:2]].append((lead_id, created_at))
    routed = 0
    for week in sorted(weeks):
        leads = weeks[week]
        with db.write() as session:  # one short transaction per week of first contacts
            routed += route_leads(session, workspace_id=workspace_id, lead_ids=[i for i, _ in leads],
                                  now=max(at for _, at in leads), actor=ACTOR).assigned
    overdue = 0
    while True:
        with db.write() as session:
            marked = mark_overdue(session, now=now or utcnow()).marked
        overdue += marked
        if marked < OVERDUE_BATCH:
            return DemoRouting(routed, overdue)
