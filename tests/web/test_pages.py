"""The pages: dashboard, leads table (filters, keyset pages, bulk actions, CSV export), the lead page's score
explanation, pipeline moves (refused ones say why), the scoring model's preview, apply and rollback."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadline.storage.database import Database
from leadline.storage.tables import Lead, ScoringModelVersion
from web_helpers import csrf_of

MODEL = {
    "format": "leadline-scoring/1",
    "name": "Web test",
    "decay": {"half_life_days": 10},
    "fit": [{"name": "Decision maker", "when": {"field": "job_title", "matches": "(?i)ceo|director"}, "points": 40}],
    "engagement": [{"name": "Pricing page", "event": "page_view",
                    "where": {"field": "path", "starts_with": "/pricing"}, "points": 30},
                   {"name": "Quote request", "event": "quote_request", "points": 60}],
    "thresholds": {"warm": 20, "hot": 50},
    "mql": {"fit": 90, "engagement": 90},
}


@pytest.fixture
def scored(client: TestClient, auth: dict[str, str]) -> int:
    """An active model and a hot director who asked for a quote; returns the lead's id."""
    assert client.post("/api/v1/scoring/models", json=MODEL, headers=auth).status_code == 201
    lead = client.post("/api/v1/leads", headers=auth, json={
        "email": "dana@mid.org", "first_name": "Dana", "last_name": "Director", "job_title": "Director"}).json()
    events = [{"type": "page_view", "email": "dana@mid.org", "properties": {"path": "/pricing/pro"}},
              {"type": "quote_request", "email": "dana@mid.org"}]
    assert client.post("/api/v1/events", headers=auth, json={"events": events}).json()["accepted"] == 2
    return int(lead["id"])


def test_the_dashboard_shows_kpis_funnel_channels_and_hot_leads(browse: Callable[[str], TestClient],
                                                                 scored: int) -> None:
    html = browse("admin").get("/").text
    assert "New leads" in html and "vs previous period" in html
    assert '<svg class="funnel"' in html and "Leads: 1" in html
    assert f'href="/leads/{scored}"' in html  # hot, never touched by sales


def test_the_table_filters_and_pages_by_keyset_without_gaps_or_repeats(
        client: TestClient, auth: dict[str, str], browse: Callable[[str], TestClient]) -> None:
    leads = [{"email": f"p{i:03d}@bulk.org", "first_name": f"P{i:03d}"} for i in range(120)]
    for lead in leads:
        assert client.post("/api/v1/leads", headers=auth, json=lead).status_code == 201
    browser = browse("admin")
    seen: list[str] = []
    url = "/leads?q=bulk.org"
    while url:
        html = browser.get(url).text
        seen += re.findall(r"(p\d{3})@bulk\.org", html)
        found = re.search(r'rel="next" href="([^"]+)"', html)
        url = found.group(1).replace("&amp;", "&") if found else ""
    assert seen == [f"p{i:03d}" for i in reversed(range(120))]
    oldest = browser.get("/leads?q=bulk.org&sort=oldest").text
    assert oldest.index("p000@bulk.org") < oldest.index("p001@bulk.org")
    assert "No lead matches" in browser.get("/leads?q=bulk.org&stage=customer").text
    assert browser.get("/leads?cursor=garbage&score_min=abc&stage=nonsense").status_code == 200


def test_bulk_stage_change_moves_what_it_may_and_says_why_not_for_the_rest(
        client: TestClient, auth: dict[str, str], browse: Callable[[str], TestClient], db: Database) -> None:
    ids = [client.post("/api/v1/leads", headers=auth, json={"email": f"b{i}@bulk.org"}).json()["id"]
           for i in range(3)]
    browser = browse("admin")
    token = csrf_of(browser.get("/leads").text)
    browser.post("/leads/bulk", data={"csrf_token": token, "action": "stage", "stage": "customer", "lead": ids[0]})
    page = browser.post("/leads/bulk", data={"csrf_token": token, "action": "stage", "stage": "sql",
                                             "lead": ids, "back": "q=bulk.org"})
    assert "2 leads updated." in page.text and "1 refused" in page.text and "a customer stays a customer" in page.text
    with db.read() as session:
        stages = dict(session.execute(select(Lead.id, Lead.stage).where(Lead.id.in_([int(i) for i in ids]))).all())
    assert sorted(stages.values()) == ["customer", "sql", "sql"]


