"""A workspace's assignment rules: an ordered list, validated as a whole, stored one row per rule, replaced at
once. The first rule that matches a lead routes it (see `leadline.core.routing`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from leadline.core.follow_up import MAX_DAYS
from leadline.core.lead_input import FieldProblem
from leadline.core.leads import Stage, Temperature
from leadline.core.routing import STRATEGIES, Escalation, Match, Rule
from leadline.services.errors import Invalid
from leadline.services.users import Countries
from leadline.storage.tables import AssignmentRule, Segment, User

#: Strategies that need no fallback of their own (they always pick from the pool when it has anyone).
DISTRIBUTING = ("weighted", "round_robin")
DEFAULT_SLA = {"hot": 60.0, "warm": 480.0, "cold": 2400.0}  # 1 business hour, 1 day, 5 days of 8 hours


def _strategy(value: str) -> str:
    if value not in STRATEGIES:
        raise ValueError(f"unknown strategy {value!r}; known: {', '.join(sorted(STRATEGIES))}")
    return value


def _fallback(value: str | None) -> str | None:
    if value is not None and value not in DISTRIBUTING:
        raise ValueError(f"a fallback is one of {', '.join(DISTRIBUTING)} (or null for none)")
    return value


def _sla(value: dict[str, float]) -> dict[str, float]:
    allowed = {t.value for t in Temperature} | {"default"}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValueError(f"unknown temperature {', '.join(unknown)}; use {', '.join(sorted(allowed))}")
    return value


Id = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,17}$", description="An id, as the API gives it")]
Minutes = Annotated[float, Field(ge=0, le=MAX_DAYS * 24 * 60 / 4)]


class MatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: list[Stage] = Field(default_factory=list, max_length=10)
    temperatures: list[Temperature] = Field(default_factory=list, max_length=3)
    countries: Countries = Field(default_factory=list)
    segment_id: Id | None = None


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    match: MatchIn = Field(default_factory=MatchIn, description="Every condition given must hold; {} takes all")
    strategy: Annotated[str, AfterValidator(_strategy)] = Field(
        default="weighted", description="weighted | round_robin | territory | company_owner")
    pool: list[Id] | None = Field(default=None, max_length=1000,
                                  description="User ids; null: every active user with the role rep")
    fallback: Annotated[str | None, AfterValidator(_fallback)] = Field(
        default="weighted", description="When territory or company_owner finds nobody: weighted, round_robin "
                                        "or null (leave the lead unassigned)")
    sla_minutes: Annotated[dict[str, Minutes], AfterValidator(_sla)] = Field(
        default_factory=lambda: dict(DEFAULT_SLA),
        description="Business minutes to the first touch, per temperature (hot, warm, cold, default)")
    escalation: Escalation = Field(default=Escalation.NOTIFY_MANAGER,
                                   description="When the follow-up is overdue: reassign or notify_manager")
    reroute_owned: bool = Field(default=False, description="Also route leads that already have an owner")

    @field_validator("pool")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a user appears twice in the pool")
        return value


class RulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RuleIn] = Field(max_length=100, description="In order: the first rule that matches wins")

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[RuleIn]) -> list[RuleIn]:
        names = [r.name for r in rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        return rules


class RuleOut(RuleIn):
    position: int
    updated_at: datetime
    updated_by: str


def _check_references(session: Session, workspace_id: int, rules: Sequence[RuleIn]) -> None:
    """Pools name users and matches name segments of this workspace (two queries for the whole list)."""
    user_ids = {int(u) for r in rules for u in (r.pool or [])}
    segment_ids = {int(r.match.segment_id) for r in rules if r.match.segment_id is not None}
    users = set(session.scalars(select(User.id).where(User.workspace_id == workspace_id,
                                                      User.id.in_(user_ids)))) if user_ids else set()
    segments = set(session.scalars(select(Segment.id).where(Segment.workspace_id == workspace_id,
                                                            Segment.id.in_(segment_ids)))) if segment_ids else set()
    problems = []
    for i, rule in enumerate(rules):
        missing = [u for u in rule.pool or [] if int(u) not in users]
        if missing:
            problems.append(FieldProblem(f"rules.{i}.pool", f"no such user in this workspace: {', '.join(missing)}"))
        if rule.match.segment_id is not None and int(rule.match.segment_id) not in segments:
            problems.append(FieldProblem(f"rules.{i}.match.segment_id", "no such segment in this workspace"))
    if problems:
        raise Invalid(problems)


def replace_rules(session: Session, *, workspace_id: int, rules: Sequence[RuleIn], actor: str,
                  now: datetime) -> list[RuleOut]:
    _check_references(session, workspace_id, rules)
    session.execute(delete(AssignmentRule).where(AssignmentRule.workspace_id == workspace_id))
    if rules:
        session.execute(insert(AssignmentRule), [
            {"workspace_id": workspace_id, "position": i, "name": r.name, "document": r.model_dump(mode="json"),
             "updated_at": now, "updated_by": actor} for i, r in enumerate(rules)])
    return list_rules(session, workspace_id=workspace_id)


def list_rules(session: Session, *, workspace_id: int) -> list[RuleOut]:
    rows = session.scalars(select(AssignmentRule).where(AssignmentRule.workspace_id == workspace_id)
                           .order_by(AssignmentRule.position))
    return [RuleOut(**row.document, position=row.position, updated_at=row.updated_at, updated_by=row.updated_by)
            for row in rows]


def to_core(rule: RuleIn | dict[str, Any], default_pool: frozenset[int]) -> Rule:
    """The stored or given rule as `core.routing.Rule`; no pool means the workspace's reps."""
    r = rule if isinstance(rule, RuleIn) else RuleIn(**rule)
    return Rule(name=r.name, strategy=r.strategy,
                match=Match(stages=frozenset(s.value for s in r.match.stages),
                            temperatures=frozenset(t.value for t in r.match.temperatures),
                            countries=frozenset(r.match.countries),
                            segment_id=int(r.match.segment_id) if r.match.segment_id else None),
                pool=frozenset(int(u) for u in r.pool) if r.pool is not None else default_pool,
                fallback=r.fallback, sla_minutes=dict(r.sla_minutes), escalation=r.escalation,
                reroute_owned=r.reroute_owned)


def core_rules(session: Session, *, workspace_id: int, default_pool: frozenset[int]) -> list[Rule]:
    rows = session.scalars(select(AssignmentRule.document).where(AssignmentRule.workspace_id == workspace_id)
                           .order_by(AssignmentRule.position))
    return [to_core(document, default_pool) for document in rows]
