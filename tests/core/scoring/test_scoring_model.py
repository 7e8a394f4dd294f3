"""The scoring model file: the starter models parse, and every mistake is reported with where and why, all at once."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import pytest
import yaml
from scoring_factories import engagement_rule, facts, fit_rule, model, model_doc

from leadline.core.scoring.model import DAY_SECONDS, FORMAT, InvalidScoringModel, ScoringModel, parse_model

DEFAULTS = files("leadline.core.scoring") / "defaults"


def starter(name: str) -> ScoringModel:
    return parse_model(yaml.safe_load((DEFAULTS / f"{name}.yaml").read_text(encoding="utf-8")))


def problems(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidScoringModel) as error:
        parse_model(doc)
    return error.value.problems


def wheres(doc: Any) -> list[str]:
    return [where for where, _ in problems(doc)]


# --- the starter models ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "n_fit", "n_engagement", "half_life_days", "weights"), [
    ("b2b", 10, 16, 30, (0.5, 0.5)),
    ("b2c", 6, 11, 14, (0.3, 0.7)),
])
def test_both_starter_models_parse(name, n_fit, n_engagement, half_life_days, weights):
    scoring = starter(name)
    assert (len(scoring.fit), len(scoring.engagement)) == (n_fit, n_engagement)
    assert (scoring.fit_weight, scoring.engagement_weight) == weights
    by_name = {r.name: r for r in scoring.engagement}
    assert by_name["Unsubscribed"].half_life_seconds is None  # decay: false
    assert by_name["Submitted a form"].half_life_seconds == half_life_days * DAY_SECONDS
    assert scoring.thresholds.warm < scoring.thresholds.hot


def test_the_b2b_starter_model_judges_a_decision_maker_and_a_student_differently():
    scoring = starter("b2b")
    ceo = facts(job_title="Founder & CEO", email_is_free=False, country="FR", **{"company.size": 120})
    student = facts(job_title="Student", email_is_free=True, country="BR")
    assert {r.name for r in scoring.fit if r.matches(ceo)} == {
        "Decision maker", "Business email", "Target country", "Company of 50 to 500 people"}
    assert {r.name for r in scoring.fit if r.matches(student)} == {"Student or job seeker", "Outside target countries"}
    assert [r.name for r in scoring.rules_for("page_view")] == [
        "Visited a page", "Visited pricing", "Visited careers pages"]


# --- what a valid document means --------------------------------------------------------------------------------

def test_omitted_sections_take_documented_defaults():
    scoring = parse_model({"format": FORMAT})
    assert scoring.name == "Scoring model"
    assert (scoring.fit, scoring.engagement) == ((), ())
    t = scoring.thresholds
    assert (t.warm, t.hot, t.mql_fit, t.mql_engagement) == (40, 70, 50, 40)
    assert (scoring.fit_weight, scoring.engagement_weight) == (0.5, 0.5)


@pytest.mark.parametrize(("rule_decay", "model_decay", "half_life"), [
    (None, {"half_life_days": 10}, 10 * DAY_SECONDS),  # the model's half-life by default
    ({"half_life_days": 2}, {"half_life_days": 10}, 2 * DAY_SECONDS),  # a rule may override it
    ({"half_life_days": 0.5}, None, 0.5 * DAY_SECONDS),
    (False, {"half_life_days": 10}, None),  # or never decay
    (None, None, None),  # no model half-life: nothing decays
    (None, False, None),
])
def test_a_rule_decays_with_its_own_half_life_or_the_models(rule_decay, model_decay, half_life):
    rule = engagement_rule(**({} if rule_decay is None else {"decay": rule_decay}))
    scoring = model(engagement=[rule], decay=model_decay)
    assert scoring.engagement[0].half_life_seconds == half_life


def test_rule_keys_derive_from_names_unless_given():
    scoring = model(fit=[fit_rule("Decision maker (C-level)!")],
                    engagement=[engagement_rule("Visited pricing"), engagement_rule("Other", key="my-key")])
    assert [r.key for r in scoring.fit] == ["decision_maker_c_level"]
    assert [r.key for r in scoring.engagement] == ["visited_pricing", "my-key"]
    assert scoring.engagement_rule("my-key") is scoring.engagement[1]
    assert scoring.engagement_rule("nope") is None


def test_engagement_rules_are_indexed_by_event_type():
    scoring = model(engagement=[engagement_rule("A", event="page_view"), engagement_rule("B"),
                                engagement_rule("C", event="page_view", where={"field": "path", "contains": "x"})])
    assert [r.name for r in scoring.rules_for("page_view")] == ["A", "C"]
    assert scoring.rules_for("form_submit") == ()
    assert scoring.event_types == {"page_view", "email_click"}


def test_caps_and_daily_limits_are_kept():
    rule = model(engagement=[engagement_rule(max=30, max_per_day=2, points=-10)]).engagement[0]
    assert (rule.max_points, rule.max_per_day, rule.points) == (30, 2, -10)
    assert (rule.contribution(-45), rule.contribution(45), rule.contribution(12.5)) == (-30, 30, 12.5)


# --- invalid documents: each problem names the rule, the field, and why -------------------------------------------

R = '"Has a phone"'  # the default fit rule's name, as problems quote it
E = '"Clicked an email"'  # the default engagement rule's name


@pytest.mark.parametrize(("overrides", "where", "reason"), [
    # the document
    ({"format": None}, "format", "leadline-scoring/1"),
    ({"format": "leadline-scoring/2"}, "format", "leadline-scoring/1"),
    ({"colour": "red"}, "colour", "unknown key"),
    ({"name": "  "}, "name", "expected a text"),
    ({"fit": {"name": "x"}}, "fit", "expected a list of rules"),
    ({"engagement": None, "fit": [fit_rule(), "phone"]}, "fit[1]", "expected a mapping"),
    ({"engagement": "clicks"}, "engagement", "expected a list of rules"),
    ({"decay": True}, "decay", "expected false or {half_life_days: N}"),
    ({"decay": {"half_life_days": 0}}, "decay.half_life_days", "greater than 0"),
    ({"decay": {"half_life_days": "30d"}}, "decay.half_life_days", "expected a number"),
    ({"decay": {"half_life_days": 30, "shape": "linear"}}, "decay.shape", "unknown key"),
    # fit rules
    ({"fit": [fit_rule(name=None)]}, "fit[0].name", "needs a name"),
    ({"fit": [fit_rule(when=None)]}, f"fit[0] {R}.when", "a condition is a mapping"),
    ({"fit": [fit_rule(when={"field": "path", "exists": True})]}, f"fit[0] {R}.when.field", "unknown fit field"),
    ({"fit": [fit_rule(when={"all": [{"field": "phone", "exists": 1}]})]}, f"fit[0] {R}.when.all[0].exists",
     "true or false"),
    ({"fit": [fit_rule(points=0)]}, f"fit[0] {R}.points", "worth 0 points"),
    ({"fit": [fit_rule(points="10")]}, f"fit[0] {R}.points", "expected a number"),
    ({"fit": [fit_rule(points=True)]}, f"fit[0] {R}.points", "expected a number"),
    ({"fit": [fit_rule(points=float("inf"))]}, f"fit[0] {R}.points", "expected a number"),
    ({"fit": [fit_rule(points=None)]}, f"fit[0] {R}.points", "expected a number"),
    ({"fit": [fit_rule(pionts=5)]}, f"fit[0] {R}.pionts", "unknown key"),
    ({"fit": [fit_rule(key="has phone")]}, f"fit[0] {R}.key", "letters, digits"),
    ({"fit": [fit_rule(key=["phone"])]}, f"fit[0] {R}.key", "letters, digits"),
    ({"fit": [fit_rule(key="k" * 65)]}, f"fit[0] {R}.key", "at most 64"),
    # engagement rules
    ({"engagement": [engagement_rule(event="Email Click")]}, f"engagement[0] {E}.event", "event type"),
    ({"engagement": [engagement_rule(event=None)]}, f"engagement[0] {E}.event", "event type"),
    ({"engagement": [engagement_rule(where=None)]}, f"engagement[0] {E}.where", "a condition is a mapping"),
    ({"engagement": [engagement_rule(where={"field": "country", "equals": "FR"})]}, f"engagement[0] {E}.where.field",
     "unknown event field"),
    ({"engagement": [engagement_rule(where={"any": [{"field": "path", "equals": "/"},
                                                    {"field": "path", "starts_with": ""}]})]},
     f"engagement[0] {E}.where.any[1].starts_with", "non-empty text"),
    ({"engagement": [engagement_rule(where={"field": "url", "matches": "[a-"})]}, f"engagement[0] {E}.where.matches",
     "invalid regular expression"),
    ({"engagement": [engagement_rule(points=0)]}, f"engagement[0] {E}.points", "worth 0 points"),
    ({"engagement": [engagement_rule(max=0)]}, f"engagement[0] {E}.max", "greater than 0"),
    ({"engagement": [engagement_rule(max=-5)]}, f"engagement[0] {E}.max", "greater than 0"),
    ({"engagement": [engagement_rule(max="3")]}, f"engagement[0] {E}.max", "expected a number"),
    ({"engagement": [engagement_rule(max_per_day=0)]}, f"engagement[0] {E}.max_per_day", "from 1 to 10,000"),
    ({"engagement": [engagement_rule(max_per_day=1.5)]}, f"engagement[0] {E}.max_per_day", "whole number"),
    ({"engagement": [engagement_rule(max_per_day=True)]}, f"engagement[0] {E}.max_per_day", "whole number"),
    ({"engagement": [engagement_rule(max_per_day="2")]}, f"engagement[0] {E}.max_per_day", "whole number"),
    ({"engagement": [engagement_rule(decay=True)]}, f"engagement[0] {E}.decay", "expected false or"),
    ({"engagement": [engagement_rule(decay={"half_life_days": -1})]}, f"engagement[0] {E}.decay.half_life_days",
     "greater than 0"),
    ({"engagement": [engagement_rule(decay={"days": 3})]}, f"engagement[0] {E}.decay.days", "unknown key"),
    ({"engagement": [engagement_rule(when={"field": "path"})]}, f"engagement[0] {E}.when", "unknown key"),
    # thresholds, MQL, weights
    ({"thresholds": {"warm": 60, "hot": 60}}, "thresholds", "warm (60) must be below hot (60)"),
    ({"thresholds": {"warm": 70, "hot": 60}}, "thresholds", "warm (70) must be below hot (60)"),
    ({"thresholds": {"warm": 0, "hot": 60}}, "thresholds.warm", "above 0"),
    ({"thresholds": {"warm": 30, "hot": 101}}, "thresholds.hot", "0 to 100"),
    ({"thresholds": {"warm": "30", "hot": 60}}, "thresholds.warm", "expected a number"),
    ({"thresholds": {"warm": 30, "hot": 60, "cold": 0}}, "thresholds.cold", "unknown key"),
    ({"thresholds": [30, 60]}, "thresholds", "expected a mapping"),
    ({"mql": {"fit": 120, "engagement": 40}}, "mql.fit", "0 to 100"),
    ({"mql": {"fit": 50, "engagement": -1}}, "mql.engagement", "0 to 100"),
    ({"weights": {"fit": 60, "engagement": 60}}, "weights", "add up to 100"),
    ({"weights": {"fit": 30}}, "weights", "add up to 100"),  # the other weight defaults to 50, not to the rest
    ({"weights": {"fit": 40, "engagement": 60, "bonus": 1}}, "weights.bonus", "unknown key"),
])
def test_an_invalid_document_is_refused_with_where_and_why(overrides, where, reason):
    found = problems(model_doc(**overrides))
    assert where in [w for w, _ in found], found
    assert any(w == where and reason in why for w, why in found), found


@pytest.mark.parametrize("raw", [None, [], "format: leadline-scoring/1", 42])
def test_a_document_that_is_not_a_mapping_is_refused(raw):
    assert wheres(raw) == [""]


def test_an_engagement_rule_with_an_empty_where_is_refused_rather_than_silently_dropped():
    # `where:` with nothing after it in YAML is null. It used to leave the rule out of the model, with no problem.
    doc = model_doc(engagement=yaml.safe_load("- {name: Visited pricing, event: page_view, where: , points: 5}"))
    assert wheres(doc) == ['engagement[0] "Visited pricing".where']


@pytest.mark.parametrize(("fit", "engagement", "where"), [
    ([fit_rule("Phone"), fit_rule("Phone")], [], 'fit[1] "Phone".name'),
    ([fit_rule("Visited pricing")], [engagement_rule("Visited pricing")], 'engagement[0] "Visited pricing".name'),
    ([], [engagement_rule("Visited pricing"), engagement_rule("visited-pricing")],
     'engagement[1] "visited-pricing".name'),  # both derive the key visited_pricing
    ([fit_rule("A", key="same"), fit_rule("B", key="same")], [], 'fit[1] "B".name'),
])
def test_two_rules_may_not_share_a_key(fit, engagement, where):
    found = problems(model_doc(fit=fit, engagement=engagement))
    assert [w for w, _ in found] == [where]
    assert "two rules share the key" in found[0][1]


def test_an_explicit_key_tells_two_rules_of_the_same_name_apart():
    scoring = model(fit=[fit_rule("Phone"), fit_rule("Phone", key="phone_2")])
    assert [r.key for r in scoring.fit] == ["phone", "phone_2"]


def test_every_problem_is_reported_at_once():
    doc = model_doc(
        format="leadline-scoring/0",
        fit=[fit_rule("Good"), fit_rule("Zero", points=0),
             fit_rule("Bad field", when={"field": "nope", "exists": True})],
        engagement=[engagement_rule("Capped", max=-1), engagement_rule("Bad event", event="Bad Event")],
        thresholds={"warm": 80, "hot": 60},
        weights={"fit": 50, "engagement": 60},
    )
    assert wheres(doc) == [
        "format",
        'fit[1] "Zero".points',
        'fit[2] "Bad field".when.field',
        'engagement[0] "Capped".max',
        'engagement[1] "Bad event".event',
        "thresholds",
        "weights",
    ]


def test_two_bad_rules_give_two_problems_and_the_message_lists_both():
    doc = model_doc(fit=[fit_rule("A", points="x"), fit_rule("B", when={"field": "phone", "between": [2, 1]})])
    with pytest.raises(InvalidScoringModel) as error:
        parse_model(doc)
    assert [w for w, _ in error.value.problems] == ['fit[0] "A".points', 'fit[1] "B".when.between']
    assert str(error.value) == "; ".join(f"{w}: {why}" for w, why in error.value.problems)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("overrides, where, reason", [
    ({"fit": [fit_rule(points=1e308)]}, "points", "from -1000 to 1000"),
    ({"engagement": [engagement_rule(max_per_day=10**30)]}, "max_per_day", "from 1 to 10,000"),
    ({"engagement": [engagement_rule(decay={"half_life_days": 0.0005})]}, "half_life_days", "from 0.0416667"),
    ({"engagement": [engagement_rule(where={"field": "path", "matches": r"\bpricing\b"})]}, "matches",
     "run on PostgreSQL too"),
    ({"engagement": [engagement_rule(where={"field": "path", "matches": "(?P<p>pricing)"})]}, "matches",
     "run on PostgreSQL too"),
    ({"fit": [fit_rule(when={"field": "job_title", "matches": "^(a+)+$"})]}, "matches", "nested quantifiers"),
])
def test_numbers_and_patterns_that_would_break_scoring_later_are_refused_now(overrides, where, reason):
    with pytest.raises(InvalidScoringModel) as caught:
        parse_model(model_doc(**overrides))
    assert any(w.endswith(where) and reason in why for w, why in caught.value.problems), caught.value.problems


def test_fit_patterns_may_use_python_only_syntax_since_fit_never_runs_in_sql():
    model = parse_model(model_doc(fit=[fit_rule(when={"field": "job_title", "matches": r"(?i)\bceo\b"})]))
    assert model.fit[0].matches(lambda field: "The CEO")


def test_conditions_nested_too_deep_are_refused():
    deep = {"field": "path", "exists": True}
    for _ in range(12):
        deep = {"not": deep}
    with pytest.raises(InvalidScoringModel) as caught:
        parse_model(model_doc(engagement=[engagement_rule(where=deep)]))
    assert any("nested more than 8 levels" in why for _, why in caught.value.problems)
