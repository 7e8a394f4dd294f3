"""`leadline segments ...`: count a filter, list, create and read segments.

FILTER is a `leadline-filter/1` JSON document, the text syntax, or `@file` holding either (README, "Segments").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id
from leadline.core.segments import Filter
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.services.segments import catalog

segments_app = typer.Typer(help="Segments: count a filter, list, create, members.", no_args_is_help=True)
FilterArg = Annotated[str, typer.Argument(help="A filter: JSON, the text syntax, or @file.")]


def _out() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=250)


def _source(text: str) -> str:
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {text[1:]}: {exc.strerror}", code=2)
    return text


def _invalid(exc: Invalid) -> None:
    err.print("[red]invalid filter:[/red]")
    for problem in exc.problems:
        err.print(f"  {problem.field}: {problem.reason}", markup=False, highlight=False)
    raise typer.Exit(2)


def _parse(text: str) -> Filter:
    try:
        return catalog.parse_or_invalid(_source(text))
    except Invalid as exc:
        _invalid(exc)
        raise


@segments_app.command("count")
def count(filter_text: FilterArg, workspace: WorkspaceOpt) -> None:
    """Print how many leads of the workspace meet FILTER now."""
    flt = _parse(filter_text)
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        print(catalog.count_filter(session, workspace_id, flt))


@segments_app.command("list")
def list_command(workspace: WorkspaceOpt,
                 as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False) -> None:
    """The workspace's segments, static lists and personas."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        rows = [catalog.SegmentInfo.of(s) for s in catalog.list_segments(session, workspace_id)]
    if as_json:
        print(json.dumps([{"id": str(r.id), "name": r.name, "kind": r.kind, "filter": r.filter,
                           "persona": r.persona} for r in rows], indent=2))
        return
    table = Table("id", "name", "kind", "persona", "reads")
    for r in rows:
        reads = ", ".join([*(r.dependencies or {}).get("fields", []), *(r.dependencies or {}).get("event_types", [])])
        table.add_row(str(r.id), r.name, r.kind, "yes" if r.persona else "", reads)
    _out().print(table)


@segments_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The segment's name (unique in the workspace).")],
    workspace: WorkspaceOpt,
    filter_text: Annotated[str | None, typer.Option("--filter", help="JSON, text syntax or @file.")] = None,
    static: Annotated[bool, typer.Option("--static", help="A static list (no filter).")] = False,
    description: Annotated[str | None, typer.Option(help="What the segment is for.")] = None,
    persona: Annotated[str | None, typer.Option(help="Make it a persona with this fit-profile description.")] = None,
) -> None:
    """Save a dynamic segment (with --filter) or a static list (--static)."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    source = _source(filter_text) if filter_text is not None else None
    try:
        with db.write() as session:
            segment = catalog.create_segment(
                session, workspace_id, name=name, kind="static" if static else "dynamic", filter=source,
                description=description, persona={"description": persona} if persona else None)
            segment_id = segment.id
    except Invalid as exc:
        _invalid(exc)
        return
    except Conflict as exc:
        fail(exc.message)
    with db.read() as session:
        members = catalog.count_segment(session, workspace_id, segment_id)
    err.print(f"segment {name!r} saved (id {segment_id}); {members} leads in it now")
    print(segment_id)


@segments_app.command("members")
def members(
    segment: Annotated[str, typer.Argument(help="The segment's id or name.")],
    workspace: WorkspaceOpt,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many leads.")] = 50,
) -> None:
    """The segment's current members, newest lead first (id, email, stage, score, entered)."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        with db.read() as session:
            found = catalog.find_segment(session, workspace_id, segment)
            rows, _ = catalog.list_members(session, workspace_id, found.id, limit=limit)
            lines = [(str(m.lead.id), m.lead.email or "", m.lead.stage, f"{m.lead.score:.1f}",
                      m.entered_at.isoformat()) for m in rows]
    except NotFound as exc:
        fail(exc.message)
    table = Table("lead", "email", "stage", "score", "entered")
    for line in lines:
        table.add_row(*line)
    _out().print(table)
