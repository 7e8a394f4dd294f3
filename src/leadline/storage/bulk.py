"""Bulk statements at driver speed.

SQLAlchemy's executemany builds a parameter dict per row and runs its generic parameter machinery on each;
on the ingest hot path that costs more than SQLite's own work. Here a statement is compiled once, each bind
parameter's own processor (the very conversion SQLAlchemy would apply: UTC timestamps, JSON) runs in a tight
loop, repeated values (a batch's shared timestamps) are converted once, and the rows go to the driver's
executemany as tuples (or dicts for named paramstyles such as psycopg's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


@lru_cache(maxsize=128)
def _prepare(stmt: ClauseElement, names: tuple[str, ...], dialect: Dialect
             ) -> tuple[str, tuple[Processor, ...], tuple[int, ...] | None]:
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    order = None
    if compiled.positional:
        index = {name: i for i, name in enumerate(names)}
        order = tuple(index[name] for name in compiled.positiontup or ())
    return str(compiled), processors, order


def _convert(processors: tuple[Processor, ...], rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    active = [(position, proc, {}) for position, proc in enumerate(processors) if proc is not None]
    if not active:
        return rows
    converted = []
    for row in rows:
        values = list(row)
        for position, proc, seen in active:
            value = values[position]
            if value is None:
                continue
            if isinstance(value, dict | list):
                values[position] = proc(value)
            else:  # timestamps repeat within a batch: convert each distinct one once
                out = seen.get(value)
                if out is None:
                    out = seen[value] = proc(value)
                values[position] = out
        converted.append(tuple(values))
    return converted


def executemany(conn: Connection, stmt: ClauseElement, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Run `stmt` once per row; each row gives the values of the bind parameters `names`, in that order."""
    if not rows:
        return 0
    sql, processors, order = _prepare(stmt, tuple(names), conn.dialect)
    converted = _convert(processors, rows)
    if order is not None:
        params: Sequence[Any] = converted if order == tuple(range(len(names))) else [
            tuple(row[i] for i in order) for row in converted]
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
