"""Predictive scoring: train a model on the workspace's history, list its versions, a lead's probability."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from leadline.api.deps import Admin, DatabaseDep, Reader, ReadSession, parse_id

# `leadline.services.predict` is imported in the handlers: it loads pandas and scikit-learn (seconds on a busy
# machine), which the API's start-up should not wait for.

router = APIRouter(prefix="/api/v1", tags=["predictive scoring"])


class ReasonOut(BaseModel):
    feature: str
    value: str
    effect: float = Field(description="Probability with this value minus probability with the typical value")
    without: float = Field(description="The probability had this factor been typical")
    text: str


class PredictionOut(BaseModel):
    lead_id: str
    probability: float = Field(description="Calibrated probability of reaching the target stage within the horizon")
    base_rate: float = Field(description="Share of training leads that reached it")
    target: str
    horizon_days: int
    model_version: int
    algorithm: str
    reasons: list[ReasonOut] = Field(description="The (up to) three factors that move this lead's probability most")
    computed_at: datetime


class TrainIn(BaseModel):
    target: Literal["customer", "sql"] = "customer"
    horizon_days: int = Field(180, ge=1, le=3650)
    observe_days: int = Field(0, ge=0, le=365)
    algorithm: Literal["boosted_trees", "logistic", "naive_bayes"] | None = Field(
        None, description="None: chosen on rolling time folds among every candidate")


class TrainOut(BaseModel):
    version: int
    algorithm: str
    active: bool
    activation: str
    why: str
    train_rows: int
    test_rows: int
    scored: int
    metrics: dict[str, Any]


class PredictionModelOut(BaseModel):
    version: int
    algorithm: str
    active: bool
    target: str
    horizon_days: int
    observe_days: int
    data_from: datetime
    data_to: datetime
    holdout_from: datetime
    train_rows: int
    test_rows: int
    positives: int
    roc_auc: float | None
    brier: float | None
    why: str
    activation: str
    features: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None


@router.get("/leads/{lead_id}/prediction", response_model=PredictionOut)
def lead_prediction(lead_id: str, principal: Reader, session: ReadSession) -> PredictionOut:
    """The lead's conversion probability now from the active model, with its top three reasons."""
    from leadline.services.predict import predict_lead

    view = predict_lead(session, principal.workspace_id, parse_id(lead_id))
    return PredictionOut(lead_id=str(view.lead_id), probability=view.probability, base_rate=view.base_rate,
                         target=view.target, horizon_days=view.horizon_days, model_version=view.model_version,
                         algorithm=view.algorithm, computed_at=view.computed_at,
                         reasons=[ReasonOut(feature=r.feature, value=r.value, effect=r.effect, without=r.without,
                                            text=r.text) for r in view.reasons])


@router.post("/predict/train", response_model=TrainOut)
async def train_model(body: TrainIn, principal: Admin, db: DatabaseDep) -> TrainOut:
    """Train a new version on the leads with a known outcome, evaluate it on the latest 20 %, activate it if it
    beats the active version on that holdout, and score every open lead with the active one."""
    from leadline.services.predict import TrainOptions, train_and_score

    options = TrainOptions(target=body.target, horizon_days=body.horizon_days, observe_days=body.observe_days,
                           algorithm=body.algorithm)
    # Mostly reading and fitting; its short write transactions take the database's own lock, no API gate.
    result = await run_in_threadpool(lambda: train_and_score(db, principal.workspace_id, options,
                                                             actor=principal.actor))
    return TrainOut(**{k: result[k] for k in TrainOut.model_fields})


@router.get("/predict/models", response_model=list[PredictionModelOut])
def prediction_models(principal: Reader, session: ReadSession) -> list[PredictionModelOut]:
    """Every trained version, newest first: data window, holdout metrics, features, why chosen and activated."""
    from leadline.services.predict import list_models

    return [PredictionModelOut(
        version=m.version, algorithm=m.algorithm, active=m.active, target=m.target, horizon_days=m.horizon_days,
        observe_days=m.observe_days, data_from=m.data_from, data_to=m.data_to, holdout_from=m.holdout_from,
        train_rows=m.train_rows, test_rows=m.test_rows, positives=m.positives, roc_auc=m.metrics.get("roc_auc"),
        brier=m.metrics.get("brier"), why=m.why, activation=m.activation, features=m.features,
        created_at=m.created_at, activated_at=m.activated_at) for m in list_models(session, principal.workspace_id)]
