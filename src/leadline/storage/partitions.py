"""Monthly partitions of the events table on PostgreSQL, created on demand before an insert needs them."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, text

_known: set[tuple[str, int, int]] = set()
_lock = threading.Lock()


def _month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def ensure_event_partitions(conn: Connection, timestamps: Iterable[datetime]) -> None:
    """Create the `events_yYYYYmMM` partitions the given times fall in (no-op on SQLite)."""
    if conn.dialect.name != "postgresql":
        return
    database = str(conn.engine.url)
    months = {(t.astimezone(UTC).year, t.astimezone(UTC).month) for t in timestamps}
    missing = [m for m in months if (database, *m) not in _known]
    for year, month in sorted(missing):
        start, end = _month_bounds(year, month)
        name = f"events_y{year:04d}m{month:02d}"
        # Two transactions racing to create the same partition: the advisory lock (held to the end of the
        # transaction) makes the second wait for the first to commit, then see the table and skip it.
        # `CREATE TABLE IF NOT EXISTS` alone is not enough: it fails with DuplicateTable under that race.
        with conn.begin_nested():
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})
            exists = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
            if exists is None:
                conn.execute(text(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
                ))
        with _lock:
            _known.add((database, year, month))


def forget_known_partitions() -> None:
    """For tests that drop and recreate the schema."""
    with _lock:
        _known.clear()
