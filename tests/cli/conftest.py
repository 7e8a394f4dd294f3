"""What the command-line tests share: a migrated SQLite file of their own, and the environment naming it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from leadline.storage.database import Database
from leadline.storage.migrate import upgrade


@dataclass
class CliDatabase:
    db: Database
    env: dict[str, str]  # the process environment for `leadline` subprocesses on this database


@pytest.fixture
def cli_database(tmp_path) -> Iterator[CliDatabase]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    db = Database(url)
    yield CliDatabase(db, {**os.environ, "LEADLINE_DATABASE_URL": url})
    db.dispose()
