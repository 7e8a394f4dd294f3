"""The website snippet's endpoint: public (a workspace's public key + one of its allowed sites), consent first,
bots apart, identify attaches the visitor's history with its touches."""

from __future__ import annotations

import gzip

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadline.api.app import create_app
from leadline.storage.tables import Event, Lead, PageCount, Visitor

SITE = "https://www.acme.fr"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
HEADERS = {"Origin": SITE, "User-Agent": BROWSER, "Content-Type": "text/plain;charset=UTF-8"}
VISITOR = "v1.abcdefgh12345"


@pytest.fixture
def site(client, auth) -> dict:
    r = client.put("/api/v1/tracking", json={"allowed_domains": ["acme.fr", "https://shop.example.com/"]},
                   headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def _send(client, key, body, **headers):
    return client.post(f"/t/collect?k={key}", content=orjson.dumps(body), headers={**HEADERS, **headers})


def _page(path="/", event_id="e1", **extra):
    return {"type": "page_view", "id": event_id, "props": {"path": path, "title": "T", "url": SITE + path}, **extra}


def _count(db, table, *where):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table).where(*where))


def test_the_snippet_is_small_cached_and_revalidated(client):
    r = client.get("/t.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert "max-age=3600" in r.headers["cache-control"]
    raw = client.get("/t.js", headers={"Accept-Encoding": "identity"})
    assert len(gzip.compress(raw.content, 9)) < 5 * 1024  # the budget: under 5 KB gzipped
    assert b"sendBeacon" in raw.content and b"globalPrivacyControl" in raw.content
    again = client.get("/t.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_settings_give_the_embed_code_and_refuse_bad_domains(client, auth, make_key, site):
    assert site["allowed_domains"] == ["acme.fr", "shop.example.com"]
    assert site["public_key"] in site["embed_code"] and site["embed_code"].startswith("<script async src=")
    assert site["require_consent"] is True and site["honour_gpc"] is True
    bad = client.put("/api/v1/tracking", json={"allowed_domains": ["acme.fr", "not a domain"]}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "allowed_domains.1"
    reader = {"Authorization": f"Bearer {make_key('acme', 'read')}"}
    assert client.put("/api/v1/tracking", json={"honour_gpc": False}, headers=reader).status_code == 403
    assert client.get("/api/v1/tracking", headers=reader).json()["public_key"] == site["public_key"]


def test_consented_page_views_are_events_of_an_anonymous_visitor(client, db, site):
    r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR,
                                           "events": [_page("/"), _page("/pricing", "e2")]})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    assert r.headers["access-control-allow-origin"] == SITE
    with db.read() as session:
        events = session.scalars(select(Event).order_by(Event.id)).all()
    assert [(e.type, e.path, e.anonymous_id, e.lead_id) for e in events] == [
        ("page_view", "/", VISITOR, None), ("page_view", "/pricing", VISITOR, None)]
    # a retried beacon is not stored twice
    again = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page("/")]})
    assert again.json()["duplicates"] == 1 and _count(db, Event) == 2


def test_without_consent_only_a_count_per_day_and_path_is_kept(client, db, site):
    body = {"consent": False, "visitor": VISITOR, "events": [_page("/pricing?email=jane@acme.fr"),
                                                              _page("/pricing", "e2"),
                                                              {"type": "download", "props": {"file": "x.pdf"}}]}
    r = _send(client, site["public_key"], body)
    assert r.json()["counted"] == 2 and r.json()["accepted"] == 0
    assert _count(db, Event) == 0 and _count(db, Visitor) == 0
    with db.read() as session:
        counts = session.scalars(select(PageCount)).all()
    assert [(c.audience, c.path, c.views) for c in counts] == [("anonymous", "/pricing", 2)]


def test_global_privacy_control_counts_as_a_refusal(client, db, site):
    r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page("/")]},
              **{"Sec-GPC": "1"})
    assert r.json()["counted"] == 1
    assert _count(db, Event) == 0 and _count(db, Visitor) == 0


@pytest.mark.parametrize("agent", ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                                   "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0",
                                   "curl/8.5.0", ""])
def test_bots_are_counted_apart_and_never_become_events(client, db, site, agent):
    r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page("/")]},
              **{"User-Agent": agent})
    assert r.json()["bots"] == 1
    assert _count(db, Event) == 0
    assert _count(db, PageCount, PageCount.audience == "bot") == 1


def test_identify_attaches_past_visits_with_first_and_last_non_direct_touch(client, db, site, auth):
    landing = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand", "gclid": "Cj0KCQ",
               "landing_page": SITE + "/?gclid=Cj0KCQ"}
    _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [
        {**_page("/"), "at": 1_763_000_000_000, "source": landing}, _page("/pricing", "e2")]})
    r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [
        {"type": "identify", "id": "e3", "email": "Jane@Acme.fr", "source": landing}]})
    assert r.json()["identified"] == 1
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "jane@acme.fr"))
        events = session.scalars(select(Event).where(Event.lead_id == lead.id).order_by(Event.id)).all()
    assert [e.type for e in events] == ["page_view", "page_view", "identify"]
    assert lead.first_channel == "sea" and lead.first_touch["gclid"] == "Cj0KCQ"
    assert lead.first_touch["utm_campaign"] == "brand"
    assert lead.last_non_direct_channel == "sea" and lead.last_non_direct_touch["gclid"] == "Cj0KCQ"
    assert lead.consent_tracking is True  # given in the browser, before the visitor identified
    with db.read() as session:  # ... and recorded in the consent ledger, from which the column is derived
        from leadline.services.consent import ledger

        assert [(e.purpose, e.action, e.source) for e in ledger(session, lead.workspace_id, lead.id)] == [
            ("tracking", "grant", "website")]
    # later page views of the same visitor land on the lead at once
    _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page("/docs", "e4")]})
    assert _count(db, Event, Event.lead_id == lead.id) == 4


