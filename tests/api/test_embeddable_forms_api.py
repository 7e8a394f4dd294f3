"""Embeddable forms: defined in Leadline, rendered by the snippet or hosted, accessible, protected against bots
(honeypot, timing, per-IP rate limit) and other sites (CORS), with consent boxes never pre-ticked and double
opt-in asking for a confirmation instead of granting consent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadline.api.app import create_app
from leadline.core.tracking import timing_token
from leadline.storage.tables import Event, Lead, OutboxMessage
from leadline.storage.types import utcnow

SITE = "https://www.acme.fr"
FIELDS = [{"name": "email", "label": "Work email", "type": "email", "required": True},
          {"name": "first_name", "label": "First name"},
          {"name": "team_size", "label": "Team size", "type": "select", "options": ["1-10", "11-50"]}]
BOXES = [{"purpose": "marketing_email", "label": "Send me the newsletter"},
         {"purpose": "tracking", "label": "Remember my visits"}]


@pytest.fixture
def form(client, auth):
    client.put("/api/v1/tracking", json={"allowed_domains": ["acme.fr"]}, headers=auth)
    r = client.post("/api/v1/forms", json={"name": "Demo request", "fields": FIELDS, "consent_boxes": BOXES,
                                           "thank_you_message": "Thanks, talk soon", "min_fill_seconds": 3},
                    headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


def _shown(settings, form, seconds_ago=10):
    return timing_token(settings.signing_key(), form["key"], utcnow() - timedelta(seconds=seconds_ago))


def _lead(db, email):
    with db.read() as session:
        return session.scalar(select(Lead).where(Lead.email == email))


def test_definition_is_readable_from_allowed_sites_only(client, form):
    r = client.get(f"/f/{form['key']}/definition", headers={"Origin": SITE})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == SITE
    body = r.json()
    assert [f["name"] for f in body["fields"]] == ["email", "first_name", "team_size"]
    assert body["honeypot_field"] == "website" and body["timing"]
    assert body["thank_you_message"] == "Thanks, talk soon"
    assert client.get(f"/f/{form['key']}/definition", headers={"Origin": "https://evil.io"}).status_code == 403
    assert form["embed_code"].startswith(f'<div data-leadline-form="{form["key"]}"></div>')


def test_hosted_page_labels_every_input_and_never_preticks_consent(client, form):
    r = client.get(f"/f/{form['key']}?utm_source=newsletter&gclid=abc")
    assert r.status_code == 200
    html = r.text
    for name in ("email", "first_name", "team_size", "consent_marketing_email", "consent_tracking"):
        ident = f"ll-{form['key']}-{name}"
        assert f'<label for="{ident}">' in html and f'id="{ident}"' in html
    assert "checked" not in html
    assert 'name="utm_source" value="newsletter"' in html and 'name="gclid" value="abc"' in html
    assert 'aria-hidden="true"' in html and 'tabindex="-1"' in html  # the honeypot, out of reach of people


def test_submission_creates_the_lead_with_its_touch_and_consent(client, db, settings, form):
    r = client.post(f"/f/{form['key']}", data={
        "email": "jane@acme.fr", "first_name": "Jane", "team_size": "11-50", "consent_marketing_email": "yes",
        "consent_tracking": "yes", "utm_source": "linkedin", "utm_medium": "paid_social", "li_fat_id": "li-1",
        "_t": _shown(settings, form)}, headers={"Origin": SITE, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Thanks, talk soon"
    assert r.headers["access-control-allow-origin"] == SITE
    lead = _lead(db, "jane@acme.fr")
    assert (lead.consent_email, lead.consent_tracking) == (True, True)
    assert lead.first_channel == "paid_social" and lead.first_touch["li_fat_id"] == "li-1"
    assert lead.custom == {"team_size": "11-50"}


def test_missing_required_fields_and_bad_choices_are_named(client, db, settings, form):
    r = client.post(f"/f/{form['key']}", data={"first_name": "Jane", "team_size": "9000",
                                               "_t": _shown(settings, form)},
                    headers={"Accept": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"] == [{"field": "email", "reason": "required"},
                                           {"field": "team_size", "reason": "not one of the choices"}]
    html = client.post(f"/f/{form['key']}", data={"first_name": "Jane", "_t": _shown(settings, form)})
    assert html.status_code == 422 and 'value="Jane"' in html.text and ">required</span>" in html.text
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


@pytest.mark.parametrize("timing", ["fresh", "missing", "forged"])
def test_forms_sent_back_too_fast_are_bots_answered_as_if_all_went_well(client, db, settings, form, timing):
    token = {"fresh": _shown(settings, form, seconds_ago=0), "missing": "",
             "forged": _shown(settings, form)[:-3] + "abc"}[timing]
    r = client.post(f"/f/{form['key']}", data={"email": "bot@spam.io", "_t": token},
                    headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert _lead(db, "bot@spam.io") is None


def test_other_sites_may_not_post_the_form(client, db, settings, form):
    r = client.post(f"/f/{form['key']}", data={"email": "x@acme.fr", "_t": _shown(settings, form)},
                    headers={"Origin": "https://evil.io"})
    assert r.status_code == 403 and _lead(db, "x@acme.fr") is None


def test_double_opt_in_asks_for_confirmation_instead_of_granting(client, auth, db, settings):
    form = client.post("/api/v1/forms", json={"name": "Newsletter", "fields": FIELDS[:1], "consent_boxes": BOXES,
                                              "double_opt_in": True}, headers=auth).json()
    client.post(f"/f/{form['key']}", data={"email": "dora@acme.fr", "consent_marketing_email": "yes"})
    lead = _lead(db, "dora@acme.fr")
    assert lead.consent_email is None and lead.consent_tracking is None
    with db.read() as session:
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.topic == "consent.confirmation_requested"))
    assert message.lead_id == lead.id
    assert message.payload == {"purposes": ["marketing_email"], "form_id": int(form["id"])}


def test_an_unticked_box_grants_nothing(client, db, settings, form):
    client.post(f"/f/{form['key']}", data={"email": "ned@acme.fr", "_t": _shown(settings, form)})
    lead = _lead(db, "ned@acme.fr")
    assert lead.consent_email is None and lead.consent_tracking is None


def test_submissions_are_rate_limited_per_address(settings, db, client, auth):
    form = client.post("/api/v1/forms", json={"name": "Contact", "fields": FIELDS[:1]}, headers=auth).json()
    with TestClient(create_app(settings.model_copy(update={"form_rate_limit": "2/minute"}), db)) as other:
        codes = [other.post(f"/f/{form['key']}", data={"email": f"p{i}@acme.fr"},
                            headers={"Accept": "application/json"}).status_code for i in range(3)]
        assert codes == [200, 200, 429]


def test_the_form_links_the_visitor_history_and_records_the_submission(client, db, settings, form):
    r = client.post(f"/f/{form['key']}", data={"email": "ann@acme.fr", "anonymous_id": "v1.visitor-ann",
                                               "utm_source": "newsletter", "_t": _shown(settings, form)})
    assert r.status_code == 200
    lead = _lead(db, "ann@acme.fr")
    assert lead.consent_tracking is True  # the snippet sends a visitor id only with the visitor's consent
    with db.read() as session:
        event = session.scalar(select(Event).where(Event.lead_id == lead.id))
    assert (event.type, event.utm_source) == ("form_submit", "newsletter")


def test_invalid_definitions_are_refused_with_the_field_at_fault(client, auth):
    r = client.post("/api/v1/forms", json={"name": "x", "fields": [{"name": "first_name", "label": "Name"}]},
                    headers=auth)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "fields"
    r = client.post("/api/v1/forms", json={"name": "x", "fields": [
        {"name": "email", "label": "Email"}, {"name": "size", "label": "Size", "type": "select"}]}, headers=auth)
    assert r.json()["error"]["fields"] == [{"field": "fields.1.options",
                                            "reason": "a select needs a list of option texts"}]
    r = client.post("/api/v1/forms", json={"name": "x", "fields": [{"name": "email", "label": "E"}],
                                           "consent_boxes": [{"purpose": "tracking", "label": "a"},
                                                             {"purpose": "tracking", "label": "b"}]}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "consent_boxes.1.purpose"
    r = client.post("/api/v1/forms", json={"name": "x", "fields": [
        {"name": "email", "label": "E"}, {"name": "anonymous_id", "label": "A"}]}, headers=auth)
    assert r.json()["error"]["fields"][0]["field"] == "fields.1.name"


def test_hidden_fields_of_a_hosted_form_are_filled_from_its_address(client, auth, db):
    form = client.post("/api/v1/forms", json={"name": "Event", "fields": [
        {"name": "email", "label": "Email", "type": "email", "required": True},
        {"name": "booth", "label": "Booth", "type": "hidden"}]}, headers=auth).json()
    html = client.get(f"/f/{form['key']}?booth=B12").text
    assert '<input type="hidden" name="booth" value="B12">' in html
    client.post(f"/f/{form['key']}", data={"email": "eve@acme.fr", "booth": "B12"})
    assert _lead(db, "eve@acme.fr").custom == {"booth": "B12"}
