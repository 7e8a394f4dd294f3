"""Public forms: `POST /f/{key}` from a plain HTML form."""

from sqlalchemy import func, select

from leadline.storage.tables import Event, Lead


def _form(client, auth, **fields):
    r = client.post("/api/v1/forms", json={"name": "Contact us", "redirect_url": "https://acme.fr/thanks",
                                           **fields}, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


def test_form_post_creates_lead_records_event_and_redirects(client, auth, db):
    form = _form(client, auth)
    assert form["action_url"].endswith(f"/f/{form['key']}")
    r = client.post(f"/f/{form['key']}", data={
        "email": "Visitor@Example.org", "first_name": "Vi", "company": "Example SA", "utm_source": "linkedin",
        "utm_medium": "paid_social", "utm_campaign": "launch", "message": "Call me"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "https://acme.fr/thanks"
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "visitor@example.org"))
        event = session.scalar(select(Event).where(Event.lead_id == lead.id))
    assert lead.first_channel == "paid_social"
    assert lead.custom == {"message": "Call me"}
    assert (event.type, event.utm_campaign) == ("form_submit", "launch")
    assert event.properties["form_key"] == form["key"]


def test_form_never_overwrites_verified_fields(client, auth, create_lead, db):
    lead = create_lead(email="known@acme.fr", first_name="Verified", job_title=None)
    form = _form(client, auth)
    client.post(f"/f/{form['key']}", data={"email": "known@acme.fr", "first_name": "Typo", "job_title": "CTO"})
    detail = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()
    assert detail["first_name"] == "Verified"
    assert detail["job_title"] == "CTO"


def test_honeypot_stores_nothing_but_looks_like_success(client, auth, db):
    form = _form(client, auth)
    r = client.post(f"/f/{form['key']}", data={"email": "bot@spam.io", "website": "http://spam"},
                    follow_redirects=False)
    assert r.status_code == 303
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


def test_invalid_form_gets_422_with_escaped_reasons(client, auth, db):
    form = _form(client, auth)
    r = client.post(f"/f/{form['key']}", data={"email": "<script>alert(1)</script>"})
    assert r.status_code == 422
    assert "<script>" not in r.text and "email" in r.text
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


def test_unknown_form_is_404_and_json_is_415(client, auth):
    assert client.post("/f/nope", data={"email": "a@b.io"}).status_code == 404
    form = _form(client, auth)
    assert client.post(f"/f/{form['key']}", json={"email": "a@b.io"}).status_code == 415


def test_consent_checkbox_grants_email_consent(client, auth, db):
    form = _form(client, auth)
    client.post(f"/f/{form['key']}", data={"email": "c@acme.fr", "consent_email": "on"})
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "c@acme.fr"))
    assert lead.consent_email is True and lead.consent_source == f"form:{form['key']}"


def test_form_with_anonymous_id_attaches_the_visitors_past_visits(client, auth, db):
    client.post("/api/v1/events", json={"type": "page_view", "anonymous_id": "visitor-9",
                                        "occurred_at": "2026-01-05T10:00:00Z",
                                        "source": {"utm_source": "google", "utm_medium": "cpc"},
                                        "properties": {"url": "https://acme.fr/pricing"}}, headers=auth)
    form = _form(client, auth)
    client.post(f"/f/{form['key']}", data={"email": "anon@acme.fr", "anonymous_id": "visitor-9"})
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "anon@acme.fr"))
        types = sorted(session.scalars(select(Event.type).where(Event.lead_id == lead.id)))
    assert types == ["form_submit", "page_view"]
    assert lead.first_channel == "sea"
