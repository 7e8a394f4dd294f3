"""The command line contract: init, apikey create, leads list/show, serve."""

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

CLI = [sys.executable, "-m", "leadline.cli.main"]


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "LEADLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def run(env, *args, check=True):
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_init_then_apikey_prints_the_key_alone(env):
    run(env, "init")
    key = run(env, "apikey", "create", "--workspace", "acme", "--scopes", "read,write,admin").stdout
    assert key.endswith("\n") and key.count("\n") == 1
    assert key.startswith("ll_") and len(key.strip()) > 40


def test_apikey_with_unknown_scope_fails_clearly(env):
    run(env, "init")
    result = run(env, "apikey", "create", "--workspace", "acme", "--scopes", "read,root", check=False)
    assert result.returncode == 2 and "unknown scope" in result.stderr and result.stdout == ""


def test_serve_then_list_and_show_in_every_format(env):
    run(env, "init")
    key = run(env, "apikey", "create", "--workspace", "acme", "--scopes", "read,write").stdout.strip()
    port = _free_port()
    server = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        # Start-up imports scikit-learn and skops (the predictive model): several seconds on a loaded machine.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {key}"}
        r = httpx.post(f"{base}/api/v1/leads", headers=headers,
                       json={"email": "ceo@acme.fr", "first_name": "=HYPERLINK(\"http://evil\")"})
        assert r.status_code == 201
    finally:
        server.terminate()
        server.wait(timeout=10)
    rows = json.loads(run(env, "leads", "list", "--workspace", "acme", "--format", "json").stdout)
    assert [row["email"] for row in rows] == ["ceo@acme.fr"]
    as_csv = list(csv.DictReader(io.StringIO(run(env, "leads", "list", "--workspace", "acme", "--format",
                                                 "csv").stdout)))
    assert as_csv[0]["first_name"].startswith("'=")
    shown = json.loads(run(env, "leads", "show", "ceo@acme.fr", "--workspace", "acme", "--format", "json").stdout)
    assert shown["email"] == "ceo@acme.fr"
    table = run(env, "leads", "list", "--workspace", "acme").stdout
    assert "ceo@acme.fr" in table


def test_unknown_workspace_is_a_clear_error(env):
    run(env, "init")
    result = run(env, "leads", "list", "--workspace", "nobody", check=False)
    assert result.returncode == 1 and "no workspace named 'nobody'" in result.stderr


def test_import_command_reports_and_is_idempotent(env, tmp_path):
    run(env, "init")
    path = tmp_path / "export.csv"
    path.write_text("Email;Prénom;Désinscrit\nana@acme.fr;Ana;non\nbad;Bo;non\n", encoding="utf-8-sig")
    first = run(env, "import", str(path), "--workspace", "acme", check=False)
    assert first.returncode == 1
    assert "1 created" in first.stderr and "1 with errors" in first.stderr
    assert (tmp_path / "export.errors.csv").read_text().startswith("row,column,reason")
    second = run(env, "import", str(path), "--workspace", "acme", check=False)
    assert "0 created" in second.stderr and "1 unchanged" in second.stderr
    rows = json.loads(run(env, "leads", "list", "--workspace", "acme", "--format", "json").stdout)
    assert [r["email"] for r in rows] == ["ana@acme.fr"]


def test_import_of_a_malformed_file_exits_2(env, tmp_path):
    run(env, "init")
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    result = run(env, "import", str(path), "--workspace", "acme", check=False)
    assert result.returncode == 2 and "error" in result.stderr
