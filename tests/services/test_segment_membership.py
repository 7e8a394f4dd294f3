"""Dynamic segments keep their members as events and field changes arrive; windows let leads go on time."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadline.core.lead_input import LeadInput
from leadline.jobs.runner import Worker
from leadline.services import outbox
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, update_lead, upsert_lead, upsert_many
from leadline.services.segments import catalog
from leadline.services.segments.membership import recheck_due
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import SegmentDirtyLead, SegmentMembership

PRICING = 'visited "/pricing" at least twice in the last 14 days and stage != customer'


@pytest.fixture
def seen():
    """A consumer of segment.entered / segment.left for the test's life (routing will be the real one)."""
    calls: list[tuple[str, int, str]] = []

    def handle(session, messages, now):
        calls.extend((m.topic, m.lead_id, m.payload["segment_id"]) for m in messages)

    outbox.consumer("test-segments", "segment.entered", "segment.left")(handle)
    yield calls
    outbox._CONSUMERS.pop("test-segments")


def _visit(db, workspace, lead_id, at, path="/pricing"):
    with db.write() as session:
        record_events(session, workspace, [EventDraft(type="page_view", lead_id=lead_id, occurred_at=at,
                                                      properties={"path": path})])


def _members(db, segment_id):
    with db.read() as session:
        return dict(session.execute(select(SegmentMembership.lead_id, SegmentMembership.expires_at)
                                    .where(SegmentMembership.segment_id == segment_id)).all())


def test_a_lead_enters_on_events_and_leaves_when_the_window_passes(db, seen):
    now = datetime.now(UTC)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        lead = upsert_lead(session, workspace.id, LeadInput(email="a@x.example"), mode=WriteMode.OVERWRITE).lead
        other = upsert_lead(session, workspace.id, LeadInput(email="b@x.example"), mode=WriteMode.OVERWRITE).lead
        segment = catalog.create_segment(session, workspace.id, name="Pricing", filter=PRICING)
        ids = (lead.id, other.id, segment.id)
    lead_id, other_id, segment_id = ids
    assert _members(db, segment_id) == {}

    first = now - timedelta(days=3)
    _visit(db, workspace, lead_id, first)
    _visit(db, workspace, lead_id, now - timedelta(days=1))
    _visit(db, workspace, other_id, now, path="/blog")
    now = datetime.now(UTC)  # leads are due from the moment their events were recorded
    Worker(db).tick(now=now)
    assert list(_members(db, segment_id)) == [lead_id]
    assert _members(db, segment_id)[lead_id] == first + timedelta(days=14, microseconds=1)
    assert seen == [("segment.entered", lead_id, str(segment_id))]

    # nothing new happens; ten days later the lead is still in, then the oldest visit leaves the window
    assert recheck_due(db, now + timedelta(days=10)) == 0
    assert lead_id in _members(db, segment_id)
    Worker(db).tick(now=first + timedelta(days=14, seconds=1))
    assert _members(db, segment_id) == {}
    assert seen[-1] == ("segment.left", lead_id, str(segment_id))


def test_field_changes_move_leads_and_unrelated_changes_mark_nothing(db, seen):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        lead = upsert_lead(session, workspace.id, LeadInput(email="a@x.example", country="BE"),
                           mode=WriteMode.OVERWRITE).lead
        segment = catalog.create_segment(session, workspace.id, name="France", filter="country = FR")
        lead_id, segment_id = lead.id, segment.id
    with db.write() as session:  # an event type no segment reads: no dirty lead
        record_events(session, workspace, [EventDraft(type="email_open", lead_id=lead_id)])
        assert session.scalars(select(SegmentDirtyLead)).all() == []
    with db.write() as session:
        update_lead(session, workspace.id, lead_id, LeadInput(country="FR"))
    outbox.drain(db)
    recheck_due(db, datetime.now(UTC))
    outbox.drain(db)
    assert list(_members(db, segment_id)) == [lead_id]
    assert seen == [("segment.entered", lead_id, str(segment_id))]


def test_imported_leads_enter(db, seen):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        segment_id = catalog.create_segment(session, workspace.id, name="France", filter="country = FR").id
        upsert_many(session, workspace.id, [LeadInput(email="a@x.example", country="FR"),
                                            LeadInput(email="b@x.example", country="DE")], mode=WriteMode.OVERWRITE)
    Worker(db).tick(now=datetime.now(UTC))
    assert len(_members(db, segment_id)) == 1 and [t for t, _, _ in seen] == ["segment.entered"]


