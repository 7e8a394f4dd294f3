"""`leadline webhooks allow-private` is the operator's switch; `list` shows subscriptions."""

import os
import subprocess
import sys

from leadline.services.webhooks import create_subscription
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database

CLI = [sys.executable, "-m", "leadline.cli.main"]


def run(env, *args):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_allow_private_then_list(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "LEADLINE_DATABASE_URL": url}
    assert run(env, "init").returncode == 0
    db = Database(url)
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme").id
    result = run(env, "webhooks", "allow-private", "--workspace", "acme")
    assert result.returncode == 0 and "allowed" in result.stdout
    with db.write() as session:
        create_subscription(session, workspace_id=ws, url="http://127.0.0.1:9/hook", topics=["lead.assigned"])
    listed = run(env, "webhooks", "list", "--workspace", "acme")
    assert listed.returncode == 0 and "http://127.0.0.1:9/hook" in listed.stdout
    assert run(env, "webhooks", "allow-private", "--workspace", "acme", "--off").returncode == 0
    with db.read() as session:
        assert get_or_create_workspace(session, "acme").allow_private_webhooks is False
    assert run(env, "webhooks", "allow-private", "--workspace", "nope").returncode == 1
    db.dispose()
