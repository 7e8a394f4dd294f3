"""`leadline score ...`: apply a scoring model (with a preview), rescore, explain a lead, refresh decay."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id
from leadline.services.errors import Invalid, NotFound
from leadline.services.scoring.bulk import apply_version, preview, rescore_workspace, try_model
from leadline.services.scoring.explain import explain_lead
from leadline.services.scoring.models import BUILT_IN, built_in_source, load_document, store_version, validate
from leadline.services.scoring.refresh import DUE_BATCH, refresh_due
from leadline.storage.database import Database
from leadline.storage.tables import Lead

score_app = typer.Typer(help="Score leads: apply a model, rescore, explain.", no_args_is_help=True)
@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _invalid(exc: Invalid) -> None:
    err.print("[red]the scoring model is invalid; nothing was changed:[/red]")
    for problem in exc.problems:
        err.print(f"  {problem.field}: {problem.reason}")
    raise typer.Exit(2)


@score_app.command("apply")
def apply(
    file: Annotated[str, typer.Argument(help=f"A YAML or JSON model file, or a built-in: {', '.join(BUILT_IN)}.")],
    workspace: WorkspaceOpt,
    preview_only: Annotated[bool, typer.Option("--preview", help="Show what would change; write nothing.")] = False,
) -> None:
    """Validate a scoring model, then preview it or make it the active version and rescore every lead."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        source = built_in_source(file) if file in BUILT_IN else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", code=2)
        return
    try:
        document = load_document(source)
        model = validate(document)
        try_model(db, workspace_id, model)
    except Invalid as exc:
        _invalid(exc)
        return
    if preview_only:
        with _progress("previewing") as progress:
            result = preview(db, workspace_id, model, progress=progress)
        print(json.dumps(vars(result), indent=2, default=str))
        return
    with db.write() as session:
        version = store_version(session, workspace_id, document, source=source, actor="cli").version
    with _progress(f"rescoring with version {version}") as progress:
        leads = apply_version(db, workspace_id, version, progress=progress)
    err.print(f"scoring model {model.name!r} is now version {version}, active; {leads} leads rescored")


@score_app.command("rollback")
def rollback(version: Annotated[int, typer.Argument(help="The version to make active again.")],
             workspace: WorkspaceOpt) -> None:
    """Make an earlier model version active again and rescore."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        with _progress(f"rescoring with version {version}") as progress:
            leads = apply_version(db, workspace_id, version, progress=progress)
    except NotFound as exc:
        fail(exc.message)
        return
    err.print(f"version {version} is active again; {leads} leads rescored")


@score_app.command("rescore")
def rescore(workspace: WorkspaceOpt) -> None:
    """Rescore every lead of the workspace from its events with the active model."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with _progress("rescoring") as progress:
        leads = rescore_workspace(db, workspace_id, progress=progress)
    err.print(f"{leads} leads rescored")


@score_app.command("refresh")
def refresh() -> None:
    """Move every lead whose temperature changed by decay alone (the server also does this on its own)."""
    db = database()
    total = 0
    while True:
        with db.write() as session:
            moved = refresh_due(session)
        total += moved
        if moved < DUE_BATCH:
            break
    err.print(f"{total} leads moved")


@score_app.command("backtest")
def backtest_command(
    workspace: WorkspaceOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="Score leads as of this date (YYYY-MM-DD, UTC).")],
    horizon_days: Annotated[float, typer.Option(min=1, help="Count conversions within this many days.")] = 90,
    model_file: Annotated[str | None, typer.Option("--model", help="A model file or built-in (default: "
                                                                    "the active model).")] = None,
    stage: Annotated[str, typer.Option(help="The outcome stage that counts as converted.")] = "customer",
) -> None:
    """Replay a model over the history: conversion rate and lift per temperature band and for MQL-readiness."""
    from datetime import UTC, datetime, timedelta

    from leadline.services.scoring.backtest import backtest
    from leadline.services.scoring.models import active_model

    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        fail(f"--as-of: not a date: {as_of!r}", code=2)
        return
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if model_file is not None:
        try:
            source = built_in_source(model_file) if model_file in BUILT_IN else Path(model_file).read_text("utf-8")
            model = validate(load_document(source))
        except Invalid as exc:
            _invalid(exc)
            return
        except OSError as exc:
            fail(f"cannot read {model_file}: {exc.strerror}", code=2)
            return
    else:
        with db.read() as session:
            active = active_model(session, workspace_id)
        if active is None:
            fail("no active scoring model: give --model")
            return
        model = active.model
    result = backtest(db, workspace_id, model, as_of=moment, horizon=timedelta(days=horizon_days),
                      outcome_stage=stage)
    print(json.dumps(result, default=_plain, indent=2))


def _plain(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass
    from datetime import datetime

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _explanation(db: Database, workspace_id: int, email: str) -> dict[str, Any]:
    from sqlalchemy import select

    from leadline.core.contacts import email_lookup_key

    with db.read() as session:
        lead_id = session.scalar(select(Lead.id).where(Lead.workspace_id == workspace_id,
                                                       Lead.email == email_lookup_key(email)))
        if lead_id is None:
            fail(f"no lead with email {email!r}")
        assert lead_id is not None
        explanation = explain_lead(session, workspace_id, lead_id)
    result = explanation.result
    if result is None:
        return {"lead_id": str(lead_id), "model_version": None, "score": 0, "fit": 0, "engagement": 0,
                "temperature": "cold", "mql_ready": False, "rules": []}
    return {
        "lead_id": str(lead_id), "model_version": explanation.model_version, "score": result.score,
        "fit": result.fit, "engagement": result.engagement, "temperature": result.band.temperature.value,
        "mql_ready": result.band.mql_ready, "fit_points": result.fit_points,
        "engagement_points": result.engagement_points, "computed_at": result.at.isoformat(),
        "next_change_at": explanation.next_change_at.isoformat() if explanation.next_change_at else None,
        "named": {name: {"score": n.score, "fit": n.fit, "engagement": n.engagement,
                         "temperature": n.temperature.value} for name, n in result.named.items()},
        "rules": [{"key": r.key, "name": r.name, "axis": r.axis, "points": r.points, "raw_points": r.raw_points,
                   "occurrences": r.occurrences, "capped": r.capped, "main": r.main, "scores": sorted(r.scores),
                   "last_fired_at": r.last_fired_at.isoformat() if r.last_fired_at else None} for r in result.rules],
    }


@score_app.command("explain")
def explain(
    email: Annotated[str, typer.Argument(help="The lead's email.")],
    workspace: WorkspaceOpt,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Why a lead has its score: every rule that fired, its points now and when it last fired."""
    db = database()
    data = _explanation(db, find_workspace_id(db, workspace), email)
    if output == "json":
        print(json.dumps(data, indent=2))
        return
    out = Console()
    out.print(f"score {data['score']:.1f} = fit {data['fit']:.1f} x weight + engagement {data['engagement']:.1f} "
              f"x weight; {data['temperature']}, {'MQL-ready' if data['mql_ready'] else 'not MQL-ready'} "
              f"(model version {data['model_version']})")
    table = Table("rule", "axis", "points now", "occurrences", "last fired")
    for rule in data["rules"]:
        table.add_row(rule["name"], rule["axis"], f"{rule['points']:+.2f}" + (" (capped)" if rule["capped"] else ""),
                      str(rule["occurrences"]), rule["last_fired_at"] or "")
    out.print(table)
