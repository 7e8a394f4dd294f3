"""Migrations and column types, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import StatementError

from leadline.storage.migrate import downgrade, upgrade
from leadline.storage.tables import Base, Lead, Workspace


def test_migrations_create_every_table_the_models_declare(db):
    tables = set(inspect(db.writer).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_go_down_and_up_again(db):
    db.dispose()
    downgrade(db.url, "base")
    engine = create_engine(db.url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(db.url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_do_not_drift(db):
    """What autogenerate would write now must be nothing: every model change comes with its migration."""
    with db.writer.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    # The PostgreSQL events table's real primary key is (id, occurred_at), which the model cannot say.
    diff = [d for d in diff if not (isinstance(d, tuple) and d[0] in ("add_pk", "remove_pk"))]
    assert diff == []


def test_events_are_partitioned_by_month_on_postgresql_and_a_rowid_table_on_sqlite(db, client, auth):
    client.post("/api/v1/events", json={"events": [
        {"type": "page_view", "anonymous_id": "v", "occurred_at": at}
        for at in ("2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z")]}, headers=auth)
    with db.read() as session:
        if db.dialect == "postgresql":
            strategy = session.execute(text(
                "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'events'::regclass")).scalar()
            partitions = session.execute(text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'events'::regclass ORDER BY 1")).scalars().all()
            assert strategy == "r"
            assert partitions == ["events_y2025m12", "events_y2026m01"]
        else:
            sql = session.execute(text("SELECT sql FROM sqlite_master WHERE name = 'events'")).scalar()
            assert "PRIMARY KEY (id)" in sql


def test_timestamps_round_trip_as_aware_utc(db):
    paris = timezone(timedelta(hours=1))
    with db.write() as session:
        ws = Workspace(slug="t", name="t", created_at=datetime(2026, 1, 1, 12, 0, tzinfo=paris))
        session.add(ws)
    with db.read() as session:
        stored = session.scalar(select(Workspace.created_at).where(Workspace.slug == "t"))
    assert stored == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    assert stored.tzinfo is not None


def test_naive_timestamps_are_refused(db):
    with pytest.raises(StatementError, match="naive datetime refused"), db.write() as session:
        session.add(Workspace(slug="n", name="n", created_at=datetime(2026, 1, 1)))
        session.flush()


def test_email_is_unique_per_workspace(db):
    from sqlalchemy.exc import IntegrityError

    with db.write() as session:
        a, b = Workspace(slug="a", name="a"), Workspace(slug="b", name="b")
        session.add_all([a, b])
        session.flush()
        session.add_all([Lead(workspace_id=a.id, email="x@y.io"), Lead(workspace_id=b.id, email="x@y.io")])
    with pytest.raises(IntegrityError), db.write() as session:
        session.add(Lead(workspace_id=a.id, email="x@y.io"))
