"""A/B tests: define, assign, stop; results are under /api/v1/reports/experiments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field, StringConstraints, model_validator

from leadline.api.deps import Reader, ReadSession, Writer, WriteSession, workspace_of
from leadline.api.schemas import Strict
from leadline.core.experiments import PEEKING_WARNING, sample_size
from leadline.core.leads import EVENT_TYPE_PATTERN
from leadline.services import experiments
from leadline.services.experiments import ExperimentResult, experiment_result
from leadline.storage.tables import Experiment

router = APIRouter(prefix="/api/v1", tags=["experiments"])

Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Rate = Annotated[float, Field(gt=0, lt=1)]


class VariantIn(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    weight: Annotated[float, Field(gt=0, le=1000)] = 1.0


class ExperimentIn(Strict):
    key: Key
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    kind: Literal["landing_page", "form", "email", "other"]
    variants: Annotated[list[VariantIn], Field(min_length=2, max_length=10, description="The control first")]
    goal_event: Annotated[str, StringConstraints(pattern=EVENT_TYPE_PATTERN.pattern)]
    baseline_rate: Rate | None = Field(default=None, description="Expected conversion rate of the control")
    minimum_effect: Annotated[float, Field(gt=-1, lt=1)] | None = Field(
        default=None, description="Smallest absolute lift worth detecting (0.02 = two points)")

    @model_validator(mode="after")
    def _check(self) -> ExperimentIn:
        if len({v.name for v in self.variants}) != len(self.variants):
            raise ValueError("variant names must be unique")
        if (self.baseline_rate is None) != (self.minimum_effect is None):
            raise ValueError("give both baseline_rate and minimum_effect, or neither")
        if self.baseline_rate is not None and self.minimum_effect is not None and (
                self.minimum_effect == 0 or not 0 < self.baseline_rate + self.minimum_effect < 1):
            raise ValueError("baseline_rate + minimum_effect must be strictly between 0 and 1, effect non-zero")
        return self


class ExperimentOut(BaseModel):
    key: str
    name: str
    kind: str
    variants: list[VariantIn]
    goal_event: str
    baseline_rate: float | None
    minimum_effect: float | None
    planned_per_variant: int | None
    started_at: datetime
    stopped_at: datetime | None

    @classmethod
    def of(cls, e: Experiment) -> ExperimentOut:
        return cls(key=e.key, name=e.name, kind=e.kind, variants=[VariantIn(**v) for v in e.variants],
                   goal_event=e.goal_event, baseline_rate=e.baseline_rate, minimum_effect=e.minimum_effect,
                   planned_per_variant=e.planned_per_variant, started_at=e.started_at, stopped_at=e.stopped_at)


class AssignmentOut(BaseModel):
    experiment: str
    subject: str
    variant: str


class SampleSizeOut(BaseModel):
    per_variant: int
    advice: str


@router.post("/experiments", response_model=ExperimentOut, status_code=201)
def create(body: ExperimentIn, principal: Writer, session: WriteSession) -> ExperimentOut:
    """Start an experiment. With `baseline_rate` and `minimum_effect` the sample size per variant is planned
    now, and results say when it is reached."""
    workspace = workspace_of(session, principal)
    return ExperimentOut.of(experiments.create_experiment(
        session, workspace_id=workspace.id, key=body.key, name=body.name, kind=body.kind,
        variants=[v.model_dump() for v in body.variants], goal_event=body.goal_event,
        baseline_rate=body.baseline_rate, minimum_effect=body.minimum_effect))


@router.get("/experiments", response_model=list[ExperimentOut])
def list_all(principal: Reader, session: ReadSession) -> list[ExperimentOut]:
    workspace = workspace_of(session, principal)
    return [ExperimentOut.of(e) for e in experiments.list_experiments(session, workspace_id=workspace.id)]


@router.get("/experiments/{key}/assignment", response_model=AssignmentOut)
def assignment(key: Key, principal: Reader, session: ReadSession,
               subject: Annotated[str, Query(min_length=1, max_length=200, description="Lead or visitor id")]
               ) -> AssignmentOut:
    """The variant this subject sees: always the same one for the same subject."""
    workspace = workspace_of(session, principal)
    experiment = experiments.get_experiment(session, workspace_id=workspace.id, key=key)
    return AssignmentOut(experiment=key, subject=subject, variant=experiments.variant_for(experiment, subject))


@router.post("/experiments/{key}/stop", response_model=ExperimentOut)
def stop(key: Key, principal: Writer, session: WriteSession) -> ExperimentOut:
    workspace = workspace_of(session, principal)
    return ExperimentOut.of(experiments.stop_experiment(session, workspace_id=workspace.id, key=key))


@router.get("/experiments/sample-size", response_model=SampleSizeOut)
def plan(principal: Reader, baseline: Annotated[float, Query(gt=0, lt=1)],
         effect: Annotated[float, Query(gt=-1, lt=1)]) -> SampleSizeOut:
    """Subjects per variant to detect an absolute lift `effect` over `baseline` (alpha 0.05, power 0.8)."""
    try:
        size = sample_size(baseline, effect)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return SampleSizeOut(per_variant=size, advice=PEEKING_WARNING)


@router.get("/reports/experiments", response_model=list[ExperimentResult], tags=["reports"])
def results(principal: Reader, session: ReadSession,
            key: Annotated[Key | None, Query(description="One experiment (default: all)")] = None
            ) -> list[ExperimentResult]:
    """Per variant: subjects, conversions, rate; z-test against the control with the interval on the
    difference; chi-square across all variants; probability each is best and expected loss (Bayesian)."""
    workspace = workspace_of(session, principal)
    keys = [key] if key else [e.key for e in experiments.list_experiments(session, workspace_id=workspace.id)]
    return [experiment_result(session, workspace_id=workspace.id, key=k) for k in keys]
