"""The leads' funnel rollup kept by change_stage equals the one recomputed from the stage history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from leadline.core.leads import Stage
from leadline.core.lifecycle import Actor, ActorType, allowed_targets
from leadline.services.funnel_facts import refresh_funnel_facts
from leadline.services.lifecycle import change_stage
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Lead

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROBOT = Actor(ActorType.SYSTEM, "test")
COLUMNS = ("funnel_rank", "mql_at", "sql_at", "opportunity_at", "customer_at")


def _snapshot(session, workspace_id):
    return {lead.id: tuple(getattr(lead, c) for c in COLUMNS)
            for lead in session.scalars(select(Lead).where(Lead.workspace_id == workspace_id))}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(min_value=0, max_value=6), max_size=8), min_size=1, max_size=6))
def test_kept_rollup_equals_the_one_recomputed_from_history(db, walks):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "facts")
        session.query(Lead).filter(Lead.workspace_id == workspace.id).delete()
        for n, walk in enumerate(walks):
            lead = Lead(workspace_id=workspace.id, email=f"f{n}@x.example", custom={}, created_at=T0)
            session.add(lead)
            session.flush()
            at = T0
            for pick in walk:  # a random walk through the allowed moves, reasons where needed
                targets = sorted(allowed_targets(Stage(lead.stage)))
                if not targets:
                    break
                target = targets[pick % len(targets)]
                reason = {"disqualified": "spam", "recycled": "no_answer"}.get(target.value)
                at += timedelta(hours=1 + pick)
                change_stage(session, workspace_id=workspace.id, lead=lead, to=target, actor=ROBOT, reason=reason,
                             now=at)
        session.flush()
        kept = _snapshot(session, workspace.id)
        refresh_funnel_facts(session, workspace_id=workspace.id)
        session.expire_all()
        assert _snapshot(session, workspace.id) == kept
