"""`leadline users ...` and `leadline route ...`: the people leads go to, and routing them now."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id
from leadline.core.routing import Role
from leadline.services.errors import ServiceError
from leadline.services.routing import overdue_leads, route_leads, unassigned_mqls
from leadline.services.routing_rules import list_rules
from leadline.services.users import UserIn, UserPatch, UserView, create_user, find_user, list_users, update_user
from leadline.storage.tables import User
from leadline.storage.types import utcnow

users_app = typer.Typer(help="Users: sales reps, managers, admins, marketers.", no_args_is_help=True)
route_app = typer.Typer(help="Route leads to reps: `leadline route --workspace W` routes the unassigned MQLs now.",
                        invoke_without_command=True)
#: Leads per write transaction: short transactions keep SQLite's single writer free for the API.
BATCH = 2000
out = Console(width=250)


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _invalid(exc: ValidationError | ServiceError) -> None:
    if isinstance(exc, ValidationError):
        for problem in exc.errors():
            err.print(f"  {'.'.join(str(p) for p in problem['loc']) or 'user'}: {problem['msg']}")
        raise typer.Exit(2)
    fail(exc.message + (f" ({exc.field})" if exc.field else ""), code=2)


@users_app.command("add")
def add_user(
    handle: Annotated[str, typer.Argument(help="Unique name in the workspace (e.g. ana or ana@acme.fr).")],
    workspace: WorkspaceOpt,
    name: Annotated[str | None, typer.Option(help="Display name (default: the handle).")] = None,
    email: Annotated[str | None, typer.Option()] = None,
    role: Annotated[Role, typer.Option()] = Role.REP,
    countries: Annotated[str | None, typer.Option(help="Territory countries, e.g. FR,BE.")] = None,
    regions: Annotated[str | None, typer.Option(help="Territory regions (a lead's custom field `region`).")] = None,
    capacity: Annotated[float, typer.Option(help="Relative weight in weighted routing.")] = 1.0,
    quota: Annotated[int | None, typer.Option(help="At most this many new leads per local day.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Paris.")] = "UTC",
    hours: Annotated[str | None, typer.Option(help='Working hours as JSON: {"mon": ["09:00-17:00"], ...}.')] = None,
    holidays: Annotated[str | None, typer.Option(help="Country whose public holidays apply, e.g. FR.")] = None,
    manager: Annotated[str | None, typer.Option(help="The manager's handle.")] = None,
) -> None:
    """Add a user."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        with db.write() as session:
            manager_id = str(find_user(session, workspace_id, manager).id) if manager else None
            data = UserIn(handle=handle, name=name or handle, email=email, role=role,
                          territory_countries=_csv(countries), territory_regions=_csv(regions), capacity=capacity,
                          daily_quota=quota, timezone=timezone, working_hours=json.loads(hours) if hours else None,
                          holiday_country=holidays, manager_id=manager_id)
            user = create_user(session, workspace_id=workspace_id, data=data)
            err.print(f"user {user.handle} added (id {user.id}, {user.role})")
    except (ValidationError, ServiceError) as exc:
        _invalid(exc)
    except json.JSONDecodeError as exc:
        fail(f"--hours is not JSON: {exc}", code=2)


@users_app.command("list")
def users(workspace: WorkspaceOpt,
          role: Annotated[Role | None, typer.Option()] = None,
          as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False) -> None:
    """List users with their routing settings and availability."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    now = utcnow()
    with db.read() as session:
        views = [UserView.of(u, now) for u in list_users(session, workspace_id=workspace_id,
                                                          role=role.value if role else None)]
    if as_json:
        for view in views:
            print(view.model_dump_json())
        return
    table = Table("id", "handle", "role", "territory", "capacity", "quota", "timezone", "available")
    for v in views:
        table.add_row(v.id, v.handle, v.role, ",".join(v.territory_countries + v.territory_regions),
                      f"{v.capacity:g}", str(v.daily_quota or ""), v.timezone,
                      "yes" if v.available else ("inactive" if not v.active else f"away until {v.away_until or '?'}"))
    out.print(table)


@users_app.command("away")
def away(handle: Annotated[str, typer.Argument()], workspace: WorkspaceOpt,
         until: Annotated[datetime | None, typer.Option(help="Back at this time (ISO, with a time zone offset).")
                          ] = None,
         back: Annotated[bool, typer.Option("--back", help="Available again.")] = False) -> None:
    """Mark a user away (routing skips them) or back."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    if until is not None and until.tzinfo is None:
        fail("--until needs a time zone offset, e.g. 2026-03-20T09:00:00+01:00", code=2)
    try:
        with db.write() as session:
            user = find_user(session, workspace_id, handle)
            patch = UserPatch(away=False) if back else UserPatch(away=True, away_until=until)
            update_user(session, workspace_id=workspace_id, user_id=user.id, patch=patch)
            err.print(f"{user.handle} is {'back' if back else 'away'}"
                      + (f" until {until.isoformat()}" if until and not back else ""))
    except (ValidationError, ServiceError) as exc:
        _invalid(exc)


