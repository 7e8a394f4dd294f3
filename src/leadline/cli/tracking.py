"""`leadline tracking ...`: set up website tracking for a workspace and print the code to paste into its pages."""

from __future__ import annotations

from typing import Annotated

import typer

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id
from leadline.services.tracking import configure_tracking, get_tracking

tracking_app = typer.Typer(help="Website tracking: the snippet's settings and embed code.", no_args_is_help=True)


@tracking_app.command("setup")
def setup(
    workspace: WorkspaceOpt,
    domain: Annotated[list[str] | None, typer.Option("--domain", "-d", help=(
        "A site allowed to send (also allows its subdomains); repeat for several. Replaces the list."))] = None,
    require_consent: Annotated[bool | None, typer.Option("--require-consent/--no-require-consent", help=(
        "Wait for leadline.consent(true) before tracking (default: yes)."))] = None,
    honour_gpc: Annotated[bool | None, typer.Option("--honour-gpc/--ignore-gpc", help=(
        "Treat Global Privacy Control as a refusal (default: yes)."))] = None,
    rotate_key: Annotated[bool, typer.Option("--rotate-key", help="Issue a new public key.")] = False,
    url: Annotated[str, typer.Option(help="Where sites reach this Leadline.")] = "http://localhost:8000",
) -> None:
    """Create or change the settings; prints the <script> tag alone on stdout."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.write() as session:
        try:
            settings = configure_tracking(session, workspace_id, allowed_domains=domain,
                                          require_consent=require_consent, honour_gpc=honour_gpc,
                                          rotate_key=rotate_key)
        except ValueError as exc:
            fail(str(exc), code=2)
        domains, key = list(settings.allowed_domains), settings.public_key
        extra = ("" if settings.require_consent else ' data-require-consent="false"') + (
            "" if settings.honour_gpc else ' data-honour-gpc="false"')
    if not domains:
        err.print("[yellow]no allowed domain yet: add one with --domain, or every batch is refused[/yellow]")
    err.print(f"allowed domains: {', '.join(domains) or '-'}")
    print(f'<script async src="{url.rstrip("/")}/t.js" data-key="{key}"{extra}></script>')


@tracking_app.command("show")
def show(workspace: WorkspaceOpt) -> None:
    """Print the public key and the allowed domains."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        settings = get_tracking(session, workspace_id)
        if settings is None:
            fail("website tracking is not set up: leadline tracking setup --workspace W --domain example.com")
        print(f"public key: {settings.public_key}")
        print(f"allowed domains: {', '.join(settings.allowed_domains) or '-'}")
        print(f"require consent: {settings.require_consent}; honour GPC: {settings.honour_gpc}")
