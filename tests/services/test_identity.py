"""Identity services on both databases: identify, merge, unmerge, duplicate candidates."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadline.core.channels import Touch
from leadline.core.lead_input import CompanyInput, ConsentInput, LeadInput
from leadline.services.errors import Conflict, NotFound
from leadline.services.events import EventDraft, record_events
from leadline.services.identity import duplicate_candidates, identify_visitor, merge_leads, unmerge
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Event, Lead, LeadMerge, Visitor

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
PROFILE = ("email", "phone", "first_name", "last_name", "job_title", "company_id", "custom", "consent_email",
           "unsubscribed", "first_touch_at", "first_channel", "last_touch_at", "created_at", "merged_into_id")


def _lead(session, ws, email, *, at=T0, source=None, consent=None, company=None, **fields):
    data = LeadInput(email=email, source=Touch(**source) if source else Touch(), created_at=at,
                     consent=ConsentInput(**consent) if consent else None,
                     company=CompanyInput(**company) if company else None, **fields)
    return upsert_lead(session, ws.id, data, mode=WriteMode.OVERWRITE, at=at).lead


def _event(session, ws, at, *, lead=None, anonymous_id=None, email=None, source=None, type="page_view"):
    [outcome] = record_events(session, ws, [EventDraft(
        type=type, lead_id=lead.id if lead else None, anonymous_id=anonymous_id, email=email, occurred_at=at,
        source=Touch(**source) if source else Touch())])
    assert outcome.status == "accepted", outcome
    return outcome


def _events_of(session, ws, lead_id):
    return sorted(session.scalars(select(Event.id).where(Event.workspace_id == ws.id, Event.lead_id == lead_id)))


def _profile(lead):
    return {name: getattr(lead, name) for name in PROFILE}


@pytest.fixture
def ws(db):
    with db.write() as session:
        return get_or_create_workspace(session, "acme")


# --- identify ------------------------------------------------------------------------------------------------


def test_identify_attaches_past_anonymous_events_and_takes_the_first_touch_from_them(db, ws):
    with db.write() as session:
        _event(session, ws, T0 - timedelta(days=5), anonymous_id="v1",
               source={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"})
        _event(session, ws, T0 - timedelta(days=2), anonymous_id="v1")
        _event(session, ws, T0 - timedelta(days=1), anonymous_id="someone-else")
        lead = _lead(session, ws, "jean@acme.fr", source={"utm_medium": "newsletter"})
        assert lead.first_channel == "email"
        attached = identify_visitor(session, ws.id, "v1", lead.id)
    assert attached == 2
    with db.read() as session:
        lead = session.get(Lead, lead.id)
        assert lead.first_channel == "sea" and lead.first_campaign == "brand"
        assert lead.first_touch_at == T0 - timedelta(days=5)
        assert lead.last_channel == "email"  # the lead's own capture is later than the visits
        rows = session.execute(select(Event.anonymous_id, Event.lead_id, Event.subject_lead_id)
                               .order_by(Event.id)).all()
        assert rows == [("v1", lead.id, None), ("v1", lead.id, None), ("someone-else", None, None)]
        visitor = session.get(Visitor, (ws.id, "v1"))
        assert visitor.lead_id == lead.id and visitor.identified_at is not None


def test_identify_is_idempotent(db, ws):
    with db.write() as session:
        _event(session, ws, T0 - timedelta(days=1), anonymous_id="v1", source={"utm_source": "google"})
        lead = _lead(session, ws, "jean@acme.fr")
        assert identify_visitor(session, ws.id, "v1", lead.id) == 1
        identified_at = session.get(Visitor, (ws.id, "v1")).identified_at
    with db.write() as session:
        assert identify_visitor(session, ws.id, "v1", lead.id) == 0
        assert session.get(Visitor, (ws.id, "v1")).identified_at == identified_at
        assert session.get(Lead, lead.id).first_channel == "seo"


def test_identify_a_visitor_never_seen_creates_it(db, ws):
    with db.write() as session:
        lead = _lead(session, ws, "jean@acme.fr")
        assert identify_visitor(session, ws.id, "fresh", lead.id) == 0
    with db.read() as session:
        assert session.get(Visitor, (ws.id, "fresh")).lead_id == lead.id


def test_identify_does_not_steal_a_visitor_from_another_lead(db, ws):
    with db.write() as session:
        _event(session, ws, T0, anonymous_id="v1")
        first, second = _lead(session, ws, "a@acme.fr"), _lead(session, ws, "b@acme.fr")
        identify_visitor(session, ws.id, "v1", first.id)
    with db.write() as session, pytest.raises(Conflict):
        identify_visitor(session, ws.id, "v1", second.id)
    with db.read() as session:
        assert session.get(Visitor, (ws.id, "v1")).lead_id == first.id
        assert _events_of(session, ws, first.id) != [] and _events_of(session, ws, second.id) == []


def test_identify_moves_a_visitor_to_the_lead_its_old_lead_was_merged_into(db, ws):
    with db.write() as session:
        first, second = _lead(session, ws, "a@acme.fr"), _lead(session, ws, "b@acme.fr")
        identify_visitor(session, ws.id, "v1", first.id)
        merge_leads(session, ws.id, second.id, first.id, actor="test")
    with db.write() as session:
        identify_visitor(session, ws.id, "v1", second.id)
        assert session.get(Visitor, (ws.id, "v1")).lead_id == second.id
        # naming the merged-away lead means its survivor
        identify_visitor(session, ws.id, "v2", first.id)
        assert session.get(Visitor, (ws.id, "v2")).lead_id == second.id


def test_identify_an_unknown_or_foreign_lead_is_not_found(db, ws):
    with db.write() as session:
        other_ws = get_or_create_workspace(session, "globex")
        foreign = _lead(session, other_ws, "x@globex.com")
    with db.write() as session, pytest.raises(NotFound):
        identify_visitor(session, ws.id, "v1", foreign.id)


# --- merge ---------------------------------------------------------------------------------------------------


def _two_leads(session, ws):
    survivor = _lead(session, ws, "jean.dupont@acme.fr", at=T0, first_name="Jean", last_name="Dupont",
                     custom={"plan": "pro", "size": ""}, source={"utm_medium": "newsletter"})
    other = _lead(session, ws, "jdupont@gmail.com", at=T0 - timedelta(days=20), first_name="J.",
                  job_title="CEO", phone="+33612345678", custom={"size": "50", "region": "north"},
                  source={"utm_source": "google", "utm_medium": "cpc"})
    return survivor, other


def test_merge_keeps_every_event_the_earliest_first_touch_and_the_richer_fields(db, ws):
    with db.write() as session:
        survivor, other = _two_leads(session, ws)
        for day in (1, 2):
            _event(session, ws, T0 + timedelta(days=day), lead=survivor)
        for day in (3, 4, 5):
            _event(session, ws, T0 - timedelta(days=day), lead=other)
        merge = merge_leads(session, ws.id, survivor.id, other.id, actor="user:1")
    with db.read() as session:
        survivor, other = session.get(Lead, survivor.id), session.get(Lead, other.id)
        assert len(_events_of(session, ws, survivor.id)) == 5 and _events_of(session, ws, other.id) == []
        assert (survivor.first_name, survivor.last_name, survivor.job_title, survivor.phone) == \
            ("Jean", "Dupont", "CEO", "+33612345678")
        assert survivor.custom == {"plan": "pro", "size": "50", "region": "north"}
        assert survivor.first_channel == "sea" and survivor.first_touch_at == T0 - timedelta(days=20)
        assert survivor.created_at == T0 - timedelta(days=20)
        assert survivor.email == "jean.dupont@acme.fr" and other.email == "jdupont@gmail.com"
        assert other.merged_into_id == survivor.id
        stored = session.get(LeadMerge, merge.id)
        assert (stored.survivor_id, stored.merged_id, stored.actor) == (survivor.id, other.id, "user:1")
        assert stored.merged_before["job_title"] == "CEO"
        assert stored.survivor_before["first_touch_at"] == T0.isoformat()
        json.dumps(stored.survivor_before)
        json.dumps(stored.merged_before)


@pytest.mark.parametrize(("survivor_consent", "other_consent", "expected"), [
    (None, {"email_marketing": True}, (None, False)),
    ({"email_marketing": True}, None, (True, False)),
    ({"email_marketing": True}, {"email_marketing": False}, (False, False)),
    ({"email_marketing": True}, {"unsubscribed": True}, (False, True)),
    ({"unsubscribed": True}, {"email_marketing": True}, (False, True)),
])
def test_merge_never_widens_consent(db, ws, survivor_consent, other_consent, expected):
    with db.write() as session:
        survivor = _lead(session, ws, "a@acme.fr", consent=survivor_consent)
        other = _lead(session, ws, "b@acme.fr", consent=other_consent)
        merge_leads(session, ws.id, survivor.id, other.id, actor="test")
    with db.read() as session:
        survivor = session.get(Lead, survivor.id)
        assert (survivor.consent_email, survivor.unsubscribed) == expected


def test_a_later_capture_with_the_merged_email_updates_the_survivor(db, ws):
    with db.write() as session:
        survivor, other = _two_leads(session, ws)
        merge_leads(session, ws.id, survivor.id, other.id, actor="test")
    with db.write() as session:
        result = upsert_lead(session, ws.id, LeadInput(email="jdupont@gmail.com", job_title="CTO",
                                                       country="FR"), mode=WriteMode.OVERWRITE)
        assert not result.created and result.lead.id == survivor.id
        outcome = _event(session, ws, T0 + timedelta(days=1), email="jdupont@gmail.com")
        assert outcome.lead_id == survivor.id
    with db.read() as session:
        assert (session.get(Lead, survivor.id).job_title, session.get(Lead, survivor.id).country) == ("CTO", "FR")
        assert session.get(Lead, other.id).job_title == "CEO"


def test_merge_moves_the_visitors_of_the_merged_lead(db, ws):
    with db.write() as session:
        survivor, other = _two_leads(session, ws)
        identify_visitor(session, ws.id, "v-other", other.id)
        merge_leads(session, ws.id, survivor.id, other.id, actor="test")
    with db.write() as session:
        assert session.get(Visitor, (ws.id, "v-other")).lead_id == survivor.id
        outcome = _event(session, ws, T0 + timedelta(days=1), anonymous_id="v-other")
        assert outcome.lead_id == survivor.id


def test_merge_refuses_bad_pairs(db, ws):
    with db.write() as session:
        a, b, c = (_lead(session, ws, f"{n}@acme.fr") for n in "abc")
        foreign = _lead(session, get_or_create_workspace(session, "globex"), "x@globex.com")
        merge_leads(session, ws.id, a.id, b.id, actor="test")
    cases = [((a.id, a.id), Conflict), ((a.id, foreign.id), NotFound), ((foreign.id, a.id), NotFound),
             ((a.id, 999_999), NotFound), ((c.id, b.id), Conflict), ((b.id, c.id), Conflict)]
    for (survivor_id, other_id), error in cases:
        with db.write() as session, pytest.raises(error):
            merge_leads(session, ws.id, survivor_id, other_id, actor="test")
    with db.read() as session:
        assert session.get(Lead, c.id).merged_into_id is None and session.get(Lead, foreign.id).merged_into_id is None


# --- unmerge -------------------------------------------------------------------------------------------------


def test_unmerge_restores_both_leads_and_exactly_their_events(db, ws):
    with db.write() as session:
        survivor, other = _two_leads(session, ws)
        absorbed = _lead(session, ws, "old@acme.fr", first_name="Old")
        _event(session, ws, T0 - timedelta(days=9), lead=absorbed)
        merge_leads(session, ws.id, other.id, absorbed.id, actor="test")  # an earlier merge into `other`
        _event(session, ws, T0 - timedelta(days=8), anonymous_id="v-other", source={"utm_source": "bing"})
        identify_visitor(session, ws.id, "v-other", other.id)
        _event(session, ws, T0 + timedelta(days=1), lead=survivor)
        _event(session, ws, T0 - timedelta(days=3), lead=other)
        session.flush()
        before = {survivor.id: _profile(survivor), other.id: _profile(other)}
        events_before = {lead.id: _events_of(session, ws, lead.id) for lead in (survivor, other)}
        assert len(events_before[other.id]) == 3
        merge = merge_leads(session, ws.id, survivor.id, other.id, actor="test")
    with db.write() as session:
        # the survivor lives on while merged: an event of its own, an event of the merged lead's visitor
        _event(session, ws, T0 + timedelta(days=2), lead=survivor)
        _event(session, ws, T0 + timedelta(days=3), anonymous_id="v-other")
    with db.write() as session:
        kept, restored = unmerge(session, ws.id, merge.id, actor="test")
        assert (kept.id, restored.id) == (survivor.id, other.id)
    with db.read() as session:
        s, o = session.get(Lead, survivor.id), session.get(Lead, other.id)
        assert {k: v for k, v in _profile(o).items()} == before[other.id]
        assert {k: v for k, v in _profile(s).items() if k != "last_touch_at"} == \
            {k: v for k, v in before[survivor.id].items() if k != "last_touch_at"}
        survivor_events, other_events = _events_of(session, ws, s.id), _events_of(session, ws, o.id)
        assert survivor_events[:len(events_before[survivor.id])] == events_before[survivor.id]
        assert len(survivor_events) == len(events_before[survivor.id]) + 1
        assert other_events[:3] == events_before[other.id] and len(other_events) == 4
        assert session.get(Visitor, (ws.id, "v-other")).lead_id == o.id
        assert session.get(LeadMerge, merge.id).undone_at is not None
        assert session.get(Lead, absorbed.id).merged_into_id == o.id


def test_undoing_twice_is_a_conflict(db, ws):
    with db.write() as session:
        survivor, other = _two_leads(session, ws)
        merge = merge_leads(session, ws.id, survivor.id, other.id, actor="test")
    with db.write() as session:
        unmerge(session, ws.id, merge.id, actor="test")
    with db.write() as session, pytest.raises(Conflict):
        unmerge(session, ws.id, merge.id, actor="test")


def test_unmerge_of_another_workspace_or_unknown_merge_is_not_found(db, ws):
    with db.write() as session:
        survivor, other = _two_leads(session, ws)
        merge = merge_leads(session, ws.id, survivor.id, other.id, actor="test")
        globex = get_or_create_workspace(session, "globex")
    for workspace_id, merge_id in ((globex.id, merge.id), (ws.id, merge.id + 1000)):
        with db.write() as session, pytest.raises(NotFound):
            unmerge(session, workspace_id, merge_id, actor="test")
    with db.read() as session:
        assert session.get(Lead, other.id).merged_into_id == survivor.id


def test_unmerge_waits_for_a_later_merge_of_the_survivor_to_be_undone(db, ws):
    with db.write() as session:
        a, b, c = (_lead(session, ws, f"{n}@acme.fr") for n in "abc")
        _event(session, ws, T0, lead=b)
        first = merge_leads(session, ws.id, a.id, b.id, actor="test")
        second = merge_leads(session, ws.id, c.id, a.id, actor="test")
    with db.write() as session, pytest.raises(Conflict, match="undo that merge first"):
        unmerge(session, ws.id, first.id, actor="test")
    with db.write() as session:
        unmerge(session, ws.id, second.id, actor="test")
        unmerge(session, ws.id, first.id, actor="test")
    with db.read() as session:
        assert [session.get(Lead, i).merged_into_id for i in (a.id, b.id, c.id)] == [None, None, None]
        assert len(_events_of(session, ws, b.id)) == 1 and _events_of(session, ws, c.id) == []


def test_unmerge_keeps_changes_made_while_merged(db, ws):
    with db.write() as session:
        survivor = _lead(session, ws, "a@acme.fr", consent={"email_marketing": True})
        other = _lead(session, ws, "b@acme.fr", job_title="CEO", consent={"email_marketing": True})
        merge = merge_leads(session, ws.id, survivor.id, other.id, actor="test")
    with db.write() as session:
        upsert_lead(session, ws.id, LeadInput(email="a@acme.fr", job_title="CTO",
                                              consent=ConsentInput(unsubscribed=True)), mode=WriteMode.OVERWRITE)
    with db.write() as session:
        unmerge(session, ws.id, merge.id, actor="test")
    with db.read() as session:
        s, o = session.get(Lead, survivor.id), session.get(Lead, other.id)
        assert s.job_title == "CTO" and s.unsubscribed  # edited after the merge: kept
        assert o.job_title == "CEO"
        # nobody can tell whose unsubscribe that was: it binds both
        assert o.unsubscribed and o.consent_email is False


def test_unmerge_gives_back_consent_the_merge_narrowed(db, ws):
    with db.write() as session:
        survivor = _lead(session, ws, "a@acme.fr", consent={"email_marketing": True})
        other = _lead(session, ws, "b@acme.fr", consent={"unsubscribed": True})
        merge = merge_leads(session, ws.id, survivor.id, other.id, actor="test")
        assert survivor.unsubscribed
    with db.write() as session:
        unmerge(session, ws.id, merge.id, actor="test")
    with db.read() as session:
        s, o = session.get(Lead, survivor.id), session.get(Lead, other.id)
        assert (s.consent_email, s.unsubscribed) == (True, False)
        assert (o.consent_email, o.unsubscribed) == (False, True)


# --- duplicates ----------------------------------------------------------------------------------------------


def test_duplicates_finds_a_misspelt_name_at_the_same_company_and_nothing_unrelated(db, ws):
    with db.write() as session:
        dupont = _lead(session, ws, "jean.dupont@acme.fr", first_name="Jean", last_name="Dupont")
        dupond = _lead(session, ws, "jdupond@acme.fr", first_name="Jean", last_name="Dupond")
        _lead(session, ws, "marie@acme.fr", first_name="Marie", last_name="Curie")
        _lead(session, ws, "jean@globex.com", first_name="Jean", last_name="Dupont")  # namesake elsewhere
        _lead(session, ws, "paul@initech.com", first_name="Paul", last_name="Martin")
        _lead(session, ws, "pierre@initech.com", first_name="Pierre", last_name="Martin")
        assert dupont.company_id == dupond.company_id is not None
    with db.read() as session:
        candidates = duplicate_candidates(session, ws.id)
    assert [(c.lead_id, c.other_id) for c in candidates] == [(dupont.id, dupond.id)]
    assert candidates[0].score >= 85 and "same company" in candidates[0].reasons


def test_duplicates_by_phone_and_by_similar_company_name(db, ws):
    with db.write() as session:
        a = _lead(session, ws, "jean.dupont@gmail.com", first_name="Jean", last_name="Dupont",
                  company={"name": "Acme SAS"})
        b = _lead(session, ws, "jd@yahoo.fr", first_name="Jean", last_name="Dupont", company={"name": "ACME"})
        c = _lead(session, ws, "marc@gmail.com", first_name="Marc", last_name="Petit", phone="+33612345678")
        d = _lead(session, ws, "m.petit@hotmail.fr", first_name="Marc", last_name="Petit ", phone="+33612345678")
        assert a.company_id != b.company_id
    with db.read() as session:
        found = {(x.lead_id, x.other_id): x for x in duplicate_candidates(session, ws.id)}
    assert set(found) == {(a.id, b.id), (c.id, d.id)}
    assert any(r.startswith("similar company name") for r in found[(a.id, b.id)].reasons)
    assert found[(c.id, d.id)].reasons[0] == "same phone"


def test_duplicates_skip_merged_leads_other_workspaces_and_honour_the_limit(db, ws):
    with db.write() as session:
        globex = get_or_create_workspace(session, "globex")
        for workspace in (ws, globex):
            for n, last in enumerate(("Dupont", "Dupond", "Dupons")):
                _lead(session, workspace, f"jean{n}@acme.fr", first_name="Jean", last_name=last)
    with db.read() as session:
        assert len(duplicate_candidates(session, ws.id)) == 3
        assert len(duplicate_candidates(session, ws.id, limit=1)) == 1
        first = duplicate_candidates(session, ws.id)[0]
    with db.write() as session:
        merge_leads(session, ws.id, first.lead_id, first.other_id, actor="test")
    with db.read() as session:
        remaining = duplicate_candidates(session, ws.id)
        assert len(remaining) == 1 and first.other_id not in (remaining[0].lead_id, remaining[0].other_id)
        assert len(duplicate_candidates(session, globex.id)) == 3


# Regressions found in review: the subject as received, merge chains, and bulk updates of merged leads.

def test_events_follow_a_merge_chain_and_keep_the_subject_as_received(client, auth, db):
    from sqlalchemy import select as _select

    from leadline.storage.tables import Event as _Event

    ids = [client.post("/api/v1/leads", json={"email": f"chain{i}@x.io"}, headers=auth).json()["id"]
           for i in range(3)]
    a, b, c = ids
    assert client.post(f"/api/v1/leads/{b}/merge", json={"other_id": c}, headers=auth).status_code == 200
    assert client.post(f"/api/v1/leads/{a}/merge", json={"other_id": b}, headers=auth).status_code == 200
    body = client.post("/api/v1/events", json={"events": [
        {"type": "page_view", "email": "chain2@x.io"}, {"type": "page_view", "lead_id": c}]}, headers=auth).json()
    assert [r["lead_id"] for r in body["results"]] == [a, a]
    with db.read() as session:
        subjects = session.execute(_select(_Event.lead_id, _Event.subject_lead_id)).all()
    assert subjects == [(int(a), int(c)), (int(a), int(c))]


def test_anonymous_events_of_an_identified_visitor_keep_no_subject(client, auth, db):
    from sqlalchemy import select as _select

    from leadline.storage.tables import Event as _Event

    lead = client.post("/api/v1/leads", json={"email": "vis@x.io"}, headers=auth).json()
    client.post("/api/v1/identify", json={"anonymous_id": "v-77", "lead_id": lead["id"]}, headers=auth)
    client.post("/api/v1/events", json={"type": "page_view", "anonymous_id": "v-77"}, headers=auth)
    with db.read() as session:
        row = session.execute(_select(_Event.lead_id, _Event.subject_lead_id, _Event.anonymous_id)).one()
    assert row == (int(lead["id"]), None, "v-77")


def test_import_chunk_naming_a_merged_lead_and_its_survivor_keeps_both_updates(client, auth, db, tmp_path):
    from leadline.services.importing import import_csv
    from leadline.storage.tables import Lead as _Lead

    a = client.post("/api/v1/leads", json={"email": "keep@x.io"}, headers=auth).json()
    b = client.post("/api/v1/leads", json={"email": "gone@x.io"}, headers=auth).json()
    client.post(f"/api/v1/leads/{a['id']}/merge", json={"other_id": b["id"]}, headers=auth)
    path = tmp_path / "both.csv"
    path.write_text("Email,First Name,Job Title\ngone@x.io,Ann,\nkeep@x.io,,CFO\n")
    with db.read() as session:
        workspace_id = session.get(_Lead, int(a["id"])).workspace_id
    import_csv(db, workspace_id, path)
    with db.read() as session:
        survivor = session.get(_Lead, int(a["id"]))
    assert (survivor.first_name, survivor.job_title) == ("Ann", "CFO")
