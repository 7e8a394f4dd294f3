"""CSV import: `leadline import FILE`.

The file is read twice, streaming both times: a quick pass checks its structure (a malformed file is refused
before anything is written) and counts rows for the progress bar; the second pass converts and validates rows
(in worker processes when the file is large: email and phone validation are the bulk of the CPU time) while
this process writes each chunk in its own short transaction through `upsert_many`. Re-importing a file
updates the same leads (matched by email, else phone) and writes nothing for rows that changed nothing.
"""

from __future__ import annotations

import csv
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select

from leadline.core.import_mapping import HeaderMapping, map_headers, row_to_lead_input
from leadline.core.lead_input import InvalidLeadInput, LeadInput
from leadline.core.spreadsheet import safe_cell
from leadline.imports.csv_reader import CsvFormatError, CsvSource, open_csv
from leadline.services.leads import WriteMode, upsert_many
from leadline.storage.database import Database
from leadline.storage.maintenance import refresh_statistics
from leadline.storage.tables import Lead

#: Rows per write transaction: about 50-100 ms of SQLite work, so other writers are never held up long.
CHUNK_ROWS = 500
#: Below this many rows, worker processes cost more to start than they save.
PARALLEL_FROM_ROWS = 5_000
#: Validation workers: the writing process needs a core of its own (on 2 cores, 2 workers made it slower).
WORKERS = max(1, (os.cpu_count() or 2) - 1)
ANALYZE_FROM_ROWS = 5_000


class CsvImportError(Exception):
    """The file cannot be imported at all (nothing was written)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: int
    error_report: Path | None
    encoding: str
    delimiter: str
    seconds: float


Validated = tuple[list[LeadInput], list[RowProblem]]


@lru_cache(maxsize=8)
def _mapping(headers: tuple[str, ...]) -> HeaderMapping:
    return map_headers(list(headers))


def validate_rows(headers: tuple[str, ...], rows: list[tuple[int, dict[str, str]]],
                  default_country: str | None) -> Validated:
    """Convert and validate a chunk of rows (runs in a worker process for large files, which is why it takes
    the header names and not the mapping object)."""
    mapping = _mapping(headers)
    leads: list[LeadInput] = []
    problems: list[RowProblem] = []
    for number, row in rows:
        try:
            leads.append(row_to_lead_input(mapping, row, default_country=default_country))
        except InvalidLeadInput as exc:
            problems.extend(RowProblem(number, p.field, p.reason) for p in exc.problems)
    return leads, problems


def _chunks(source: CsvSource, size: int) -> Iterator[list[tuple[int, dict[str, str]]]]:
    chunk: list[tuple[int, dict[str, str]]] = []
    for item in source.rows():
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _validated_chunks(source: CsvSource, total: int, default_country: str | None
                      ) -> Iterator[tuple[int, Validated]]:
    """(rows in chunk, validated chunk), in file order; a bounded window of chunks is in flight."""
    if total < PARALLEL_FROM_ROWS:
        for chunk in _chunks(source, CHUNK_ROWS):
            yield len(chunk), validate_rows(tuple(source.headers), chunk, default_country)
        return
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        window: deque[tuple[int, Future[Validated]]] = deque()
        for chunk in _chunks(source, CHUNK_ROWS):
            window.append((len(chunk), pool.submit(validate_rows, tuple(source.headers), chunk, default_country)))
            if len(window) >= WORKERS * 3:
                size, future = window.popleft()
                yield size, future.result()
        while window:
            size, future = window.popleft()
            yield size, future.result()


def _check_structure(source: CsvSource) -> int:
    count = 0
    for _ in source.rows():
        count += 1
    return count


def _write_error_report(path: Path, problems: list[RowProblem]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "column", "reason"])
        writer.writerows([p.row, safe_cell(p.column), safe_cell(p.reason)] for p in problems)


def _count_existing(db: Database, workspace_id: int, leads: list[LeadInput]) -> int:
    emails = [lead.email for lead in leads if lead.email]
    if not emails:
        return 0
    with db.read() as session:
        return len(set(session.scalars(select(Lead.email).where(Lead.workspace_id == workspace_id,
                                                                 Lead.email.in_(emails)))))


def _analyze(db: Database) -> bool:
    """Fresh planner statistics once a table has grown a lot: PostgreSQL otherwise keeps planning the chunk
    lookups for an empty table (about 100 ms instead of 5 ms per lookup, measured here)."""
    refresh_statistics(db, "leads", "companies")
    return True


def import_csv(
    db: Database, workspace_id: int, path: Path, *, dry_run: bool = False, default_country: str | None = None,
    error_report: Path | None = None, progress: bool = False,
) -> ImportReport:
    started = time.perf_counter()
    try:
        source = open_csv(path)
        total = _check_structure(source)
    except CsvFormatError as exc:
        raise CsvImportError(str(exc)) from None
    except OSError as exc:
        raise CsvImportError(f"cannot read {path}: {exc.strerror}") from None
    created = updated = unchanged = 0
    analyzed = False
    problems: list[RowProblem] = []
    bar = Progress(TextColumn("importing {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), disable=not progress, transient=False)
    with bar:
        task = bar.add_task(path.name, total=total)
        for size, (leads, chunk_problems) in _validated_chunks(source, total, default_country):
            problems.extend(chunk_problems)
            if dry_run:
                existing = _count_existing(db, workspace_id, leads)
                updated += existing
                created += len(leads) - existing
            elif leads:
                with db.write() as session:
                    result = upsert_many(session, workspace_id, leads, mode=WriteMode.OVERWRITE)
                created, updated, unchanged = (created + result.created, updated + result.updated,
                                               unchanged + result.unchanged)
                if not analyzed and created >= ANALYZE_FROM_ROWS:
                    analyzed = _analyze(db)
            bar.advance(task, size)
    if created >= ANALYZE_FROM_ROWS:
        _analyze(db)
    report_path = None
    if problems and error_report is not None:
        _write_error_report(error_report, problems)
        report_path = error_report
    return ImportReport(rows=total, created=created, updated=updated, unchanged=unchanged,
                        errors=len({p.row for p in problems}), error_report=report_path,
                        encoding=source.encoding, delimiter=source.delimiter,
                        seconds=time.perf_counter() - started)


@dataclass(frozen=True, slots=True)
class ImportPreview:
    """What the import wizard shows before anything is written: how the file was read, what each column
    means, and the first rows as read."""

    encoding: str
    delimiter: str
    rows: int
    mapping: list[tuple[str, str | None]]  # header -> Leadline field ("custom.<key>" or None: ignored)
    sample: list[dict[str, str]]


def preview_import(path: Path, *, sample_rows: int = 5) -> ImportPreview:
    """Read the file's structure and first rows; CsvImportError when it cannot be imported at all."""
    try:
        source = open_csv(path)
        total = _check_structure(source)
    except CsvFormatError as exc:
        raise CsvImportError(str(exc)) from None
    except OSError as exc:
        raise CsvImportError(f"cannot read {path}: {exc.strerror}") from None
    mapping = source.mapping
    columns = [(header, mapping.fields.get(header) or (f"custom.{mapping.custom[header]}"
                                                       if header in mapping.custom else None))
               for header in source.headers]
    sample: list[dict[str, str]] = []
    rows = source.rows()
    try:
        for _, row in rows:
            sample.append(row)
            if len(sample) >= sample_rows:
                break
    finally:
        rows.close()  # type: ignore[attr-defined]
    return ImportPreview(source.encoding, source.delimiter, total, columns, sample)
