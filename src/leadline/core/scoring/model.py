"""The scoring model a workspace writes (YAML or JSON), validated into an immutable, compiled form.

The file format is versioned (`format: leadline-scoring/1`) and documented in the README. Every problem is
reported with where it is (`engagement[2] "Visited pricing".where.starts_with`) and why, all at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadline.core.leads import is_valid_event_type
from leadline.core.scoring.conditions import (
    Condition,
    ConditionError,
    Predicate,
    compile_condition,
    parse_condition,
)

FORMAT = "leadline-scoring/1"
DAY_SECONDS = 86_400.0

LEAD_FIELDS = frozenset({
    "email", "email_domain", "email_is_free", "phone", "first_name", "last_name", "job_title", "country",
    "language", "stage", "status", "has_owner", "first_channel", "first_campaign", "last_channel",
    "last_non_direct_channel", "last_non_direct_campaign",
})
COMPANY_FIELDS = frozenset({"name", "domain", "industry", "size", "revenue", "country"})
EVENT_FIELDS = frozenset({
    "path", "url", "referrer", "channel", "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term",
    "utm_content", "email_id",
})
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_fit_field(name: str) -> str | None:
    if name in LEAD_FIELDS:
        return None
    prefix, _, rest = name.partition(".")
    if prefix == "company" and rest in COMPANY_FIELDS:
        return None
    if prefix == "custom" and _KEY.fullmatch(rest):
        return None
    return (f"unknown fit field {name!r}: expected a lead field ({', '.join(sorted(LEAD_FIELDS))}), "
            f"company.<{'|'.join(sorted(COMPANY_FIELDS))}> or custom.<key>")


def check_event_field(name: str) -> str | None:
    if name in EVENT_FIELDS:
        return None
    prefix, _, rest = name.partition(".")
    if prefix == "properties" and _KEY.fullmatch(rest):
        return None
    return (f"unknown event field {name!r}: expected {', '.join(sorted(EVENT_FIELDS))} "
            "or properties.<key> (letters, digits, _ and -)")


class InvalidScoringModel(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {why}" for where, why in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FitRule:
    key: str
    name: str
    condition: Condition
    points: float
    matches: Predicate = field(repr=False, compare=False)
    scores: frozenset[str] = frozenset()  # named scores this rule also counts toward
    main: bool = True  # counts toward the main score


@dataclass(frozen=True, slots=True)
class EngagementRule:
    key: str
    name: str
    event: str
    condition: Condition | None
    points: float
    max_points: float | None  # cap on the rule's contribution (absolute value), applied after decay
    max_per_day: int | None  # occurrences counted per UTC day, in arrival order
    half_life_seconds: float | None  # None: never decays
    matches: Predicate | None = field(repr=False, compare=False)
    scores: frozenset[str] = frozenset()  # named scores this rule also counts toward
    main: bool = True  # counts toward the main score

    def contribution(self, value: float) -> float:
        """The points a decayed value gives, after the rule's cap."""
        if self.max_points is None:
            return value
        return max(-self.max_points, min(self.max_points, value))


@dataclass(frozen=True, slots=True)
class Thresholds:
    warm: float
    hot: float
    mql_fit: float
    mql_engagement: float


@dataclass(frozen=True, slots=True)
class CompanyScoring:
    """How a company's score aggregates its leads' (account-based selling): the best lead, or the average of
    the best `top` leads (a buying committee, not one enthusiast)."""

    aggregate: str = "max"  # max | top_average
    top: int = 3


def _company(problems: list[tuple[str, str]], raw: Mapping[str, Any]) -> CompanyScoring:
    section = raw.get("company", {})
    if not isinstance(section, Mapping):
        problems.append(("company", "expected a mapping: {aggregate: max | top_average, top: N}"))
        return CompanyScoring()
    _known_keys(problems, "company", section, {"aggregate", "top"})
    aggregate = section.get("aggregate", "max")
    if aggregate not in ("max", "top_average"):
        problems.append(("company.aggregate", "expected max or top_average"))
        aggregate = "max"
    top = section.get("top", 3)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 100:
        problems.append(("company.top", "expected a whole number from 1 to 100"))
        top = 3
    return CompanyScoring(aggregate, top)


@dataclass(frozen=True, slots=True)
class ScoringModel:
    name: str
    fit: tuple[FitRule, ...]
    engagement: tuple[EngagementRule, ...]
    thresholds: Thresholds
    fit_weight: float
    engagement_weight: float
    document: Mapping[str, Any] = field(repr=False, compare=False)
    by_event: Mapping[str, tuple[EngagementRule, ...]] = field(repr=False, compare=False, default_factory=dict)
    company: CompanyScoring = field(default_factory=lambda: CompanyScoring())

    @property
    def score_names(self) -> tuple[str, ...]:
        """The named scores besides the main one, in a stable order."""
        names: set[str] = set()
        for rule in self.fit:
            names |= rule.scores
        for engagement_rule in self.engagement:
            names |= engagement_rule.scores
        return tuple(sorted(names))

    def rules_for(self, event_type: str) -> tuple[EngagementRule, ...]:
        return self.by_event.get(event_type, ())

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(r.event for r in self.engagement)

    def engagement_rule(self, key: str) -> EngagementRule | None:
        return next((r for r in self.engagement if r.key == key), None)


