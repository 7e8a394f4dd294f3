"""The KPI counts made in SQL (leads created, reaching MQL, becoming customers, per period) equal the lead-by-lead
reading of the funnel (`core.funnel.reached`: a skipped stage counts as reached when a later one was)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from leadline.core.funnel import LIFECYCLE_STEPS, LeadPath, reached
from leadline.services.reports.kpis import kpi_report
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import Lead

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_sql_counts_equal_the_path_by_path_reading(db: Database) -> None:
    rng = random.Random(11)
    paths = []
    with db.write() as session:
        ws = get_or_create_workspace(session, "kpis").id
        for i in range(400):
            created = T0 + timedelta(hours=rng.uniform(0, 24 * 120))
            entered = {}
            at = created
            for stage in LIFECYCLE_STEPS:  # mql, sql, opportunity, customer; some skipped, some never reached
                if rng.random() < 0.5:
                    at += timedelta(hours=rng.uniform(1, 24 * 20))
                    entered[stage] = at
                elif rng.random() < 0.3:
                    break
            paths.append(LeadPath(created, entered))
            session.add(Lead(workspace_id=ws, email=f"k{i}@kpi.org", custom={}, created_at=created,
                             **{f"{stage.value}_at": value for stage, value in entered.items()}))
    start, end = T0 + timedelta(days=60), T0 + timedelta(days=90)
    previous = start - (end - start)

    def expected(step: str) -> tuple[int, int]:
        times = [reached(path).get(step) for path in paths]
        return (sum(1 for t in times if t is not None and start <= t < end),
                sum(1 for t in times if t is not None and previous <= t < start))

    with db.read() as session:
        kpis = {k.name: k for k in kpi_report(session, workspace_id=ws, start=start, end=end).kpis}
    for name, step in (("leads", "lead"), ("mqls", "mql"), ("customers", "customer")):
        assert (kpis[name].value, kpis[name].previous) == expected(step), name
    assert expected("mql")[0] > expected("customer")[0] > 0
