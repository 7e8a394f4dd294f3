"""`leadline leads qualify`, `leadline leads stages` and `leadline worker --once`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from leadline.core.lead_input import build_lead_input
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.workspaces import get_or_create_workspace

CLI = [sys.executable, "-m", "leadline.cli.main"]


@pytest.fixture
def env(cli_database):
    with cli_database.db.write() as session:
        ws = get_or_create_workspace(session, "acme")
        upsert_lead(session, ws.id, build_lead_input({"email": "Ada@Example.org"}), mode=WriteMode.OVERWRITE)
    return cli_database.env


def run(env, *args):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_qualify_moves_a_lead_found_by_email_and_the_history_shows_it(env):
    moved = run(env, "leads", "qualify", "ada@example.org", "--stage", "sql", "--workspace", "acme",
                "--note", "called back")
    assert moved.returncode == 0, moved.stderr
    assert "new -> sql" in moved.stderr
    history = run(env, "leads", "stages", "ADA@example.org", "--workspace", "acme")
    assert history.returncode == 0 and "sql" in history.stdout and "user:cli" in history.stdout


def test_an_illegal_move_fails_with_the_reason(env):
    assert run(env, "leads", "qualify", "ada@example.org", "--stage", "customer", "--workspace", "acme"
               ).returncode == 0
    refused = run(env, "leads", "qualify", "ada@example.org", "--stage", "mql", "--workspace", "acme")
    assert refused.returncode == 1 and "customer stays a customer" in refused.stderr
    missing = run(env, "leads", "qualify", "nobody@example.org", "--stage", "mql", "--workspace", "acme")
    assert missing.returncode == 1 and "no lead" in missing.stderr


def test_worker_once_drains_the_outbox(env):
    run(env, "leads", "qualify", "ada@example.org", "--stage", "mql", "--workspace", "acme")
    done = run(env, "worker", "--once")
    assert done.returncode == 0 and "worker pass done" in done.stderr
