"""Routing strategies, computed in memory: fairness with weights, away reps, quotas, territory, company owner."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.routing import STRATEGIES, LeadFacts, Match, RepState, Rule, pick_fair, route

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)


def leads(n: int, start: int = 1, **fields: object) -> list[LeadFacts]:
    base: dict[str, object] = {"stage": "mql", "temperature": "hot", **fields}
    return [LeadFacts(id=i, **base) for i in range(start, start + n)]  # type: ignore[arg-type]


def owners(choices: list) -> Counter[int | None]:  # type: ignore[type-arg]
    return Counter(c.owner_id for c in choices)


def test_strategies_are_registered() -> None:
    assert {"round_robin", "weighted", "territory", "company_owner"} <= set(STRATEGIES)


def test_weighted_shares_follow_capacity_exactly_over_many_leads() -> None:
    reps = [RepState(1, weight=1), RepState(2, weight=2), RepState(3, weight=3)]
    counts = owners(route(leads(6000), [Rule("all", "weighted")], reps, {}, now=NOW))
    assert counts == {1: 1000, 2: 2000, 3: 3000}


def test_weighted_is_fair_at_every_prefix() -> None:
    reps = [RepState(1, weight=1), RepState(2, weight=3)]
    choices = route(leads(400), [Rule("all", "weighted")], reps, {}, now=NOW)
    running: Counter[int | None] = Counter()
    for i, choice in enumerate(choices, start=1):
        running[choice.owner_id] += 1
        assert abs(running[2] - 0.75 * i) <= 1, i  # never more than one lead off the ideal share


def test_history_counts_a_busy_rep_waits_until_the_others_catch_up() -> None:
    reps = [RepState(1, assigned_recent=10), RepState(2), RepState(3)]
    counts = owners(route(leads(20), [Rule("all", "weighted")], reps, {}, now=NOW))
    assert counts == {2: 10, 3: 10}
    counts = owners(route(leads(33), [Rule("all", "weighted")], reps, {}, now=NOW))
    totals = [counts[1] + 10, counts[2], counts[3]]  # then all three move together
    assert sum(totals) == 43 and max(totals) - min(totals) <= 1


def test_ties_do_not_favour_creation_order() -> None:
    """Fresh reps with equal counters: who gets the first lead depends on the lead, not on the rep id."""
    reps = [RepState(i) for i in range(1, 6)]
    firsts = Counter(route([lead], [Rule("all", "weighted")], reps, {}, now=NOW)[0].owner_id
                     for lead in leads(500))
    assert len(firsts) == 5
    assert max(firsts.values()) < 200  # rep 1 (created first) would get all 500 with an id tie-break


def test_ties_go_to_the_least_recently_assigned() -> None:
    reps = [RepState(1, assigned_recent=3, last_assigned_at=NOW - timedelta(minutes=1)),
            RepState(2, assigned_recent=3, last_assigned_at=NOW - timedelta(hours=2))]
    assert route(leads(1), [Rule("all", "weighted")], reps, {}, now=NOW)[0].owner_id == 2


def test_round_robin_cycles_and_ignores_weights() -> None:
    reps = [RepState(1, weight=5, last_assigned_at=NOW - timedelta(hours=1)),
            RepState(2, weight=1, last_assigned_at=NOW - timedelta(hours=3)),
            RepState(3, weight=1, last_assigned_at=NOW - timedelta(hours=2))]
    choices = route(leads(6), [Rule("rr", "round_robin")], reps, {}, now=NOW)
    # 2 waited longest, then 3, then 1; then the rotation goes on inside the batch
    assert [c.owner_id for c in choices] == [2, 3, 1, 2, 3, 1]


def test_round_robin_even_over_a_batch() -> None:
    reps = [RepState(i) for i in (1, 2, 3)]
    now = iter(NOW + timedelta(seconds=s) for s in range(1000))
    # one lead per call with the clock moving: a strict rotation
    states = {r.id: r for r in reps}
    seq = []
    for lead in leads(9):
        at = next(now)
        choice = route([lead], [Rule("rr", "round_robin")], list(states.values()), {}, now=at)[0]
        assert choice.owner_id is not None
        states[choice.owner_id] = RepState(choice.owner_id, last_assigned_at=at)
        seq.append(choice.owner_id)
    assert seq[3:6] == seq[0:3] and seq[6:9] == seq[0:3] and len(set(seq[:3])) == 3


def test_away_and_inactive_reps_are_skipped() -> None:
    reps = [RepState(1, available=False), RepState(2), RepState(3, available=False)]
    assert owners(route(leads(10), [Rule("all", "weighted")], reps, {}, now=NOW)) == {2: 10}


def test_nobody_available_leaves_leads_unassigned_with_a_reason() -> None:
    choices = route(leads(2), [Rule("all", "weighted")], [RepState(1, available=False)], {}, now=NOW)
    assert [(c.owner_id, c.reason) for c in choices] == [(None, "no available rep")] * 2


def test_daily_quota_stops_a_rep_and_counts_what_was_done_today() -> None:
    reps = [RepState(1, weight=10, daily_quota=5, assigned_today=2), RepState(2, weight=1)]
    counts = owners(route(leads(20), [Rule("all", "weighted")], reps, {}, now=NOW))
    assert counts == {1: 3, 2: 17}


def test_all_at_quota_leaves_the_rest_unassigned() -> None:
    reps = [RepState(1, daily_quota=2), RepState(2, daily_quota=1)]
    counts = owners(route(leads(5), [Rule("all", "weighted")], reps, {}, now=NOW))
    assert counts == {1: 2, 2: 1, None: 2}


def test_zero_capacity_takes_nothing() -> None:
    reps = [RepState(1, weight=0), RepState(2)]
    assert owners(route(leads(4), [Rule("all", "weighted")], reps, {}, now=NOW)) == {2: 4}


def test_territory_region_before_country_then_fallback() -> None:
    reps = [RepState(1, countries=frozenset({"DE"})), RepState(2, regions=frozenset({"BY"})),
            RepState(3, countries=frozenset({"FR"}))]
    rule = Rule("geo", "territory")
    batch = [LeadFacts(1, "mql", "hot", country="DE", region="BY"), LeadFacts(2, "mql", "hot", country="DE"),
             LeadFacts(3, "mql", "hot", country="FR"), LeadFacts(4, "mql", "hot", country="BR")]
    choices = route(batch, [rule], reps, {}, now=NOW)
    assert [c.owner_id for c in choices[:3]] == [2, 1, 3]
    assert choices[0].reason == "territory region BY" and choices[1].reason == "territory country DE"
    assert choices[3].owner_id is not None and choices[3].reason.startswith("no rep for the territory; weighted")
    no_fallback = route(batch[3:], [Rule("geo", "territory", fallback=None)], reps, {}, now=NOW)
    assert no_fallback[0].owner_id is None


def test_territory_rep_away_falls_back() -> None:
    reps = [RepState(1, countries=frozenset({"DE"}), available=False), RepState(2)]
    choice = route([LeadFacts(1, "mql", "hot", country="DE")], [Rule("geo", "territory")], reps, {}, now=NOW)[0]
    assert choice.owner_id == 2


def test_company_owner_keeps_the_account_even_at_quota() -> None:
    reps = [RepState(1, daily_quota=0), RepState(2), RepState(3)]
    batch = [LeadFacts(1, "mql", "hot", company_id=77), LeadFacts(2, "mql", "hot", company_id=88),
             LeadFacts(3, "mql", "hot", company_id=88), LeadFacts(4, "mql", "hot", company_id=88)]
    choices = route(batch, [Rule("abm", "company_owner")], reps, {77: 1}, now=NOW)
    assert choices[0].owner_id == 1 and choices[0].reason == "company owner"
    # company 88 is new: the first lead falls back, the next ones follow it within the same batch
    assert choices[1].owner_id in (2, 3) and choices[1].reason.startswith("no available company owner")
    assert choices[2].owner_id == choices[3].owner_id == choices[1].owner_id


def test_company_owner_away_falls_back() -> None:
    reps = [RepState(1, available=False), RepState(2)]
    choice = route([LeadFacts(1, "mql", "hot", company_id=5)], [Rule("abm", "company_owner")], reps,
                   {5: 1}, now=NOW)[0]
    assert choice.owner_id == 2


def test_first_matching_rule_wins_with_its_pool_and_sla() -> None:
    rules = [Rule("hot-fr", "weighted", Match(temperatures=frozenset({"hot"}), countries=frozenset({"FR"})),
                  pool=frozenset({1}), sla_minutes={"hot": 60}),
             Rule("segment", "weighted", Match(segment_id=9), pool=frozenset({2}), sla_minutes={"default": 30}),
             Rule("mql", "weighted", Match(stages=frozenset({"mql"})), pool=frozenset({3}))]
    reps = [RepState(1), RepState(2), RepState(3)]
    batch = [LeadFacts(1, "mql", "hot", country="FR"), LeadFacts(2, "mql", "warm", country="FR",
                                                                 segment_ids=frozenset({9})),
             LeadFacts(3, "mql", "cold"), LeadFacts(4, "sql", "cold")]
    choices = route(batch, rules, reps, {}, now=NOW)
    assert [(c.owner_id, c.rule, c.sla_minutes) for c in choices] == [
        (1, "hot-fr", 60), (2, "segment", 30), (3, "mql", None), (None, None, None)]
    assert choices[3].reason == "no rule matches"


def test_owned_leads_are_left_alone_unless_the_rule_or_caller_says_so() -> None:
    reps = [RepState(1), RepState(2)]
    lead = LeadFacts(1, "mql", "hot", owner_id=2)
    assert route([lead], [Rule("r", "weighted")], reps, {}, now=NOW)[0].reason == "already owned"
    assert route([lead], [Rule("r", "weighted", reroute_owned=True)], reps, {}, now=NOW)[0].owner_id is not None
    forced = route([lead], [Rule("r", "weighted")], reps, {}, now=NOW, force=True, exclude={1: frozenset({2})})
    assert forced[0].owner_id == 1 and forced[0].previous_owner_id == 2


@pytest.mark.parametrize("n_reps", [1, 7, 50])
def test_10000_leads_in_one_pass_are_all_assigned(n_reps: int) -> None:
    reps = [RepState(i, weight=1 + i % 3) for i in range(1, n_reps + 1)]
    choices = route(leads(10_000), [Rule("all", "weighted")], reps, {}, now=NOW)
    assert sum(1 for c in choices if c.owner_id is not None) == 10_000
    total_weight = sum(r.weight for r in reps)
    for rep in reps:
        assert abs(owners(choices)[rep.id] - 10_000 * rep.weight / total_weight) <= 1


def test_pick_fair_empty() -> None:
    assert pick_fair([], 1) is None
