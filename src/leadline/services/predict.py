"""Predictive scoring on a workspace's own history: training data, model versions, bulk and incremental scoring.

Training data
-------------
A lead is a training row once its outcome is known: created at least `observe_days + horizon_days` ago. Its
features are taken at the cut-off `created_at + observe_days` (profile and first touch, and engagement from
events that occurred up to the cut-off: counts per event type in the last 7 and 30 days and in all, recency).
Its label is 1 when `stage_transitions` shows it reaching the target stage (customer; or sql, opportunity or
customer for target `sql`) after the cut-off and within the horizon; leads that reached it before the cut-off
are left out (nobody scores a lead that has already converted). Rows are ordered by cut-off: the latest 20 % are
the holdout, the model is chosen and calibrated on the rest (`leadline.predict.models`), never seeing the
holdout. The lead's current rule score is not a feature: it has seen events after the cut-off. The fit score
(profile rules) is.

Activation
----------
The new version is activated only if it beats the active one on the same holdout (higher ROC AUC; on a tie,
lower Brier score); the decision and its figures are stored with the version.

Scoring
-------
`score_leads` computes every open lead's features with set-based SQL (one GROUP BY over events) as of now,
predicts in one vectorised call and replaces the rows of `lead_predictions`. Near real time: the periodic task
`predict-rescore` (every 60 s) rescores, set-based, the open leads that are new, have events received since
they were last scored, or were scored more than a day ago (the time windows move even with no new event).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, and_, case, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.leads import Stage
from leadline.predict import persistence
from leadline.predict.evaluation import evaluate
from leadline.predict.features import learn_spec
from leadline.predict.models import CANDIDATES, FALLBACK, LeadModel, train
from leadline.predict.reasons import Reason, reasons
from leadline.services.errors import Invalid, NotFound
from leadline.services.scoring.gate import profiling_allowed
from leadline.storage.database import Database
from leadline.storage.tables import Company, Event, Lead, LeadPrediction, PredictionModel, StageTransition
from leadline.storage.types import utcnow

TARGETS: dict[str, tuple[str, ...]] = {
    "customer": (Stage.CUSTOMER.value,),
    "sql": (Stage.SQL.value, Stage.OPPORTUNITY.value, Stage.CUSTOMER.value),
}
CLOSED = (Stage.CUSTOMER.value, Stage.DISQUALIFIED.value)
WINDOWS = (7, 30)
MAX_EVENT_TYPES = 8
MIN_ROWS = 100
HOLDOUT_SHARE = 0.2
WRITE_CHUNK = 20_000
RESCORE_BATCH = 50_000
STALE_AFTER = timedelta(days=1)

LEAD_CATEGORICAL = ("first_channel", "first_campaign", "landing_page", "country", "language", "job_title",
                    "company_industry", "company_country", "created_weekday", "created_month")
LEAD_NUMERIC = ("fit_score", "company_size", "company_revenue")
LABELS = {"first_channel": "first channel", "first_campaign": "first campaign", "landing_page": "landing page",
          "job_title": "job title", "company_industry": "company industry", "company_country": "company country",
          "created_weekday": "day of first contact", "created_month": "month of first contact",
          "fit_score": "fit score (profile rules)", "company_size": "company size (employees)",
          "company_revenue": "company revenue", "events_total": "activities in all",
          "days_since_last_event": "days since the last activity"}


@dataclass(frozen=True)
class TrainOptions:
    target: str = "customer"
    horizon_days: int = 180
    observe_days: int = 0
    #: None: choose among every candidate on the validation folds; or one of `leadline.predict.models.CANDIDATES`.
    algorithm: str | None = None

    def check(self) -> None:
        problems = []
        if self.algorithm is not None and self.algorithm not in CANDIDATES:
            problems.append(FieldProblem("algorithm", f"one of {', '.join(CANDIDATES)}"))
        if self.target not in TARGETS:
            problems.append(FieldProblem("target", f"one of {', '.join(TARGETS)}"))
        if not 1 <= self.horizon_days <= 3650:
            problems.append(FieldProblem("horizon_days", "between 1 and 3650"))
        if not 0 <= self.observe_days <= 365:
            problems.append(FieldProblem("observe_days", "between 0 and 365"))
        if problems:
            raise Invalid(problems)


def label(feature: str) -> str:
    """Plain words for a feature name: `ev_pricing_view_7d` -> `pricing_view in the last 7 days`."""
    if feature in LABELS:
        return LABELS[feature]
    if feature.startswith("ev_"):
        kind, _, window = feature[3:].rpartition("_")
        return f"{kind} in the last {window[:-1]} days" if window.endswith("d") else f"{kind} in all"
    return feature.replace("_", " ")


def event_columns(types: Sequence[str]) -> list[str]:
    return [f"ev_{t}_{w}d" for t in types for w in WINDOWS] + [f"ev_{t}_all" for t in types] + \
        ["events_total", "days_since_last_event"]


# ---- features ---------------------------------------------------------------------------------------------
# Times travel as epoch seconds computed in the database: parsing a datetime object per row in Python costs more
# than the whole GROUP BY.

def epoch(column: Any, dialect: str) -> Any:
    """Seconds since 1970 of a UTCDateTime column, computed by the database."""
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def _seconds(when: datetime) -> float:
    return when.timestamp()


def _lead_query(workspace_id: int, dialect: str) -> Select[Any]:
    return (select(Lead.id.label("lead_id"), epoch(Lead.created_at, dialect).label("created"), Lead.first_channel,
                   Lead.first_campaign, Lead.first_touch, Lead.country, Lead.language, Lead.job_title,
                   Lead.fit_score, Company.industry.label("company_industry"),
                   Company.country.label("company_country"), Company.size.label("company_size"),
                   Company.revenue.label("company_revenue"))
            .outerjoin(Company, Company.id == Lead.company_id)
            # training and scoring are profiling: never on a lead that refused it or objected (Art. 21)
            .where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), profiling_allowed()))


def _lead_frame(session: Session, query: Select[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(session.execute(query).all(), columns=list(query.selected_columns.keys()))
    if frame.empty:
        return frame
    touches = frame.pop("first_touch")
    frame["landing_page"] = [t.get("landing_page") if isinstance(t, dict) else None for t in touches]
    created = pd.to_datetime(frame["created"].astype(float), unit="s", utc=True)
    frame["created_weekday"] = created.dt.day_name().astype(object)
    frame["created_month"] = created.dt.month_name().astype(object)
    return frame.set_index("lead_id")


def engagement_sql(session: Session, workspace_id: int, leads: Any, types: Sequence[str],
                   now: datetime | None = None) -> pd.DataFrame:
    """Engagement of the leads of `leads` (a subquery of `id` and `cutoff`, epoch seconds) as of each one's
    cut-off, one row per lead, in one GROUP BY: counts per type in the last 7 and 30 days and in all, all
    events, days since the last one. Events after the cut-off are not read. With `now` (every cut-off is now:
    scoring), windows compare the stored times with bound values, which is several times cheaper per event than
    computing each event's age."""
    dialect = session.get_bind().dialect.name
    if now is None:
        age = leads.c.cutoff - epoch(Event.occurred_at, dialect)
        within = [age < w * 86400 for w in WINDOWS]
        visible, last = age >= 0, func.min(age) / 86400.0
    else:
        within = [Event.occurred_at > now - timedelta(days=w) for w in WINDOWS]
        visible = Event.occurred_at <= now
        last = (_seconds(now) - epoch(func.max(Event.occurred_at), dialect)) / 86400.0
    names, columns = ["events_total", "days_since_last_event"], [func.count(), last]
    for t in types:
        for w, condition in zip(WINDOWS, within, strict=True):
            names.append(f"ev_{t}_{w}d")
            columns.append(func.sum(case((and_(Event.type == t, condition), 1), else_=0)))
        names.append(f"ev_{t}_all")
        columns.append(func.sum(case((Event.type == t, 1), else_=0)))
    query = (select(Event.lead_id, *columns).join(leads, leads.c.id == Event.lead_id)
             .where(Event.workspace_id == workspace_id, visible).group_by(Event.lead_id))
    rows = pd.DataFrame(session.execute(query).all(), columns=["lead_id", *names]).set_index("lead_id")
    return rows.astype(float).reindex(columns=event_columns(types))


