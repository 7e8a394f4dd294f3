"""The workflows API: precise 422s (nothing saved), versions, activation pinning running enrolments to their
version, scopes and workspace isolation, manual enrolment and the per-lead journey."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from leadline.nurture.engine import run_due
from leadline.storage.database import Database

YAML = """
format: leadline-workflow/1
key: onboarding
name: Onboarding
trigger: {stage: new}
steps:
  - id: hello
    send_email: {subject: "Welcome v1", text: "Hello"}
  - id: pause
    wait: {days: 3}
"""


def test_an_invalid_workflow_gets_every_problem_and_is_not_saved(client: TestClient, auth: dict[str, str]) -> None:
    document = {"format": "leadline-workflow/1", "key": "Bad Key", "name": "x", "trigger": {"segment_entered": "Nope"},
                "steps": [{"id": "a", "branch": {"if": {"field": "nope", "equals": 1}, "then": "zz", "else": "end"}}]}
    response = client.post("/api/v1/workflows", headers=auth, json={"document": document, "activate": True})
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["fields"]}
    assert {"key", "steps[0].branch.if"} <= fields
    bad_yaml = client.post("/api/v1/workflows", headers=auth, json={"document": "steps: [unclosed"})
    assert bad_yaml.status_code == 422 and bad_yaml.json()["error"]["fields"][0]["field"] == "document"
    unknown_segment = client.post("/api/v1/workflows/validate", headers=auth, json={"document": {
        **document, "key": "ok", "steps": [{"id": "a", "wait": {"days": 1}}]}})
    assert unknown_segment.status_code == 422
    assert unknown_segment.json()["error"]["fields"] == [
        {"field": "trigger.segment_entered", "reason": "no segment named 'Nope'"}]
    assert client.get("/api/v1/workflows", headers=auth).json() == {"data": []}


def test_versions_and_running_enrolments_stay_on_their_version(
        client: TestClient, auth: dict[str, str], db: Database, create_lead: Callable[..., dict[str, Any]]) -> None:
    first = client.post("/api/v1/workflows", headers=auth, json={"document": YAML, "activate": True})
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["status"], first.json()["trigger"]) == (1, "active", "stage:new")
    lead = create_lead()
    assert client.post("/api/v1/workflows/onboarding/enrolments", headers=auth,
                       json={"lead_ids": [lead["id"]]}).json() == {"enrolled": 1}
    second = client.post("/api/v1/workflows", headers=auth, json={
        "document": YAML.replace("Welcome v1", "Welcome v2").replace("days: 3", "days: 1")})
    assert (second.json()["version"], second.json()["status"]) == (2, "draft")
    assert client.post("/api/v1/workflows/onboarding/activate", headers=auth).json()["version"] == 2
    assert client.get("/api/v1/workflows/onboarding?version=1", headers=auth).json()["status"] == "retired"
    run_due(db)
    journey = client.get(f"/api/v1/leads/{lead['id']}/workflows", headers=auth).json()["data"]
    assert [(j["workflow"], j["version"], j["current_step"]) for j in journey] == [("onboarding", 1, "pause")]
    stats = client.get("/api/v1/workflows/onboarding/stats", headers=auth).json()
    assert stats["versions"] == [1, 2] and stats["enrolled"] == 1
    assert client.post("/api/v1/workflows/onboarding/deactivate", headers=auth).json()["status"] == "retired"
    assert client.post("/api/v1/workflows/onboarding/enrolments", headers=auth,
                       json={"lead_ids": [lead["id"]]}).status_code == 422  # not active


def test_scopes_and_workspaces(client: TestClient, auth: dict[str, str], make_key: Callable[..., str]) -> None:
    reader = {"Authorization": f"Bearer {make_key('acme', 'read')}"}
    assert client.post("/api/v1/workflows", headers=reader, json={"document": YAML}).status_code == 403
    assert client.post("/api/v1/workflows", headers=auth, json={"document": YAML}).status_code == 201
    assert client.get("/api/v1/workflows/onboarding", headers=reader).status_code == 200
    other = {"Authorization": f"Bearer {make_key('globex')}"}
    assert client.get("/api/v1/workflows/onboarding", headers=other).status_code == 404
    assert client.get("/api/v1/workflows/onboarding/stats", headers=other).status_code == 404
    assert client.get("/api/v1/workflows", headers=other).json() == {"data": []}
