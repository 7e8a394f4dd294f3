"""`leadline user create`: logins for the web app; and the demo's own login."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import select

from leadline.cli.common import WorkspaceOpt, database, err, fail
from leadline.services.errors import ServiceError
from leadline.services.logins import LoginRole, create_login
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import User

user_app = typer.Typer(help="Logins to the web app.", no_args_is_help=True)

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "leadline-demo"


@user_app.command("create")
def user_create(
    workspace: WorkspaceOpt,
    email: Annotated[str, typer.Option(help="The login's email address.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.", prompt=True, hide_input=True)],
    role: Annotated[LoginRole, typer.Option(help="admin, marketer, sales (a rep) or manager.")] = LoginRole.SALES,
    name: Annotated[str | None, typer.Option(help="Display name (default: the email's local part).")] = None,
    locale: Annotated[str | None, typer.Option(help="en or fr (default: the browser's language).")] = None,
) -> None:
    """Create a login (or give an existing user of the workspace with this email a password and role)."""
    db = database()
    try:
        with db.write() as session:
            ws = get_or_create_workspace(session, workspace)
            user = create_login(session, workspace_id=ws.id, email=email, password=password, role=role, name=name,
                                locale=locale)
            user_id = user.id
    except ServiceError as exc:
        problems = getattr(exc, "problems", [])
        fail("; ".join(f"{p.field}: {p.reason}" for p in problems) or exc.message, code=2)
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), code=2)
    err.print(f"login created in workspace {workspace!r}: {email} ({role.value}), user id {user_id}")


def demo_login(db: Database, workspace_id: int) -> tuple[str, str]:
    """The demo's admin login (created once; a password changed since is kept)."""
    with db.write() as session:
        existing = session.scalar(select(User).where(User.workspace_id == workspace_id, User.email == DEMO_EMAIL))
        if existing is None or existing.password_hash is None:
            create_login(session, workspace_id=workspace_id, email=DEMO_EMAIL, password=DEMO_PASSWORD,
                         role=LoginRole.ADMIN, name="Demo admin")
    return DEMO_EMAIL, DEMO_PASSWORD