def _with_engagement(session: Session, workspace_id: int, leads: pd.DataFrame, subquery: Any,
                     types: Sequence[str], now: datetime | None = None) -> pd.DataFrame:
    engagement = engagement_sql(session, workspace_id, subquery, types, now)
    frame = leads.drop(columns=["created"]).join(engagement)
    counts = [c for c in event_columns(types) if c != "days_since_last_event"]
    frame[counts] = frame[counts].fillna(0.0)
    return frame


# ---- training ---------------------------------------------------------------------------------------------

@dataclass
class TrainingData:
    frame: pd.DataFrame  # features, one row per lead, in cut-off order
    y: np.ndarray
    cutoffs: np.ndarray  # epoch seconds
    event_types: list[str]


def training_data(session: Session, workspace_id: int, options: TrainOptions, now: datetime) -> TrainingData:
    dialect = session.get_bind().dialect.name
    observe, horizon = options.observe_days * 86400.0, options.horizon_days * 86400.0
    known = Lead.created_at <= now - timedelta(seconds=observe + horizon)
    leads = _lead_frame(session, _lead_query(workspace_id, dialect).where(known))
    if leads.empty:
        return TrainingData(pd.DataFrame(), np.empty(0, dtype=np.int8), np.empty(0), [])
    cutoffs = leads["created"].astype(float) + observe
    reached_q = (select(StageTransition.lead_id, func.min(epoch(StageTransition.occurred_at, dialect)))
                 .where(StageTransition.workspace_id == workspace_id,
                        StageTransition.to_stage.in_(TARGETS[options.target]))
                 .group_by(StageTransition.lead_id))
    reached = pd.Series(dict(session.execute(reached_q).all()), dtype=float).reindex(leads.index)
    before = reached.notna() & (reached <= cutoffs)
    y = (reached.notna() & (reached > cutoffs) & (reached <= cutoffs + horizon)).to_numpy(np.int8)
    keep = ~before.to_numpy()
    leads, cutoffs, y = leads[keep], cutoffs[keep], y[keep]
    subquery = (select(Lead.id, (epoch(Lead.created_at, dialect) + observe).label("cutoff"))
                .where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), known).subquery())
    commonest = (select(Event.type).join(subquery, subquery.c.id == Event.lead_id)
                 .where(Event.workspace_id == workspace_id,
                        epoch(Event.occurred_at, dialect) <= subquery.c.cutoff)
                 .group_by(Event.type).order_by(func.count().desc(), Event.type).limit(MAX_EVENT_TYPES))
    types = [str(t) for t in session.scalars(commonest)]
    frame = _with_engagement(session, workspace_id, leads, subquery, types)
    order = np.argsort(cutoffs.to_numpy(), kind="stable")
    return TrainingData(frame.iloc[order], y[order], cutoffs.to_numpy()[order], types)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


