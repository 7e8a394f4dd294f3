"""Scoring: the workspace's model (versions, preview, apply, rollback, rescore) and each lead's explained score."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from leadline.api.deps import Admin, DatabaseDep, Reader, ReadSession, gates, parse_id
from leadline.core.leads import Stage
from leadline.core.scoring.score import RulePoints
from leadline.services.errors import NotFound
from leadline.services.leads import get_lead
from leadline.services.scoring.backtest import BacktestResult, backtest
from leadline.services.scoring.bulk import Preview, plan_rescore, preview, try_model
from leadline.services.scoring.companies import CompanyScore, company_scores
from leadline.services.scoring.explain import explain_lead
from leadline.services.scoring.models import (
    ActiveModel,
    activate,
    active_model,
    list_versions,
    model_version,
    store_version,
    validate,
)
from leadline.storage.database import Database
from leadline.storage.tables import ScoreChange, ScoringModelVersion

router = APIRouter(prefix="/api/v1", tags=["scoring"])

ModelDocument = Annotated[dict[str, Any], Body(description=(
    "A scoring model document (`format: leadline-scoring/1`), as JSON; the README documents every key."))]


class RuleOut(BaseModel):
    key: str
    name: str
    axis: str = Field(description="fit or engagement")
    points: float = Field(description="What the rule gives now, after decay and its cap")
    raw_points: float = Field(description="Before the cap")
    occurrences: int
    last_fired_at: datetime | None
    capped: bool
    main: bool = Field(description="Counts toward the main score")
    scores: list[str] = Field(description="Named scores it also counts toward")


class NamedScoreOut(BaseModel):
    score: float
    fit: float
    engagement: float
    temperature: str


class ScoreOut(BaseModel):
    lead_id: str
    score: float = Field(description="fit_weight * fit + engagement_weight * engagement, 0..100")
    fit: float = Field(description="Sum of the fit rules' points, clamped to 0..100")
    engagement: float = Field(description="Sum of the engagement rules' points now, clamped to 0..100")
    temperature: str
    mql_ready: bool
    rules: list[RuleOut]
    fit_points: float = Field(description="Unclamped sum of the fit rules")
    engagement_points: float = Field(description="Unclamped sum of the engagement rules")
    weights: dict[str, float]
    thresholds: dict[str, float]
    model_version: int | None
    computed_at: datetime
    next_change_at: datetime | None = Field(description="When decay alone will change temperature or MQL-readiness")
    named: dict[str, NamedScoreOut] = Field(default_factory=dict, description=(
        "Scores besides the main one (rules tagged `scores: [name]` in the model), same combination"))


class ModelVersionOut(BaseModel):
    version: int
    name: str
    active: bool
    created_by: str
    created_at: datetime
    activated_at: datetime | None
    document: dict[str, Any]


class ApplyOut(BaseModel):
    version: int
    leads_rescored: int


class PreviewOut(BaseModel):
    leads: int
    temperature_changes: dict[str, int]
    became_mql_ready: int
    no_longer_mql_ready: int
    examples: list[dict[str, Any]]


class ScoreChangeOut(BaseModel):
    occurred_at: datetime
    kind: str
    from_value: str
    to_value: str
    cause: str
    score: float
    fit: float
    engagement: float
    model_version: int | None


class BacktestIn(BaseModel):
    as_of: AwareDatetime = Field(description="Score leads as of this moment, from their events before it")
    horizon_days: float = Field(default=90, ge=1, le=3650, description="Count conversions within this horizon")
    outcome_stage: Stage = Field(default=Stage.CUSTOMER, description="The stage that counts as converted")
    model: dict[str, Any] | None = Field(default=None, description="A model document; default: the active one")


class CompanyScoreOut(BaseModel):
    company_id: str
    name: str | None
    domain: str | None
    score: float = Field(description="The best lead's score, or the average of the best N (model: company)")
    leads: int
    aggregate: str


def _company_out(c: CompanyScore) -> CompanyScoreOut:
    return CompanyScoreOut(company_id=str(c.company_id), name=c.name, domain=c.domain, score=c.score,
                           leads=c.leads, aggregate=c.aggregate)


def _active_or_404(session: Session, workspace_id: int) -> ActiveModel:
    active = active_model(session, workspace_id)
    if active is None:
        raise NotFound("this workspace has no scoring model yet: POST /api/v1/scoring/models")
    return active


def _version_out(row: ScoringModelVersion) -> ModelVersionOut:
    return ModelVersionOut(version=row.version, name=row.name, active=row.active, created_by=row.created_by,
                           created_at=row.created_at, activated_at=row.activated_at, document=row.document)


def _rule_out(rule: RulePoints) -> RuleOut:
    return RuleOut(key=rule.key, name=rule.name, axis=rule.axis, points=rule.points, raw_points=rule.raw_points,
                   occurrences=rule.occurrences, last_fired_at=rule.last_fired_at, capped=rule.capped,
                   main=rule.main, scores=sorted(rule.scores))


@router.get("/leads/{lead_id}/score", response_model=ScoreOut)
def lead_score(lead_id: str, principal: Reader, session: ReadSession) -> ScoreOut:
    """The lead's score now, with every rule that fired: decay is exact at the moment of the request."""
    explanation = explain_lead(session, principal.workspace_id, parse_id(lead_id))
    result, model = explanation.result, explanation.model
    if result is None or model is None:
        lead = get_lead(session, principal.workspace_id, parse_id(lead_id))
        return ScoreOut(lead_id=str(lead.id), score=0, fit=0, engagement=0, temperature="cold", mql_ready=False,
                        rules=[], fit_points=0, engagement_points=0, weights={}, thresholds={},
                        model_version=None, computed_at=lead.updated_at, next_change_at=None)
    t = model.thresholds
    return ScoreOut(
        lead_id=str(explanation.lead_id), score=result.score, fit=result.fit, engagement=result.engagement,
        temperature=result.band.temperature.value, mql_ready=result.band.mql_ready,
        rules=[_rule_out(r) for r in result.rules], fit_points=result.fit_points,
        engagement_points=result.engagement_points,
        weights={"fit": model.fit_weight, "engagement": model.engagement_weight},
        thresholds={"warm": t.warm, "hot": t.hot, "mql_fit": t.mql_fit, "mql_engagement": t.mql_engagement},
        model_version=explanation.model_version, computed_at=result.at, next_change_at=explanation.next_change_at,
        named={name: NamedScoreOut(score=n.score, fit=n.fit, engagement=n.engagement,
                                   temperature=n.temperature.value) for name, n in result.named.items()})


