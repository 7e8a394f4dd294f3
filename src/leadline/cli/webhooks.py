"""`leadline webhooks ...`: the operator's switch for private webhook targets, and a look at subscriptions
and their deliveries. Creating subscriptions is the API's job (admin keys)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from leadline.cli.common import WorkspaceOpt, database, find_workspace_id
from leadline.services.webhooks import list_subscriptions, set_private_targets
from leadline.storage.tables import WebhookDelivery

webhooks_app = typer.Typer(help="Webhooks out: private targets, subscriptions.", no_args_is_help=True)


@webhooks_app.command("allow-private")
def allow_private(
    workspace: WorkspaceOpt,
    off: Annotated[bool, typer.Option("--off", help="Refuse private targets again (the default).")] = False,
) -> None:
    """Let this workspace's webhooks reach loopback, private and link-local addresses (an on-premises
    receiver). Kept off the API on purpose: an API key should not be able to open the server's network.
    Cloud metadata addresses stay refused either way."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.write() as session:
        set_private_targets(session, workspace_id=workspace_id, allow=not off)
    state = "refused" if off else "allowed"
    Console().print(f"private webhook targets are now {state} for {workspace}")


@webhooks_app.command("list")
def list_webhooks(workspace: WorkspaceOpt) -> None:
    """Subscriptions with their deliveries by status."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    table = Table("id", "url", "topics", "active", "delivered", "pending", "failed")
    with db.read() as session:
        counts = {(s, st): n for s, st, n in session.execute(
            select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
            .where(WebhookDelivery.workspace_id == workspace_id)
            .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status))}
        for row in list_subscriptions(session, workspace_id):
            table.add_row(str(row.id), row.url, ", ".join(row.topics), "yes" if row.active else "no",
                          *(str(counts.get((row.id, status), 0)) for status in ("delivered", "pending", "failed")))
    Console(width=200).print(table)
