"""`leadline score`: apply (with --preview), explain, rescore, rollback; invalid files refused clearly."""

import json
import os
import subprocess
import sys

import pytest

from leadline.core.lead_input import LeadInput
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database

CLI = [sys.executable, "-m", "leadline.cli.main"]


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    environment = {**os.environ, "LEADLINE_DATABASE_URL": url}
    run(environment, "init")
    db = Database(url)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        lead = upsert_lead(session, workspace.id, LeadInput(email="ceo@mid.example", job_title="CEO",
                                                            country="FR"), mode=WriteMode.OVERWRITE).lead
        record_events(session, workspace, [EventDraft(type="quote_request", lead_id=lead.id),
                                           EventDraft(type="demo_request", lead_id=lead.id)])
    db.dispose()
    return environment


def run(env, *args, check=True):
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_preview_writes_nothing_then_apply_scores_and_explain_adds_up(env):
    preview = json.loads(run(env, "score", "apply", "default-b2b", "--workspace", "acme", "--preview").stdout)
    assert preview["leads"] == 1 and preview["temperature_changes"] == {"cold->warm": 1}
    before = json.loads(run(env, "score", "explain", "ceo@mid.example", "-w", "acme", "--format", "json").stdout)
    assert before["model_version"] is None and before["score"] == 0

    applied = run(env, "score", "apply", "default-b2b", "--workspace", "acme")
    assert "now version 1" in applied.stderr and "1 leads rescored" in applied.stderr
    explained = json.loads(run(env, "score", "explain", "CEO@mid.example", "-w", "acme", "--format", "json").stdout)
    assert explained["temperature"] == "warm" and explained["model_version"] == 1
    names = {r["name"] for r in explained["rules"]}
    assert {"Decision maker", "Asked for a quote", "Asked for a demo"} <= names
    assert explained["fit"] == pytest.approx(min(100, sum(r["points"] for r in explained["rules"]
                                                          if r["axis"] == "fit")))
    table = run(env, "score", "explain", "ceo@mid.example", "-w", "acme").stdout
    assert "Asked for a quote" in table


def test_an_invalid_file_is_refused_with_where_and_why(env, tmp_path):
    run(env, "score", "apply", "default-b2b", "--workspace", "acme")
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: leadline-scoring/1\nengagement:\n  - {name: Pricing, event: page_view, points: lots}\n"
                   "thresholds: {warm: 80, hot: 60}\n")
    result = run(env, "score", "apply", str(bad), "--workspace", "acme", check=False)
    assert result.returncode == 2
    assert 'engagement[0] "Pricing".points: expected a number' in result.stderr
    assert "thresholds: warm (80) must be below hot (60)" in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("fit: [\n")
    result = run(env, "score", "apply", str(broken), "--workspace", "acme", check=False)
    assert result.returncode == 2 and "not valid YAML or JSON" in result.stderr
    explained = json.loads(run(env, "score", "explain", "ceo@mid.example", "-w", "acme", "--format", "json").stdout)
    assert explained["model_version"] == 1  # the active model stayed in force


def test_rescore_and_rollback(env):
    run(env, "score", "apply", "default-b2b", "--workspace", "acme")
    run(env, "score", "apply", "default-b2c", "--workspace", "acme")
    assert "1 leads rescored" in run(env, "score", "rescore", "--workspace", "acme").stderr
    assert "version 1 is active again" in run(env, "score", "rollback", "1", "--workspace", "acme").stderr
    explained = json.loads(run(env, "score", "explain", "ceo@mid.example", "-w", "acme", "--format", "json").stdout)
    assert explained["model_version"] == 1
    missing = run(env, "score", "rollback", "9", "--workspace", "acme", check=False)
    assert missing.returncode == 1 and "no scoring model version 9" in missing.stderr
