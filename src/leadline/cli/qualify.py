"""`leadline leads qualify` and `leadline leads stages`: move a lead through the lifecycle from the shell."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id, resolve_lead_id
from leadline.core.leads import Stage
from leadline.core.lifecycle import Actor, ActorType
from leadline.services.errors import ServiceError
from leadline.services.lifecycle import change_stage, stage_history


def qualify(
    lead: Annotated[str, typer.Argument(help="Lead id or email.")],
    workspace: WorkspaceOpt,
    stage: Annotated[Stage, typer.Option(help="The stage to move the lead to.")],
    reason: Annotated[str | None, typer.Option(help="Reason code (needed for disqualified and recycled).")] = None,
    note: Annotated[str | None, typer.Option(help="Free text kept with the transition.")] = None,
    actor: Annotated[str, typer.Option(help="Who moves it (kept in the history).")] = "cli",
) -> None:
    """Move a lead to another lifecycle stage (refused, with the reason, when the move is not allowed)."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        with db.write() as session:
            lead_id = resolve_lead_id(session, workspace_id, lead)
            moved = change_stage(session, workspace_id=workspace_id, lead=lead_id, to=stage,
                                 actor=Actor(ActorType.USER, actor), reason=reason, note=note)
            summary = f"lead {lead_id}: {moved.from_stage} -> {moved.to_stage}"
    except ServiceError as exc:
        fail(exc.message, code=1)
    err.print(summary)


def stages(
    lead: Annotated[str, typer.Argument(help="Lead id or email.")],
    workspace: WorkspaceOpt,
) -> None:
    """Show a lead's stage history."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        lead_id = resolve_lead_id(session, workspace_id, lead)
        history = stage_history(session, workspace_id=workspace_id, lead_id=lead_id)
        table = Table("when", "from", "to", "actor", "reason")
        for t in history:
            table.add_row(t.occurred_at.isoformat(), t.from_stage or "", t.to_stage,
                          f"{t.actor_type}:{t.actor}" if t.actor else t.actor_type, t.reason or "")
    Console(width=200).print(table)
