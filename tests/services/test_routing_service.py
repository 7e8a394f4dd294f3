"""route_leads against a real database: owners, deadlines, history and outbox rows written set-based; counters
read back so fairness and quotas hold across batches; no N+1."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import event, func, select

from leadline.services import outbox
from leadline.services.routing import route_leads
from leadline.storage.database import Database
from leadline.storage.tables import Assignment, Company, Lead, OutboxMessage
from routing_helpers import NOW, add_leads, add_users, set_rules, workspace


@outbox.consumer("test-routing-listener", "lead.assigned", "lead.overdue")
def _listen(*_args: object) -> None:
    """Someone must consume `lead.assigned` for its rows to be queued (notifications will)."""


def _owners(db: Database, ws: int) -> Counter[int | None]:
    with db.read() as session:
        return Counter(session.scalars(select(Lead.owner_id).where(Lead.workspace_id == ws)))


def test_route_writes_owner_deadline_history_and_outbox(db: Database) -> None:
    ws = workspace(db)
    (rep,) = add_users(db, ws, {"timezone": "Europe/Paris", "holiday_country": "FR"})
    set_rules(db, ws, {"name": "all", "sla_minutes": {"hot": 60, "warm": 480}})
    hot, warm = add_leads(db, ws, 1)[0], add_leads(db, ws, 1, temperature="warm")[0]
    friday_evening = NOW + timedelta(days=3, hours=9)  # Friday 2026-03-13 19:00 Paris
    with db.write() as session:
        result = route_leads(session, workspace_id=ws, lead_ids=[hot, warm], now=friday_evening, actor="test")
    assert result.assigned == 2 and result.by_owner == {rep: 2}
    with db.read() as session:
        leads = {lead.id: lead for lead in session.scalars(select(Lead).where(Lead.workspace_id == ws))}
        assert leads[hot].owner_id == rep and leads[hot].assigned_at == friday_evening
        assert leads[hot].follow_up_due_at == NOW + timedelta(days=6)  # Monday 10:00 Paris
        assert leads[warm].follow_up_due_at == NOW + timedelta(days=6, hours=7)  # Monday 17:00 Paris
        history = session.scalars(select(Assignment).order_by(Assignment.lead_id)).all()
        assert [(h.lead_id, h.owner_id, h.previous_owner_id, h.rule, h.actor) for h in history] == [
            (hot, rep, None, "all", "test"), (warm, rep, None, "all", "test")]
        messages = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "lead.assigned",
                                                           OutboxMessage.consumer == "test-routing-listener")).all()
    assert sorted((m.lead_id, m.payload["owner_id"], m.payload["rule"], m.payload["previous_owner_id"])
                  for m in messages) == [(hot, rep, "all", None), (warm, rep, "all", None)]
    assert {m.payload["follow_up_due_at"] for m in messages} == {
        leads[hot].follow_up_due_at.isoformat(), leads[warm].follow_up_due_at.isoformat()}


def test_owned_leads_stay_unless_the_rule_says_reroute(db: Database) -> None:
    ws = workspace(db)
    a, b = add_users(db, ws, {}, {})
    set_rules(db, ws, {"name": "all"})
    (lead,) = add_leads(db, ws, 1, owner_id=a)
    with db.write() as session:
        result = route_leads(session, workspace_id=ws, lead_ids=[lead], now=NOW, actor="t")
    assert result.assigned == 0 and result.not_assigned == {"already owned": 1}
    set_rules(db, ws, {"name": "all", "reroute_owned": True, "pool": [str(b)]})
    with db.write() as session:
        route_leads(session, workspace_id=ws, lead_ids=[lead], now=NOW, actor="t")
    with db.read() as session:
        row = session.scalars(select(Assignment)).one()
        assert (row.owner_id, row.previous_owner_id) == (b, a)


def test_fairness_and_quotas_hold_across_batches(db: Database) -> None:
    ws = workspace(db)
    small, big, quota, away = add_users(
        db, ws, {"capacity": 1}, {"capacity": 3}, {"capacity": 10, "daily_quota": 5},
        {"away": True, "away_until": NOW + timedelta(days=1)})
    set_rules(db, ws, {"name": "all"})
    for _ in range(4):  # four batches on the same day: counters come from the assignments table
        ids = add_leads(db, ws, 25)
        with db.write() as session:
            route_leads(session, workspace_id=ws, lead_ids=ids, now=NOW, actor="t")
    owners = _owners(db, ws)
    assert owners[quota] == 5 and owners[away] == 0
    assert owners[small] + owners[big] == 95 and abs(owners[big] - 3 * owners[small]) <= 3
    # the next day the quota starts again and the away rep is back
    ids = add_leads(db, ws, 40)
    with db.write() as session:
        result = route_leads(session, workspace_id=ws, lead_ids=ids, now=NOW + timedelta(days=1, hours=1),
                             actor="t")
    assert result.by_owner[quota] == 5 and result.by_owner[away] > 0


def test_daily_quota_resets_at_the_reps_local_midnight(db: Database) -> None:
    ws = workspace(db)
    add_users(db, ws, {"timezone": "Asia/Tokyo", "daily_quota": 1})
    set_rules(db, ws, {"name": "all"})
    late = NOW.replace(hour=14, minute=30)  # 23:30 in Tokyo
    with db.write() as session:
        assert route_leads(session, workspace_id=ws, lead_ids=add_leads(db, ws, 2), now=late,
                           actor="t").assigned == 1
    with db.write() as session:  # one hour later it is the next day in Tokyo (still the same UTC day)
        assert route_leads(session, workspace_id=ws, lead_ids=add_leads(db, ws, 2), now=late + timedelta(hours=1),
                           actor="t").assigned == 1


def test_territory_and_company_owner_from_the_database(db: Database) -> None:
    ws = workspace(db)
    de, fr, other = add_users(db, ws, {"territory_countries": ["DE"], "territory_regions": []},
                              {"territory_countries": ["FR"]}, {})
    with db.write() as session:
        company = Company(workspace_id=ws, name="Known", domain="known.example")
        session.add(company)
        session.flush()
        company_id = company.id
    add_leads(db, ws, 1, company_id=company_id, owner_id=other, stage="sql")
    set_rules(db, ws, {"name": "abm", "strategy": "company_owner", "fallback": None, "match": {"stages": ["mql"]},
                       "pool": None},
              {"name": "geo", "strategy": "territory", "fallback": None})
    known = add_leads(db, ws, 2, company_id=company_id, country="DE")
    german = add_leads(db, ws, 2, country="DE")
    french = add_leads(db, ws, 1, country="FR")
    with db.write() as session:
        result = route_leads(session, workspace_id=ws, lead_ids=known + german + french, now=NOW, actor="t")
    by_lead = {c.lead_id: (c.owner_id, c.rule) for c in result.choices}
    assert [by_lead[i] for i in known] == [(other, "abm"), (other, "abm")]
    # no company: the ABM rule has no fallback, so the lead is not assigned by it (first match wins)
    assert [by_lead[i] for i in german + french] == [(None, "abm")] * 3
    set_rules(db, ws, {"name": "geo", "strategy": "territory", "fallback": None})
    with db.write() as session:
        result = route_leads(session, workspace_id=ws, lead_ids=german + french, now=NOW, actor="t")
    assert [c.owner_id for c in result.choices] == [de, de, fr]


def test_segment_rule_reads_memberships(db: Database) -> None:
    from leadline.storage.tables import Segment, SegmentMembership

    ws = workspace(db)
    seg_rep, other = add_users(db, ws, {}, {})
    with db.write() as session:
        segment = Segment(workspace_id=ws, name="enterprise", kind="static")
        session.add(segment)
        session.flush()
        segment_id = segment.id
    inside, outside = add_leads(db, ws, 2)
    with db.write() as session:
        session.add(SegmentMembership(segment_id=segment_id, lead_id=inside, workspace_id=ws, entered_at=NOW))
    set_rules(db, ws, {"name": "enterprise", "match": {"segment_id": str(segment_id)}, "pool": [str(seg_rep)]},
              {"name": "rest", "pool": [str(other)]})
    with db.write() as session:
        result = route_leads(session, workspace_id=ws, lead_ids=[inside, outside], now=NOW, actor="t")
    assert [(c.owner_id, c.rule) for c in result.choices] == [(seg_rep, "enterprise"), (other, "rest")]


def test_other_workspaces_are_invisible(db: Database) -> None:
    ws, other_ws = workspace(db), workspace(db, "other")
    add_users(db, ws, {})
    foreign = add_leads(db, other_ws, 3)
    set_rules(db, ws, {"name": "all"})
    with db.write() as session:
        result = route_leads(session, workspace_id=ws, lead_ids=foreign, now=NOW, actor="t")
    assert result.considered == 0 and _owners(db, other_ws) == {None: 3}


def _statements(db: Database, ws: int, n: int) -> int:
    ids = add_leads(db, ws, n, company_id=None)
    count = 0

    def listener(*_args: object) -> None:
        nonlocal count
        count += 1

    with db.write() as session:
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            route_leads(session, workspace_id=ws, lead_ids=ids, now=NOW, actor="t")
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert session.scalar(select(func.count()).select_from(Assignment).where(
            Assignment.lead_id.in_(ids))) == n
    return count


def test_no_n_plus_one(db: Database) -> None:
    ws = workspace(db)
    add_users(db, ws, {"timezone": "Europe/Paris"}, {"timezone": "America/New_York", "daily_quota": 10_000}, {})
    set_rules(db, ws, {"name": "abm", "strategy": "company_owner"})
    one, many = _statements(db, ws, 1), _statements(db, ws, 500)
    assert one == many <= 10
