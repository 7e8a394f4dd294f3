"""Segment filters in SQL mean what `core.segments.evaluate` means, on SQLite and PostgreSQL; values are bound,
never part of the statement."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from leadline.core.segments import EVENT_FIELDS, MISSING, EventFacts, evaluate, parse_any
from leadline.services.segments.catalog import count_filter
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.partitions import ensure_event_partitions
from leadline.storage.segment_sql import count_query, matching_leads
from leadline.storage.tables import Company, Event, Lead

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
HOSTILE = ["'; DROP TABLE leads; --", "100%", "a_b", "O'Brien", '"quoted"', "\\", "ünïcødé ✓", "%", "_", "x' OR '1'='1"]


@pytest.fixture
def world(db):
    """40 leads with varied fields, companies and events, in workspace acme; a second workspace's lead and a
    merged-away lead that must never count."""
    rng = random.Random(7)
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
        other = get_or_create_workspace(session, "other").id
        companies = [Company(workspace_id=ws, name=f"C{i}", domain=f"c{i}.example", industry=rng.choice(
            ["saas", "retail", None, "100%_pure"]), size=rng.choice([5, 50, 500, None]), country="FR")
            for i in range(5)]
        session.add_all(companies)
        session.flush()
        leads = []
        for i in range(40):
            custom = rng.choice([{}, {"plan": "pro"}, {"plan": 3}, {"plan": True}, {"plan": ""}, {"seats": 12.5}])
            leads.append(Lead(
                workspace_id=ws, email=f"l{i}@x.example", country=rng.choice(["FR", "BE", None, "DE"]),
                job_title=rng.choice(["CEO", "Head of Sales", None, "", HOSTILE[i % len(HOSTILE)]]),
                stage=rng.choice(["new", "mql", "customer"]), temperature="cold",
                score=rng.choice([0.0, 10.0, 55.5, 90.0]), fit_score=0.0, engagement_score=0.0,
                custom=custom, company_id=rng.choice([None, *[c.id for c in companies]]),
                created_at=NOW - timedelta(days=rng.randint(0, 100)), updated_at=NOW, unsubscribed=rng.random() < .3,
                mql_ready=False))
        leads.append(Lead(workspace_id=other, email="o@x.example", stage="mql", custom={}, score=90.0,
                          created_at=NOW, updated_at=NOW))
        session.add_all(leads)
        session.flush()
        merged = Lead(workspace_id=ws, email="m@x.example", stage="mql", custom={}, score=90.0,
                      created_at=NOW, updated_at=NOW, merged_into_id=leads[0].id)
        session.add(merged)
        session.flush()
        ensure_event_partitions(session.connection(), [NOW - timedelta(days=d) for d in range(0, 45, 5)])
        for lead in [*leads, merged]:
            for _ in range(rng.randint(0, 6)):
                session.add(Event(
                    workspace_id=lead.workspace_id, type=rng.choice(["page_view", "page_view", "email_click"]),
                    occurred_at=NOW - timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 23)),
                    received_at=NOW, lead_id=lead.id, path=rng.choice(["/pricing", "/pricing/team", "/blog", None]),
                    campaign=rng.choice(["spring", None, HOSTILE[0]]),
                    properties=rng.choice([None, {"plan": "pro"}, {"n": 3}])))
        session.add(Event(workspace_id=ws, type="page_view", occurred_at=NOW, received_at=NOW, lead_id=None,
                          anonymous_id="anon", path="/pricing"))
    return ws


def _python_count(db, ws, flt):
    with db.read() as session:
        leads = session.scalars(select(Lead).where(Lead.workspace_id == ws, Lead.merged_into_id.is_(None))).all()
        companies = {c.id: c for c in session.scalars(select(Company))}
        events = session.scalars(select(Event).where(Event.workspace_id == ws)).all()
    by_lead: dict[int, list[EventFacts]] = {}
    for e in events:
        fields = {name: getattr(e, name) for name in EVENT_FIELDS}
        fields.update({f"properties.{k}": v for k, v in (e.properties or {}).items()})
        by_lead.setdefault(e.lead_id, []).append(EventFacts(e.type, e.occurred_at, fields))

    def facts(lead):
        def read(name):
            if name.startswith("company."):
                company = companies.get(lead.company_id)
                return getattr(company, name.removeprefix("company.")) if company else None
            if name.startswith("custom."):
                return (lead.custom or {}).get(name.removeprefix("custom."), MISSING)
            return getattr(lead, name)
        return read

    return sum(evaluate(flt, facts(lead), by_lead.get(lead.id, []), NOW) for lead in leads)


FILTERS = [
    'did page_view where path starts_with "/pricing" at least 2 times in the last 14 days and stage != customer',
    "never did email_click in the last 10 days",
    "did page_view where (path = /blog or campaign = spring) at least 3 times",
    "did page_view where properties.plan = pro and not did email_click",
    'did page_view where properties.n >= 3 in the last 20 days or job_title contains "Sales"',
    "country in [FR, BE] and score between 10 and 60",
    "country not in [FR] and job_title is missing",
    "country != FR",
    "company.size >= 50 or company.industry = saas",
    'company.industry starts_with "100%" or company.size is missing',
    "custom.plan = pro or custom.plan = 3 or custom.plan = true",
    "custom.plan exists and not custom.seats > 12",
    "custom.plan not in [pro, 3] and custom.seats between 12 and 13",
    "unsubscribed = true or created_at >= \"2026-04-01\"",
    'job_title ends_with "--" or job_title contains "%" or job_title contains "_" or job_title starts_with "O\'"',
    'job_title = "\'; DROP TABLE leads; --" or job_title = "ünïcødé ✓"',
    "not (stage in [new, mql] and score < 50)",
    "score > 9e18 or score < -9223372036854775807 or score = 0.0",
]


@pytest.mark.parametrize("text", FILTERS)
def test_sql_count_equals_the_python_evaluation(db, world, text):
    flt = parse_any(text)
    expected = _python_count(db, world, flt)
    with db.read() as session:
        assert count_filter(session, world, flt, now=NOW) == expected
        # the per-lead probe (used to re-check dirty leads) agrees with the whole-workspace scan
        ids = session.scalars(select(Lead.id).where(Lead.workspace_id == world)).all()
        probe = matching_leads(flt, workspace_id=world, now=NOW, dialect=db.dialect, mode="probe", lead_ids=ids)
        scan = matching_leads(flt, workspace_id=world, now=NOW, dialect=db.dialect, mode="scan")
        assert set(session.scalars(probe)) == set(session.scalars(scan))


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_bound_parameters_and_match_literally(db, world, value):
    flt = parse_any({"format": "leadline-filter/1", "where": {"any": [
        {"field": "job_title", "equals": value}, {"field": "job_title", "contains": value},
        {"field": "custom.plan", "in": [value]},
        {"event": "page_view", "where": {"field": "campaign", "starts_with": value}}]}})
    statement = str(count_query(flt, workspace_id=world, now=NOW, dialect=db.dialect).compile(
        dialect=db.writer.dialect))
    assert value not in statement or value in ("%", "_", "\\")  # the value travels as a parameter
    assert "DROP" not in statement
    with db.read() as session:
        assert count_filter(session, world, flt, now=NOW) == _python_count(db, world, flt)
        assert session.scalar(select(func.count()).select_from(Lead)) == 42  # still there


def test_like_wildcards_are_plain_characters(db, world):
    with db.read() as session:
        percent = count_filter(session, world, parse_any('job_title contains "%"'), now=NOW)
        anything = count_filter(session, world, parse_any("job_title exists"), now=NOW)
    assert percent < anything
    assert percent == _python_count(db, world, parse_any('job_title contains "%"'))
