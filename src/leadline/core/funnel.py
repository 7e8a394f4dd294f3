"""Funnel maths: how many leads reached each stage, stage-to-stage conversion with Wilson intervals, time
between stages, TOFU/MOFU/BOFU, cohort maturity.

A lead that skips a stage (new -> sql) has passed through the stages it skipped: it counts as having reached
them, at the time it reached the later one. Times between stages are measured only between stages a lead
actually entered (a skip is not a zero-second MQL), so skipping leads do not drag the medians to zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from leadline.core.leads import Stage

#: The funnel's steps, top to bottom. `visitor` and `lead` are not lifecycle stages: every lead was a visitor
#: (known or not) and is a lead from its creation.
STEPS: tuple[str, ...] = ("visitor", "lead", "mql", "sql", "opportunity", "customer")
LIFECYCLE_STEPS: tuple[Stage, ...] = (Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)


class Section(StrEnum):
    TOFU = "tofu"
    MOFU = "mofu"
    BOFU = "bofu"


SECTION_OF: dict[str, Section] = {"visitor": Section.TOFU, "lead": Section.TOFU, "mql": Section.MOFU,
                                  "sql": Section.MOFU, "opportunity": Section.BOFU, "customer": Section.BOFU}


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, trials: int, z: float = 1.959963984540054) -> Interval | None:
    """Wilson score interval for a proportion (95 % by default); None without trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def quantile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile of already sorted values (numpy's default method)."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass(frozen=True)
class LeadPath:
    """One lead's way down the funnel: when it was created and when it first entered each lifecycle stage
    (only the stages it entered itself)."""

    created_at: datetime
    entered: Mapping[Stage, datetime]


def reached(path: LeadPath) -> dict[str, datetime]:
    """When the lead reached each step, skipped stages included (at the time of the later stage)."""
    out: dict[str, datetime] = {"lead": path.created_at}
    later: datetime | None = None
    for stage in reversed(LIFECYCLE_STEPS):
        at = path.entered.get(stage)
        if at is not None:
            later = at if later is None else min(at, later)
        if later is not None:
            out[stage.value] = later
    return out


@dataclass(frozen=True)
class StepResult:
    step: str
    section: Section
    count: int
    #: Conversion from the previous step (None for the first step, or when the previous one is empty).
    rate_from_previous: float | None
    interval: Interval | None
    rate_from_lead: float | None
    median_days_from_previous: float | None
    p90_days_from_previous: float | None


@dataclass(frozen=True)
class Funnel:
    steps: list[StepResult]
    leads: int


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86_400


def max_rank(path: LeadPath) -> int:
    """How far down the lifecycle the lead went: 0 (a lead), 1 (mql) ... 4 (customer)."""
    return max((LIFECYCLE_STEPS.index(stage) + 1 for stage in path.entered), default=0)


def waits_of(path: LeadPath) -> dict[str, float]:
    """Days from the previous step to each stage, for the stages whose previous step the lead entered itself
    (creation counts as entering "lead")."""
    out: dict[str, float] = {}
    previous_at, previous_step = path.created_at, "lead"
    for stage in LIFECYCLE_STEPS:
        at = path.entered.get(stage)
        if at is None:
            continue
        if STEPS.index(previous_step) == STEPS.index(stage.value) - 1 and at >= previous_at:
            out[stage.value] = _days(at - previous_at)
        previous_at, previous_step = at, stage.value
    return out


@dataclass(frozen=True)
class Spread:
    median: float | None
    p90: float | None


def spread(values: Iterable[float]) -> Spread:
    ordered = sorted(values)
    return Spread(quantile(ordered, 0.5), quantile(ordered, 0.9))


def funnel_from_counts(leads_by_rank: Mapping[int, int], waits: Mapping[str, Spread], *,
                       visitors: int | None = None) -> Funnel:
    """The funnel from how many leads went exactly as far as each rank (0 = lead ... 4 = customer) and the
    spread of days between consecutive steps: what the database aggregates, so no lead is loaded one by one."""
    reached_at_least = {step: sum(n for rank, n in leads_by_rank.items() if rank >= i)
                        for i, step in enumerate(STEPS[1:])}
    leads = reached_at_least["lead"]
    rows: list[StepResult] = []
    previous: int | None = visitors
    for step in STEPS:
        count = visitors if step == "visitor" else reached_at_least[step]
        if count is None:  # visitors unknown: the funnel starts at "lead"
            continue
        wait = waits.get(step, Spread(None, None))
        rows.append(StepResult(step, SECTION_OF[step], count, count / previous if previous else None,
                               wilson(count, previous) if previous else None,
                               count / leads if leads and step != "visitor" else None, wait.median, wait.p90))
        previous = count
    return Funnel(rows, leads)


def build_funnel(paths: Iterable[LeadPath], *, visitors: int | None = None) -> Funnel:
    """The funnel of a cohort of leads (`visitors`: how many visitors the cohort came from, when known)."""
    ranks: dict[int, int] = {}
    waits: dict[str, list[float]] = {step: [] for step in STEPS[2:]}
    for path in paths:
        rank = max_rank(path)
        ranks[rank] = ranks.get(rank, 0) + 1
        for step, days in waits_of(path).items():
            waits[step].append(days)
    return funnel_from_counts(ranks, {step: spread(values) for step, values in waits.items()}, visitors=visitors)


@dataclass(frozen=True)
class Maturity:
    """How long a cohort has had to convert, against how long conversions usually take."""

    age_days: float
    typical_days: float | None  # p90 of the time from creation to the outcome, over all cohorts
    mature: bool


def maturity(cohort_start: datetime, as_of: datetime, typical_days: float | None) -> Maturity:
    age = max(0.0, _days(as_of - cohort_start))
    return Maturity(age, typical_days, typical_days is None or age >= typical_days)


def stuck(stage_entered_at: datetime, as_of: datetime, threshold: timedelta) -> bool:
    return as_of - stage_entered_at > threshold
