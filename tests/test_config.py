"""The instance secret: required in production, made once and kept in development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from leadline.config import Settings


def test_production_refuses_to_run_without_a_secret_key(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", environment="production")
    with pytest.raises(ValueError, match="LEADLINE_SECRET_KEY"):
        settings.signing_key()


def test_a_set_secret_key_is_used_as_is(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", secret_key=SecretStr("s3cret"))
    assert settings.signing_key() == b"s3cret"
    assert not (tmp_path / ".leadline-secret").exists()


def test_development_makes_a_private_key_beside_the_database_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    first = settings.signing_key()
    path = tmp_path / ".leadline-secret"
    assert len(first) >= 32 and path.stat().st_mode & 0o077 == 0
    assert Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}").signing_key() == first