def test_bulk_assign_gives_leads_to_a_user(client: TestClient, browse: Callable[[str], TestClient],
                                           lead_ids: dict[str, int], logins: dict[str, int], db: Database) -> None:
    browser = browse("admin")
    token = csrf_of(browser.get("/leads").text)
    page = browser.post("/leads/bulk", data={"csrf_token": token, "action": "assign", "lead": lead_ids["none"],
                                             "owner_id": logins["rep2"]})
    assert "1 leads updated." in page.text
    with db.read() as session:
        assert session.get(Lead, lead_ids["none"]).owner_id == logins["rep2"]  # type: ignore[union-attr]


def test_the_csv_export_keeps_formulas_as_text(client: TestClient, auth: dict[str, str],
                                               browse: Callable[[str], TestClient]) -> None:
    client.post("/api/v1/leads", headers=auth, json={"email": "f@formula.org", "first_name": "=HYPERLINK(\"x\")",
                                                     "last_name": "+1-2"})
    response = browse("admin").get("/leads/export.csv?q=formula.org")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1
    assert rows[0]["first_name"] == "'=HYPERLINK(\"x\")" and rows[0]["last_name"] == "'+1-2"


def test_the_lead_page_explains_the_score_rule_by_rule(browse: Callable[[str], TestClient], scored: int) -> None:
    html = browse("admin").get(f"/leads/{scored}").text
    for text in ("Decision maker", "Pricing page", "Quote request", "half-life 10 days", "quote_request",
                 "/pricing/pro", "Qualification (BANT)", "model version 1"):
        assert text in html, text


def test_pipeline_moves_follow_the_deal_rules_and_refusals_say_why(
        browse: Callable[[str], TestClient], scored: int, db: Database) -> None:
    browser = browse("admin")
    token = csrf_of(browser.get("/pipeline").text)

    def move(to: str, board: str = "deals") -> str:
        return browser.post("/pipeline/move", data={"csrf_token": token, "lead_id": scored, "to": to,
                                                    "board": board}).text

    assert f"Lead {scored} moved." in move("sql")
    assert "Move refused" in move("won") and "no open deal" in move("won")
    assert f"Lead {scored} moved." in move("opportunity")
    partial = browser.post("/pipeline/move", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "lead_id": scored, "to": "won", "board": "deals"})
    assert partial.text.startswith('<div id="board"') and "moved" in partial.text
    assert "a customer stays a customer" in move("sql")
    with db.read() as session:
        assert session.get(Lead, scored).stage == "customer"  # type: ignore[union-attr]


def test_the_sales_board_moves_leads_between_statuses(browse: Callable[[str], TestClient], scored: int,
                                                      db: Database) -> None:
    browser = browse("admin")
    token = csrf_of(browser.get("/pipeline?board=sales").text)
    browser.post(f"/leads/{scored}/stage", data={"csrf_token": token, "stage": "mql"})
    html = browser.post("/pipeline/move", data={"csrf_token": token, "lead_id": scored, "to": "connected",
                                                "board": "sales"}).text
    assert "moved" in html
    with db.read() as session:
        assert session.get(Lead, scored).status == "connected"  # type: ignore[union-attr]


def test_scoring_preview_writes_nothing_then_apply_and_rollback(browse: Callable[[str], TestClient], scored: int,
                                                                db: Database) -> None:
    browser = browse("marketer")
    page = browser.get("/scoring").text
    token = csrf_of(page)
    source = re.search(r'<textarea id="source"[^>]*>(.*?)</textarea>', page, re.S).group(1)  # type: ignore[union-attr]
    import html as html_lib

    source = html_lib.unescape(source)
    assert "Quote request" in source
    colder = source.replace("60", "1")
    preview = browser.post("/scoring/preview", data={"csrf_token": token, "source": colder}).text
    assert "If applied" in preview and "Hot → " in preview
    with db.read() as session:
        assert session.get(Lead, scored).temperature == "hot"  # type: ignore[union-attr]
    bad = browser.post("/scoring/preview", data={"csrf_token": token, "source": "fit: [oops"}).text
    assert "not valid" in bad
    applied = browser.post("/scoring/apply", data={"csrf_token": token, "source": colder}).text
    assert "Version 2 applied" in applied
    with db.read() as session:
        assert session.get(Lead, scored).temperature != "hot"  # type: ignore[union-attr]
    back = browser.post("/scoring/versions/1/activate", data={"csrf_token": token}).text
    assert "Version 1 is active again" in back
    with db.read() as session:
        assert session.get(Lead, scored).temperature == "hot"  # type: ignore[union-attr]
        active = session.scalar(select(ScoringModelVersion.version).where(ScoringModelVersion.active.is_(True)))
    assert active == 1


