"""A/B tests through the API: deterministic assignment, exposures and goals as events, and the statistics."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.experiments import sample_size

EXPERIMENT = {"key": "lp-hero", "name": "Landing page hero", "kind": "landing_page",
              "variants": [{"name": "control"}, {"name": "video"}], "goal_event": "form_submit",
              "baseline_rate": 0.1, "minimum_effect": 0.05}


@pytest.fixture
def experiment(client, auth):
    r = client.post("/api/v1/experiments", json=EXPERIMENT, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


def _send(client, auth, events):
    for start in range(0, len(events), 500):
        r = client.post("/api/v1/events", json={"events": events[start:start + 500]}, headers=auth)
        assert r.status_code == 200 and r.json()["accepted"] == len(events[start:start + 500]), r.text[:500]


def test_the_plan_and_the_assignment_are_deterministic(client, auth, experiment):
    assert experiment["planned_per_variant"] == sample_size(0.1, 0.05)
    picks = [client.get(f"/api/v1/experiments/lp-hero/assignment?subject=v{i}", headers=auth).json()["variant"]
             for i in range(200)]
    assert picks == [client.get(f"/api/v1/experiments/lp-hero/assignment?subject=v{i}", headers=auth
                                ).json()["variant"] for i in range(200)]
    assert 60 < Counter(picks)["video"] < 140
    assert client.get("/api/v1/experiments/nope/assignment?subject=x", headers=auth).status_code == 404


def test_results_count_exposed_subjects_and_goals_after_exposure(client, auth, experiment):
    now = datetime.now(UTC)
    seen, goal, before, again = (str(now + timedelta(minutes=m)) for m in (1, 2, -600, 3))
    events = []
    # 100 visitors per variant; 10 control and 25 video visitors convert after exposure; 5 converted before.
    for variant, converts in (("control", 10), ("video", 25)):
        for i in range(100):
            visitor = f"{variant}-{i}"
            events.append({"type": "experiment_viewed", "anonymous_id": visitor,
                           "occurred_at": seen,
                           "properties": {"experiment": "lp-hero", "variant": variant}})
            if i < converts:
                events.append({"type": "form_submit", "anonymous_id": visitor, "occurred_at": goal})
    events += [{"type": "form_submit", "anonymous_id": f"control-{i}", "occurred_at": before}
               for i in range(50, 55)]
    # One visitor saw both variants: left out.
    events.append({"type": "experiment_viewed", "anonymous_id": "control-99", "occurred_at": again,
                   "properties": {"experiment": "lp-hero", "variant": "video"}})
    _send(client, auth, events)
    (result,) = client.get("/api/v1/reports/experiments?key=lp-hero", headers=auth).json()
    arms = {v["name"]: v for v in result["variants"]}
    assert (arms["control"]["subjects"], arms["control"]["conversions"]) == (99, 10)
    assert (arms["video"]["subjects"], arms["video"]["conversions"]) == (100, 25)
    assert result["subjects_in_several_variants"] == 1
    test = arms["video"]["versus_control"]
    assert test["p_value"] < 0.01 and test["low"] > 0 and arms["control"]["versus_control"] is None
    assert arms["video"]["probability_best"] > 0.99
    assert result["sample_reached"] is False and "peeking" in result["warnings"][0]


@pytest.mark.parametrize("bad", [
    {"variants": [{"name": "only"}]},
    {"variants": [{"name": "a"}, {"name": "a"}]},
    {"baseline_rate": 0.1, "minimum_effect": None},
    {"baseline_rate": 0.98, "minimum_effect": 0.05},
    {"key": "Bad Key"},
    {"goal_event": "Not an event"},
])
def test_bad_definitions_get_422(client, auth, bad):
    assert client.post("/api/v1/experiments", json={**EXPERIMENT, **bad}, headers=auth).status_code == 422


def test_a_duplicate_key_is_a_409_and_stopping_is_idempotent(client, auth, experiment):
    assert client.post("/api/v1/experiments", json=EXPERIMENT, headers=auth).status_code == 409
    first = client.post("/api/v1/experiments/lp-hero/stop", headers=auth).json()["stopped_at"]
    assert client.post("/api/v1/experiments/lp-hero/stop", headers=auth).json()["stopped_at"] == first
    assert client.get("/api/v1/experiments/sample-size?baseline=0.1&effect=0.02", headers=auth
                      ).json()["per_variant"] == 3841
    tiny = client.get("/api/v1/experiments/sample-size?baseline=0.5&effect=1e-300", headers=auth)
    assert tiny.status_code == 422 and "at least 0.0001" in tiny.text
