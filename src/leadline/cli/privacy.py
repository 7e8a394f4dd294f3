"""`leadline privacy ...`: access exports, erasure and anonymisation, retention, the audit log and requests."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id
from leadline.config import get_settings
from leadline.services import audit
from leadline.services.errors import ServiceError
from leadline.services.privacy import requests, retention
from leadline.services.privacy.export import export_html
from leadline.services.privacy.scrub import scrub

privacy_app = typer.Typer(help="Data rights: export, erase, anonymise, retention, audit log.",
                          no_args_is_help=True)
ACTOR = "cli"
IdentityOpt = Annotated[str, typer.Option(
    "--identity", help="How the person's identity was checked (recorded with the request).")]
DEFAULT_IDENTITY = "checked by the operator (command line)"


def _fail_on(error: ServiceError) -> NoReturn:
    fail(str(error))


@privacy_app.command("export")
def export(
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    workspace: WorkspaceOpt,
    identity: IdentityOpt = DEFAULT_IDENTITY,
    html: Annotated[Path | None, typer.Option("--html", help="Also write the readable HTML here.")] = None,
) -> None:
    """Print everything held about the person as JSON (GDPR Art. 15); the request and the read are logged."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        with db.write() as session:
            document = requests.access(session, workspace_id=workspace_id, email=email,
                                       key=get_settings().signing_key(), actor=ACTOR, identity=identity)
    except ServiceError as error:
        _fail_on(error)
    print(json.dumps(document, ensure_ascii=False, indent=2, default=str))
    if html is not None:
        html.write_text(export_html(document), encoding="utf-8")
        err.print(f"HTML written to {html}")


def _erase(email: str, workspace: str, identity: str, *, anonymise: bool, yes: bool, vacuum: bool) -> None:
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    verb = "anonymise" if anonymise else "erase"
    if not yes and not typer.confirm(f"{verb} this person everywhere in {workspace}? This cannot be undone"):
        raise typer.Exit(1)
    try:
        with db.write() as session:
            report = requests.erase_person(session, workspace_id=workspace_id, email=email,
                                           key=get_settings().signing_key(), actor=ACTOR, identity=identity,
                                           anonymise_only=anonymise)
    except ServiceError as error:
        _fail_on(error)
    result = scrub(db, report.tables, vacuum=vacuum)
    Console().print(f"{verb}d lead {report.lead_id} ({len(report.lead_ids)} record(s)) in "
                    f"{len(report.tables)} tables; {result.detail}")


@privacy_app.command("erase")
def erase(
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    workspace: WorkspaceOpt,
    identity: IdentityOpt = DEFAULT_IDENTITY,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    vacuum: Annotated[bool, typer.Option(help="SQLite: also rebuild the database file.")] = False,
) -> None:
    """Erase the person from every table (GDPR Art. 17); only a keyed hash stays on the suppression list."""
    _erase(email, workspace, identity, anonymise=False, yes=yes, vacuum=vacuum)


@privacy_app.command("anonymise")
def anonymise(
    email: Annotated[str, typer.Argument(help="The person's email address.")],
    workspace: WorkspaceOpt,
    identity: IdentityOpt = DEFAULT_IDENTITY,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    vacuum: Annotated[bool, typer.Option(help="SQLite: also rebuild the database file.")] = False,
) -> None:
    """Remove what identifies the person but keep the rows analytics counts (stage, dates, channels, events)."""
    _erase(email, workspace, identity, anonymise=True, yes=yes, vacuum=vacuum)


@privacy_app.command("retention")
def retention_cmd(
    workspace: WorkspaceOpt,
    dry_run: Annotated[bool, typer.Option("--dry-run/--apply", help="Report only (default), or apply now.")] = True,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """What retention deletes (inactive leads, old anonymous visits, raw events beyond the limit)."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    report = retention.run(db, workspace_id, dry_run=dry_run, actor=ACTOR).as_dict()
    if output == "json":
        print(json.dumps(report, indent=2))
        return
    table = Table("what", "cut-off", "count", title=("would be " if dry_run else "") + "deleted")
    table.add_row(f"leads inactive ({report['lead_action']})", report["lead_cutoff"], str(report["inactive_leads"]))
    table.add_row("anonymous visitors' events", report["visitor_cutoff"], str(report["anonymous_events"]))
    table.add_row("anonymous visitors", report["visitor_cutoff"], str(report["anonymous_visitors"]))
    table.add_row("raw events (monthly counts kept)", report["event_cutoff"], str(report["raw_events"]))
    Console(width=200).print(table)


class AuditFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@privacy_app.command("audit")
def audit_cmd(
    workspace: WorkspaceOpt,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. lead.erased).")] = None,
    after: Annotated[int | None, typer.Option(help="Entries after this id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100_000,
    output: Annotated[AuditFormat, typer.Option("--format", help="jsonl or csv.")] = AuditFormat.jsonl,
) -> None:
    """Export the append-only audit log (oldest first)."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        rows = [audit.as_dict(e) for e in audit.entries(session, workspace_id, action=action, after_id=after,
                                                         limit=limit)]
    if output is AuditFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=["id", "at", "actor", "action", "target_type", "target_id",
                                                        "detail"])
        writer.writeheader()
        writer.writerows({**row, "detail": json.dumps(row["detail"], sort_keys=True)} for row in rows)
    else:
        for row in rows:
            print(json.dumps(row, sort_keys=True))


@privacy_app.command("requests")
def requests_cmd(
    workspace: WorkspaceOpt,
    status: Annotated[str | None, typer.Option(help="open, completed or refused.")] = None,
) -> None:
    """Data subject requests and their one-month deadlines."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    table = Table("id", "kind", "status", "received", "due", "overdue", "identity check")
    with db.read() as session:
        for row in requests.list_requests(session, workspace_id, status=status):
            view = requests.view(row)
            table.add_row(view.id, view.kind, view.status, view.received_at.date().isoformat(),
                          view.due_at.date().isoformat(), "yes" if view.overdue else "",
                          view.identity_method or "")
    Console(width=200).print(table)
