"""`leadline user create`: a login the web app accepts; bad input is refused with the field and reason."""

from __future__ import annotations

import subprocess

from sqlalchemy import select

from leadline.services.logins import log_in
from leadline.storage.tables import User


def _run(cli_database, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([".venv/bin/leadline", "user", "create", *args], capture_output=True, text=True,
                          env=cli_database.env, timeout=60)


def test_user_create_makes_a_login_with_the_role(cli_database) -> None:
    done = _run(cli_database, "--workspace", "acme", "--email", "Sam@Acme.org", "--password", "s3cret-pass",
                "--role", "sales")
    assert done.returncode == 0, done.stderr
    with cli_database.db.write() as session:
        user = session.scalar(select(User).where(User.email == "sam@acme.org"))
        assert user is not None and user.role == "rep" and user.password_hash.startswith("$argon2id$")
        assert log_in(session, email="sam@acme.org", password="s3cret-pass").user_id == user.id


def test_a_short_password_or_bad_role_is_refused(cli_database) -> None:
    short = _run(cli_database, "--workspace", "acme", "--email", "a@acme.org", "--password", "short",
                 "--role", "admin")
    assert short.returncode == 2 and "password" in short.stderr and "8 characters" in short.stderr
    role = _run(cli_database, "--workspace", "acme", "--email", "a@acme.org", "--password", "long-enough",
                "--role", "boss")
    assert role.returncode == 2
    with cli_database.db.read() as session:
        assert session.scalar(select(User).where(User.email == "a@acme.org")) is None
