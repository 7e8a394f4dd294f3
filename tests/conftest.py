"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL too when
LEADLINE_TEST_DATABASE_URL is set (each xdist worker gets its own PostgreSQL database)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from leadline.api.app import create_app
from leadline.config import Settings
from leadline.core.leads import Scope
from leadline.services.workspaces import create_api_key, get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.partitions import forget_known_partitions
from leadline.storage.tables import Base

PG_URL = os.environ.get("LEADLINE_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


@contextmanager
def _private_database(base_url: str, worker: str) -> Iterator[str]:
    """A PostgreSQL database of this test process's own (xdist workers and parallel runs never collide)."""
    url = make_url(base_url)
    name = f"leadline_test_{worker}_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_urls(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, str]]:
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'leadline.db'}"}
    with ExitStack() as stack:
        if PG_URL:
            urls["postgresql"] = stack.enter_context(_private_database(PG_URL, worker_id))
        for url in urls.values():
            upgrade(url)
        yield urls


def _truncate(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.writer.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            # the audit log's append-only triggers refuse DELETE: set them aside while emptying it
            triggers = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            for name, _sql in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
            for _name, sql in triggers:
                conn.execute(text(sql))
            conn.execute(text("DELETE FROM sqlite_sequence")) if conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first() else None


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, migrated_urls: dict[str, str]) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    database = Database(migrated_urls[request.param])
    _truncate(database)
    forget_known_partitions()
    yield database
    database.dispose()


@pytest.fixture
def settings(db: Database) -> Settings:
    # No embedded worker: tests drain the outbox themselves (`drain`), so what they assert is deterministic.
    return Settings(database_url=db.url, max_body_bytes=2 * 1024 * 1024, worker_poll_seconds=0,
                    secret_key=SecretStr("test-secret-key"))


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


@pytest.fixture
def make_key(db: Database) -> Callable[..., str]:
    """`make_key("acme", "read,write")` -> a new API key for that workspace."""

    def make(workspace: str = "acme", scopes: str = "read,write,admin") -> str:
        with db.write() as session:
            ws = get_or_create_workspace(session, workspace)
            return create_api_key(session, ws, frozenset(Scope(s) for s in scopes.split(",")))

    return make


@pytest.fixture
def auth(make_key: Callable[..., str]) -> dict[str, str]:
    """Authorization headers for workspace `acme` with every scope."""
    return {"Authorization": f"Bearer {make_key()}"}


@pytest.fixture
def workspace_id(db: Database, auth: dict[str, str]) -> int:
    with db.read() as session:
        return get_or_create_workspace(session, "acme").id


@pytest.fixture
def create_lead(client: TestClient, auth: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Factory: POST a lead through the API and return its JSON."""
    counter = iter(range(1, 1_000_000))

    def create(**fields: Any) -> dict[str, Any]:
        body = {"email": f"lead{next(counter)}@example.org", **fields}
        response = client.post("/api/v1/leads", json=body, headers=auth)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    return create


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "src" / "leadline" / "demo" / "data"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches Debian's Chromium (see tests/browser_support.py), never a downloaded one."""
    from browser_support import CHROMIUM_ARGS, CHROMIUM_PATH

    return {**browser_type_launch_args, "executable_path": CHROMIUM_PATH, "args": CHROMIUM_ARGS}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` run on PostgreSQL only: their SQLite variants are not collected at all."""
    keep, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("db") == "sqlite"
        (dropped if on_sqlite and item.get_closest_marker("postgres") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
