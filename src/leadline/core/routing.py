"""Lead routing: which rep gets which lead, computed in memory for a whole batch.

`route(leads, rules, reps, company_owners)` walks the leads in order; each lead takes the first rule that
matches it, and the rule's strategy picks among the rule's pool. Counters move as the batch is assigned, so
10,000 leads routed in one call are spread exactly as 10,000 routed one by one.

Fairness: a rep's load is `(assignments in the window + 1) / capacity weight`; the lowest load wins (the
D'Hondt rule, which keeps every rep's share proportional to its weight at every point in time), ties go to
whoever was assigned least recently, and remaining ties to a hash of (lead, rep) - never to creation order.
Reps who are inactive, away or at their daily quota are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"
    MARKETER = "marketer"


class Escalation(StrEnum):
    REASSIGN = "reassign"
    NOTIFY_MANAGER = "notify_manager"


@dataclass(frozen=True)
class RepState:
    """A candidate owner with its counters as of the start of the batch."""

    id: int
    weight: float = 1.0
    daily_quota: int | None = None
    assigned_today: int = 0  # in the rep's own local day
    assigned_recent: int = 0  # in the fairness window
    last_assigned_at: datetime | None = None
    countries: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    available: bool = True  # active and not away

    @property
    def at_quota(self) -> bool:
        return self.daily_quota is not None and self.assigned_today >= self.daily_quota


@dataclass(frozen=True)
class LeadFacts:
    id: int
    stage: str
    temperature: str
    country: str | None = None
    region: str | None = None
    company_id: int | None = None
    owner_id: int | None = None
    segment_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Match:
    """Every given condition must hold; an empty match takes every lead."""

    stages: frozenset[str] = frozenset()
    temperatures: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    segment_id: int | None = None

    def accepts(self, lead: LeadFacts) -> bool:
        return ((not self.stages or lead.stage in self.stages)
                and (not self.temperatures or lead.temperature in self.temperatures)
                and (not self.countries or (lead.country or "") in self.countries)
                and (self.segment_id is None or self.segment_id in lead.segment_ids))


@dataclass(frozen=True)
class Rule:
    name: str
    strategy: str
    match: Match = field(default_factory=Match)
    pool: frozenset[int] | None = None  # None: every available rep
    fallback: str | None = "weighted"  # for territory and company_owner when they find nobody
    sla_minutes: Mapping[str, float] = field(default_factory=dict)  # by temperature
    escalation: Escalation = Escalation.NOTIFY_MANAGER
    reroute_owned: bool = False  # route leads that already have an owner too

    def sla_for(self, temperature: str) -> float | None:
        return self.sla_minutes.get(temperature, self.sla_minutes.get("default"))


@dataclass(frozen=True)
class Choice:
    lead_id: int
    owner_id: int | None
    rule: str | None
    reason: str
    previous_owner_id: int | None = None
    sla_minutes: float | None = None


@dataclass
class Board:
    """The batch's running state: reps with their counters, and which rep holds which company."""

    reps: dict[int, RepState]
    company_owners: dict[int, int]
    now: datetime | None = None

    def eligible(self, pool: frozenset[int] | None, exclude: frozenset[int] = frozenset()) -> list[RepState]:
        ids = self.reps.keys() if pool is None else (i for i in pool if i in self.reps)
        return [r for i in ids if (r := self.reps[i]).available and not r.at_quota and r.id not in exclude]

    picks: int = 0

    def take(self, rep_id: int, lead: LeadFacts) -> None:
        rep = self.reps[rep_id]
        # Picks within one batch share `now`; a microsecond per pick keeps their order, so "least recently
        # assigned" still means something inside a batch (a strict rotation for round robin).
        self.picks += 1
        at = self.now + timedelta(microseconds=self.picks) if self.now is not None else None
        self.reps[rep_id] = replace(rep, assigned_today=rep.assigned_today + 1,
                                    assigned_recent=rep.assigned_recent + 1, last_assigned_at=at)
        if lead.company_id is not None:
            self.company_owners.setdefault(lead.company_id, rep_id)


def _tiebreak(lead_id: int, rep_id: int) -> bytes:
    return hashlib.blake2b(f"{lead_id}:{rep_id}".encode(), digest_size=8).digest()


def _least_recent(rep: RepState) -> float:
    return rep.last_assigned_at.timestamp() if rep.last_assigned_at is not None else float("-inf")


