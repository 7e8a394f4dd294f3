"""After an erasure commits, make sure the deleted bytes survive nowhere in the database files.

SQLite: every connection runs with `PRAGMA secure_delete=ON` (deleted cells and freed pages are zeroed as they
are written), and older page versions that still sit in the write-ahead log are dropped by a
`wal_checkpoint(TRUNCATE)` (retried while a reader holds an old snapshot). `vacuum=True` also rebuilds the file
(needed once for a database written before secure deletion was on; it takes a while on a large file).
PostgreSQL: `VACUUM` the touched tables, so dead row versions are reclaimed instead of lingering until
autovacuum comes by.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text

from leadline.storage.database import Database
from leadline.storage.tables import Base

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScrubResult:
    complete: bool
    detail: str


def scrub(db: Database, tables: Iterable[str], *, vacuum: bool = False, attempts: int = 20) -> ScrubResult:
    names = sorted({t for t in tables if t in Base.metadata.tables})
    if db.is_sqlite:
        with db.writer.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            if vacuum:
                raw.execute("VACUUM")
            for attempt in range(attempts):
                busy, _log, _done = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return ScrubResult(True, "write-ahead log checkpointed and truncated"
                                       + ("; database rebuilt (VACUUM)" if vacuum else ""))
                time.sleep(min(0.05 * (attempt + 1), 0.5))
        logger.warning("WAL truncation stayed busy (a long reader): old pages leave at the next checkpoint")
        return ScrubResult(False, "a reader held an old snapshot: the log is truncated at the next checkpoint")
    engine = db.writer.execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in names:
            conn.execute(text(f'VACUUM "{name}"'))
    return ScrubResult(True, f"vacuumed {len(names)} tables")
