"""The reports API: each report answers JSON for the caller's workspace; bad parameters get a 422."""

from __future__ import annotations

import pytest


@pytest.fixture
def leads(client, auth, create_lead):
    first = create_lead(source={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"})
    second = create_lead()
    for lead, stage in ((first, "customer"), (second, "mql")):
        assert client.post(f"/api/v1/leads/{lead['id']}/stage", json={"stage": stage},
                           headers=auth).status_code == 200
    return first, second


@pytest.mark.parametrize("report", ["funnel", "channels", "attribution", "kpis"])
def test_every_report_answers_and_another_workspace_sees_nothing(client, auth, make_key, leads, report):
    r = client.get(f"/api/v1/reports/{report}", headers=auth)
    assert r.status_code == 200, r.text
    other = {"Authorization": f"Bearer {make_key('globex', 'read')}"}
    theirs = client.get(f"/api/v1/reports/{report}", headers=other)
    assert theirs.status_code == 200
    if report == "funnel":
        assert r.json()["total"]["funnel"]["leads"] == 2 and theirs.json()["total"]["funnel"]["leads"] == 0
    if report == "channels":
        assert {row["name"]: (row["leads"], row["customers"]) for row in r.json()} == {"sea": (1, 1),
                                                                                         "(none)": (1, 0)}
        assert theirs.json() == []


def test_funnel_by_channel_and_attribution_by_campaign(client, auth, leads):
    funnel = client.get("/api/v1/reports/funnel?by=channel", headers=auth).json()
    assert sum(c["funnel"]["leads"] for c in funnel["cohorts"]) == 2
    attribution = client.get("/api/v1/reports/attribution?by=campaign&model=linear&model=first_touch",
                             headers=auth).json()
    assert attribution["conversions"] == 1 and attribution["models"] == ["linear", "first_touch"]


@pytest.mark.parametrize("query", ["by=colour", "start=yesterday", "stuck_days=0", "segment_id=0",
                                   "start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z"])
def test_bad_parameters_get_422(client, auth, query):
    r = client.get(f"/api/v1/reports/funnel?{query}", headers=auth)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("query", ["start=1013-01-01T00:00:00Z", "end=0001-01-01T00:00:00Z",
                                   "end=9999-12-31T00:00:00Z"])
def test_dates_outside_the_supported_range_get_422_naming_the_field(client, auth, query):
    r = client.get(f"/api/v1/reports/kpis?{query}", headers=auth)
    assert r.status_code == 422, r.text
    [error] = r.json()["error"]["fields"]
    assert error["field"] == f"query.{query.split('=')[0]}" and "between 1970-01-01 and 2200-01-01" in error["reason"]
