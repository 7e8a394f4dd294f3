"""What every command shares: the error console, failing with a message, the workspace option."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.config import get_settings
from leadline.core.contacts import email_lookup_key
from leadline.services.workspaces import find_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Lead

err = Console(stderr=True, soft_wrap=True)
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace name (slug).")]


def database() -> Database:
    return Database(get_settings().database_url)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def find_workspace_id(db: Database, slug: str) -> int:
    with db.read() as session:
        workspace = find_workspace(session, slug)
        if workspace is None:
            fail(f"no workspace named {slug!r}")
        return workspace.id


def resolve_lead_id(session: Session, workspace_id: int, ref: str) -> int:
    """A lead id or an email address -> the live lead's id; fails with a message when there is none."""
    query = select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None))
    if ref.isdigit():
        found = session.scalar(query.where(Lead.id == int(ref)))
    else:
        found = session.scalar(query.where(Lead.email == email_lookup_key(ref)))
    if found is None:
        fail(f"no lead {ref!r} in this workspace")
    return int(found)
