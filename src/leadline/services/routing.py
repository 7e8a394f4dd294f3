"""Routing use cases: route a batch of leads to their owners, assign one by hand, mark and escalate overdue
follow-ups, and report time to first touch.

`route_leads` is set-based: whatever the batch size it reads rules, reps, counters, segment memberships and
company owners in a handful of queries, computes every choice in memory (`core.routing`), computes each
follow-up deadline in the owner's business time (`core.follow_up`), and writes owners, history rows and
`lead.assigned` outbox rows with one executemany each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from leadline.core.follow_up import Calendar, add_business_minutes, parse_working_hours, public_holidays, zone
from leadline.core.lead_input import FieldProblem
from leadline.core.routing import Choice, Escalation, LeadFacts, RepState, Role, Rule, route
from leadline.services import outbox
from leadline.services.errors import Invalid, NotFound
from leadline.services.routing_rules import core_rules
from leadline.services.users import is_available
from leadline.storage.tables import Assignment, Lead, SegmentMembership, User
from leadline.storage.types import UTCDateTime

#: Assignments in this window count toward fairness (a rep back from a month away is not flooded).
FAIRNESS_WINDOW = timedelta(days=7)
#: Lead ids per IN list: well under SQLite's and PostgreSQL's bound-parameter limits.
CHUNK = 5000
OVERDUE_BATCH = 500
LEADS = Lead.__table__


@dataclass(frozen=True)
class RoutingResult:
    considered: int
    assigned: int
    by_owner: dict[int, int] = field(default_factory=dict)
    not_assigned: dict[str, int] = field(default_factory=dict)  # reason -> leads
    choices: list[Choice] = field(default_factory=list)


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _region(custom: Mapping[str, Any] | None) -> str | None:
    value = (custom or {}).get("region")
    return value.strip().upper() or None if isinstance(value, str) else None


def _lead_facts(session: Session, workspace_id: int, lead_ids: Sequence[int], segment_ids: set[int]
                ) -> list[LeadFacts]:
    facts: list[LeadFacts] = []
    for chunk in _chunks(lead_ids):
        memberships: dict[int, set[int]] = {}
        if segment_ids:
            for lead_id, segment_id in session.execute(
                    select(SegmentMembership.lead_id, SegmentMembership.segment_id)
                    .where(SegmentMembership.workspace_id == workspace_id, SegmentMembership.lead_id.in_(chunk),
                           SegmentMembership.segment_id.in_(segment_ids))):
                memberships.setdefault(lead_id, set()).add(segment_id)
        rows = session.execute(
            select(Lead.id, Lead.stage, Lead.temperature, Lead.country, Lead.custom, Lead.company_id, Lead.owner_id)
            .where(Lead.workspace_id == workspace_id, Lead.id.in_(chunk), Lead.merged_into_id.is_(None)))
        by_id = {row.id: LeadFacts(row.id, row.stage, row.temperature, row.country, _region(row.custom),
                                   row.company_id, row.owner_id, frozenset(memberships.get(row.id, ())))
                 for row in rows}
        facts.extend(by_id[i] for i in chunk if i in by_id)  # the caller's order
    return facts


def _local_day_start(now: datetime, user: User) -> datetime:
    local = now.astimezone(zone(user.timezone))
    return datetime.combine(local.date(), time(0), local.tzinfo)


def _rep_states(session: Session, workspace_id: int, users: Sequence[User], now: datetime) -> list[RepState]:
    """Every candidate with its counters: assignments in the fairness window, today (in the rep's own zone)
    and the last one, in one grouped query."""
    if not users:
        return []
    day_start = case({u.id: literal(_local_day_start(now, u), UTCDateTime) for u in users}, value=Assignment.owner_id)
    rows = session.execute(
        select(Assignment.owner_id, func.count(), func.max(Assignment.at),
               func.sum(case((Assignment.at >= day_start, 1), else_=0)))
        .where(Assignment.workspace_id == workspace_id, Assignment.at >= now - FAIRNESS_WINDOW,
               Assignment.owner_id.in_([u.id for u in users]))
        .group_by(Assignment.owner_id))
    counters = {owner: (int(recent), last, int(today or 0)) for owner, recent, last, today in rows}
    states = []
    for user in users:
        recent, last, today = counters.get(user.id, (0, None, 0))
        states.append(RepState(id=user.id, weight=user.capacity, daily_quota=user.daily_quota, assigned_today=today,
                               assigned_recent=recent, last_assigned_at=last,
                               countries=frozenset(user.territory_countries or ()),
                               regions=frozenset(user.territory_regions or ()), available=is_available(user, now)))
    return states


def _company_owners(session: Session, workspace_id: int, company_ids: set[int]) -> dict[int, int]:
    """Per company, the rep who owns most of its leads (ties: the most recently assigned)."""
    best: dict[int, tuple[int, datetime | None, int]] = {}
    ids = sorted(company_ids)
    for chunk in _chunks(ids):
        rows = session.execute(
            select(Lead.company_id, Lead.owner_id, func.count(), func.max(Lead.assigned_at))
            .where(Lead.workspace_id == workspace_id, Lead.company_id.in_(chunk), Lead.owner_id.is_not(None),
                   Lead.merged_into_id.is_(None))
            .group_by(Lead.company_id, Lead.owner_id))
        for company_id, owner_id, count, last in rows:
            current = best.get(company_id)
            key = (count, last.timestamp() if last else 0.0)
            if current is None or key > (current[0], current[1].timestamp() if current[1] else 0.0):
                best[company_id] = (count, last, owner_id)
    return {company: owner for company, (_, _, owner) in best.items()}


def calendar_of(user: User) -> Calendar:
    return Calendar(zone(user.timezone), parse_working_hours(user.working_hours),
                    public_holidays(user.holiday_country, user.holiday_subdivision))


def _candidates(session: Session, workspace_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.workspace_id == workspace_id, User.active.is_(True))))


def route_leads(session: Session, *, workspace_id: int, lead_ids: Sequence[int], now: datetime, actor: str,
                force: bool = False, exclude: Mapping[int, frozenset[int]] | None = None,
                rules: Sequence[Rule] | None = None, reason_prefix: str = "") -> RoutingResult:
    """Route `lead_ids` through the workspace's rules (or `rules`) and write the assignments."""
    users = _candidates(session, workspace_id)
    reps = frozenset(u.id for u in users if u.role == Role.REP)
    if rules is None:
        rules = core_rules(session, workspace_id=workspace_id, default_pool=reps)
    if not rules or not lead_ids:
        return RoutingResult(len(lead_ids), 0, not_assigned={"no rules": len(lead_ids)} if lead_ids else {})
    pools = set().union(*(r.pool or reps for r in rules))
    candidates = [u for u in users if u.id in pools]
    leads = _lead_facts(session, workspace_id, list(dict.fromkeys(lead_ids)),
                        {r.match.segment_id for r in rules if r.match.segment_id is not None})
    uses_companies = any("company_owner" in (r.strategy, r.fallback) for r in rules)
    owners = _company_owners(session, workspace_id, {f.company_id for f in leads if f.company_id is not None}
                             ) if uses_companies else {}
    choices = route(leads, rules, _rep_states(session, workspace_id, candidates, now), owners, now=now,
                    force=force, exclude=exclude)
    calendars = {u.id: calendar_of(u) for u in candidates}
    assigned = [c for c in choices if c.owner_id is not None]
    _write(session, workspace_id, assigned, calendars, now, actor, reason_prefix)
    return RoutingResult(len(leads), len(assigned), dict(Counter(c.owner_id for c in assigned if c.owner_id)),
                         dict(Counter(c.reason for c in choices if c.owner_id is None)), choices)


def _due(choice: Choice, calendar: Calendar, now: datetime) -> datetime | None:
    return add_business_minutes(now, choice.sla_minutes, calendar) if choice.sla_minutes is not None else None


def _write(session: Session, workspace_id: int, assigned: Sequence[Choice], calendars: Mapping[int, Calendar],
           now: datetime, actor: str, reason_prefix: str) -> None:
    if not assigned:
        return
    dues = [_due(c, calendars[c.owner_id], now) if c.owner_id is not None else None for c in assigned]
    session.execute(
        update(LEADS).where(LEADS.c.id == bindparam("lead"), LEADS.c.workspace_id == workspace_id)
        .values(owner_id=bindparam("owner"), assigned_at=now, follow_up_due_at=bindparam("due"), overdue_at=None,
                updated_at=now),
        [{"lead": c.lead_id, "owner": c.owner_id, "due": due} for c, due in zip(assigned, dues, strict=True)])
    _history(session, workspace_id, [(c, due) for c, due in zip(assigned, dues, strict=True)], now, actor,
             reason_prefix)


def _history(session: Session, workspace_id: int, items: Sequence[tuple[Choice, datetime | None]], now: datetime,
             actor: str, reason_prefix: str = "") -> None:
    session.execute(insert(Assignment.__table__), [
        {"workspace_id": workspace_id, "lead_id": c.lead_id, "owner_id": c.owner_id,
         "previous_owner_id": c.previous_owner_id, "rule": c.rule, "reason": (reason_prefix + c.reason)[:200],
         "at": now, "actor": actor, "follow_up_due_at": due} for c, due in items])
    outbox.emit_many(session, workspace_id=workspace_id, topic="lead.assigned", now=now, items=[
        (c.lead_id, {"owner_id": c.owner_id, "previous_owner_id": c.previous_owner_id, "rule": c.rule,
                     "reason": (reason_prefix + c.reason)[:200],
                     "follow_up_due_at": due.isoformat() if due else None}) for c, due in items])


def unassigned_mqls(session: Session, *, workspace_id: int) -> list[int]:
    return list(session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.stage == "mql",
                                                      Lead.owner_id.is_(None), Lead.merged_into_id.is_(None))
                                .order_by(Lead.id)))


