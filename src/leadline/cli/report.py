"""`leadline report funnel|channels|attribution|kpis`: Rich tables, JSON or CSV (safe in spreadsheets), and
charts with `--plot FILE.png|svg`."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.table import Table

from leadline.cli.common import WorkspaceOpt, database, fail, find_workspace_id
from leadline.core.spreadsheet import safe_cell
from leadline.services.reports.attribution import attribution_report
from leadline.services.reports.channels import channel_report
from leadline.services.reports.cohorts import Dimension, Period
from leadline.services.reports.funnel import funnel_report
from leadline.services.reports.kpis import kpi_report

report_app = typer.Typer(help="Funnel, channel, attribution and KPI reports.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv.")]
StartOpt = Annotated[datetime | None, typer.Option(help="From this date (UTC), inclusive.")]
EndOpt = Annotated[datetime | None, typer.Option(help="Until this date (UTC), exclusive.")]
PlotOpt = Annotated[Path | None, typer.Option(help="Also draw a chart to this .png or .svg file.")]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _period(start: datetime | None, end: datetime | None) -> Period:
    period = Period(_utc(start), _utc(end))
    if period.start and period.end and period.end <= period.start:
        fail("--end must be after --start", code=2)
    return period


def _print(rows: list[dict[str, Any]], fmt: Format, whole: Any, title: str) -> None:
    if fmt is Format.json:
        sys.stdout.write(TypeAdapter(type(whole)).dump_json(whole, indent=2).decode() + "\n")
    elif fmt is Format.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
    else:
        table = Table(*(rows[0] if rows else ["empty"]), title=title)
        for row in rows:
            table.add_row(*("" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                            for v in row.values()))
        Console(width=200).print(table)


def _plot(kind: str, report: Any, path: Path | None) -> None:
    if path is None:
        return
    from leadline.cli import plots

    try:
        getattr(plots, f"plot_{kind}")(report, path)
    except ValueError as exc:
        fail(str(exc), code=2)


@report_app.command()
def funnel(workspace: WorkspaceOpt, start: StartOpt = None, end: EndOpt = None,
           by: Annotated[Dimension | None, typer.Option(help="Cohorts by month, channel, campaign...")] = None,
           output: FormatOpt = Format.table, plot: PlotOpt = None) -> None:
    """Leads reaching each stage, conversion with 95 % intervals, days between stages."""
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        report = funnel_report(session, workspace_id=workspace_id, period=_period(start, end), dimension=by)
    rows = [{"cohort": cohort.cohort, "step": s.step, "section": s.section.value, "count": s.count,
             "rate": s.rate_from_previous, "low": s.interval.low if s.interval else None,
             "high": s.interval.high if s.interval else None, "median_days": s.median_days_from_previous,
             "p90_days": s.p90_days_from_previous}
            for cohort in [report.total, *report.cohorts] for s in cohort.funnel.steps]
    _print(rows, output, report, "Funnel")
    _plot("funnel", report, plot)


@report_app.command()
def channels(workspace: WorkspaceOpt, start: StartOpt = None, end: EndOpt = None,
             by: Annotated[str, typer.Option(help="channel, campaign or landing_page.")] = "channel",
             output: FormatOpt = Format.table, plot: PlotOpt = None) -> None:
    """Per channel or campaign: leads, rates, days to close, costs, revenue."""
    if by not in ("channel", "campaign", "landing_page"):
        fail("--by must be channel, campaign or landing_page", code=2)
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        result = channel_report(session, workspace_id=workspace_id, period=_period(start, end),
                                dimension=Dimension(by))
    _print([vars(r) for r in result], output, result, f"Leads by {by}")
    _plot("channels", result, plot)


@report_app.command()
def attribution(workspace: WorkspaceOpt, start: StartOpt = None, end: EndOpt = None,
                by: Annotated[str, typer.Option(help="channel or campaign.")] = "channel",
                outcome: Annotated[str, typer.Option(help="The conversion: mql, sql, opportunity, customer.")] =
                "customer",
                output: FormatOpt = Format.table, plot: PlotOpt = None) -> None:
    """Credit for conversions under every attribution model, side by side."""
    if by not in ("channel", "campaign") or outcome not in ("mql", "sql", "opportunity", "customer"):
        fail("--by must be channel or campaign; --outcome mql, sql, opportunity or customer", code=2)
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        report = attribution_report(session, workspace_id=workspace_id, period=_period(start, end),
                                    outcome=outcome, by=by)
    _print([{by: r.name, **r.credit} for r in report.rows], output, report,
           f"Attribution of {report.conversions} conversions to {outcome}")
    _plot("attribution", report, plot)


@report_app.command()
def kpis(workspace: WorkspaceOpt, start: StartOpt = None, end: EndOpt = None,
         output: FormatOpt = Format.table) -> None:
    """KPIs for the period (default: the last 30 days) beside the previous period."""
    period_end = _utc(end) or datetime.now(UTC)
    period_start = _utc(start) or period_end - timedelta(days=30)
    _period(period_start, period_end)
    db = database()
    workspace_id = find_workspace_id(db, workspace)
    with db.read() as session:
        report = kpi_report(session, workspace_id=workspace_id, start=period_start, end=period_end)
    _print([vars(k) for k in report.kpis], output, report, "KPIs")
