"""Engines and transactions.

SQLite (the embedded default) gets one writer connection per process, whose transactions start with
`BEGIN IMMEDIATE` (a deferred transaction that reads then writes fails at once with "database is locked"), and
a small pool of readers; WAL lets readers run beside the writer. PostgreSQL gets one ordinary pool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

#: Pool sizes; the API admits at most this many concurrent holders (`leadline.api.deps.ConnectionGates`).
READER_CONNECTIONS = 8
POSTGRES_CONNECTIONS = 20
#: A request that cannot get a connection in this time fails loudly instead of hanging.
POOL_TIMEOUT_SECONDS = 10


def _json_dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # integers beyond 64 bits: the stdlib copes
        return json.dumps(value)


#: orjson is several times faster than the stdlib on the ingest path.
JSON_OPTIONS: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}


def _sqlite_engine(url: str, *, writer: bool, echo: bool) -> Engine:
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
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)

    return engine


class Database:
    """The process's handle on the database: `write()` and `read()` give sessions in a transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, writer=True, echo=echo)
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
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
