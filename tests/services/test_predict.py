"""The product path of predictive scoring on SQLite and PostgreSQL: training rows from stage history and events
as of the cut-off, versions and activation, set-based bulk scoring, incremental rescoring, and the API."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from leadline.jobs import runner
from leadline.predict import persistence
from leadline.services.errors import Invalid
from leadline.services.predict import (
    TrainOptions,
    current_features,
    due_for_rescoring,
    predict_lead,
    rescore_due,
    score_leads,
    train_version,
    training_data,
)
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.partitions import ensure_event_partitions
from leadline.storage.tables import Event, Lead, LeadPrediction, PredictionModel, StageTransition

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OPTIONS = TrainOptions(target="customer", horizon_days=30, observe_days=2, algorithm="logistic")
AUTO = TrainOptions(target="customer", horizon_days=30, observe_days=2)  # every candidate: slower


def seed(db, workspace="acme", leads=400, open_leads=20, seed=0):
    """Historical leads whose pricing-page views in their first two days drive conversion, plus open leads."""
    rng = np.random.default_rng(seed)
    with db.write() as session:
        ws = get_or_create_workspace(session, workspace).id
    lead_rows, events, transitions = [], [], []
    total = leads + open_leads
    created = [NOW - timedelta(days=400) + timedelta(hours=int(h)) for h in np.sort(rng.integers(0, 24 * 360, leads))]
    created += [NOW - timedelta(days=int(d)) for d in rng.integers(1, 20, open_leads)]
    views = rng.poisson(1.2, total)
    channel = rng.choice(["seo", "sea", "email"], total)
    converts = rng.random(total) < 1 / (1 + np.exp(-(-2.5 + 1.1 * views + (channel == "sea"))))
    with db.write() as session:
        first = session.scalar(select(func.coalesce(func.max(Lead.id), 0))) + 1
        for i in range(total):
            lead_id, historical = first + i, i < leads
            stage = ("customer" if converts[i] else "mql") if historical else "mql"
            lead_rows.append({"id": lead_id, "workspace_id": ws, "email": f"l{i}@{workspace}.example",
                              "stage": stage, "created_at": created[i], "updated_at": created[i],
                              "first_channel": str(channel[i]), "fit_score": float(rng.integers(0, 50))})
            for k in range(int(views[i])):
                at = created[i] + timedelta(hours=1 + 10 * k)
                events.append({"workspace_id": ws, "type": "pricing_view", "occurred_at": at, "received_at": at,
                               "lead_id": lead_id})
            # A visit after the cut-off must not leak into the features.
            later = created[i] + timedelta(days=5)
            events.append({"workspace_id": ws, "type": "page_view", "occurred_at": later, "received_at": later,
                           "lead_id": lead_id})
            transitions.append({"workspace_id": ws, "lead_id": lead_id, "from_stage": "new", "to_stage": "mql",
                                "occurred_at": created[i], "actor_type": "import"})
            if historical and converts[i]:
                transitions.append({"workspace_id": ws, "lead_id": lead_id, "from_stage": "mql",
                                    "to_stage": "customer", "occurred_at": created[i] + timedelta(days=10),
                                    "actor_type": "user"})
        session.execute(insert(Lead), lead_rows)
        events = [e for e in events if e["occurred_at"] <= NOW]
        ensure_event_partitions(session.connection(), (e["occurred_at"] for e in events))
        session.execute(insert(Event), events)
        session.execute(insert(StageTransition), transitions)
    return ws


def test_training_rows_labels_and_no_leak_from_after_the_cutoff(db):
    ws = seed(db)
    with db.read() as session:
        data = training_data(session, ws, OPTIONS, NOW)
    assert len(data.y) == 400 and 0.2 < data.y.mean() < 0.8
    assert list(data.cutoffs) == sorted(data.cutoffs)  # time order
    assert data.event_types == ["pricing_view"]  # page views all come after the cut-off: unseen
    assert data.frame["ev_pricing_view_all"].sum() > 300
    assert data.frame["ev_pricing_view_all"].corr(pd.Series(data.y, index=data.frame.index)) > 0.3


def reference_engagement(events, cutoff, types):
    """The engagement columns computed the slow, obvious way in pandas."""
    events = events[events["occurred_at"] <= cutoff]
    events = events.assign(age=(cutoff - events["occurred_at"]).dt.total_seconds())
    out = {}
    for lead, rows in events.groupby("lead_id"):
        row = {"events_total": float(len(rows)), "days_since_last_event": rows["age"].min() / 86400}
        for t in types:
            of_type = rows[rows["type"] == t]
            row[f"ev_{t}_all"] = float(len(of_type))
            for w in (7, 30):
                row[f"ev_{t}_{w}d"] = float((of_type["age"] < w * 86400).sum())
        out[lead] = row
    return pd.DataFrame.from_dict(out, orient="index")


def test_sql_engagement_equals_a_plain_pandas_computation(db):
    ws = seed(db, leads=50, open_leads=10)
    now = NOW - timedelta(days=3)  # some events after `now` must be left out
    types = ["pricing_view", "page_view"]
    with db.read() as session:
        rows = pd.DataFrame(session.execute(select(Event.lead_id, Event.type, Event.occurred_at)
                                            .where(Event.workspace_id == ws)).all(),
                            columns=["lead_id", "type", "occurred_at"])
        features = current_features(session, ws, types, now)
    expected = reference_engagement(rows.assign(occurred_at=pd.to_datetime(rows["occurred_at"], utc=True)),
                                    pd.Timestamp(now), types)
    got = features[expected.columns].loc[expected.index.intersection(features.index)]
    assert len(got) > 10
    pd.testing.assert_frame_equal(got.astype(float), expected.loc[got.index].astype(float), check_names=False,
                                  atol=1e-3)


def test_train_activate_score_and_refuse_a_model_that_does_not_beat_the_active_one(db):
    ws = seed(db)
    first = train_version(db, ws, AUTO, actor="test", now=NOW)
    assert set(first.metrics["validation_auc"]) == {"naive_bayes", "logistic", "boosted_trees"}
    assert first.active and first.version == 1 and first.metrics["roc_auc"] > 0.7
    assert first.metrics["brier"] < first.metrics["brier_base"]
    assert "naive_bayes_baseline" in first.metrics and first.activation == "activated: no model was active"
    assert first.data_from < first.holdout_from < first.data_to and first.train_rows == 320
    assert persistence.loads(first.blob).algorithm == first.algorithm
    assert score_leads(db, ws, now=NOW) == _open_leads(db, ws)  # every open lead, none of the customers
    second = train_version(db, ws, OPTIONS, actor="test", now=NOW)
    assert not second.active and second.activation.startswith("not activated: on this holdout ROC AUC")
    with db.read() as session:
        assert session.scalar(select(PredictionModel.version).where(PredictionModel.active.is_(True))) == 1
        hot = predict_lead(session, ws, _open_lead(session, ws, most_views=True), now=NOW)
        cold = predict_lead(session, ws, _open_lead(session, ws, most_views=False), now=NOW)
    assert hot.probability > cold.probability and 0 < len(hot.reasons) <= 3
    assert any("pricing_view" in r.text and "raises the chance" in r.text for r in hot.reasons)


def _open_leads(db, ws):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Lead).where(Lead.workspace_id == ws,
                                                                           Lead.stage == "mql"))


def _open_lead(session, ws, *, most_views):
    views = (select(Event.lead_id, func.count().label("n")).where(Event.workspace_id == ws,
                                                                    Event.type == "pricing_view")
             .group_by(Event.lead_id).subquery())
    query = (select(Lead.id).outerjoin(views, views.c.lead_id == Lead.id)
             .where(Lead.workspace_id == ws, Lead.stage == "mql", Lead.created_at > NOW - timedelta(days=30))
             .order_by(func.coalesce(views.c.n, 0).desc() if most_views else func.coalesce(views.c.n, 0), Lead.id))
    return session.scalars(query).first()


def test_new_events_rescore_the_lead_on_the_next_tick(db):
    ws = seed(db)
    train_version(db, ws, OPTIONS, actor="test", now=NOW)
    score_leads(db, ws, now=NOW)
    later = NOW + timedelta(minutes=5)
    with db.read() as session:
        lead = _open_lead(session, ws, most_views=False)
        assert due_for_rescoring(session, ws, later) == []
        before = session.scalar(select(LeadPrediction.probability).where(LeadPrediction.lead_id == lead))
    with db.write() as session:
        ensure_event_partitions(session.connection(), [later])
        session.execute(insert(Event), [{"workspace_id": ws, "type": "pricing_view", "lead_id": lead,
                                         "occurred_at": later, "received_at": later}] * 4)
    with db.read() as session:
        assert due_for_rescoring(session, ws, later) == [lead]
    assert rescore_due(db, later) == 1
    with db.read() as session:
        after = session.get(LeadPrediction, lead)
        assert after.scored_at == later and after.probability > before
    import leadline.jobs.tasks  # noqa: F401  (registers the periodic tasks)

    assert "predict-rescore" in runner._TASKS


def test_too_few_outcomes_is_refused_with_the_reason(db):
    ws = seed(db, leads=30, open_leads=0)
    with pytest.raises(Invalid, match="at least 100"):
        train_version(db, ws, OPTIONS, actor="test", now=NOW)
    with pytest.raises(Invalid, match="target"):
        train_version(db, ws, TrainOptions(target="won"), actor="test", now=NOW)


def test_api_train_models_and_lead_prediction(client, auth, db, workspace_id, monkeypatch):
    import leadline.services.predict as service

    monkeypatch.setattr(service, "utcnow", lambda: NOW)
    seed(db, workspace="acme")
    assert client.get("/api/v1/leads/1/prediction", headers=auth).status_code == 404  # no model yet
    bad = client.post("/api/v1/predict/train", json={"horizon_days": 0}, headers=auth)
    assert bad.status_code == 422 and "horizon_days" in bad.text
    trained = client.post("/api/v1/predict/train", json={"horizon_days": 30, "observe_days": 2,
                                                                "algorithm": "naive_bayes"}, headers=auth)
    assert trained.status_code == 200, trained.text
    body = trained.json()
    assert body["version"] == 1 and body["active"] and body["scored"] > 20 and body["metrics"]["roc_auc"] > 0.7
    assert body["algorithm"] == "naive_bayes"
    models = client.get("/api/v1/predict/models", headers=auth).json()
    assert [m["version"] for m in models] == [1] and models[0]["features"]["event_types"]
    with db.read() as session:
        lead = _open_lead(session, workspace_id, most_views=True)
    got = client.get(f"/api/v1/leads/{lead}/prediction", headers=auth)
    assert got.status_code == 200, got.text
    prediction = got.json()
    assert prediction["lead_id"] == str(lead) and 0 < prediction["probability"] < 1
    assert prediction["reasons"] and all(r["text"] for r in prediction["reasons"])
    assert client.get("/api/v1/leads/999999/prediction", headers=auth).status_code == 404
    assert client.get("/api/v1/leads/abc/prediction", headers=auth).status_code in (404, 422)
