"""Small builders shared by the scoring specifications: model documents, facts, rule states."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from leadline.core.scoring.conditions import MISSING, Facts, compile_condition, parse_condition
from leadline.core.scoring.decay import RuleState
from leadline.core.scoring.model import FORMAT, ScoringModel, parse_model

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def facts(**values: Any) -> Facts:
    """A lookup holding `values`; any other field is missing. Dotted names: facts(**{"company.size": 80})."""
    return lambda name: values.get(name, MISSING)


def holds(condition: Mapping[str, Any], **values: Any) -> bool:
    """Whether the file form of a condition holds for these field values."""
    return compile_condition(parse_condition(condition))(facts(**values))


def fit_rule(name: str = "Has a phone", **overrides: Any) -> dict[str, Any]:
    return {"name": name, "when": {"field": "phone", "exists": True}, "points": 10, **overrides}


def engagement_rule(name: str = "Clicked an email", **overrides: Any) -> dict[str, Any]:
    return {"name": name, "event": "email_click", "points": 10, **overrides}


def model_doc(**overrides: Any) -> dict[str, Any]:
    """A small valid document; each keyword replaces one top-level key (None removes it)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "name": "Spec model",
        "decay": {"half_life_days": 10},
        "fit": [fit_rule()],
        "engagement": [engagement_rule()],
        "thresholds": {"warm": 30, "hot": 60},
        "mql": {"fit": 50, "engagement": 40},
        "weights": {"fit": 40, "engagement": 60},
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def model(**overrides: Any) -> ScoringModel:
    return parse_model(model_doc(**overrides))


def states_of(scoring: ScoringModel, hits: Mapping[str, list[datetime]]) -> dict[str, RuleState]:
    """Each rule's running total after earning its points at the given times (in the order given)."""
    result = {}
    for key, times in hits.items():
        rule = scoring.engagement_rule(key)
        assert rule is not None, key
        state = RuleState()
        for at in times:
            state.add(rule.points, at, rule.half_life_seconds)
        result[key] = state
    return result