def _numeric_columns(types: Sequence[str]) -> list[str]:
    return [*LEAD_NUMERIC, *event_columns(types)]


def _version_metrics(model: LeadModel, baseline: LeadModel, active: LeadModel | None, holdout: pd.DataFrame,
                     y: np.ndarray) -> tuple[dict[str, Any], float | None, float | None]:
    report = evaluate(y, model.predict(holdout))
    metrics: dict[str, Any] = {**report.as_dict(), "why": model.why, "validation_auc": model.validation_auc,
                               "naive_bayes_baseline": evaluate(y, baseline.predict(holdout)).as_dict()}
    if active is None:
        return metrics, None, None
    previous = evaluate(y, active.predict(holdout), rounds=0)
    metrics["active_model_on_this_holdout"] = {"roc_auc": previous.roc_auc, "brier": previous.brier}
    return metrics, previous.roc_auc, previous.brier


def _active_row(session: Session, workspace_id: int) -> PredictionModel | None:
    return session.scalar(select(PredictionModel).where(PredictionModel.workspace_id == workspace_id,
                                                        PredictionModel.active.is_(True)))


def train_version(db: Database, workspace_id: int, options: TrainOptions, *, actor: str,
                  now: datetime | None = None) -> PredictionModel:
    """Train, evaluate on the latest 20 % and store a new version; activate it if it beats the active one."""
    options.check()
    now = now or utcnow()
    with db.read() as session:
        data = training_data(session, workspace_id, options, now)
        active_row = _active_row(session, workspace_id)
        active, unreadable = None, ""
        if active_row is not None:
            try:
                active = persistence.loads(active_row.blob)
            except (persistence.UntrustedModel, ValueError, TypeError, AttributeError) as exc:
                # Written by another version whose types are no longer trusted: it cannot be compared.
                unreadable = f"; the active version {active_row.version} could not be loaded ({exc})"
    rows, positives = len(data.y), int(data.y.sum())
    if rows < MIN_ROWS or positives < 2 or rows - positives < 2:
        raise Invalid([FieldProblem("leads", f"{rows} leads with a known outcome ({positives} reached "
                                    f"{options.target}): at least {MIN_ROWS} with both outcomes are needed")])
    cut = int(rows * (1 - HOLDOUT_SHARE))
    categorical = [c for c in LEAD_CATEGORICAL if data.frame[c].notna().any()]
    numeric = [c for c in _numeric_columns(data.event_types) if data.frame[c].notna().any()]
    train_x, test_x, train_y, test_y = data.frame.iloc[:cut], data.frame.iloc[cut:], data.y[:cut], data.y[cut:]
    spec = learn_spec(train_x, categorical=categorical, numeric=numeric, clip=True)
    model = train(train_x, train_y, spec, ordered=True,
                  candidates=(options.algorithm,) if options.algorithm else None)
    baseline = model if model.algorithm == FALLBACK and len(model.validation_auc) == 1 else \
        train(train_x, train_y, spec, ordered=True, candidates=(FALLBACK,))
    metrics, old_auc, old_brier = _version_metrics(model, baseline, active, test_x, test_y)
    new_auc, new_brier = metrics["roc_auc"], metrics["brier"]
    if old_auc is None:
        wins, activation = True, ("activated: no model was active" if not unreadable else f"activated{unreadable}")
    else:
        wins = new_auc > old_auc or (new_auc == old_auc and new_brier < (old_brier or 1.0))
        activation = (f"{'activated' if wins else 'not activated'}: on this holdout ROC AUC {new_auc:.3f} vs "
                      f"{old_auc:.3f} for version {active_row.version if active_row else '?'}, "
                      f"Brier {new_brier:.4f} vs {old_brier:.4f}")
    with db.write() as session:
        version = (session.scalar(select(func.max(PredictionModel.version))
                                  .where(PredictionModel.workspace_id == workspace_id)) or 0) + 1
        if wins:
            session.execute(update(PredictionModel).where(PredictionModel.workspace_id == workspace_id)
                            .values(active=False))
        row = PredictionModel(
            workspace_id=workspace_id, version=version, algorithm=model.algorithm, target=options.target,
            horizon_days=options.horizon_days, observe_days=options.observe_days,
            data_from=_when(data.cutoffs[0]), data_to=_when(data.cutoffs[-1]), holdout_from=_when(data.cutoffs[cut]),
            train_rows=cut, test_rows=rows - cut,
            positives=positives, metrics=metrics,
            features={"numeric": list(spec.numeric), "categorical": list(spec.categorical),
                      "event_types": data.event_types}, why=model.why, activation=activation,
            blob=persistence.dumps(model), active=wins, created_by=actor, created_at=now,
            activated_at=now if wins else None)
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def train_and_score(db: Database, workspace_id: int, options: TrainOptions, *, actor: str) -> dict[str, Any]:
    row = train_version(db, workspace_id, options, actor=actor)
    started = time.perf_counter()
    scored = score_leads(db, workspace_id) if row.active else 0
    return {"version": row.version, "algorithm": row.algorithm, "active": row.active, "activation": row.activation,
            "why": row.why, "metrics": row.metrics, "train_rows": row.train_rows, "test_rows": row.test_rows,
            "scored": scored, "score_seconds": round(time.perf_counter() - started, 2)}


