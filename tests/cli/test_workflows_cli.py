"""`leadline workflows validate/save/activate/list/status`: a bad file gets every problem with its path and exit
code 2; the examples validate; status reports enrolments and steps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli.conftest import CliDatabase
from leadline.nurture.engine import enrol, run_due
from leadline.services.workflows import get
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Lead
from leadline.storage.types import utcnow

CLI = [sys.executable, "-m", "leadline.cli.main"]


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_a_bad_file_is_refused_with_every_problem_and_its_path(cli_database: CliDatabase, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: leadline-workflow/1\nkey: x\nname: X\ntrigger: {event: download}\nsteps:\n"
                   "  - {id: a, wait: {days: 0}}\n  - {id: b, send_email: {subject: '{{ oops', text: hi}}\n")
    result = run(cli_database.env, "workflows", "validate", str(bad), check=False)
    assert result.returncode == 2
    assert "steps[0].wait: a duration must be longer than zero" in result.stderr
    with cli_database.db.write() as session:
        get_or_create_workspace(session, "acme")
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(bad.read_text().replace("days: 0", "days: 1"))
    result = run(cli_database.env, "workflows", "validate", str(fixed), "--workspace", "acme", check=False)
    assert result.returncode == 2
    assert "steps[1].send_email.subject: template error" in result.stderr


def test_examples_save_activate_list_and_status(cli_database: CliDatabase) -> None:
    env, db = cli_database.env, cli_database.db
    names = run(env, "workflows", "examples").stdout.split()
    assert names == ["b2b-whitepaper", "b2c-abandoned-quote"]
    assert "valid: b2b-whitepaper (8 steps)" in run(env, "workflows", "validate", "example:b2b-whitepaper").stdout
    with db.write() as session:
        workspace_id = get_or_create_workspace(session, "acme").id
        session.add_all([Lead(workspace_id=workspace_id, email=f"l{i}@example.org", consent_email=True)
                         for i in range(3)])
    assert "saved b2b-whitepaper version 1 (draft)" in run(
        env, "workflows", "save", "example:b2b-whitepaper", "--workspace", "acme").stdout
    assert "version 1: active" in run(env, "workflows", "activate", "b2b-whitepaper", "--workspace", "acme").stdout
    assert "b2b-whitepaper" in run(env, "workflows", "list", "--workspace", "acme").stdout
    with db.write() as session:
        workflow = get(session, workspace_id=workspace_id, key="b2b-whitepaper")
        leads = [lead.id for lead in session.query(Lead).all()]
        enrol(session, workflow, leads, now=utcnow())
    run_due(db)
    stats = json.loads(run(env, "workflows", "status", "b2b-whitepaper", "--workspace", "acme", "--json").stdout)
    assert (stats["enrolled"], stats["active"]) == (3, 3)
    by_step = {s["step"]: s for s in stats["steps"]}
    assert by_step["thanks"]["applied"] == 3 and by_step["pause"]["waiting"] == 3
    table = run(env, "workflows", "status", "b2b-whitepaper", "--workspace", "acme").stdout
    assert "enrolled 3" in table
    journey = json.loads(run(env, "workflows", "status", "--lead", "l0@example.org", "--workspace", "acme").stdout)
    assert journey[0]["current_step"] == "pause" and journey[0]["emails"][0]["status"] == "queued"