def test_every_page_renders_for_every_role(browse: Callable[[str], TestClient], scored: int,
                                           lead_ids: dict[str, int]) -> None:
    for role in ("admin", "marketer", "manager", "rep1"):
        browser = browse(role)
        for page in ("/", "/leads", "/pipeline", "/pipeline?board=sales", "/scoring", "/segments", "/reports",
                     f"/leads/{lead_ids['rep1']}/duplicates"):
            assert browser.get(page).status_code == 200, (role, page)


def test_bulk_add_to_a_static_list(client: TestClient, auth: dict[str, str], browse: Callable[[str], TestClient],
                                   lead_ids: dict[str, int]) -> None:
    segment = client.post("/api/v1/segments", headers=auth, json={"name": "Trade show", "kind": "static"}).json()
    browser = browse("admin")
    token = csrf_of(browser.get("/leads").text)
    assert "Add to list" in browser.get("/leads").text
    page = browser.post("/leads/bulk", data={"csrf_token": token, "action": "list", "segment_id": segment["id"],
                                             "lead": [lead_ids["rep1"], lead_ids["none"]]})
    assert "2 leads updated." in page.text
    listed = browser.get(f"/leads?segment={segment['id']}").text
    assert "rep1.lead@client.org" in listed and "none.lead@client.org" in listed and "rep2.lead" not in listed


