"""Backtest: leads scored from their events before the cut-off only, outcomes read from the stage history."""

from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.lead_input import LeadInput
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.scoring.backtest import backtest
from leadline.services.scoring.models import validate
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import MqlReview, StageTransition

MODEL = validate({
    "format": "leadline-scoring/1", "name": "backtest", "decay": {"half_life_days": 30},
    "engagement": [{"name": "Quote", "event": "quote_request", "points": 80}],
    "thresholds": {"warm": 20, "hot": 50}, "mql": {"fit": 0, "engagement": 50},
})
AS_OF = datetime(2025, 6, 1, tzinfo=UTC)


def test_bands_are_judged_by_conversions_after_the_cut_off_without_peeking(db):
    before, after = AS_OF - timedelta(days=2), AS_OF + timedelta(days=10)
    with db.write() as session:
        ws = get_or_create_workspace(session, "bt")
        ids = {name: upsert_lead(session, ws.id, LeadInput(email=f"{name}@bt.example", created_at=AS_OF - timedelta(
            days=30)), mode=WriteMode.OVERWRITE, at=AS_OF - timedelta(days=30)).lead.id
               for name in ("hot_won", "hot_lost", "cold_won", "cold_late", "already", "peeker")}
        late_lead = upsert_lead(session, ws.id, LeadInput(email="late@bt.example"), mode=WriteMode.OVERWRITE,
                                at=AS_OF + timedelta(days=1)).lead.id  # created after the cut-off: not counted
        record_events(session, ws, [
            EventDraft(type="quote_request", lead_id=ids["hot_won"], occurred_at=before),
            EventDraft(type="quote_request", lead_id=ids["hot_lost"], occurred_at=before),
            EventDraft(type="quote_request", lead_id=ids["peeker"], occurred_at=after),  # after: must not count
            EventDraft(type="quote_request", lead_id=late_lead, occurred_at=after)])
        for name, at in (("hot_won", after), ("cold_won", after), ("peeker", after),
                         ("cold_late", AS_OF + timedelta(days=200)), ("already", before)):
            session.add(StageTransition(workspace_id=ws.id, lead_id=ids[name], from_stage="sql", to_stage="customer",
                                        occurred_at=at, actor_type="test"))
    result = backtest(db, ws.id, MODEL, as_of=AS_OF, horizon=timedelta(days=90))
    assert (result.leads, result.converted) == (5, 3)  # "already" converted before; "late" created after
    bands = {b.band: b for b in result.temperatures}
    assert (bands["hot"].leads, bands["hot"].converted) == (2, 1)
    assert (bands["cold"].leads, bands["cold"].converted) == (3, 2)  # the peeker is cold as of the cut-off
    assert bands["hot"].lift == pytest.approx((1 / 2) / (3 / 5))
    assert {b.band: (b.leads, b.converted) for b in result.mql} == {"mql_ready": (2, 1), "not_mql_ready": (3, 2)}


def test_sales_verdicts_within_the_horizon_are_reported_per_band(db):
    with db.write() as session:
        ws = get_or_create_workspace(session, "bt")
        ids = {name: upsert_lead(session, ws.id, LeadInput(email=f"{name}@bt.example"), mode=WriteMode.OVERWRITE,
                                 at=AS_OF - timedelta(days=30)).lead.id
               for name in ("ready_rejected", "ready_accepted", "cold_rejected", "early")}
        record_events(session, ws, [EventDraft(type="quote_request", lead_id=ids[name],
                                               occurred_at=AS_OF - timedelta(days=1))
                                    for name in ("ready_rejected", "ready_accepted")])
        verdicts = (("ready_rejected", "rejected", 5), ("ready_accepted", "accepted", 5),
                    ("cold_rejected", "rejected", 20), ("early", "rejected", -3))  # before the cut-off: not counted
        for name, decision, days in verdicts:
            session.add(MqlReview(workspace_id=ws.id, lead_id=ids[name], decision=decision, actor="test", score=0,
                                  reviewed_at=AS_OF + timedelta(days=days)))
    result = backtest(db, ws.id, MODEL, as_of=AS_OF, horizon=timedelta(days=90))
    by_band = {b.band: (b.accepted_by_sales, b.rejected_by_sales) for b in result.mql}
    assert by_band == {"mql_ready": (1, 1), "not_mql_ready": (0, 1)}
