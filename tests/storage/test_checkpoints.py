"""SQLite WAL checkpoints run in a background thread, off the request path."""

import threading
import time
from pathlib import Path

from sqlalchemy import text

from leadline.storage.database import Database, _sqlite_file


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "leadline-wal-checkpoint"]


def test_the_background_thread_copies_the_wal_into_the_database_and_stops_on_dispose(tmp_path: Path) -> None:
    before = len(_checkpoint_threads())
    path = tmp_path / "wal.db"
    db = Database(f"sqlite:///{path}")
    with db.write() as session:
        session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        session.execute(text("INSERT INTO t (body) VALUES (:b)"), [{"b": "x" * 1000} for _ in range(2000)])
    assert len(_checkpoint_threads()) == before + 1
    # The rows sit in the WAL until a checkpoint copies them; nothing else checkpoints here (the writer
    # would only after 10,000 pages).
    deadline = time.monotonic() + 30
    while path.stat().st_size < 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 1_000_000
    db.dispose()
    assert len(_checkpoint_threads()) == before


def test_only_database_files_get_a_checkpoint_thread() -> None:
    assert _sqlite_file("sqlite:////tmp/x/leadline.db") == "/tmp/x/leadline.db"
    assert _sqlite_file("sqlite://") is None
    assert _sqlite_file("sqlite:///:memory:") is None
