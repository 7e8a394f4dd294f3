"""Engines and transactions.

SQLite (the embedded default) gets one writer connection per process, whose transactions start with
`BEGIN IMMEDIATE` (a deferred transaction that reads then writes fails at once with "database is locked"), and
a small pool of readers; WAL lets readers run beside the writer. PostgreSQL gets one ordinary pool.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

#: Pool sizes; the API admits at most this many concurrent holders (`leadline.api.deps.ConnectionGates`).
READER_CONNECTIONS = 8
POSTGRES_CONNECTIONS = 20
#: A request that cannot get a connection in this time fails loudly instead of hanging.
POOL_TIMEOUT_SECONDS = 10
#: SQLite WAL checkpoints: a background thread copies the WAL into the database this often, so that commits
#: do not pay for it (the checkpoint's fsyncs were the largest single cost of a batch commit). The writer
#: still checkpoints by itself once the WAL holds this many pages (~40 MB), which bounds the WAL if the
#: background thread falls behind or cannot run.
CHECKPOINT_INTERVAL_SECONDS = 0.5
WAL_AUTOCHECKPOINT_PAGES = 10_000


def _json_dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # integers beyond 64 bits: the stdlib copes
        return json.dumps(value)


#: orjson is several times faster than the stdlib on the ingest path.
JSON_OPTIONS: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


class _Checkpointer:
    """A daemon thread that runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection every `interval`.

    PASSIVE never blocks the writer or the readers, and sqlite3 releases the GIL while it copies and fsyncs,
    so the work leaves the request path. Started once the writer has opened the file (so it exists, in WAL
    mode); stopped by `Database.dispose()`.
    """

    def __init__(self, path: str, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self.path, self.interval = path, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="leadline-wal-checkpoint", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.path, timeout=1, isolation_level=None,
                                                     check_same_thread=False)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # the writer's own checkpoints still bound the WAL
                    log.debug("background WAL checkpoint failed: %s", exc)
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)


def _sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL, or None for in-memory and URI-style databases."""
    parsed = make_url(url)
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:") or parsed.query.get("uri"):
        return None
    return database


def _sqlite_engine(url: str, *, writer: bool, echo: bool, checkpointer: _Checkpointer | None = None) -> Engine:
    engine = create_engine(
        url,
        echo=echo,
        **JSON_OPTIONS,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=1 if writer else READER_CONNECTIONS,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_SECONDS,
    )
    begin_sql = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        # Deleted content is overwritten with zeros, freed pages included: erased personal data must not
        # survive in the file's free space (see `leadline.services.privacy.scrub`).
        cursor.execute("PRAGMA secure_delete=ON")
        if checkpointer is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()
        if checkpointer is not None:
            checkpointer.start()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)

    return engine


class Database:
    """The process's handle on the database: `write()` and `read()` give sessions in a transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._checkpointer: _Checkpointer | None = None
        if self.is_sqlite:
            path = _sqlite_file(url)
            self._checkpointer = _Checkpointer(path) if path is not None else None
            self.writer = _sqlite_engine(url, writer=True, echo=echo, checkpointer=self._checkpointer)
            self.reader = _sqlite_engine(url, writer=False, echo=echo)
        else:
            self.writer = create_engine(url, echo=echo, pool_size=POSTGRES_CONNECTIONS, max_overflow=0,
                                        pool_timeout=POOL_TIMEOUT_SECONDS, pool_pre_ping=True,
                                        **JSON_OPTIONS)
            self.reader = self.writer
        self._write_sessions = sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.reader, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back whole on any error."""
        with self._write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