# --- manual assignment -------------------------------------------------------------------------------------

def assign_lead(session: Session, *, workspace_id: int, lead_id: int, owner_id: int, now: datetime,
                actor: str) -> Lead:
    """Give a lead to a user by hand; the deadline follows the first rule that matches the lead, if any."""
    lead = session.scalar(select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id,
                                             Lead.merged_into_id.is_(None)))
    if lead is None:
        raise NotFound("lead not found")
    owner = session.scalar(select(User).where(User.workspace_id == workspace_id, User.id == owner_id))
    if owner is None or not owner.active:
        raise Invalid([FieldProblem("owner_id", "no active user with this id in the workspace")])
    facts = _lead_facts(session, workspace_id, [lead.id], set())[0]
    rule = next((r for r in core_rules(session, workspace_id=workspace_id, default_pool=frozenset())
                 if r.match.accepts(facts)), None)
    sla = rule.sla_for(lead.temperature) if rule is not None else None
    choice = Choice(lead.id, owner.id, None, "manual", lead.owner_id, sla)
    due = _due(choice, calendar_of(owner), now)
    lead.owner_id, lead.assigned_at, lead.follow_up_due_at, lead.overdue_at = owner.id, now, due, None
    _history(session, workspace_id, [(choice, due)], now, actor)
    session.flush()
    return lead


