"""A/B tests: define an experiment, assign subjects deterministically, and read the result.

Exposures are ordinary events of type `experiment_viewed` with `properties.experiment` (the key) and
`properties.variant`, sent by the page, form or email that showed the variant (the assignment endpoint tells
it which one). A subject is the lead when the event names one (anonymous visitors' events move to their lead
when they identify), else the anonymous id. A subject converts when it has a `goal_event` at or after its
first exposure. Subjects exposed to more than one variant are left out of the result and counted apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadline.core.experiments import (
    PEEKING_WARNING,
    Arm,
    Bayesian,
    ChiSquare,
    ZTest,
    assign,
    bayesian,
    chi_square,
    sample_size,
    z_test,
)
from leadline.services.errors import Conflict, NotFound
from leadline.storage.tables import Event, Experiment
from leadline.storage.types import UTCDateTime, utcnow

EXPOSURE = "experiment_viewed"


def create_experiment(session: Session, *, workspace_id: int, key: str, name: str, kind: str,
                      variants: list[dict[str, Any]], goal_event: str, baseline_rate: float | None = None,
                      minimum_effect: float | None = None) -> Experiment:
    if session.scalar(select(Experiment.id).where(Experiment.workspace_id == workspace_id,
                                                  Experiment.key == key)) is not None:
        raise Conflict(f"an experiment with key {key!r} already exists", field="key")
    planned = (sample_size(baseline_rate, minimum_effect)
               if baseline_rate is not None and minimum_effect is not None else None)
    experiment = Experiment(workspace_id=workspace_id, key=key, name=name, kind=kind, variants=variants,
                            goal_event=goal_event, baseline_rate=baseline_rate, minimum_effect=minimum_effect,
                            planned_per_variant=planned)
    session.add(experiment)
    session.flush()
    return experiment


def get_experiment(session: Session, *, workspace_id: int, key: str) -> Experiment:
    experiment = session.scalars(select(Experiment).where(Experiment.workspace_id == workspace_id,
                                                          Experiment.key == key)).first()
    if experiment is None:
        raise NotFound("experiment not found")
    return experiment


def list_experiments(session: Session, *, workspace_id: int) -> list[Experiment]:
    return list(session.scalars(select(Experiment).where(Experiment.workspace_id == workspace_id)
                                .order_by(Experiment.created_at.desc(), Experiment.id.desc())))


def variant_for(experiment: Experiment, subject: str) -> str:
    index = assign(experiment.key, subject, [float(v["weight"]) for v in experiment.variants])
    return str(experiment.variants[index]["name"])


def stop_experiment(session: Session, *, workspace_id: int, key: str, now: datetime | None = None) -> Experiment:
    experiment = get_experiment(session, workspace_id=workspace_id, key=key)
    experiment.stopped_at = experiment.stopped_at or now or utcnow()
    return experiment


@dataclass(frozen=True)
class VariantResult:
    name: str
    subjects: int
    conversions: int
    rate: float
    versus_control: ZTest | None  # None for the control itself
    probability_best: float
    expected_loss: float


@dataclass(frozen=True)
class ExperimentResult:
    key: str
    name: str
    goal_event: str
    variants: list[VariantResult]
    chi_square: ChiSquare | None
    planned_per_variant: int | None
    sample_reached: bool | None
    subjects_in_several_variants: int
    warnings: list[str] = field(default_factory=list)


def _subject(lead_id: int | None, anonymous_id: str | None) -> str:
    return f"lead:{lead_id}" if lead_id is not None else f"anon:{anonymous_id}"


def experiment_result(session: Session, *, workspace_id: int, key: str) -> ExperimentResult:
    experiment = get_experiment(session, workspace_id=workspace_id, key=key)
    names = [str(v["name"]) for v in experiment.variants]
    viewed = (select(Event.lead_id, Event.anonymous_id, Event.properties["variant"].as_string().label("variant"),
                     Event.occurred_at)
              .where(Event.workspace_id == workspace_id, Event.type == EXPOSURE,
                     Event.properties["experiment"].as_string() == experiment.key,
                     Event.occurred_at >= experiment.started_at,
                     *([Event.occurred_at < experiment.stopped_at] if experiment.stopped_at else []))
              .subquery())
    # Grouped over a subquery: PostgreSQL does not see two renderings of a JSON path as one expression.
    exposures = session.execute(
        select(viewed.c.lead_id, viewed.c.anonymous_id, viewed.c.variant,
               func.min(viewed.c.occurred_at, type_=UTCDateTime()))
        .group_by(viewed.c.lead_id, viewed.c.anonymous_id, viewed.c.variant)).all()
    seen: dict[str, dict[str, datetime]] = defaultdict(dict)
    for lead_id, anonymous_id, variant, first in exposures:
        if variant in names:
            seen[_subject(lead_id, anonymous_id)][variant] = first
    mixed = {s for s, variants in seen.items() if len(variants) > 1}
    goals = session.execute(
        select(Event.lead_id, Event.anonymous_id, Event.occurred_at)
        .where(Event.workspace_id == workspace_id, Event.type == experiment.goal_event,
               Event.occurred_at >= experiment.started_at)).all()
    converted_at: dict[str, list[datetime]] = defaultdict(list)
    for lead_id, anonymous_id, at in goals:
        converted_at[_subject(lead_id, anonymous_id)].append(at)
    subjects = dict.fromkeys(names, 0)
    conversions = dict.fromkeys(names, 0)
    for subject, variants in seen.items():
        if subject in mixed:
            continue
        (variant, first), = variants.items()
        subjects[variant] += 1
        conversions[variant] += any(at >= first for at in converted_at.get(subject, ()))
    arms = [Arm(n, conversions[n], subjects[n]) for n in names]
    beliefs: Bayesian = bayesian(arms)
    planned = experiment.planned_per_variant
    reached = min(a.subjects for a in arms) >= planned if planned else None
    warnings = [] if reached else [PEEKING_WARNING]
    if any(a.subjects == 0 for a in arms):
        warnings.append("a variant has no exposed subject yet")
    return ExperimentResult(
        experiment.key, experiment.name, experiment.goal_event,
        [VariantResult(a.name, a.subjects, a.conversions, a.rate, None if i == 0 else z_test(arms[0], a),
                       beliefs.probability_best[i], beliefs.expected_loss[i]) for i, a in enumerate(arms)],
        chi_square(arms), planned, reached, len(mixed), warnings)

