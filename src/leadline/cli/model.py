"""`leadline model ...`: train a workspace's predictive model; evaluate the method on any CSV of past leads."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, err, fail, find_workspace_id

model_app = typer.Typer(help="Predictive scoring: train a model, evaluate it on any CSV.", no_args_is_help=True)


class Fmt(StrEnum):
    table = "table"
    json = "json"


class Algorithm(StrEnum):
    auto = "auto"
    boosted_trees = "boosted_trees"
    logistic = "logistic"
    naive_bayes = "naive_bayes"


def _print_report(data: dict, title: str) -> None:
    out = Console()
    report, base = data["report"], data.get("naive_bayes_baseline")
    table = Table("metric", "model", *(["naive Bayes baseline"] if base else []), title=title)
    for key in ("roc_auc", "roc_auc_ci", "pr_auc", "pr_auc_ci", "brier", "brier_base", "top_decile_lift",
                "top_decile_capture", "leads", "positives", "base_rate"):
        table.add_row(key, str(report[key]), *([str(base[key])] if base else []))
    out.print(table)
    curve = Table("predicted bin", "leads", "mean predicted", "observed", title="reliability curve")
    for b in report["reliability"]:
        curve.add_row(f"{b['low']:.1f}-{b['high']:.1f}", str(b["leads"]), f"{b['predicted']:.3f}",
                      f"{b['observed']:.3f}")
    out.print(curve)
    err.print(f"model: {data['why']}")


@model_app.command("evaluate")
def evaluate_csv(
    csv: Annotated[Path, typer.Option("--csv", exists=True, dir_okay=False, readable=True,
                                      help="CSV of past leads, one row each, with their outcome.")],
    target: Annotated[str, typer.Option(help="The outcome column (yes/no, true/false, 1/0 or two values).")],
    time: Annotated[str | None, typer.Option("--time", help="A date column: split 80/20 in time order.")] = None,
    in_order: Annotated[bool, typer.Option("--in-order", help="Rows are already in time order: split by row.")
                        ] = False,
    sep: Annotated[str, typer.Option("--sep", help="Field separator.")] = ",",
    drop: Annotated[list[str] | None, typer.Option("--drop", help="A column to leave out (repeatable).")] = None,
    algorithm: Annotated[Algorithm, typer.Option(help="auto chooses on a validation fold.")] = Algorithm.auto,
    output: Annotated[Fmt, typer.Option("--format", help="table or json.")] = Fmt.table,
) -> None:
    """Train on 80 % of a CSV of past leads and report on the other 20 % (time-ordered with --time)."""
    import pandas as pd

    from leadline.predict.holdout import holdout

    try:
        frame = pd.read_csv(csv, sep=sep, low_memory=False)
        result = holdout(frame, target, time_column=time, in_order=in_order, drop=tuple(drop or ()),
                         candidates=None if algorithm is Algorithm.auto else (algorithm.value,))
    except (ValueError, pd.errors.ParserError) as exc:
        fail(str(exc), code=2)
        return
    data = result.as_dict()
    if output is Fmt.json:
        print(json.dumps(data, default=str))
        return
    err.print(f"{result.rows} rows, {result.split}; positive outcome {result.positive_value!r}; "
              f"ignored columns: {', '.join(result.ignored) or 'none'}")
    _print_report(data, f"test rows: {result.test_rows}")


@model_app.command("train")
def train_workspace(
    workspace: WorkspaceOpt,
    target: Annotated[str, typer.Option(help="customer or sql: the stage a lead must reach.")] = "customer",
    horizon: Annotated[int, typer.Option(help="Days after the cut-off to reach it.", min=1)] = 180,
    observe: Annotated[int, typer.Option(help="Days after creation the features are taken at.", min=0)] = 0,
    algorithm: Annotated[Algorithm, typer.Option(help="auto chooses on rolling time folds.")] = Algorithm.auto,
    output: Annotated[Fmt, typer.Option("--format", help="table or json.")] = Fmt.table,
) -> None:
    """Train on the workspace's leads with a known outcome; activate it if it beats the active model on the
    same holdout; score every open lead."""
    from leadline.services.errors import Invalid
    from leadline.services.predict import TrainOptions, train_and_score

    db = database()
    workspace_id = find_workspace_id(db, workspace)
    try:
        result = train_and_score(db, workspace_id, TrainOptions(target=target, horizon_days=horizon,
                                                                observe_days=observe,
                                                                algorithm=None if algorithm is Algorithm.auto
                                                                else algorithm.value), actor="cli")
    except Invalid as exc:
        fail("; ".join(f"{p.field}: {p.reason}" for p in exc.problems), code=2)
        return
    if output is Fmt.json:
        print(json.dumps(result, default=str))
        return
    metrics = result["metrics"]
    _print_report({"report": metrics, "naive_bayes_baseline": metrics["naive_bayes_baseline"], "why": result["why"]},
                  f"holdout of model version {result['version']} ({result['algorithm']})")
    err.print(f"version {result['version']}: "
              f"{result['activation']}; {result['scored']} open leads scored")
