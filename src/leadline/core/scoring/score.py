"""From rule results to a lead's score, and back to the reasons.

How the numbers combine (the README documents the same):
- fit = the sum of the fit rules that hold, clamped to 0..100;
- engagement = the sum of each engagement rule's decayed, capped value, clamped to 0..100;
- score = fit_weight * fit + engagement_weight * engagement (weights add up to 1), 0..100;
- temperature from engagement alone (cold < warm <= warm < hot <= hot);
- MQL-ready when fit >= mql.fit and engagement >= mql.engagement.
A very engaged student (engagement 90, fit 0) is hot but not MQL-ready: the two axes stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadline.core.leads import Temperature
from leadline.core.scoring.conditions import Facts
from leadline.core.scoring.decay import RuleState
from leadline.core.scoring.model import ScoringModel

#: How far ahead band changes are looked for; a lead that would change later is looked at again then.
HORIZON = timedelta(days=3650)
#: Precision of a predicted band change.
PRECISION_SECONDS = 1.0


def clamp(value: float) -> float:
    return max(0.0, min(100.0, value))


@dataclass(frozen=True, slots=True)
class RulePoints:
    key: str
    name: str
    axis: str  # fit | engagement
    points: float  # what the rule gives now (after decay and cap)
    raw_points: float  # before the cap
    occurrences: int
    last_fired_at: datetime | None
    capped: bool
    scores: frozenset[str] = frozenset()  # named scores it also counts toward
    main: bool = True  # counts toward the main score


@dataclass(frozen=True, slots=True)
class Band:
    temperature: Temperature
    mql_ready: bool


@dataclass(frozen=True, slots=True)
class LeadScore:
    score: float
    fit: float
    engagement: float
    band: Band
    rules: tuple[RulePoints, ...]
    fit_points: float  # unclamped sums, so the explanation adds up
    engagement_points: float
    at: datetime
    named: Mapping[str, NamedScore] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NamedScore:
    """A score besides the main one (e.g. per product line): the rules tagged with its name, combined with
    the same clamping, weights and thresholds."""

    score: float
    fit: float
    engagement: float
    temperature: Temperature


def fit_rules_fired(model: ScoringModel, facts: Facts) -> list[RulePoints]:
    return [RulePoints(r.key, r.name, "fit", r.points, r.points, 1, None, False, r.scores, r.main)
            for r in model.fit if r.matches(facts)]


def fit_value(rules: list[RulePoints], name: str | None = None) -> float:
    """The fit axis of the main score (name None) or of a named score."""
    return clamp(math.fsum(r.points for r in rules if (r.main if name is None else name in r.scores)))


def named_scores(model: ScoringModel, named_fits: Mapping[str, float], states: Mapping[str, RuleState],
                 at: datetime) -> dict[str, NamedScore]:
    result = {}
    for name in model.score_names:
        fit, engagement = named_fits.get(name, 0.0), engagement_at(model, states, at, name)
        result[name] = NamedScore(model.fit_weight * fit + model.engagement_weight * engagement, fit, engagement,
                                  band_of(model, fit, engagement).temperature)
    return result


def band_of(model: ScoringModel, fit: float, engagement: float) -> Band:
    t = model.thresholds
    temperature = (Temperature.HOT if engagement >= t.hot else
                   Temperature.WARM if engagement >= t.warm else Temperature.COLD)
    return Band(temperature, fit >= t.mql_fit and engagement >= t.mql_engagement)


def engagement_rules_now(model: ScoringModel, states: Mapping[str, RuleState], at: datetime) -> list[RulePoints]:
    result = []
    for rule in model.engagement:
        state = states.get(rule.key)
        if state is None or state.hits == 0:
            continue
        raw = state.value_at(at, rule.half_life_seconds)
        points = rule.contribution(raw)
        result.append(RulePoints(rule.key, rule.name, "engagement", points, raw, state.hits, state.last_fired_at,
                                 points != raw, rule.scores, rule.main))
    return result


def engagement_at(model: ScoringModel, states: Mapping[str, RuleState], at: datetime, name: str | None = None
                  ) -> float:
    """The engagement axis of the main score (name None) or of a named score, at `at`."""
    total = 0.0
    for rule in model.engagement:
        if not (rule.main if name is None else name in rule.scores):
            continue
        state = states.get(rule.key)
        if state is not None and state.hits:
            total += rule.contribution(state.value_at(at, rule.half_life_seconds))
    return clamp(total)


def score_lead(model: ScoringModel, fit_rules: list[RulePoints], states: Mapping[str, RuleState],
               at: datetime) -> LeadScore:
    """The main score with every rule that fired (rules outside the main score included, marked `main`
    False), and the named scores."""
    engagement_rules = engagement_rules_now(model, states, at)
    fit_points = math.fsum(r.points for r in fit_rules if r.main)
    engagement_points = math.fsum(r.points for r in engagement_rules if r.main)
    fit, engagement = clamp(fit_points), clamp(engagement_points)
    score = model.fit_weight * fit + model.engagement_weight * engagement
    named = named_scores(model, {n: fit_value(fit_rules, n) for n in model.score_names}, states, at)
    return LeadScore(score, fit, engagement, band_of(model, fit, engagement),
                     (*fit_rules, *engagement_rules), fit_points, engagement_points, at, named)


def next_band_change(model: ScoringModel, fit: float, states: Mapping[str, RuleState], now: datetime
                     ) -> datetime | None:
    """When time alone (decay, no new event) will move the lead to another band, to the second; or None."""
    return engagement_and_next_change(model, fit, states, now)[1]


def engagement_and_next_change(model: ScoringModel, fit: float, states: Mapping[str, RuleState], now: datetime,
                               name: str | None = None) -> tuple[float, datetime | None]:
    """Engagement now, and when decay alone will next move the lead to another band (to the second), or None;
    for the main score, or for the named score `name` (with its own fit).

    Decayed positive points only fall and negative ones only rise, so engagement need not be monotone: the
    search samples a geometric grid of times up to HORIZON and bisects the first interval whose band differs
    (a band visited for less than one grid step can be missed).
    """
    # Each rule's value now, then E(t) = clamp(sum of capped v * 2**(-t/h)): plain floats, no datetimes.
    terms = [(state.value_at(now, rule.half_life_seconds), rule.half_life_seconds, rule.max_points)
             for rule in model.engagement if (rule.main if name is None else name in rule.scores)
             and (state := states.get(rule.key)) is not None and state.hits]

    def engagement_after(seconds: float) -> float:
        total = 0.0
        for value, half_life, cap in terms:
            if half_life is not None and seconds:
                value *= math.exp2(-seconds / half_life)
            if cap is not None:
                value = max(-cap, min(cap, value))
            total += value
        return clamp(total)

    engagement = engagement_after(0.0)
    decaying = [(value, half_life) for value, half_life, _ in terms if half_life is not None and value != 0]
    if not decaying:
        return engagement, None
    current = band_of(model, fit, engagement)
    if current.temperature is Temperature.COLD and not current.mql_ready and all(v > 0 for v, _ in decaying):
        return engagement, None  # only falling from here, and already in the lowest band

    def band_after(seconds: float) -> Band:
        return band_of(model, fit, engagement_after(seconds))

    shortest = min(half_life for _, half_life in decaying)
    horizon = HORIZON.total_seconds()
    low, step = 0.0, shortest / 8
    while low < horizon:
        high = min(horizon, low + step)
        if band_after(high) != current:
            return engagement, now + timedelta(seconds=_bisect(band_after, current, low, high))
        low, step = high, step * 1.5
    return engagement, None


def _bisect(band_after: Callable[[float], Band], current: Band, low: float, high: float) -> float:
    while high - low > PRECISION_SECONDS:
        middle = (low + high) / 2
        if band_after(middle) == current:
            low = middle
        else:
            high = middle
    return math.ceil(high)