# ---- scoring ----------------------------------------------------------------------------------------------

@dataclass
class ActiveModel:
    id: int
    version: int
    model: LeadModel
    event_types: list[str]


def load_active(session: Session, workspace_id: int) -> ActiveModel | None:
    row = _active_row(session, workspace_id)
    if row is None:
        return None
    return ActiveModel(row.id, row.version, persistence.loads(row.blob), list(row.features["event_types"]))


def _open_leads(workspace_id: int, dialect: str) -> Select[Any]:
    return _lead_query(workspace_id, dialect).where(Lead.stage.not_in(CLOSED))


def current_features(session: Session, workspace_id: int, types: Sequence[str], now: datetime,
                     lead_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """Features as of now for the open leads (or those of `lead_ids`), set-based."""
    dialect = session.get_bind().dialect.name
    query = _open_leads(workspace_id, dialect)
    subquery = select(Lead.id, literal(_seconds(now)).label("cutoff")).where(
        Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), Lead.stage.not_in(CLOSED))
    subquery = subquery.where(profiling_allowed())
    if lead_ids is not None:
        ids = list(lead_ids)
        query, subquery = query.where(Lead.id.in_(ids)), subquery.where(Lead.id.in_(ids))
    leads = _lead_frame(session, query)
    if leads.empty:
        return leads
    return _with_engagement(session, workspace_id, leads, subquery.subquery(), types, now)