def test_a_lead_that_withdrew_tracking_consent_is_never_linked_to_its_browsing(client, db, site, auth):
    client.post("/api/v1/leads", json={"email": "no@acme.fr"}, headers=auth)
    with db.write() as session:
        session.scalar(select(Lead).where(Lead.email == "no@acme.fr")).consent_tracking = False
    _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page("/")]})
    r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR,
                                           "events": [{"type": "identify", "id": "e2", "email": "no@acme.fr"}]})
    assert r.json()["identified"] == 0
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "no@acme.fr"))
        assert lead.consent_tracking is False
        assert session.scalar(select(Visitor.lead_id).where(Visitor.anonymous_id == VISITOR)) is None
    assert _count(db, Event, Event.lead_id == lead.id) == 0


def test_only_the_workspace_sites_may_send(client, db, site):
    for origin in ("https://evilacme.fr", "null"):
        r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page()]},
                  Origin=origin)
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    ok = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page()]},
               Origin="https://shop.example.com")
    assert ok.status_code == 200
    assert _send(client, "pk_nope", {"events": [_page()]}).status_code == 404
    preflight = client.options(f"/t/collect?k={site['public_key']}", headers={"Origin": SITE})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == SITE
    assert client.options(f"/t/collect?k={site['public_key']}",
                          headers={"Origin": "https://evil.io"}).status_code == 403


def test_a_public_key_reaches_only_its_own_workspace(client, db, site, make_key):
    other = {"Authorization": f"Bearer {make_key('globex')}"}
    theirs = client.put("/api/v1/tracking", json={"allowed_domains": ["globex.com"]}, headers=other).json()
    _send(client, theirs["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page()]},
          Origin="https://globex.com")
    # Same visitor id through acme's key: a different visitor of a different workspace.
    r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR,
                                           "events": [{"type": "identify", "id": "e9", "email": "x@acme.fr"}]})
    assert r.json() == {"accepted": 0, "duplicates": 0, "counted": 0, "bots": 0, "identified": 1, "errors": []}
    with db.read() as session:
        globex_event = session.scalar(select(Event).where(Event.type == "page_view"))
        assert globex_event.lead_id is None


def test_bad_batches_get_precise_errors_and_store_nothing(client, db, site):
    key = site["public_key"]
    assert client.post(f"/t/collect?k={key}", content=b"{", headers=HEADERS).status_code == 400
    r = _send(client, key, {"consent": True, "visitor": VISITOR, "events": [_page(), {"type": "Bad Type"}]})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [{"field": "events.1.type",
                                            "reason": "a lowercase event name such as page_view"}]
    r = _send(client, key, {"consent": True, "events": [_page()]})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "visitor"
    r = _send(client, key, {"consent": True, "visitor": VISITOR, "events": [{"type": "identify", "id": "e"}]})
    assert r.json()["error"]["fields"][0]["field"] == "events.0.email"
    form = client.post(f"/t/collect?k={key}", content=b"a=b",
                       headers={**HEADERS, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert _count(db, Event) == 0


def test_batches_are_rate_limited_per_address(settings, db, client, site):
    limited = settings.model_copy(update={"tracking_rate_limit": "3/minute"})
    with TestClient(create_app(limited, db)) as other:
        answers = [_send(other, site["public_key"], {"events": [_page()]}).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_page_counts_are_readable_by_the_workspace(client, auth, site):
    _send(client, site["public_key"], {"events": [_page("/a"), _page("/a", "x")]})
    _send(client, site["public_key"], {"events": [_page("/a")]}, **{"User-Agent": "Googlebot/2.1"})
    rows = client.get("/api/v1/tracking/page-counts", headers=auth).json()
    assert sorted((r["audience"], r["path"], r["views"]) for r in rows) == [("anonymous", "/a", 2), ("bot", "/a", 1)]


def test_an_email_click_identity_attaches_the_visitor_and_a_forged_one_is_refused(client, db, site, auth, settings):
    from leadline.services.email_tracking import link_identity
    from leadline.storage.types import utcnow

    lead_id = int(client.post("/api/v1/leads", json={"email": "clicker@acme.fr"}, headers=auth).json()["id"])
    with db.read() as session:
        workspace_id = session.get(Lead, lead_id).workspace_id
    token = link_identity(settings.signing_key(), workspace_id, lead_id, utcnow())
    _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [_page("/")]})
    forged = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [
        {"type": "identify", "id": "e2", "token": token[:-2] + "xx"}]})
    assert forged.json()["identified"] == 0
    assert forged.json()["errors"] == [{"field": "events.0.token", "reason": "not a valid or recent email link"}]
    assert _count(db, Event, Event.lead_id == lead_id) == 0
    r = _send(client, site["public_key"], {"consent": True, "visitor": VISITOR, "events": [
        {"type": "identify", "id": "e3", "token": token}]})
    assert r.json()["identified"] == 1
    with db.read() as session:
        types = sorted(session.scalars(select(Event.type).where(Event.lead_id == lead_id)))
    assert types == ["identify", "page_view"]
