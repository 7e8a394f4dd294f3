"""`leadline users` and `leadline route`: add reps, mark one away, route the unassigned MQLs, show rules and
overdue leads."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from leadline.services.routing_rules import RuleIn, replace_rules
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Lead
from leadline.storage.types import utcnow

CLI = [sys.executable, "-m", "leadline.cli.main"]


def run(env, *args, check=True):
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    environment = {**os.environ, "LEADLINE_DATABASE_URL": url, "COLUMNS": "250"}
    run(environment, "init")
    db = Database(url)
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
        now = utcnow()
        session.execute(insert(Lead), [{"workspace_id": ws, "email": f"m{i}@example.org", "stage": "mql",
                                        "temperature": "hot", "custom": {}, "created_at": now, "updated_at": now}
                                       for i in range(30)])
    db.dispose()
    environment["_URL"] = url
    return environment


def test_users_route_rules_overdue(env):
    run(env, "users", "add", "boss", "-w", "acme", "--role", "manager")
    run(env, "users", "add", "ana", "-w", "acme", "--countries", "fr,be", "--capacity", "2",
        "--timezone", "Europe/Paris", "--holidays", "FR", "--manager", "boss")
    run(env, "users", "add", "bob", "-w", "acme", "--quota", "5")
    run(env, "users", "add", "cy", "-w", "acme")
    bad = run(env, "users", "add", "dee", "-w", "acme", "--timezone", "Mars/Base", check=False)
    assert bad.returncode == 2 and "timezone" in bad.stderr and "IANA" in bad.stderr
    assert run(env, "users", "add", "ana", "-w", "acme", check=False).returncode == 2  # handle taken
    run(env, "users", "away", "cy", "-w", "acme")
    listed = [json.loads(line) for line in run(env, "users", "list", "-w", "acme", "--json").stdout.splitlines()]
    by_handle = {u["handle"]: u for u in listed}
    assert by_handle["ana"]["territory_countries"] == ["BE", "FR"] and by_handle["ana"]["manager_id"] == \
        by_handle["boss"]["id"]
    assert by_handle["cy"]["available"] is False and by_handle["bob"]["daily_quota"] == 5

    no_rules = run(env, "route", "--workspace", "acme", check=False)
    assert no_rules.returncode == 1 and "no routing rules" in no_rules.stderr
    db = Database(env["_URL"])
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
        replace_rules(session, workspace_id=ws, rules=[RuleIn(name="all MQLs", match={"stages": ["mql"]})],
                      actor="test", now=utcnow())
    routed = run(env, "route", "--workspace", "acme")
    assert "30 of 30 unassigned MQLs routed" in routed.stderr
    rows = dict(line.split("│")[1:3] for line in routed.stdout.splitlines() if line.count("│") == 3)
    counts = {k.strip(): int(v) for k, v in rows.items() if v.strip().isdigit()}
    assert counts == {"ana": 25, "bob": 5}  # bob stops at his quota, cy is away, boss is a manager
    with db.read() as session:
        owners = [o for o in session.scalars(select(Lead.owner_id))]
    assert None not in owners and len(set(owners)) == 2
    assert "all MQLs" in run(env, "route", "rules", "--workspace", "acme").stdout
    assert "no overdue leads" in run(env, "route", "overdue", "--workspace", "acme").stdout
    with db.write() as session:
        session.execute(update(Lead).where(Lead.id == 1).values(follow_up_due_at=utcnow() - timedelta(hours=1)))
    late = run(env, "route", "overdue", "--workspace", "acme").stdout
    assert "m0@example.org" in late and "not yet" in late
    again = run(env, "route", "--workspace", "acme")
    assert "0 of 0 unassigned MQLs routed" in again.stderr
    db.dispose()