@route_app.callback()
def route(ctx: typer.Context,
          workspace: Annotated[str | None, typer.Option("--workspace", "-w", help="Workspace name (slug).")] = None,
          ) -> None:
    """Route the workspace's unassigned MQLs now through its rules and print who got how many."""
    if ctx.invoked_subcommand is not None:
        return
    if workspace is None:
        fail("--workspace is required", code=2)
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        ids = unassigned_mqls(session, workspace_id=workspace_id)
        if not list_rules(session, workspace_id=workspace_id):
            fail("the workspace has no routing rules (PUT /api/v1/routing/rules)")
    assigned: Counter[int] = Counter()
    unassigned: Counter[str] = Counter()
    with Progress(TextColumn("routing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=len(ids) < BATCH) as bar:
        task = bar.add_task("routing", total=len(ids))
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            with db.write() as session:
                result = route_leads(session, workspace_id=workspace_id, lead_ids=chunk, now=utcnow(), actor="cli")
            assigned.update(result.by_owner)
            unassigned.update(result.not_assigned)
            bar.update(task, advance=len(chunk))
    with db.read() as session:
        handles = {u.id: u.handle for u in session.query(User).filter(User.workspace_id == workspace_id)}
    table = Table("owner", "leads")
    for owner, count in assigned.most_common():
        table.add_row(handles.get(owner, str(owner)), str(count))
    for reason, count in unassigned.most_common():
        table.add_row(f"[yellow]not assigned: {reason}[/yellow]", str(count))
    out.print(table)
    err.print(f"{sum(assigned.values())} of {len(ids)} unassigned MQLs routed")


@route_app.command("rules")
def rules(workspace: WorkspaceOpt) -> None:
    """Show the routing rules, in order (the first that matches a lead routes it)."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        found = list_rules(session, workspace_id=workspace_id)
    table = Table("#", "name", "match", "strategy", "pool", "SLA (business min)", "escalation")
    for r in found:
        match = r.match.model_dump(exclude_defaults=True, mode="json")
        table.add_row(str(r.position + 1), r.name, json.dumps(match) if match else "all leads",
                      r.strategy + (f" (fallback {r.fallback})" if r.strategy in ("territory", "company_owner")
                                    else ""),
                      ",".join(r.pool) if r.pool is not None else "all reps",
                      ", ".join(f"{k} {v:g}" for k, v in r.sla_minutes.items()), r.escalation.value)
    out.print(table if found else "no routing rules")


@route_app.command("overdue")
def overdue(workspace: WorkspaceOpt,
            limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100) -> None:
    """Leads past their follow-up deadline with no sales touch since assignment, oldest first."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    now = utcnow()
    with db.read() as session:
        leads = overdue_leads(session, workspace_id=workspace_id, now=now, limit=limit)
        handles = {u.id: u.handle for u in session.query(User).filter(User.workspace_id == workspace_id)}
        table = Table("lead", "email", "owner", "temperature", "due", "late (min)", "flagged")
        for lead in leads:
            due = lead.follow_up_due_at
            table.add_row(str(lead.id), lead.email or "", handles.get(lead.owner_id or 0, ""), lead.temperature,
                          due.isoformat(timespec="minutes") if due else "",
                          f"{(now - due).total_seconds() / 60:.0f}" if due else "",
                          "yes" if lead.overdue_at else "not yet")
    out.print(table if leads else "no overdue leads")
