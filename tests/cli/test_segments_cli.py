"""`leadline segments count FILTER --workspace W` prints the count (the contract); create, list, members."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.lead_input import LeadInput
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database

CLI = [sys.executable, "-m", "leadline.cli.main"]
PRICING = 'visited "/pricing" at least twice in the last 14 days and stage != customer'


def run(env, *args, check=True):
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    environment = {**os.environ, "LEADLINE_DATABASE_URL": url}
    run(environment, "init")
    db = Database(url)
    now = datetime.now(UTC)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        for i, visits in enumerate([3, 2, 1, 0]):
            lead = upsert_lead(session, workspace.id, LeadInput(email=f"l{i}@x.example", country="FR"),
                               mode=WriteMode.OVERWRITE).lead
            record_events(session, workspace, [
                EventDraft(type="page_view", lead_id=lead.id, occurred_at=now - timedelta(days=d),
                           properties={"path": "/pricing/plans"}) for d in range(visits)])
    db.dispose()
    return environment


def test_count_takes_text_json_and_files(env, tmp_path):
    assert run(env, "segments", "count", PRICING, "--workspace", "acme").stdout.strip() == "2"
    document = {"format": "leadline-filter/1", "where": {"event": "page_view", "at_least": 1}}
    assert run(env, "segments", "count", json.dumps(document), "-w", "acme").stdout.strip() == "3"
    path = tmp_path / "f.txt"
    path.write_text("country = FR", encoding="utf-8")
    assert run(env, "segments", "count", f"@{path}", "-w", "acme").stdout.strip() == "4"


def test_bad_filters_and_workspaces_fail_clearly(env):
    bad = run(env, "segments", "count", "score > high", "-w", "acme", check=False)
    assert bad.returncode == 2 and "filter.where.gt: expected a number, got a text" in bad.stderr
    assert run(env, "segments", "count", "stage = new", "-w", "nope", check=False).returncode == 1


def test_create_list_members(env):
    created = run(env, "segments", "create", "Pricing", "-w", "acme", "--filter", PRICING)
    assert "2 leads in it now" in created.stderr
    listed = json.loads(run(env, "segments", "list", "-w", "acme", "--json").stdout)
    assert [s["name"] for s in listed] == ["Pricing"]
    members = run(env, "segments", "members", "Pricing", "-w", "acme").stdout
    assert "l0@x.example" in members and "l1@x.example" in members and "l2@x.example" not in members
