"""Charts for `leadline report ... --plot FILE.png|svg` (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt

from leadline.services.reports.attribution import AttributionReport
from leadline.services.reports.channels import ChannelRow
from leadline.services.reports.funnel import FunnelReport

SUFFIXES = {".png", ".svg"}


def _save(figure: plt.Figure, path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError("the plot file must end in .png or .svg")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def plot_funnel(report: FunnelReport, path: Path) -> None:
    steps = report.total.funnel.steps
    figure, axes = plt.subplots(figsize=(8, 4.5))
    names = [s.step for s in steps][::-1]
    counts = [s.count for s in steps][::-1]
    bars = axes.barh(names, counts, color="#3b6ea5")
    for bar, step in zip(bars, steps[::-1], strict=True):
        label = f"{step.count:,}" + (f"  ({step.rate_from_previous:.1%})" if step.rate_from_previous else "")
        axes.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + label, va="center", fontsize=9)
    axes.set_title("Funnel: leads reaching each stage (conversion from the previous one)")
    axes.set_xlabel("leads")
    axes.set_xlim(0, max(counts, default=1) * 1.3)
    _save(figure, path)


def plot_channels(rows: list[ChannelRow], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(9, 4.5))
    names = [r.name for r in rows]
    rates = [(r.customer_rate or 0) * 100 for r in rows]
    bars = axes.bar(names, rates, color="#4a9c6d")
    for bar, row in zip(bars, rows, strict=True):
        axes.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{row.leads:,} leads", ha="center",
                  va="bottom", fontsize=8)
    axes.set_ylabel("leads that became customers (%)")
    axes.set_title("Channels: conversion to customer")
    axes.tick_params(axis="x", rotation=30)
    _save(figure, path)


def plot_attribution(report: AttributionReport, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(10, 5))
    names = [r.name for r in report.rows]
    width = 0.8 / max(len(report.models), 1)
    for i, model in enumerate(report.models):
        positions = [x + i * width for x in range(len(names))]
        axes.bar(positions, [r.credit[model] for r in report.rows], width, label=model)
    axes.set_xticks([x + 0.4 - width / 2 for x in range(len(names))], names, rotation=30)
    axes.set_ylabel("conversions credited")
    axes.set_title(f"Attribution of {report.conversions:,} conversions by model")
    axes.legend(fontsize=7, ncols=3)
    _save(figure, path)
