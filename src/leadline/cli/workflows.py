"""`leadline workflows ...`: list, validate, save, activate and report nurture workflows.

FILE is a `leadline-workflow/1` document in YAML or JSON (README, "Nurture workflows"); `example:NAME` names one
shipped with Leadline (`leadline workflows examples`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id, resolve_lead_id
from leadline.core.lead_input import FieldProblem
from leadline.core.workflows import InvalidWorkflow, parse_workflow
from leadline.nurture.examples import example_names, example_text
from leadline.services import workflows
from leadline.services.errors import Invalid, NotFound

workflows_app = typer.Typer(help="Nurture workflows: list, validate, save, activate, status.", no_args_is_help=True)
FileArg = Annotated[str, typer.Argument(help="A workflow file (YAML or JSON), or example:NAME.")]


def _out() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=250)


def _read(source: str) -> Any:
    if source.startswith("example:"):
        try:
            text = example_text(source.removeprefix("example:"))
        except KeyError:
            fail(f"no example named {source.removeprefix('example:')!r}; known: {', '.join(example_names())}", 2)
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {source}: {exc.strerror}", code=2)
    try:
        return workflows.load_document(text)
    except Invalid as exc:
        _invalid(exc)


def _invalid(exc: Invalid) -> None:
    err.print("[red]invalid workflow:[/red]")
    for problem in exc.problems:
        err.print(f"  {problem.field}: {problem.reason}", markup=False, highlight=False)
    raise typer.Exit(2)


@workflows_app.command("examples")
def examples() -> None:
    """List the example workflows shipped with Leadline (use them as example:NAME)."""
    for name in example_names():
        typer.echo(name)


@workflows_app.command("list")
def list_all(workspace: WorkspaceOpt) -> None:
    """The workspace's workflows: key, active version, status and trigger."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        rows = workflows.list_workflows(session, workspace_id=workspace_id)
    table = Table("key", "version", "status", "trigger", "name")
    for row in rows:
        trigger = row.trigger_kind + (f":{row.trigger_value}" if row.trigger_value else "")
        table.add_row(row.key, str(row.version), row.status, trigger, row.name)
    _out().print(table)


@workflows_app.command("validate")
def validate(source: FileArg, workspace: Annotated[str | None, typer.Option(
        "--workspace", "-w", help="Also check the segments and lists it names in this workspace.")] = None) -> None:
    """Check a workflow file; every problem is printed with its path. Exit code 2 when invalid."""
    document = _read(source)
    if workspace is None:
        try:
            definition = parse_workflow(document)
        except InvalidWorkflow as exc:
            _invalid(Invalid([FieldProblem(w or "document", why) for w, why in exc.problems]))
            return
    else:
        db = database()
        workspace_id = find_workspace_id(db, workspace)
        with db.read() as session:
            try:
                definition, _ = workflows.validate(session, workspace_id, document)
            except Invalid as exc:
                _invalid(exc)
                return
    typer.echo(f"valid: {definition.key} ({len(definition.steps)} steps)")


@workflows_app.command("save")
def save(source: FileArg, workspace: WorkspaceOpt,
         activate: Annotated[bool, typer.Option(help="Activate the new version at once.")] = False) -> None:
    """Save a new version of the workflow the file describes."""
    document = _read(source)
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.write() as session:
        try:
            row = workflows.save(session, workspace_id=workspace_id, document=document, actor="cli",
                                 activate=activate)
        except Invalid as exc:
            _invalid(exc)
            return
        typer.echo(f"saved {row.key} version {row.version} ({row.status})")


@workflows_app.command("activate")
def activate(key: str, workspace: WorkspaceOpt,
             version: Annotated[int | None, typer.Option(help="Default: the newest version.", min=1)] = None,
             off: Annotated[bool, typer.Option("--off", help="Deactivate instead (running ones finish).")] = False
             ) -> None:
    """Activate a version of a workflow (new enrolments use it; running ones stay on theirs)."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.write() as session:
        try:
            if off:
                row = workflows.deactivate(session, workspace_id=workspace_id, key=key)
            else:
                row = workflows.activate_version(session, workspace_id=workspace_id, key=key, version=version)
        except NotFound as exc:
            fail(str(exc))
        except Invalid as exc:
            _invalid(exc)
            return
        typer.echo(f"{row.key} version {row.version}: {row.status}")


@workflows_app.command("status")
def status(workspace: WorkspaceOpt, key: Annotated[str | None, typer.Argument(help="A workflow key.")] = None,
           lead: Annotated[str | None, typer.Option(help="A lead (id or email): where it is, what it got.")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables.")] = False) -> None:
    """Per workflow and step: enrolled, active, completed, exited and why, emails, opens, clicks, conversions.
    With --lead: that lead's enrolments, steps and emails."""
    if (key is None) == (lead is None):
        fail("give a workflow KEY or --lead", code=2)
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        try:
            if lead is not None:
                journey = workflows.lead_journey(session, workspace_id=workspace_id,
                                                 lead_id=resolve_lead_id(session, workspace_id, lead))
                typer.echo(json.dumps(journey, default=str, indent=2))
                return
            assert key is not None
            found = workflows.stats(session, workspace_id=workspace_id, key=key)
        except NotFound as exc:
            fail(str(exc))
    if as_json:
        typer.echo(json.dumps({**vars(found), "steps": [vars(s) for s in found.steps]}, indent=2))
        return
    out = _out()
    exited = ", ".join(f"{why}: {n}" for why, n in sorted(found.exited.items())) or "none"
    out.print(f"{found.name} ({found.key}, versions {', '.join(map(str, found.versions))}): enrolled "
              f"{found.enrolled}, active {found.active}, completed {found.completed}, conversions "
              f"{found.conversions}; exited: {exited}", markup=False, highlight=False)
    table = Table("step", "action", "applied", "waiting", "sent", "other emails", "opened", "clicked", "unsub.")
    for s in found.steps:
        others = ", ".join(f"{k}: {v}" for k, v in sorted(s.emails.items()) if k != "sent")
        table.add_row(s.step, s.action, str(s.applied), str(s.waiting), str(s.emails.get("sent", 0)), others,
                      str(s.opened), str(s.clicked), str(s.unsubscribed))
    out.print(table)
