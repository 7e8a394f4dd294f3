"""`leadline tracking setup --workspace W --domain D` prints the <script> tag to paste; `show` reads it back."""

import subprocess
import sys

from leadline.services.workspaces import get_or_create_workspace

CLI = [sys.executable, "-m", "leadline.cli.main"]


def run(env, *args):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_setup_prints_the_embed_code_and_show_reads_it_back(cli_database):
    with cli_database.db.write() as session:
        get_or_create_workspace(session, "acme")
    env = cli_database.env
    done = run(env, "tracking", "setup", "-w", "acme", "-d", "https://www.Acme.fr/", "-d", "shop.acme.fr",
               "--url", "https://leads.acme.fr/")
    assert done.returncode == 0, done.stderr
    tag = done.stdout.strip()
    assert tag.startswith('<script async src="https://leads.acme.fr/t.js" data-key="pk_') and "data-require" not in tag
    shown = run(env, "tracking", "show", "-w", "acme")
    assert "allowed domains: shop.acme.fr, www.acme.fr" in shown.stdout
    relaxed = run(env, "tracking", "setup", "-w", "acme", "--no-require-consent")
    assert 'data-require-consent="false"' in relaxed.stdout


def test_bad_domains_and_unknown_workspaces_fail_clearly(cli_database):
    with cli_database.db.write() as session:
        get_or_create_workspace(session, "acme")
    bad = run(cli_database.env, "tracking", "setup", "-w", "acme", "-d", "not a domain")
    assert bad.returncode == 2 and "not a host name" in bad.stderr
    assert run(cli_database.env, "tracking", "show", "-w", "nope").returncode == 1
