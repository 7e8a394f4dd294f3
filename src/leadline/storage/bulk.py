"""Bulk statements at driver speed.

SQLAlchemy's executemany builds a parameter dict per row and runs its generic parameter machinery on each;
on the ingest hot path that costs more than SQLite's own work. Here a statement is compiled once, each bind
parameter's own processor (the very conversion SQLAlchemy would apply: UTC timestamps, JSON) runs in a tight
loop, repeated values (a batch's shared timestamps) are converted once, and the rows go to the driver's
executemany as tuples (or dicts for named paramstyles such as psycopg's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert
from sqlalchemy.sql import ClauseElement

from leadline.storage.types import UTCDateTime

Processor = Callable[[Any], Any] | None


#: Timestamp texts by value, shared by every statement of the process: a batch's events, then the touches of
#: its leads, carry the same instants (and light trackers send one per second). Bounded by a full reset.
_UTC_TEXTS: dict[datetime, str] = {}
_UTC_TEXTS_MAX = 65_536


def _sqlite_utc_text(value: datetime) -> str:
    """What `UTCDateTime` then SQLAlchemy's SQLite DATETIME processor make of `value`, in one step:
    the UTC time as `YYYY-MM-DD HH:MM:SS.ffffff` (naive values refused, as `UTCDateTime` does)."""
    text = _UTC_TEXTS.get(value)  # equal aware datetimes are the same instant, so the same text
    if text is not None:
        return text
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime refused: {value!r}; pass a timezone-aware value")
    utc = value.astimezone(UTC) if offset else value
    text = "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 (the fastest way, measured)
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond)
    if len(_UTC_TEXTS) >= _UTC_TEXTS_MAX:
        _UTC_TEXTS.clear()
    _UTC_TEXTS[value] = text
    return text


def _processor(bind_type: Any, dialect: Dialect) -> Processor:
    if dialect.name == "sqlite" and isinstance(bind_type, UTCDateTime):
        return _sqlite_utc_text
    processor: Processor = bind_type.dialect_impl(dialect).bind_processor(dialect)
    return processor


@lru_cache(maxsize=128)
def _prepare(stmt: ClauseElement, names: tuple[str, ...], dialect: Dialect
             ) -> tuple[str, tuple[Processor, ...], tuple[int, ...] | None]:
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    processors = tuple(_processor(compiled.binds[name].type, dialect) for name in names)
    order = None
    if compiled.positional:
        index = {name: i for i, name in enumerate(names)}
        order = tuple(index[name] for name in compiled.positiontup or ())
    return str(compiled), processors, order


def _convert_column(proc: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    # Values repeat within a batch as the very same object (a batch's shared timestamp, a touch document
    # shared by many leads): convert each object once. The rows keep every value alive, so ids are stable.
    seen: dict[int, Any] = {}
    out = []
    for value in column:
        if value is None:
            out.append(None)
        else:
            converted = seen.get(id(value))
            if converted is None:
                converted = seen[id(value)] = proc(value)
            out.append(converted)
    return out


def _convert(processors: tuple[Processor, ...], rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    active = [(position, proc) for position, proc in enumerate(processors) if proc is not None]
    if not active:
        return rows
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))  # column by column: one tight loop each
    for position, proc in active:
        columns[position] = _convert_column(proc, columns[position])
    return list(zip(*columns, strict=True))


def executemany(conn: Connection, stmt: ClauseElement, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Run `stmt` once per row; each row gives the values of the bind parameters `names`, in that order."""
    if not rows:
        return 0
    sql, processors, order = _prepare(stmt, tuple(names), conn.dialect)
    converted = _convert(processors, rows)
    if order is not None:
        if order == tuple(range(len(names))):
            params: Sequence[Any] = converted
        else:
            pick = itemgetter(*order)
            params = [pick(row) for row in converted] if len(order) > 1 else [(pick(row),) for row in converted]
    else:
        params = [dict(zip(names, row, strict=True)) for row in converted]
    conn.exec_driver_sql(sql, params)
    return len(rows)


@lru_cache(maxsize=64)
def _insert_of(table: Table) -> ClauseElement:
    return insert(table).inline()


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert `rows` (tuples in `columns` order) into `table`."""
    return executemany(conn, _insert_of(table), columns, rows)


#: Values per `IN (...)` list: well under SQLite's 32,766 variables and PostgreSQL's 65,535 parameters.
IN_LIST_SIZE = 1000


def select_in(conn: Connection, sql: str, params: Sequence[Any], values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a plain SQL lookup with an `IN` list, straight through the driver.

    `sql` marks one placeholder `{p}` per value of `params` and the list as `({values})`. A SQLAlchemy
    `select(...).where(col.in_(...))` costs 150-500 us to build, key and expand per call, several times the
    lookup itself; the hot paths call this with columns that need no type conversion (ids, plain strings).
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), IN_LIST_SIZE):
        part = values[start:start + IN_LIST_SIZE]
        statement = sql.format(p=mark, values=", ".join([mark] * len(part)))
        rows.extend(tuple(row) for row in conn.exec_driver_sql(statement, (*params, *part)).fetchall())
    return rows
