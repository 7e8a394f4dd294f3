"""The stage machine: forward moves may skip stages; backward moves go only through disqualified or recycled;
a customer is final; disqualifying and recycling need one of the workspace's reasons."""

from __future__ import annotations

import pytest

from leadline.core.leads import Stage
from leadline.core.lifecycle import ReasonLists, allowed_targets, check_transition, is_forward, mql_ready_moves

S = Stage


@pytest.mark.parametrize(("current", "target"), [
    (S.NEW, S.MQL), (S.NEW, S.SQL), (S.NEW, S.CUSTOMER), (S.MQL, S.SQL), (S.SQL, S.OPPORTUNITY),
    (S.OPPORTUNITY, S.CUSTOMER), (S.RECYCLED, S.MQL), (S.RECYCLED, S.OPPORTUNITY),
])
def test_forward_moves_are_allowed_and_may_skip_stages(current, target):
    assert check_transition(current, target, None) is None
    assert is_forward(current, target) or current is S.RECYCLED


@pytest.mark.parametrize(("current", "target", "words"), [
    (S.CUSTOMER, S.NEW, "customer stays a customer"),
    (S.CUSTOMER, S.RECYCLED, "customer stays a customer"),
    (S.SQL, S.MQL, "moves backwards"),
    (S.OPPORTUNITY, S.NEW, "never goes back to new"),
    (S.DISQUALIFIED, S.MQL, "only through recycled"),
    (S.NEW, S.RECYCLED, "only an mql, sql or opportunity"),
    (S.MQL, S.MQL, "already mql"),
])
def test_illegal_moves_are_refused_with_the_reason(current, target, words):
    refused = check_transition(current, target, "other")
    assert refused is not None and refused.field == "stage" and words in refused.message


@pytest.mark.parametrize("target", [S.DISQUALIFIED, S.RECYCLED])
def test_disqualifying_and_recycling_need_a_reason_from_the_workspace_list(target):
    lists = ReasonLists(disqualify=("spam", "competitor"), recycle=("no_budget_yet",))
    missing = check_transition(S.MQL, target, None, lists)
    assert missing is not None and missing.field == "reason"
    unknown = check_transition(S.MQL, target, "because", lists)
    assert unknown is not None and unknown.field == "reason" and "'because'" in unknown.message
    good = "spam" if target is S.DISQUALIFIED else "no_budget_yet"
    assert check_transition(S.MQL, target, good, lists) is None


def test_every_move_back_passes_through_disqualified_or_recycled():
    funnel = [S.NEW, S.MQL, S.SQL, S.OPPORTUNITY, S.CUSTOMER]
    for current in Stage:
        for target in allowed_targets(current):
            if current in funnel and target in funnel:
                assert funnel.index(target) > funnel.index(current), (current, target)
    assert allowed_targets(S.CUSTOMER) == frozenset()
    assert S.NEW not in set().union(*(allowed_targets(s) for s in Stage))


def test_crossing_the_mql_threshold_only_promotes_new_and_recycled_leads():
    assert {s for s in Stage if mql_ready_moves(s)} == {S.NEW, S.RECYCLED}