def test_the_form_builder_gives_embed_code(browse: Callable[[str], TestClient]) -> None:
    browser = browse("marketer")
    token = csrf_of(browser.get("/forms").text)
    page = browser.post("/forms", data={"csrf_token": token, "name": "Contact <us>",
                                        "redirect_url": "https://acme.org/thanks"}).text
    assert "Form created" in page and "Contact &lt;us&gt;" in page
    code = re.search(r'<textarea id="embed-\d+"[^>]*>(.*?)</textarea>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "&lt;form action=&#34;http://localhost:8000/f/" in code and "name=&#34;email&#34;" in code
    assert browser.post("/forms", data={"csrf_token": token, "name": "x", "redirect_url": "javascript:alert(1)"}
                        ).url.query.decode().startswith("error=")
    assert browse("rep1").get("/forms").status_code == 403


def test_the_import_wizard_previews_then_imports_and_lists_errors(browse: Callable[[str], TestClient],
                                                                  db: Database) -> None:
    browser = browse("marketer")
    token = csrf_of(browser.get("/import").text)
    body = "Prénom;Nom;Email;Société\nAnne;Dupont;anne@dupont.fr;Dupont SA\nBad;Row;not-an-email;X\n"
    preview = browser.post("/import", data={"csrf_token": token}, files={"file": ("leads.csv", body.encode())})
    assert preview.status_code == 200, preview.text
    html = preview.text
    assert "first_name" in html and "Dupont SA" in html and "1 new leads" in html and "not-an-email" in html
    with db.read() as session:
        assert session.scalar(select(Lead.id).where(Lead.email == "anne@dupont.fr")) is None  # dry run only
    step = re.search(r'action="(/import/[^"]+)"', html).group(1)  # type: ignore[union-attr]
    done = browser.post(step, data={"csrf_token": token}).text
    assert "Imported: 1 new leads" in done and "1 rows with errors" in done
    with db.read() as session:
        assert session.scalar(select(Lead.id).where(Lead.email == "anne@dupont.fr")) is not None
    assert browser.post(step, data={"csrf_token": token}).status_code == 404  # the upload is gone
    bad = browser.post("/import", data={"csrf_token": token}, files={"file": ("x.csv", b"\x00\x01binary")})
    assert bad.status_code == 400 and 'role="alert"' in bad.text


def test_a_rep_logs_a_call_and_reviews_an_mql_from_the_lead_page(browse: Callable[[str], TestClient],
                                                                  lead_ids: dict[str, int], db: Database) -> None:
    browser = browse("rep1")
    lead = lead_ids["rep1"]
    token = csrf_of(browser.get(f"/leads/{lead}").text)
    assert "Activity logged." in browser.post(f"/leads/{lead}/activity", data={
        "csrf_token": token, "kind": "call", "subject": "First call"}).text
    browser.post(f"/leads/{lead}/stage", data={"csrf_token": token, "stage": "mql"})
    refused = browser.post(f"/leads/{lead}/review", data={"csrf_token": token, "decision": "reject"}).text
    assert "Not saved" in refused and "needs a reason" in refused
    assert "MQL accepted." in browser.post(f"/leads/{lead}/review", data={"csrf_token": token,
                                                                          "decision": "accept"}).text
    with db.read() as session:
        row = session.get(Lead, lead)
        assert row is not None and row.stage == "sql" and row.first_sales_touch_at is not None


def test_board_columns_count_leads_and_sum_their_deals(client: TestClient, auth: dict[str, str],
                                                       browse: Callable[[str], TestClient], db: Database,
                                                       workspace_id: int) -> None:
    from decimal import Decimal

    from leadline.core.lifecycle import Actor, ActorType
    from leadline.services.boards import Board, board
    from leadline.services.deals import save_deal

    ids = [int(client.post("/api/v1/leads", headers=auth, json={"email": f"d{i}@deal.org"}).json()["id"])
           for i in range(3)]
    actor = Actor(ActorType.USER, "t")
    with db.write() as session:
        for lead_id, amount in zip(ids[:2], (Decimal("1000.50"), Decimal("250")), strict=True):
            save_deal(session, workspace_id=workspace_id, lead_id=lead_id, actor=actor, amount=amount)
        from leadline.core.leads import Stage
        from leadline.services.lifecycle import change_stage

        change_stage(session, workspace_id=workspace_id, lead=ids[2], to=Stage.CUSTOMER, actor=actor)
    with db.read() as session:
        columns = {c.key: c for c in board(session, workspace_id=workspace_id, which=Board.DEALS, owner_ids=None)}
    assert columns["opportunity"].count == 2 and columns["opportunity"].value == Decimal("1250.50")
    assert [c.amount for c in columns["opportunity"].cards] == [Decimal("1000.50"), Decimal("250.00")]
    assert columns["won"].count == 1 and columns["won"].value == 0  # a customer without a recorded deal
    assert columns["lost"].count == 0 and columns["sql"].count == 0
    assert "€1,250.50" in browse("admin").get("/pipeline").text


def test_admins_create_and_revoke_api_keys_shown_once(browse: Callable[[str], TestClient], client: TestClient,
                                                      logins: dict[str, int]) -> None:
    browser = browse("admin")
    token = csrf_of(browser.get("/settings").text)
    page = browser.post("/settings/keys", data={"csrf_token": token, "name": "zapier", "scope": ["read"]}).text
    key = re.search(r'<code class="secret">(ll_[^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    assert client.get("/api/v1/leads", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert key not in browser.get("/settings").text  # shown once
    key_id = re.findall(r'action="/settings/keys/(\d+)/revoke"', page)[0]
    assert "Key revoked." in browser.post(f"/settings/keys/{key_id}/revoke", data={"csrf_token": token}).text
    bad = browser.post("/settings/webhooks", data={"csrf_token": token, "url": "http://127.0.0.1:9/hook",
                                                   "topic": ["lead.created"]})
    assert 'role="alert"' in bad.text  # a private address is refused, with the reason


def test_marketers_count_then_create_a_segment_from_a_filter(browse: Callable[[str], TestClient],
                                                              scored: int) -> None:
    browser = browse("marketer")
    token = csrf_of(browser.get("/segments").text)
    count = browser.post("/segments/count", data={"csrf_token": token, "filter": "did quote_request"}).text
    assert "1 leads match now." in count
    bad = browser.post("/segments/count", data={"csrf_token": token, "filter": "did or or"}).text
    assert 'role="alert"' in bad
    page = browser.post("/segments", data={"csrf_token": token, "name": "Asked for a quote",
                                           "filter": "did quote_request"}).text
    assert "Segment created." in page and "Asked for a quote" in page
    segment_id = re.search(r'href="/leads\?segment=(\d+)"', page).group(1)  # type: ignore[union-attr]
    assert "dana@mid.org" in browser.get(f"/leads?segment={segment_id}").text


def test_the_segments_page_has_a_plain_title_and_one_new_segment_form(browse: Callable[[str], TestClient]) -> None:
    page = browse("marketer").get("/segments").text
    title = page[page.index("<title>"):page.index("</title>")]
    assert "<form" not in title and "Segments" in title
    assert page.count('id="segment-form"') == 1
