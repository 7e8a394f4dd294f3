"""What every command shares: the error console, failing with a message, the workspace option."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console

from leadline.config import get_settings
from leadline.services.workspaces import find_workspace
from leadline.storage.database import Database

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