def pick_fair(candidates: Sequence[RepState], lead_id: int) -> RepState | None:
    """Lowest (recent assignments + 1) / weight, then least recently assigned, then a per-lead hash."""
    best: RepState | None = None
    best_key = (0.0, 0.0)
    for rep in candidates:
        if rep.weight <= 0:
            continue
        key = ((rep.assigned_recent + 1) / rep.weight, _least_recent(rep))
        if best is None or key < best_key or (key == best_key and _tiebreak(lead_id, rep.id)
                                                < _tiebreak(lead_id, best.id)):
            best, best_key = rep, key
    return best


def pick_round_robin(candidates: Sequence[RepState], lead_id: int) -> RepState | None:
    """Whoever waited longest (weights ignored): a rotation that survives restarts and new reps."""
    return min(candidates, key=lambda r: (_least_recent(r), _tiebreak(lead_id, r.id)), default=None)


#: A strategy: (board, rule, lead, exclude) -> (rep id or None, reason).
Strategy = Callable[[Board, Rule, LeadFacts, frozenset[int]], tuple[int | None, str]]
STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str) -> Callable[[Strategy], Strategy]:
    def register(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn

    return register


@strategy("round_robin")
def _round_robin(board: Board, rule: Rule, lead: LeadFacts, exclude: frozenset[int]) -> tuple[int | None, str]:
    rep = pick_round_robin(board.eligible(rule.pool, exclude), lead.id)
    return (rep.id, "round robin") if rep else (None, "no available rep")


@strategy("weighted")
def _weighted(board: Board, rule: Rule, lead: LeadFacts, exclude: frozenset[int]) -> tuple[int | None, str]:
    rep = pick_fair(board.eligible(rule.pool, exclude), lead.id)
    return (rep.id, "weighted by capacity") if rep else (None, "no available rep")


def _fallback(board: Board, rule: Rule, lead: LeadFacts, exclude: frozenset[int],
              why: str) -> tuple[int | None, str]:
    if rule.fallback is None or rule.fallback not in STRATEGIES:
        return None, why
    owner, reason = STRATEGIES[rule.fallback](board, rule, lead, exclude)
    return owner, f"{why}; {reason}"


@strategy("territory")
def _territory(board: Board, rule: Rule, lead: LeadFacts, exclude: frozenset[int]) -> tuple[int | None, str]:
    candidates = board.eligible(rule.pool, exclude)
    for level, value in (("region", lead.region), ("country", lead.country)):
        if value:  # the narrower territory first: a rep for Bavaria before a rep for Germany
            covering = [r for r in candidates if value in (r.regions if level == "region" else r.countries)]
            rep = pick_fair(covering, lead.id)
            if rep is not None:
                return rep.id, f"territory {level} {value}"
    return _fallback(board, rule, lead, exclude, "no rep for the territory")


@strategy("company_owner")
def _company_owner(board: Board, rule: Rule, lead: LeadFacts, exclude: frozenset[int]) -> tuple[int | None, str]:
    """Account-based: a company that already has a rep keeps it (even at quota: the account is theirs)."""
    owner = board.company_owners.get(lead.company_id) if lead.company_id is not None else None
    if owner is not None and owner not in exclude:
        rep = board.reps.get(owner)
        if rep is not None and rep.available and (rule.pool is None or owner in rule.pool):
            return owner, "company owner"
    return _fallback(board, rule, lead, exclude, "no available company owner")


def route(leads: Sequence[LeadFacts], rules: Sequence[Rule], reps: Sequence[RepState],
          company_owners: Mapping[int, int], *, now: datetime | None = None, force: bool = False,
          exclude: Mapping[int, frozenset[int]] | None = None) -> list[Choice]:
    """One choice per lead, in order. A lead with an owner is left alone unless its rule says
    `reroute_owned` or `force` is set; `exclude` names reps a lead must not get (escalation)."""
    board = Board({r.id: r for r in reps}, dict(company_owners), now)
    choices = []
    for lead in leads:
        rule = next((r for r in rules if r.match.accepts(lead)), None)
        if rule is None:
            choices.append(Choice(lead.id, None, None, "no rule matches", lead.owner_id))
            continue
        if lead.owner_id is not None and not (force or rule.reroute_owned):
            choices.append(Choice(lead.id, None, rule.name, "already owned", lead.owner_id))
            continue
        owner, reason = STRATEGIES[rule.strategy](board, rule, lead, (exclude or {}).get(lead.id, frozenset()))
        if owner is not None:
            board.take(owner, lead)
        choices.append(Choice(lead.id, owner, rule.name, reason, lead.owner_id,
                              rule.sla_for(lead.temperature) if owner is not None else None))
    return choices
