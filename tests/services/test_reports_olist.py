"""Reports on the real Olist data (the demo workspace) agree with figures computed straight from the CSV files."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadline.demo.loader import load_demo
from leadline.services.reports.channels import channel_report
from leadline.services.reports.cohorts import Dimension
from leadline.services.reports.funnel import funnel_report
from leadline.services.workspaces import find_workspace
from leadline.storage.database import Database

# The documented mapping of Olist's `origin` to Leadline channels (README, demo loader docstring).
ORIGIN = {"organic_search": "seo", "paid_search": "sea", "social": "social", "display": "display",
          "email": "email", "referral": "referral", "direct_traffic": "direct", "other_publicities": "other",
          "other": "other", "unknown": "other", "": "other"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def demo(db: Database) -> int:
    load_demo(db)
    with db.read() as session:
        workspace = find_workspace(session, "demo")
        assert workspace is not None
        return workspace.id


def test_closed_deal_rate_per_channel_equals_the_csv(db, demo, data_dir):
    mqls = _rows(data_dir / "olist_marketing_qualified_leads_dataset.csv")
    closed = {row["mql_id"] for row in _rows(data_dir / "olist_closed_deals_dataset.csv")}
    leads = Counter(ORIGIN[row["origin"]] for row in mqls)
    won = Counter(ORIGIN[row["origin"]] for row in mqls if row["mql_id"] in closed)
    with db.read() as session:
        rows = {r.name: r for r in channel_report(session, workspace_id=demo)}
    assert {name: (r.leads, r.customers) for name, r in rows.items()} == {
        name: (leads[name], won[name]) for name in leads}
    for name, row in rows.items():
        assert row.customer_rate == pytest.approx(won[name] / leads[name])
        assert row.mqls == row.leads  # every Olist lead is an MQL


def test_the_demo_funnel_runs_from_mql_to_customer(db, demo):
    with db.read() as session:
        report = funnel_report(session, workspace_id=demo, dimension=Dimension.month,
                               as_of=datetime(2018, 6, 1, tzinfo=UTC))  # just after the last first contact
    steps = {s.step: s.count for s in report.total.funnel.steps}
    assert steps["lead"] == steps["mql"] == 8000 and steps["customer"] == 842
    assert report.outcome_days_p90 is not None and report.outcome_days_p90 > 30
    # Cohorts by month of first contact: the latest ones have had the least time to convert.
    assert not report.cohorts[-1].maturity.mature and report.cohorts[0].maturity.mature