def score_leads(db: Database, workspace_id: int, *, now: datetime | None = None,
                lead_ids: Sequence[int] | None = None) -> int:
    """Score the open leads (all, or those of `lead_ids`) with the active model; returns how many."""
    now = now or utcnow()
    with db.read() as session:
        active = load_active(session, workspace_id)
        if active is None:
            return 0
        frame = current_features(session, workspace_id, active.event_types, now, lead_ids)
    probabilities = active.model.predict(frame) if len(frame) else np.empty(0)
    ids = frame.index.to_numpy(dtype=np.int64)
    with db.write() as session:
        stale = delete(LeadPrediction).where(LeadPrediction.workspace_id == workspace_id)
        if lead_ids is not None:
            stale = stale.where(LeadPrediction.lead_id.in_(list(lead_ids)))
        session.execute(stale)
        for start in range(0, len(ids), WRITE_CHUNK):
            session.execute(insert(LeadPrediction.__table__), [
                {"lead_id": int(i), "workspace_id": workspace_id, "model_id": active.id, "probability": float(p),
                 "scored_at": now}
                for i, p in zip(ids[start:start + WRITE_CHUNK], probabilities[start:start + WRITE_CHUNK],
                                strict=True)])
    return len(ids)


def due_for_rescoring(session: Session, workspace_id: int, now: datetime, limit: int = RESCORE_BATCH) -> list[int]:
    """Open leads never scored, with events received since their scoring, or scored more than a day ago."""
    newer = exists().where(Event.workspace_id == workspace_id, Event.lead_id == Lead.id,
                           Event.received_at > LeadPrediction.scored_at)
    query = (select(Lead.id).outerjoin(LeadPrediction, LeadPrediction.lead_id == Lead.id)
             .where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), Lead.stage.not_in(CLOSED),
                    profiling_allowed(),
                    or_(LeadPrediction.lead_id.is_(None), LeadPrediction.scored_at < now - STALE_AFTER,
                        and_(newer)))
             .order_by(Lead.id).limit(limit))
    return [int(i) for i in session.scalars(query)]


def workspaces_with_models(session: Session) -> list[int]:
    return [int(w) for w in session.scalars(select(PredictionModel.workspace_id)
                                            .where(PredictionModel.active.is_(True)).distinct())]


def rescore_due(db: Database, now: datetime) -> int:
    done = 0
    with db.read() as session:
        workspaces = workspaces_with_models(session)
    for workspace_id in workspaces:
        with db.read() as session:
            ids = due_for_rescoring(session, workspace_id, now)
        if ids:
            done += score_leads(db, workspace_id, now=now, lead_ids=ids)
    return done


# ---- one lead ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LeadPredictionView:
    lead_id: int
    probability: float
    model_version: int
    algorithm: str
    target: str
    horizon_days: int
    base_rate: float
    reasons: list[Reason]
    computed_at: datetime


def predict_lead(session: Session, workspace_id: int, lead_id: int, *, now: datetime | None = None,
                 ) -> LeadPredictionView:
    """The lead's probability now, with its top three reasons (computed fresh, not read from the table)."""
    now = now or utcnow()
    row = _active_row(session, workspace_id)
    if row is None:
        raise NotFound("no active predictive model in this workspace: train one first")
    exists_q = select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.id == lead_id,
                                     Lead.merged_into_id.is_(None))
    if session.scalar(exists_q) is None:
        raise NotFound("lead not found")
    model = persistence.loads(row.blob)
    frame = current_features(session, workspace_id, list(row.features["event_types"]), now, [lead_id])
    if frame.empty:  # a closed lead (customer, disqualified): still explain it, as of now
        dialect = session.get_bind().dialect.name
        leads = _lead_frame(session, _lead_query(workspace_id, dialect).where(Lead.id == lead_id))
        subquery = select(Lead.id, literal(_seconds(now)).label("cutoff")).where(Lead.id == lead_id).subquery()
        frame = _with_engagement(session, workspace_id, leads, subquery, list(row.features["event_types"]), now)
    probability = float(model.predict(frame)[0])
    return LeadPredictionView(lead_id=lead_id, probability=round(probability, 4), model_version=row.version,
                              algorithm=row.algorithm, target=row.target, horizon_days=row.horizon_days,
                              base_rate=round(model.base_rate, 4), reasons=reasons(model, frame, label=label)[0],
                              computed_at=now)


def list_models(session: Session, workspace_id: int) -> list[PredictionModel]:
    return list(session.scalars(select(PredictionModel).where(PredictionModel.workspace_id == workspace_id)
                                .order_by(PredictionModel.version.desc())))