@router.get("/leads/{lead_id}/score/history", response_model=list[ScoreChangeOut])
def lead_score_history(lead_id: str, principal: Reader, session: ReadSession) -> list[ScoreChangeOut]:
    """Every threshold the lead crossed (warm, hot, MQL-ready and back), with the time and the cause."""
    lead = get_lead(session, principal.workspace_id, parse_id(lead_id))
    rows = session.scalars(select(ScoreChange).where(
        ScoreChange.workspace_id == principal.workspace_id, ScoreChange.lead_id == lead.id
    ).order_by(ScoreChange.occurred_at, ScoreChange.id).limit(1000))
    return [ScoreChangeOut.model_validate(row, from_attributes=True) for row in rows]


@router.get("/scoring/companies", response_model=list[CompanyScoreOut])
def ranked_companies(principal: Reader, session: ReadSession,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[CompanyScoreOut]:
    """Companies ranked by the aggregate of their leads' scores, for account-based selling."""
    rule = _active_or_404(session, principal.workspace_id).model.company
    return [_company_out(c) for c in company_scores(session, principal.workspace_id, rule, limit=limit)]


@router.get("/companies/{company_id}/score", response_model=CompanyScoreOut)
def company_score(company_id: str, principal: Reader, session: ReadSession) -> CompanyScoreOut:
    rule = _active_or_404(session, principal.workspace_id).model.company
    found = company_scores(session, principal.workspace_id, rule, company_id=parse_id(company_id, "company"))
    if not found:
        raise NotFound("company not found, or none of its leads is scored")
    return _company_out(found[0])


@router.get("/scoring/models", response_model=list[ModelVersionOut])
def scoring_models(principal: Reader, session: ReadSession) -> list[ModelVersionOut]:
    """Every version applied in this workspace, newest first; one is active."""
    return [_version_out(row) for row in list_versions(session, principal.workspace_id)]


@router.get("/scoring/model", response_model=ModelVersionOut)
def active_scoring_model(principal: Reader, session: ReadSession) -> ModelVersionOut:
    row = session.scalar(select(ScoringModelVersion).where(
        ScoringModelVersion.workspace_id == principal.workspace_id, ScoringModelVersion.active.is_(True)))
    if row is None:
        raise NotFound("this workspace has no scoring model yet: POST /api/v1/scoring/models")
    return _version_out(row)


async def _rescore(request: Request, db: Database, workspace_id: int) -> int:
    """Chunk by chunk, each through the write gate, so ingest keeps flowing during a long rescore."""
    plan = await run_in_threadpool(plan_rescore, db, workspace_id)
    if plan is None:
        return 0
    done = 0
    for index in range(len(plan.chunks)):
        async with gates(request).write:
            done += await run_in_threadpool(plan.run_chunk, db, index)
    return done


@router.post("/scoring/models/preview", response_model=PreviewOut)
async def preview_scoring_model(document: ModelDocument, principal: Admin, db: DatabaseDep,
                                examples: Annotated[int, Query(ge=0, le=100)] = 10) -> PreviewOut:
    """What the model would change (temperatures, MQL-readiness), with examples; nothing is written."""
    model = validate(document)
    result: Preview = await run_in_threadpool(lambda: preview(db, principal.workspace_id, model,
                                                              examples=examples))
    return PreviewOut(**vars(result))


@router.post("/scoring/models", response_model=ApplyOut, status_code=201)
async def apply_scoring_model(document: ModelDocument, principal: Admin, db: DatabaseDep,
                              request: Request) -> ApplyOut:
    """Store the model as a new version, make it active and rescore every lead with it. An invalid model is
    refused with every problem listed (where, why), and the active model stays in force."""
    await run_in_threadpool(try_model, db, principal.workspace_id, validate(document))

    def store() -> int:
        with db.write() as session:
            row = store_version(session, principal.workspace_id, document, source=None,
                                actor=principal.actor)
            activate(session, principal.workspace_id, row.version, actor=principal.actor)
            return row.version

    async with gates(request).write:
        version = await run_in_threadpool(store)
    return ApplyOut(version=version, leads_rescored=await _rescore(request, db, principal.workspace_id))


@router.post("/scoring/models/{version}/activate", response_model=ApplyOut)
async def activate_scoring_model(version: Annotated[int, Path(ge=1, le=2**31 - 1)], principal: Admin,
                                 db: DatabaseDep, request: Request) -> ApplyOut:
    """Make an earlier version active again (rollback) and rescore with it."""

    def switch() -> None:
        with db.write() as session:
            model_version(session, principal.workspace_id, version)
            activate(session, principal.workspace_id, version, actor=principal.actor)

    async with gates(request).write:
        await run_in_threadpool(switch)
    return ApplyOut(version=version, leads_rescored=await _rescore(request, db, principal.workspace_id))


@router.post("/scoring/backtest", response_model=BacktestResult)
async def backtest_scoring_model(body: BacktestIn, principal: Reader, db: DatabaseDep) -> BacktestResult:
    """Replay a model over the history: how well each temperature band and the MQL threshold separated the
    leads that converted within the horizon (conversion rate and lift per band). Writes nothing."""
    if body.model is not None:
        model = validate(body.model)
    else:
        with db.read() as session:
            active = active_model(session, principal.workspace_id)
        if active is None:
            raise NotFound("this workspace has no scoring model yet: give one in `model`")
        model = active.model
    result: BacktestResult = await run_in_threadpool(lambda: backtest(
        db, principal.workspace_id, model, as_of=body.as_of, horizon=timedelta(days=body.horizon_days),
        outcome_stage=body.outcome_stage.value))
    return result


@router.post("/scoring/rescore", response_model=ApplyOut)
async def rescore(principal: Admin, db: DatabaseDep, request: Request) -> ApplyOut:
    """Rescore every lead of the workspace from its events with the active model."""
    with db.read() as session:
        row = session.scalar(select(ScoringModelVersion.version).where(
            ScoringModelVersion.workspace_id == principal.workspace_id, ScoringModelVersion.active.is_(True)))
    if row is None:
        raise NotFound("this workspace has no scoring model yet: POST /api/v1/scoring/models")
    return ApplyOut(version=row, leads_rescored=await _rescore(request, db, principal.workspace_id))
