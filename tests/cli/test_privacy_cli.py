"""`leadline privacy export|erase|anonymise|retention|audit|requests`."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import func, select

from leadline.core.lead_input import LeadInput
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Lead

CLI = [sys.executable, "-m", "leadline.cli.main"]


def run(env, *args):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_export_prints_the_json_then_erase_removes_the_person_and_the_audit_log_says_so(cli_database, tmp_path):
    db, env = cli_database.db, {**cli_database.env, "LEADLINE_SECRET_KEY": "cli-secret"}
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        upsert_lead(session, workspace.id, LeadInput(email="cli@example.org", first_name="Cléo"),
                    mode=WriteMode.OVERWRITE)
    exported = run(env, "privacy", "export", "cli@example.org", "--workspace", "acme", "--html",
                   str(tmp_path / "export.html"))
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["profile"]["first_name"] == "Cléo" and document["format"] == "leadline-export/1"
    assert "Cléo" in (tmp_path / "export.html").read_text(encoding="utf-8")
    assert run(env, "privacy", "export", "nobody@example.org", "--workspace", "acme").returncode == 1

    erased = run(env, "privacy", "erase", "cli@example.org", "--workspace", "acme", "--yes")
    assert erased.returncode == 0, erased.stderr
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0
    log = [json.loads(line) for line in run(env, "privacy", "audit", "--workspace", "acme").stdout.splitlines()]
    assert [e["action"] for e in log] == ["request.opened", "export.read", "request.opened", "lead.erased"]
    assert all(e["actor"] == "cli" for e in log)
    listed = run(env, "privacy", "requests", "--workspace", "acme")
    assert listed.returncode == 0 and "erasure" in listed.stdout and "access" in listed.stdout

    report = run(env, "privacy", "retention", "--workspace", "acme", "--dry-run", "--format", "json")
    assert report.returncode == 0 and json.loads(report.stdout)["dry_run"] is True
