"""`leadline report`: tables, JSON, CSV safe for spreadsheets, and charts."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from leadline.services.funnel_facts import refresh_funnel_facts
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Campaign, Lead, StageTransition

CLI = [sys.executable, "-m", "leadline.cli.main"]


@pytest.fixture
def env(cli_database):
    with cli_database.db.write() as session:
        ws = get_or_create_workspace(session, "acme")
        for i, channel in enumerate(["seo", "seo", "=cmd|' /C calc'!A0"]):
            lead = Lead(workspace_id=ws.id, email=f"l{i}@x.example", custom={}, first_channel=channel,
                        created_at=datetime(2026, 1, 1 + i, tzinfo=UTC), stage="mql")
            session.add(lead)
            session.flush()
            session.add(StageTransition(workspace_id=ws.id, lead_id=lead.id, from_stage="new", to_stage="mql",
                                        occurred_at=datetime(2026, 1, 5, tzinfo=UTC), actor_type="test"))
        session.add(Campaign(workspace_id=ws.id, name="brand", channel="seo", cost=Decimal(50)))
        session.flush()
        refresh_funnel_facts(session, workspace_id=ws.id)
    return cli_database.env


def run(env, *args):
    result = subprocess.run([*CLI, "report", *args, "--workspace", "acme"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_funnel_as_json_and_a_chart(env, tmp_path):
    chart = tmp_path / "funnel.svg"
    report = json.loads(run(env, "funnel", "--format", "json", "--plot", str(chart)))
    assert [(s["step"], s["count"]) for s in report["total"]["funnel"]["steps"]][:2] == [("lead", 3), ("mql", 3)]
    assert chart.read_text().lstrip().startswith("<?xml") and "<svg" in chart.read_text()


def test_channels_csv_is_safe_in_a_spreadsheet(env, tmp_path):
    rows = list(csv.DictReader(io.StringIO(run(env, "channels", "--format", "csv"))))
    by_name = {r["name"]: r for r in rows}
    assert by_name["seo"]["leads"] == "2" and by_name["seo"]["cost_per_lead"] == "25.0"
    assert "'=cmd|' /C calc'!A0" in by_name  # the formula became text
    png = tmp_path / "channels.png"
    run(env, "channels", "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kpis_table_prints(env):
    out = run(env, "kpis", "--start", "2026-01-01", "--end", "2026-02-01")
    assert "leads_per_day" in out and "lead_velocity_rate" in out