def test_a_new_segment_starts_with_its_current_members_quietly(db, seen):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        ids = [upsert_lead(session, workspace.id, LeadInput(email=f"{i}@x.example", country=c),
                           mode=WriteMode.OVERWRITE).lead.id for i, c in enumerate(["FR", "FR", "DE"])]
        segment = catalog.create_segment(session, workspace.id, name="France", filter="country = FR")
        segment_id = segment.id
    assert set(_members(db, segment_id)) == set(ids[:2])
    with db.write() as session:  # a changed filter rebuilds membership
        catalog.update_segment(session, workspace.id, segment_id, catalog.SegmentChange(filter="country = DE"))
    assert set(_members(db, segment_id)) == {ids[2]}
    outbox.drain(db)
    assert seen == []


def test_never_did_in_a_window_enters_by_time_alone(db, seen):
    now = datetime.now(UTC)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        lead_id = upsert_lead(session, workspace.id, LeadInput(email="a@x.example"), mode=WriteMode.OVERWRITE).lead.id
    _visit(db, workspace, lead_id, now - timedelta(days=5))
    with db.write() as session:
        segment_id = catalog.create_segment(session, workspace.id, name="Quiet",
                                            filter="never did page_view in the last 7 days").id
    now = datetime.now(UTC)
    Worker(db).tick(now=now)
    assert _members(db, segment_id) == {}
    Worker(db).tick(now=now + timedelta(days=2, seconds=1))
    assert list(_members(db, segment_id)) == [lead_id]
    assert seen == [("segment.entered", lead_id, str(segment_id))]


def test_static_lists_take_members_by_hand(db, seen):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        a = upsert_lead(session, workspace.id, LeadInput(email="a@x.example"), mode=WriteMode.OVERWRITE).lead.id
        segment_id = catalog.create_segment(session, workspace.id, name="Trade show", kind="static").id
        assert catalog.add_members(session, workspace.id, segment_id, [a, a]) == 1
        assert catalog.add_members(session, workspace.id, segment_id, [a]) == 0
        assert catalog.count_segment(session, workspace.id, segment_id) == 1
    outbox.drain(db)
    with db.write() as session:
        assert catalog.remove_members(session, workspace.id, segment_id, [a]) == 1
    outbox.drain(db)
    assert seen == [("segment.entered", a, str(segment_id)), ("segment.left", a, str(segment_id))]


def test_deleting_a_segment_lets_its_members_leave_it(db, seen):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        a, b = (upsert_lead(session, workspace.id, LeadInput(email=f"{n}@x.example"), mode=WriteMode.OVERWRITE).lead.id
                for n in "ab")
        segment_id = catalog.create_segment(session, workspace.id, name="Trade show", kind="static").id
        catalog.add_members(session, workspace.id, segment_id, [a, b])
    outbox.drain(db)
    seen.clear()
    with db.write() as session:
        catalog.delete_segment(session, workspace.id, segment_id)
    outbox.drain(db)
    assert sorted(seen) == [("segment.left", a, str(segment_id)), ("segment.left", b, str(segment_id))]
    assert _members(db, segment_id) == {}


def test_a_company_change_made_through_one_lead_moves_its_colleagues(db, seen):
    from leadline.core.lead_input import CompanyInput

    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        first = upsert_lead(session, workspace.id, LeadInput(email="a@grow.example",
                                                               company=CompanyInput(name="Grow", size=10)),
                            mode=WriteMode.OVERWRITE).lead.id
        colleague = upsert_lead(session, workspace.id, LeadInput(email="b@grow.example"),
                                mode=WriteMode.OVERWRITE).lead.id
        segment_id = catalog.create_segment(session, workspace.id, name="Big", filter="company.size >= 500").id
    with db.write() as session:
        update_lead(session, workspace.id, first, LeadInput(company=CompanyInput(name="Grow", size=800)))
    recheck_due(db, datetime.now(UTC))
    assert sorted(_members(db, segment_id)) == sorted([first, colleague])


def test_a_visitors_anonymous_visits_count_once_it_identifies(db, seen):
    from leadline.services.identity import identify_visitor

    now = datetime.now(UTC)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        record_events(session, workspace, [
            EventDraft(type="page_view", anonymous_id="v1", occurred_at=now - timedelta(days=d),
                       properties={"path": "/pricing"}) for d in (1, 2)])
        segment_id = catalog.create_segment(session, workspace.id, name="Pricing", filter=PRICING).id
        lead_id = upsert_lead(session, workspace.id, LeadInput(email="a@x.example"), mode=WriteMode.OVERWRITE).lead.id
    with db.write() as session:
        assert identify_visitor(session, workspace.id, "v1", lead_id) == 2
    recheck_due(db, datetime.now(UTC))
    assert list(_members(db, segment_id)) == [lead_id]