# --- overdue follow-ups ------------------------------------------------------------------------------------

def _untouched() -> Any:
    return or_(Lead.first_sales_touch_at.is_(None), Lead.first_sales_touch_at < Lead.assigned_at)


@dataclass(frozen=True)
class OverdueResult:
    marked: int
    reassigned: int
    notified: int


def mark_overdue(session: Session, *, now: datetime, limit: int = OVERDUE_BATCH) -> OverdueResult:
    """Flag leads whose follow-up deadline passed with no sales touch since their assignment, escalate them by
    their rule (reassign to another rep, or notify the owner's manager) and emit `lead.overdue` for each."""
    query = (select(Lead.id, Lead.workspace_id, Lead.owner_id, Lead.follow_up_due_at)
             .where(Lead.follow_up_due_at <= now, Lead.overdue_at.is_(None), Lead.owner_id.is_not(None),
                    _untouched())
             .order_by(Lead.follow_up_due_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return OverdueResult(0, 0, 0)
    session.execute(update(LEADS).where(LEADS.c.id == bindparam("lead")).values(overdue_at=now),
                    [{"lead": r.id} for r in rows])
    reassigned = notified = 0
    by_workspace: dict[int, list[Any]] = {}
    for row in rows:
        by_workspace.setdefault(row.workspace_id, []).append(row)
    for workspace_id, leads in by_workspace.items():
        moved, told = _escalate(session, workspace_id, leads, now)
        reassigned, notified = reassigned + moved, notified + told
    return OverdueResult(len(rows), reassigned, notified)


def _last_rules(session: Session, workspace_id: int, lead_ids: Iterable[int]) -> dict[int, str | None]:
    last = (select(Assignment.lead_id, func.max(Assignment.id).label("id"))
            .where(Assignment.workspace_id == workspace_id, Assignment.lead_id.in_(list(lead_ids)))
            .group_by(Assignment.lead_id).subquery())
    rows = session.execute(select(Assignment.lead_id, Assignment.rule).join(last, Assignment.id == last.c.id))
    return {lead_id: rule for lead_id, rule in rows}


def _escalate(session: Session, workspace_id: int, leads: Sequence[Any], now: datetime) -> tuple[int, int]:
    users = {u.id: u for u in session.scalars(select(User).where(User.workspace_id == workspace_id))}
    reps = frozenset(u.id for u in users.values() if u.role == Role.REP and u.active)
    rules = {r.name: r for r in core_rules(session, workspace_id=workspace_id, default_pool=reps)}
    rule_of = _last_rules(session, workspace_id, (r.id for r in leads))
    reassigned: set[int] = set()
    to_reassign: dict[str, list[Any]] = {}
    for lead in leads:
        rule = rules.get(rule_of.get(lead.id) or "")
        if rule is not None and rule.escalation is Escalation.REASSIGN:
            to_reassign.setdefault(rule.name, []).append(lead)
    for name, group in to_reassign.items():
        result = route_leads(session, workspace_id=workspace_id, lead_ids=[r.id for r in group], now=now,
                             actor="routing:overdue", force=True, rules=[rules[name]],
                             exclude={r.id: frozenset({r.owner_id}) for r in group}, reason_prefix="overdue; ")
        reassigned.update(c.lead_id for c in result.choices if c.owner_id is not None)
    items = []
    for lead in leads:
        owner = users.get(lead.owner_id)
        manager = owner.manager_id if owner is not None else None
        items.append((lead.id, {"owner_id": lead.owner_id, "follow_up_due_at": lead.follow_up_due_at.isoformat(),
                                "escalation": "reassigned" if lead.id in reassigned else "notified",
                                "manager_id": manager}))
    outbox.emit_many(session, workspace_id=workspace_id, topic="lead.overdue", items=items, now=now)
    return len(reassigned), len(leads) - len(reassigned)


# --- reporting ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoutingInfo:
    lead_id: int
    owner_id: int | None
    assigned_at: datetime | None
    follow_up_due_at: datetime | None
    overdue_at: datetime | None
    first_sales_touch_at: datetime | None
    time_to_first_touch_seconds: float | None
    history: list[Assignment]


def routing_info(session: Session, *, workspace_id: int, lead_id: int) -> RoutingInfo:
    lead = session.scalar(select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id))
    if lead is None:
        raise NotFound("lead not found")
    history = list(session.scalars(select(Assignment).where(Assignment.workspace_id == workspace_id,
                                                            Assignment.lead_id == lead_id)
                                   .order_by(Assignment.at.desc(), Assignment.id.desc()).limit(100)))
    touched = lead.first_sales_touch_at
    ttft = ((touched - lead.assigned_at).total_seconds()
            if touched is not None and lead.assigned_at is not None and touched >= lead.assigned_at else None)
    return RoutingInfo(lead.id, lead.owner_id, lead.assigned_at, lead.follow_up_due_at, lead.overdue_at, touched,
                       ttft, history)


def overdue_leads(session: Session, *, workspace_id: int, now: datetime, owner_id: int | None = None,
                  limit: int = 100) -> list[Lead]:
    """Leads past their follow-up deadline with no sales touch since assignment (flagged or not yet)."""
    query = (select(Lead).where(Lead.workspace_id == workspace_id, Lead.owner_id.is_not(None),
                                and_(Lead.follow_up_due_at.is_not(None), Lead.follow_up_due_at <= now),
                                _untouched())
             .order_by(Lead.follow_up_due_at, Lead.id).limit(limit))
    if owner_id is not None:
        query = query.where(Lead.owner_id == owner_id)
    return list(session.scalars(query))
