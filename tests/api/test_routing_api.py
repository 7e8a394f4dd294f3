"""Users, routing rules, manual assignment, a lead's routing and the overdue list over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from leadline.storage.database import Database
from leadline.storage.tables import Lead
from leadline.storage.types import utcnow


def _user(client: TestClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"handle": "ana", "name": "Ana", **fields}
    response = client.post("/api/v1/users", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _fields(response: Any) -> dict[str, str]:
    return {f["field"]: f["reason"] for f in response.json()["error"]["fields"]}


def test_users_create_list_patch(client: TestClient, auth: dict[str, str]) -> None:
    boss = _user(client, auth, handle="boss", name="Boss", role="manager")
    ana = _user(client, auth, email="ana@example.org", territory_countries=["fr", "de"], territory_regions=["by"],
                capacity=2, daily_quota=20, timezone="Europe/Paris", working_hours={"mon": ["09:00-17:00"]},
                holiday_country="fr", manager_id=boss["id"])
    assert ana["territory_countries"] == ["DE", "FR"] and ana["territory_regions"] == ["BY"]
    assert ana["role"] == "rep" and ana["holiday_country"] == "FR" and ana["available"] is True
    assert ana["manager_id"] == boss["id"] and ana["working_hours"] == {"mon": ["09:00-17:00"]}
    until = (utcnow() + timedelta(days=2)).isoformat()
    patched = client.patch(f"/api/v1/users/{ana['id']}", json={"away": True, "away_until": until}, headers=auth)
    assert patched.status_code == 200 and patched.json()["available"] is False
    listed = client.get("/api/v1/users", params={"role": "rep"}, headers=auth).json()
    assert [u["handle"] for u in listed] == ["ana"]
    back = client.patch(f"/api/v1/users/{ana['id']}", json={"away": False}, headers=auth).json()
    assert back["available"] is True and back["away_until"] is None
    assert client.get(f"/api/v1/users/{boss['id']}", headers=auth).json()["role"] == "manager"


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
    ({"timezone": "../../etc/passwd"}, "timezone", "IANA"),
    ({"territory_countries": ["FRA"]}, "territory_countries.0", "at most 2"),
    ({"territory_countries": ["1x"]}, "territory_countries", "country codes"),
    ({"working_hours": {"mon": ["18:00-09:00"]}}, "working_hours", "ends before it starts"),
    ({"role": "boss"}, "role", "rep"),
    ({"capacity": -1}, "capacity", "greater than or equal"),
    ({"holiday_country": "ZZ"}, "holiday_country", "no public holidays"),
    ({"holiday_country": "DE", "holiday_subdivision": "XX"}, "body", "no public holidays"),
    ({"away_until": "2026-01-01T10:00:00"}, "away_until", "time zone"),
    ({"manager_id": "999"}, "manager_id", "no such user"),
    ({"unknown": 1}, "unknown", "Extra inputs"),
])
def test_user_validation_is_precise(client: TestClient, auth: dict[str, str], fields: dict[str, Any], field: str,
                                    reason: str) -> None:
    response = client.post("/api/v1/users", json={"handle": "x", "name": "X", **fields}, headers=auth)
    assert response.status_code == 422, response.text
    assert reason in _fields(response)[field]


def test_users_conflicts_scopes_and_workspaces(client: TestClient, auth: dict[str, str],
                                               make_key: Callable[..., str]) -> None:
    ana = _user(client, auth)
    assert client.post("/api/v1/users", json={"handle": "ana", "name": "Again"}, headers=auth).status_code == 409
    writer = {"Authorization": f"Bearer {make_key('acme', 'read,write')}"}
    assert client.post("/api/v1/users", json={"handle": "bo", "name": "Bo"}, headers=writer).status_code == 403
    assert client.patch(f"/api/v1/users/{ana['id']}", json={"name": "A"}, headers=writer).status_code == 403
    assert client.get("/api/v1/users", headers=writer).status_code == 200
    other = {"Authorization": f"Bearer {make_key('other')}"}
    assert client.get(f"/api/v1/users/{ana['id']}", headers=other).status_code == 404
    assert client.patch(f"/api/v1/users/{ana['id']}", json={"name": None}, headers=auth).status_code == 422
    assert client.patch(f"/api/v1/users/{ana['id']}", json={"manager_id": ana["id"]},
                        headers=auth).status_code == 422


def test_rules_round_trip(client: TestClient, auth: dict[str, str]) -> None:
    ana = _user(client, auth)
    rules = [{"name": "hot FR", "match": {"temperatures": ["hot"], "countries": ["fr"], "stages": ["mql"]},
              "strategy": "territory", "pool": [ana["id"]], "sla_minutes": {"hot": 60},
              "escalation": "reassign"},
             {"name": "rest", "strategy": "round_robin", "fallback": None}]
    response = client.put("/api/v1/routing/rules", json={"rules": rules}, headers=auth)
    assert response.status_code == 200, response.text
    got = client.get("/api/v1/routing/rules", headers=auth).json()["rules"]
    assert [(r["position"], r["name"], r["strategy"]) for r in got] == [(0, "hot FR", "territory"),
                                                                          (1, "rest", "round_robin")]
    assert got[0]["match"]["countries"] == ["FR"] and got[0]["pool"] == [ana["id"]]
    assert got[1]["sla_minutes"] == {"hot": 60, "warm": 480, "cold": 2400}  # defaults
    assert client.put("/api/v1/routing/rules", json={"rules": []}, headers=auth).json() == {"rules": []}


@pytest.mark.parametrize(("rule", "field", "reason"), [
    ({"strategy": "random"}, "rules.0.strategy", "unknown strategy 'random'"),
    ({"fallback": "territory"}, "rules.0.fallback", "a fallback is one of"),
    ({"match": {"stages": ["lead"]}}, "rules.0.match.stages.0", "Input should be"),
    ({"match": {"temperatures": ["boiling"]}}, "rules.0.match.temperatures.0", "Input should be"),
    ({"match": {"segment_id": "abc"}}, "rules.0.match.segment_id", "pattern"),
    ({"match": {"segment_id": "12345"}}, "rules.0.match.segment_id", "no such segment"),
    ({"pool": ["424242"]}, "rules.0.pool", "no such user in this workspace: 424242"),
    ({"sla_minutes": {"lukewarm": 5}}, "rules.0.sla_minutes", "unknown temperature lukewarm"),
    ({"sla_minutes": {"hot": -5}}, "rules.0.sla_minutes.hot", "greater than or equal"),
    ({"escalation": "shout"}, "rules.0.escalation", "reassign"),
    ({"name": ""}, "rules.0.name", "at least 1"),
    ({"colour": "red"}, "rules.0.colour", "Extra inputs"),
])
def test_rules_validation_is_precise(client: TestClient, auth: dict[str, str], rule: dict[str, Any], field: str,
                                     reason: str) -> None:
    response = client.put("/api/v1/routing/rules", json={"rules": [{"name": "r", **rule}]}, headers=auth)
    assert response.status_code == 422, response.text
    assert reason in _fields(response)[field], _fields(response)


def test_rules_need_unique_names_and_admin(client: TestClient, auth: dict[str, str],
                                           make_key: Callable[..., str]) -> None:
    response = client.put("/api/v1/routing/rules", json={"rules": [{"name": "a"}, {"name": "a"}]}, headers=auth)
    assert response.status_code == 422 and "unique" in _fields(response)["rules"]
    writer = {"Authorization": f"Bearer {make_key('acme', 'read,write')}"}
    assert client.put("/api/v1/routing/rules", json={"rules": []}, headers=writer).status_code == 403


def test_manual_assignment_routing_info_and_overdue(client: TestClient, auth: dict[str, str], db: Database,
                                                    create_lead: Callable[..., dict[str, Any]]) -> None:
    ana = _user(client, auth, timezone="UTC", working_hours={d: ["00:00-24:00"] for d in
                                                            ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    client.put("/api/v1/routing/rules", json={"rules": [{"name": "all", "sla_minutes": {"default": 30}}]},
               headers=auth)
    lead = create_lead()
    response = client.post(f"/api/v1/leads/{lead['id']}/assign", json={"owner_id": ana["id"]}, headers=auth)
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["owner_id"] == ana["id"] and info["overdue"] is False
    assert info["history"][0]["reason"] == "manual" and info["history"][0]["actor"].startswith("api_key:")
    due = info["follow_up_due_at"]
    assert due is not None
    assert client.get("/api/v1/routing/overdue", headers=auth).json() == []
    # the deadline passes with no touch: the lead is overdue; a touch answers it and gives time to first touch
    with db.write() as session:
        session.execute(update(Lead).where(Lead.id == int(lead["id"])).values(
            assigned_at=utcnow() - timedelta(hours=2), follow_up_due_at=utcnow() - timedelta(hours=1)))
    overdue = client.get("/api/v1/routing/overdue", params={"owner_id": ana["id"]}, headers=auth).json()
    assert [o["lead_id"] for o in overdue] == [lead["id"]] and overdue[0]["minutes_late"] >= 59
    assert client.get(f"/api/v1/leads/{lead['id']}/routing", headers=auth).json()["overdue"] is True
    with db.write() as session:
        session.execute(update(Lead).where(Lead.id == int(lead["id"])).values(
            first_sales_touch_at=utcnow() - timedelta(minutes=90)))
    info = client.get(f"/api/v1/leads/{lead['id']}/routing", headers=auth).json()
    assert info["overdue"] is False and 1790 <= info["time_to_first_touch_seconds"] <= 1810
    assert client.get("/api/v1/routing/overdue", headers=auth).json() == []


def test_manual_assignment_errors(client: TestClient, auth: dict[str, str],
                                  create_lead: Callable[..., dict[str, Any]], make_key: Callable[..., str]) -> None:
    lead = create_lead()
    ana = _user(client, auth)
    bad = client.post(f"/api/v1/leads/{lead['id']}/assign", json={"owner_id": "999"}, headers=auth)
    assert bad.status_code == 422 and "no active user" in _fields(bad)["owner_id"]
    assert client.post(f"/api/v1/leads/{lead['id']}/assign", json={"owner_id": "x"}, headers=auth).status_code == 422
    assert client.post("/api/v1/leads/999/assign", json={"owner_id": ana["id"]}, headers=auth).status_code == 404
    reader = {"Authorization": f"Bearer {make_key('acme', 'read')}"}
    assert client.post(f"/api/v1/leads/{lead['id']}/assign", json={"owner_id": ana["id"]},
                       headers=reader).status_code == 403
    assert client.get("/api/v1/leads/999/routing", headers=auth).status_code == 404
