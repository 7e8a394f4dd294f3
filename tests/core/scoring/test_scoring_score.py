"""From rule results to a score that explains itself, its bands, and when time alone will change them."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_factories import DAY, T0, engagement_rule, facts, fit_rule, model, states_of

from leadline.core.leads import Temperature
from leadline.core.scoring.decay import RuleState
from leadline.core.scoring.model import ScoringModel
from leadline.core.scoring.score import (
    Band,
    band_of,
    clamp,
    engagement_at,
    fit_rules_fired,
    next_band_change,
    score_lead,
)

COLD, WARM, HOT = Temperature.COLD, Temperature.WARM, Temperature.HOT
HALF_LIFE = 10 * DAY  # the model's


def spec_model(**overrides: object) -> ScoringModel:
    """warm 30, hot 60; MQL needs fit 50 and engagement 40; score = 0.4 fit + 0.6 engagement."""
    return model(
        fit=[
            fit_rule("Decision maker", when={"field": "job_title", "matches": r"(?i)\bceo\b"}, points=30),
            fit_rule("Business email", when={"field": "email_is_free", "equals": False}, points=25),
            fit_rule("Large company", when={"field": "company.size", "gt": 500}, points=60),
            fit_rule("Competitor", when={"field": "email_domain", "equals": "rival.example"}, points=-100),
        ],
        engagement=[
            engagement_rule("Asked for a demo", key="demo", event="demo_request", points=50),
            engagement_rule("Opened an email", key="open", event="email_open", points=1, max=3),
            engagement_rule("Visited careers", key="careers", event="page_view", points=-20),
            engagement_rule("Met at an event", key="met", event="event_attended", points=40, decay=False),
            engagement_rule("Left", key="left", event="unsubscribe", points=-5, max=8, decay=False),
        ],
        decay={"half_life_days": HALF_LIFE / DAY},
        **overrides,
    )


SPEC = spec_model()
CEO = facts(job_title="CEO", email_is_free=False, email_domain="acme.example")


def score(fit_facts=CEO, at: datetime = T0, scoring: ScoringModel = SPEC, **hits: list[datetime]):
    return score_lead(scoring, fit_rules_fired(scoring, fit_facts), states_of(scoring, hits), at)


# --- the explanation adds up -------------------------------------------------------------------------------------

def test_a_worked_example():
    result = score(at=T0 + HALF_LIFE, demo=[T0], open=[T0 + HALF_LIFE] * 2, met=[T0 - 400 * DAY])
    assert {r.key: r.points for r in result.rules} == {
        "decision_maker": 30, "business_email": 25, "demo": pytest.approx(25), "open": 2, "met": 40}
    assert (result.fit, result.engagement) == (55, pytest.approx(67))
    assert result.score == pytest.approx(0.4 * 55 + 0.6 * 67)
    assert result.band == Band(HOT, mql_ready=True)
    assert result.at == T0 + HALF_LIFE


@pytest.mark.parametrize(("fit_facts", "fit_points", "fit"), [
    (facts(), 0, 0),
    (CEO, 55, 55),
    (facts(job_title="CEO", email_is_free=False, **{"company.size": 900}), 115, 100),  # clamped to 100
    (facts(job_title="CEO", email_domain="rival.example"), -70, 0),  # clamped to 0
])
def test_fit_is_the_clamped_sum_of_the_fit_rules_that_hold(fit_facts, fit_points, fit):
    result = score(fit_facts)
    assert result.fit_points == fit_points
    assert result.fit == fit
    assert result.fit_points == sum(r.points for r in result.rules if r.axis == "fit")


@pytest.mark.parametrize(("hits", "engagement_points", "engagement"), [
    ({}, 0, 0),
    ({"met": [T0] * 3}, 120, 100),
    ({"careers": [T0], "left": [T0] * 3}, -28, 0),  # "left" is capped at -8
    ({"met": [T0], "careers": [T0]}, 20, 20),
])
def test_engagement_is_the_clamped_sum_of_the_engagement_rules(hits, engagement_points, engagement):
    result = score(**hits)
    assert result.engagement_points == engagement_points
    assert result.engagement == engagement
    assert result.engagement_points == sum(r.points for r in result.rules if r.axis == "engagement")
    assert result.score == pytest.approx(0.4 * result.fit + 0.6 * engagement)


hit_times = st.lists(st.integers(0, 90 * 24), max_size=6).map(lambda hours: [T0 + timedelta(hours=h) for h in hours])


@settings(max_examples=60, deadline=None)
@given(fit_flags=st.fixed_dictionaries({"job_title": st.sampled_from(["CEO", "Intern"]), "email_is_free":
                                        st.booleans(), "company.size": st.integers(0, 2000),
                                        "email_domain": st.sampled_from(["rival.example", "acme.example"])}),
       hits=st.fixed_dictionaries({key: hit_times for key in ("demo", "open", "careers", "met", "left")}),
       days_later=st.integers(0, 200))
def test_any_score_explains_itself(fit_flags, hits, days_later):
    at = T0 + timedelta(days=days_later)
    states = states_of(SPEC, hits)
    result = score_lead(SPEC, fit_rules_fired(SPEC, facts(**fit_flags)), states, at)
    fit_rules = [r for r in result.rules if r.axis == "fit"]
    engagement_rules = [r for r in result.rules if r.axis == "engagement"]
    assert result.fit == clamp(math.fsum(r.points for r in fit_rules)) == clamp(result.fit_points)
    assert result.engagement == clamp(math.fsum(r.points for r in engagement_rules)) == clamp(result.engagement_points)
    assert result.score == pytest.approx(0.4 * result.fit + 0.6 * result.engagement)
    assert 0 <= result.score <= 100
    assert result.band == band_of(SPEC, result.fit, result.engagement)
    assert result.engagement == pytest.approx(engagement_at(SPEC, states, at), abs=1e-9)
    assert {r.key for r in engagement_rules} == {k for k, times in hits.items() if times}
    for explained in engagement_rules:
        rule = SPEC.engagement_rule(explained.key)
        assert rule is not None
        assert explained.raw_points == states[rule.key].value_at(at, rule.half_life_seconds)
        assert explained.points == rule.contribution(explained.raw_points)
        assert explained.capped is (explained.points != explained.raw_points)
        assert explained.occurrences == len(hits[rule.key])


# --- caps ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "times", "at", "points", "raw", "capped"), [
    ("open", [T0] * 5, T0, 3, 5, True),
    ("open", [T0] * 3, T0, 3, 3, False),  # at the cap is not above it
    ("open", [T0] * 2, T0, 2, 2, False),
    ("open", [T0] * 5, T0 + 2 * HALF_LIFE, 1.25, 1.25, False),  # decay first, then the cap
    ("left", [T0] * 3, T0, -8, -15, True),  # the cap bounds negative contributions too
])
def test_a_cap_limits_what_a_rule_contributes_and_says_so(key, times, at, points, raw, capped):
    (explained,) = [r for r in score(facts(), at, **{key: times}).rules if r.key == key]
    assert (explained.points, explained.raw_points, explained.capped) == (points, raw, capped)
    assert explained.occurrences == len(times)
    assert explained.last_fired_at == max(times)


# --- bands ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fit", "engagement", "temperature", "mql_ready"), [
    (0, 0, COLD, False),
    (100, 29.99, COLD, False),
    (100, 30, WARM, False),  # warm from the threshold on
    (0, 59.99, WARM, False),
    (0, 60, HOT, False),
    (0, 100, HOT, False),  # a very engaged student is hot but not marketing-qualified
    (49.99, 100, HOT, False),
    (50, 39.99, WARM, False),
    (50, 40, WARM, True),  # MQL needs both axes
    (100, 100, HOT, True),
])
def test_temperature_comes_from_engagement_and_mql_readiness_needs_both_axes(fit, engagement, temperature,
                                                                            mql_ready):
    assert band_of(SPEC, fit, engagement) == Band(temperature, mql_ready)


def test_engagement_at_reads_the_decayed_capped_total_at_any_moment():
    states = states_of(SPEC, {"demo": [T0], "open": [T0] * 9, "left": [T0]})
    assert engagement_at(SPEC, states, T0) == 50 + 3 - 5
    assert engagement_at(SPEC, states, T0 + HALF_LIFE) == pytest.approx(25 + 3 - 5)
    assert engagement_at(SPEC, {"demo": RuleState()}, T0) == 0  # a state with no hits counts for nothing


# --- when time alone changes the band ------------------------------------------------------------------------------

def band_at(fit: float, states: dict[str, RuleState], at: datetime, scoring: ScoringModel = SPEC) -> Band:
    return band_of(scoring, fit, engagement_at(scoring, states, at))


SECOND = timedelta(seconds=1)
H = HALF_LIFE.total_seconds()


@pytest.mark.parametrize(("case", "fit", "hits", "scoring", "now", "after_seconds", "before", "after"), [
    # 40 (no decay) + 50 decaying: hot until 50 * 2**(-t/h) < 20
    ("hot lead cools", 55, {"demo": [T0], "met": [T0]}, SPEC, T0 + DAY, H * math.log2(2.5), Band(HOT, True),
     Band(WARM, True)),
    # 40 (no decay) - 20 decaying: cold at 20, warm once the penalty has halved (exactly one half-life)
    ("penalty fades", 0, {"careers": [T0], "met": [T0]}, SPEC, T0, H, Band(COLD, False), Band(WARM, False)),
    # cold all along, yet MQL-ready (MQL engagement 20 < warm 30) until 50 * 2**(-t/h) < 20
    ("MQL lost", 55, {"demo": [T0]}, spec_model(mql={"fit": 50, "engagement": 20}), T0 + HALF_LIFE,
     H * math.log2(2.5), Band(COLD, True), Band(COLD, False)),
])
def test_the_predicted_band_change_is_right_to_the_second(case, fit, hits, scoring, now, after_seconds, before,
                                                          after):
    states = states_of(scoring, hits)
    change = next_band_change(scoring, fit, states, now)
    assert change is not None, case
    expected = T0 + timedelta(seconds=after_seconds)
    assert abs((change - expected).total_seconds()) <= 2
    assert band_at(fit, states, now, scoring) == before
    assert band_at(fit, states, change - 2 * SECOND, scoring) == before
    assert band_at(fit, states, change + 2 * SECOND, scoring) == after


def test_a_lead_predicted_to_cool_is_looked_at_again_then_and_settles():
    states = states_of(SPEC, {"demo": [T0], "met": [T0]})
    change = next_band_change(SPEC, 55, states, T0)
    assert change is not None
    # from then on it only approaches 40 (the part that never decays) and stays warm forever
    assert next_band_change(SPEC, 55, states, change + SECOND) is None


@pytest.mark.parametrize(("case", "fit", "hits"), [
    ("cold, only positive points left", 0, {"demo": [T0 - 100 * DAY], "open": [T0]}),
    ("nothing decays", 55, {"met": [T0] * 2, "left": [T0]}),
    ("no events", 55, {}),
    ("a negative penalty that can't lift it to warm", 0, {"careers": [T0]}),
])
def test_no_band_change_is_predicted_when_time_alone_cannot_change_the_band(case, fit, hits):
    states = states_of(SPEC, hits)
    assert next_band_change(SPEC, fit, states, T0) is None, case
    assert band_at(fit, states, T0 + 3000 * DAY) == band_at(fit, states, T0)


def test_a_caps_plateau_delays_the_predicted_change():
    # 9 opens capped at 3 + 40 that never decays + the demo: the opens stay at 3 until their raw value falls below
    scoring = spec_model(thresholds={"warm": 30, "hot": 44})
    states = states_of(scoring, {"open": [T0] * 9, "met": [T0], "demo": [T0]})
    change = next_band_change(scoring, 0, states, T0)
    assert change is not None
    # hot while 40 + min(3, 9 * 2**(-t/h)) + 50 * 2**(-t/h) >= 44: 50 * 2**(-t/h) + 9 * 2**(-t/h) >= 4
    assert abs((change - (T0 + timedelta(seconds=H * math.log2(59 / 4)))).total_seconds()) <= 2


@pytest.mark.xfail(strict=True, reason="known limitation: the geometric grid can step over a short excursion "
                                        "into another band (here warm for ~18 h, a week out), so None is returned")
def test_a_brief_warm_spell_between_two_decays_is_predicted():
    # 40 fading slowly (half-life a year) minus 20 fading fast (a day): engagement peaks just above 39.32 a week out
    scoring = model(fit=[], thresholds={"warm": 39.32, "hot": 60}, engagement=[
        engagement_rule("Slow", key="slow", event="demo_request", points=40, decay={"half_life_days": 365}),
        engagement_rule("Fast", key="fast", event="page_view", points=-20, decay={"half_life_days": 1})])
    states = states_of(scoring, {"slow": [T0], "fast": [T0]})
    assert band_at(0, states, T0 + 180 * timedelta(hours=1), scoring).temperature is WARM
    assert next_band_change(scoring, 0, states, T0) is not None
