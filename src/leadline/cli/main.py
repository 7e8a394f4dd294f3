"""The `leadline` command line (Typer). Commands are thin: they parse, call a service, print."""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id
from leadline.cli.model import model_app
from leadline.cli.privacy import privacy_app
from leadline.cli.qualify import qualify, stages
from leadline.cli.report import report_app
from leadline.cli.routing import route_app, users_app
from leadline.cli.score import score_app
from leadline.cli.segments import segments_app
from leadline.cli.tracking import tracking_app
from leadline.cli.web import demo_login, user_app
from leadline.cli.webhooks import webhooks_app
from leadline.cli.worker import worker
from leadline.cli.workflows import workflows_app
from leadline.config import get_settings
from leadline.core.spreadsheet import safe_cell
from leadline.services import audit
from leadline.services.leads import LeadFilter, company_of, get_lead, list_leads, timeline
from leadline.services.scoring.bulk import apply_version
from leadline.services.scoring.models import active_model, built_in_source, load_document, store_version
from leadline.services.views import LeadView
from leadline.services.workspaces import create_api_key, get_or_create_workspace, parse_scopes
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade

app = typer.Typer(help="Leadline: open-source lead management.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
apikey_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
leads_app = typer.Typer(help="Read leads.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(leads_app, name="leads")
leads_app.command("qualify")(qualify)
leads_app.command("stages")(stages)
app.add_typer(score_app, name="score")
app.add_typer(report_app, name="report")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(users_app, name="users")
app.add_typer(route_app, name="route")
app.add_typer(segments_app, name="segments")
app.add_typer(model_app, name="model")
app.add_typer(tracking_app, name="tracking")
app.add_typer(privacy_app, name="privacy")
app.add_typer(workflows_app, name="workflows")
app.command()(worker)
app.add_typer(user_app, name="user")

def _out() -> Console:
    # Piped output is not wrapped at 80 columns: scripts and pagers read whole lines.
    return Console() if sys.stdout.isatty() else Console(width=250)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command()
def init() -> None:
    """Create or upgrade the database named by LEADLINE_DATABASE_URL (default: ./leadline.db)."""
    url = get_settings().database_url
    upgrade(url)
    err.print(f"database ready: {Database(url).writer.url.render_as_string(hide_password=True)}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only; SQLite uses one).")] = 1,
) -> None:
    """Serve the API (and the app) with uvicorn."""
    import uvicorn

    settings = get_settings()
    upgrade(settings.database_url)
    if settings.database_url.startswith("sqlite") and workers > 1:
        fail("SQLite has one writer: use --workers 1, or PostgreSQL for several workers")
    uvicorn.run("leadline.api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the demo after loading it.")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Load the demo workspace `demo` (real Olist marketing-funnel data), print its URL and a key, serve it."""
    from leadline.demo.loader import load_demo
    from leadline.demo.site import DEMO_HOSTS, setup_demo_site

    settings = get_settings()
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    summary = load_demo(db, progress=True)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "demo")
        key = create_api_key(session, workspace, parse_scopes("read,write,admin"), name="demo")
        setup_demo_site(session, workspace.id, hosts=(*DEMO_HOSTS, host))
        starter = None if active_model(session, workspace.id) else store_version(
            session, workspace.id, load_document(built_in_source("default-b2b")), source=None, actor="demo")
    if starter is not None:  # score the demo with the B2B starter model (once; a later change is kept)
        apply_version(db, workspace.id, starter.version)
    err.print(f"demo workspace loaded: {summary.leads} leads, {summary.customers} customers, "
              f"{summary.owners} users, {summary.events} events; scored with the B2B starter model; "
              f"{summary.routed_mqls} open MQLs routed to SDRs by a rule, {summary.overdue} overdue")
    email, password = demo_login(db, workspace.id)
    err.print(f"URL: http://{host}:{port}/   API docs: http://{host}:{port}/docs   "
              f"demo website with the tracking snippet: http://{host}:{port}/demo/site")
    err.print(f"Log in to the app as {email} with the password {password}")
    err.print("API key (read, write, admin):")
    print(key)
    if serve_after:
        serve(host=host, port=port, workers=1)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV file to import.")],
    workspace: WorkspaceOpt,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row; write nothing.")] = False,
    country: Annotated[str | None, typer.Option(help="Default country for national phone numbers.")] = None,
    errors: Annotated[Path | None, typer.Option(help="Where to write the per-row error report (CSV).")] = None,
) -> None:
    """Import leads from a CSV file (HubSpot, Mautic, Salesforce, Excel exports; UTF-8 or Windows-1252)."""
    from leadline.services.importing import CsvImportError, import_csv

    settings = get_settings()
    db = Database(settings.database_url)
    with db.write() as session:
        workspace_id = get_or_create_workspace(session, workspace).id
    report_path = errors or file.with_name(file.stem + ".errors.csv")
    try:
        report = import_csv(db, workspace_id, file, dry_run=dry_run,
                            default_country=country or settings.default_country, error_report=report_path,
                            progress=True)
    except CsvImportError as exc:
        fail(str(exc), code=2)
        return
    verb = "would import" if dry_run else "imported"
    err.print(f"{verb} {report.rows} rows in {report.seconds:.1f} s ({report.encoding}, "
              f"{report.delimiter!r}-separated): {report.created} created, {report.updated} updated, "
              f"{report.unchanged} unchanged, {report.errors} with errors")
    if report.errors:
        err.print(f"error report: {report.error_report}")
        raise typer.Exit(1)


@apikey_app.command("create")
def apikey_create(
    workspace: WorkspaceOpt,
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin.")] = "read,write",
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "cli",
) -> None:
    """Create an API key (the workspace is created if new) and print the key alone on stdout."""
    try:
        wanted = parse_scopes(scopes)
    except ValueError as exc:
        fail(str(exc), code=2)
        return
    db = database()
    try:
        with db.write() as session:
            token = create_api_key(session, get_or_create_workspace(session, workspace), wanted, name=name)
    except ValueError as exc:
        fail(str(exc), code=2)
        return
    print(token)


def _lead_row(view: LeadView) -> dict[str, Any]:
    return {"id": view.id, "email": view.email, "phone": view.phone, "first_name": view.first_name,
            "last_name": view.last_name, "company": view.company.name if view.company else None,
            "stage": view.stage, "temperature": view.temperature, "score": view.score,
            "channel": view.first_touch.channel if view.first_touch else None,
            "created_at": view.created_at.isoformat()}


def _emit(rows: list[dict[str, Any]], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print(json.dumps(rows, default=str, ensure_ascii=False))
    elif fmt is OutputFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
    else:
        table = Table(*(rows[0].keys() if rows else ["id"]))
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        _out().print(table)


@leads_app.command("list")
def leads_list(
    workspace: WorkspaceOpt,
    stage: Annotated[str | None, typer.Option(help="Only this lifecycle stage.")] = None,
    temperature: Annotated[str | None, typer.Option(help="cold, warm or hot.")] = None,
    q: Annotated[str | None, typer.Option(help="Text search on email, names and company.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    output: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.table,
) -> None:
    """List leads, newest first."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    rows: list[dict[str, Any]] = []
    cursor = None
    with db.read() as session:
        while len(rows) < limit:
            page, cursor = list_leads(session, workspace_id, LeadFilter(stage=stage, temperature=temperature, q=q),
                                      limit=min(200, limit - len(rows)), cursor=cursor)
            rows.extend(_lead_row(LeadView.of(lead, company)) for lead, company in page)
            if cursor is None:
                break
    if output is not OutputFormat.table:  # a machine-readable extract of personal data: audited
        with db.write() as session:
            audit.record(session, workspace_id=workspace_id, actor="cli", action=audit.AuditAction.BULK_EXPORT,
                         target_type="leads", detail={"rows": len(rows), "format": output.value,
                                                      "filters": {"stage": stage, "temperature": temperature}})
    _emit(rows, output)


@leads_app.command("show")
def leads_show(
    lead_id: Annotated[str, typer.Argument(help="Lead id or email.")],
    workspace: WorkspaceOpt,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.table,
) -> None:
    """Show one lead with its recent timeline."""
    from leadline.services.errors import NotFound

    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        try:
            if lead_id.isdigit():
                lead = get_lead(session, workspace_id, int(lead_id))
            else:
                found, _ = list_leads(session, workspace_id, LeadFilter(email=lead_id), limit=1)
                if not found:
                    raise NotFound("lead not found")
                lead = found[0][0]
        except NotFound:
            fail(f"no lead {lead_id!r} in workspace {workspace!r}")
            return
        view = LeadView.of(lead, company_of(session, lead), timeline(session, workspace_id, lead.id, limit=50))
    if output is OutputFormat.json:
        print(view.model_dump_json(indent=2))
        return
    console = _out()
    console.print(_lead_row(view))
    if view.timeline:
        table = Table("when", "type", "channel", "path")
        for event in view.timeline:
            table.add_row(event.occurred_at.isoformat(), event.type, event.source.get("channel", ""),
                          str(event.properties.get("path", "")))
        console.print(table)


if __name__ == "__main__":
    app()