#: Bounds on what a model may say: scores live on 0..100, so larger numbers are mistakes (and would overflow).
MAX_POINTS = 1000.0
MAX_PER_DAY = 10_000
MIN_HALF_LIFE_DAYS = 1 / 24  # an hour
MAX_HALF_LIFE_DAYS = 36_500.0


def _number(problems: list[tuple[str, str]], where: str, value: Any, *, positive: bool = False,
            allow_none: bool = False, low: float = -MAX_POINTS, high: float = MAX_POINTS) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append((where, "expected a number"))
        return None
    if positive and value <= 0:
        problems.append((where, "must be greater than 0"))
        return None
    if not low <= value <= high:
        problems.append((where, f"expected a number from {low:g} to {high:g}"))
        return None
    return float(value)


def _known_keys(problems: list[tuple[str, str]], where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
    for key in raw:
        if key not in allowed:
            problems.append((f"{where}.{key}" if where else str(key),
                             f"unknown key; expected one of {', '.join(sorted(allowed))}"))


def _rule_key(problems: list[tuple[str, str]], where: str, raw: Mapping[str, Any], seen: set[str]) -> tuple[str, str]:
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append((f"{where}.name", "every rule needs a name"))
        return "", ""
    key = raw.get("key", re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")[:64] or "rule")
    where = f'{where} "{name.strip()}"'
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        problems.append((f"{where}.key", "letters, digits, _ and -, at most 64"))
        return name.strip(), ""
    if key in seen:
        problems.append((f"{where}.name", f"two rules share the key {key!r}; rename one or give it a 'key'"))
    seen.add(key)
    return name.strip(), key


def _condition(problems: list[tuple[str, str]], where: str, raw: Any, check: Any, *, portable: bool = False
               ) -> Condition | None:
    try:
        return parse_condition(raw, where, fields=check, portable=portable)
    except ConditionError as exc:
        problems.append((exc.where or where, exc.reason))
        return None


def _score_names(problems: list[tuple[str, str]], where: str, item: Mapping[str, Any]) -> tuple[frozenset[str], bool]:
    """The rule's `scores: [names]` (named scores it also counts toward) and `main: false` (not in the main)."""
    raw, main = item.get("scores", []), item.get("main", True)
    names: set[str] = set()
    if not isinstance(raw, list) or not all(isinstance(n, str) and _KEY.fullmatch(n) for n in raw):
        problems.append((f"{where}.scores", "expected a list of score names (letters, digits, _ and -)"))
    else:
        names = set(raw)
    if not isinstance(main, bool):
        problems.append((f"{where}.main", "expected true or false"))
        main = True
    if not main and not names:
        problems.append((f"{where}.main", "a rule outside the main score must count toward a named score"))
    return frozenset(names), main


@dataclass(frozen=True, slots=True)
class _RuleHead:
    where: str  # `engagement[2] "Visited pricing"`: how problems name the rule
    name: str
    key: str
    scores: frozenset[str]
    main: bool


def _rule_head(problems: list[tuple[str, str]], section: str, index: int, item: Any, seen: set[str],
               allowed: set[str], what: str) -> _RuleHead | None:
    """What every rule has: a mapping with a name (and key), known keys, named scores. None if unusable."""
    where = f"{section}[{index}]"
    if not isinstance(item, Mapping):
        problems.append((where, f"expected a mapping with {what}"))
        return None
    name, key = _rule_key(problems, where, item, seen)
    where = f'{where} "{name}"' if name else where
    _known_keys(problems, where, item, allowed)
    scores, main = _score_names(problems, where, item)
    return _RuleHead(where, name, key, scores, main)


def _points(problems: list[tuple[str, str]], where: str, item: Mapping[str, Any]) -> float | None:
    points = _number(problems, f"{where}.points", item.get("points"))
    if points == 0:
        problems.append((f"{where}.points", "a rule worth 0 points does nothing; remove it"))
    return points


def _fit_rules(problems: list[tuple[str, str]], raw: Any, seen: set[str]) -> list[FitRule]:
    if not isinstance(raw, list):
        problems.append(("fit", "expected a list of rules"))
        return []
    rules = []
    allowed = {"name", "key", "when", "points", "description", "scores", "main"}
    for i, item in enumerate(raw):
        head = _rule_head(problems, "fit", i, item, seen, allowed, "name, when and points")
        if head is None:
            continue
        condition = _condition(problems, f"{head.where}.when", item.get("when"), check_fit_field)
        points = _points(problems, head.where, item)
        if head.name and condition is not None and points:
            rules.append(FitRule(head.key, head.name, condition, points, compile_condition(condition),
                                 head.scores, head.main))
    return rules


def _half_life(problems: list[tuple[str, str]], where: str, raw: Any) -> tuple[bool, float | None]:
    """(given, seconds): `decay: false` means never; `decay: {half_life_days: N}` overrides the model's."""
    if raw is None:
        return False, None
    if raw is False:
        return True, None
    if isinstance(raw, Mapping):
        _known_keys(problems, where, raw, {"half_life_days"})
        days = _number(problems, f"{where}.half_life_days", raw.get("half_life_days"), positive=True,
                       low=MIN_HALF_LIFE_DAYS, high=MAX_HALF_LIFE_DAYS)
        return True, days * DAY_SECONDS if days else None
    problems.append((where, "expected false or {half_life_days: N}"))
    return False, None


def _engagement_rules(problems: list[tuple[str, str]], raw: Any, seen: set[str],
                      default_half_life: float | None) -> list[EngagementRule]:
    if not isinstance(raw, list):
        problems.append(("engagement", "expected a list of rules"))
        return []
    rules = []
    allowed = {"name", "key", "event", "where", "points", "max", "max_per_day", "decay", "description", "scores",
               "main"}
    for i, item in enumerate(raw):
        head = _rule_head(problems, "engagement", i, item, seen, allowed, "name, event and points")
        if head is None:
            continue
        where, name, key, scores, main = head.where, head.name, head.key, head.scores, head.main
        event = item.get("event")
        if not isinstance(event, str) or not is_valid_event_type(event):
            problems.append((f"{where}.event", "expected an event type (lower case letters, digits, _ . : -)"))
        condition = (_condition(problems, f"{where}.where", item["where"], check_event_field, portable=True)
                     if "where" in item else None)
        points = _points(problems, where, item)
        cap = _number(problems, f"{where}.max", item.get("max"), positive=True, allow_none=True)
        per_day = item.get("max_per_day")
        if per_day is not None and (isinstance(per_day, bool) or not isinstance(per_day, int)
                                    or not 1 <= per_day <= MAX_PER_DAY):
            problems.append((f"{where}.max_per_day", f"expected a whole number from 1 to {MAX_PER_DAY:,}"))
            per_day = None
        given, half_life = _half_life(problems, f"{where}.decay", item.get("decay"))
        if name and isinstance(event, str) and points and (condition is not None or "where" not in item):
            rules.append(EngagementRule(
                key, name, event, condition, points, cap, per_day, half_life if given else default_half_life,
                compile_condition(condition) if condition is not None else None, scores, main))
    return rules


def _section(problems: list[tuple[str, str]], raw: Mapping[str, Any], name: str, allowed: set[str]
             ) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        problems.append((name, "expected a mapping"))
        return {}
    _known_keys(problems, name, value, allowed)
    return value


def _bounded(problems: list[tuple[str, str]], where: str, value: Any, default: float) -> float:
    number = _number(problems, where, default if value is None else value)
    if number is None:
        return default
    if not 0 <= number <= 100:
        problems.append((where, "expected a value from 0 to 100"))
    return number


def parse_model(raw: Any) -> ScoringModel:
    """Validate a scoring model document (already parsed from YAML or JSON)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, Mapping):
        raise InvalidScoringModel([("", "a scoring model is a mapping (see the README for an example)")])
    _known_keys(problems, "", raw, {"format", "name", "description", "fit", "engagement", "decay", "thresholds",
                                    "mql", "weights", "company"})
    if raw.get("format") != FORMAT:
        problems.append(("format", f"expected {FORMAT!r} (the version of this file format)"))
    name = raw.get("name", "Scoring model")
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", "expected a text"))
        name = "Scoring model"
    _, default_half_life = _half_life(problems, "decay", raw.get("decay"))
    seen: set[str] = set()
    fit = _fit_rules(problems, raw.get("fit", []), seen)
    engagement = _engagement_rules(problems, raw.get("engagement", []), seen, default_half_life)
    thresholds = _section(problems, raw, "thresholds", {"warm", "hot"})
    warm = _bounded(problems, "thresholds.warm", thresholds.get("warm"), 40)
    hot = _bounded(problems, "thresholds.hot", thresholds.get("hot"), 70)
    if warm >= hot:
        problems.append(("thresholds", f"warm ({warm:g}) must be below hot ({hot:g})"))
    if warm <= 0:
        problems.append(("thresholds.warm", "must be above 0 (every lead starts at 0, cold)"))
    mql = _section(problems, raw, "mql", {"fit", "engagement"})
    weights = _section(problems, raw, "weights", {"fit", "engagement"})
    fit_weight = _bounded(problems, "weights.fit", weights.get("fit"), 50) / 100
    engagement_weight = _bounded(problems, "weights.engagement", weights.get("engagement"), 50) / 100
    if not math.isclose(fit_weight + engagement_weight, 1.0):
        problems.append(("weights", "fit and engagement weights must add up to 100"))
    model = ScoringModel(
        name.strip(), tuple(fit), tuple(engagement),
        Thresholds(warm, hot, _bounded(problems, "mql.fit", mql.get("fit"), 50),
                   _bounded(problems, "mql.engagement", mql.get("engagement"), 40)),
        fit_weight, engagement_weight, dict(raw),
        {e: tuple(r for r in engagement if r.event == e) for e in {r.event for r in engagement}},
        _company(problems, raw))
    if problems:
        raise InvalidScoringModel(problems)
    return model
