"""Incremental exponential decay: one (value, as_of) pair per lead and rule, whatever order events arrive in."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scoring_factories import DAY, T0

from leadline.core.scoring.decay import RuleState, decay_factor

H = 7 * DAY.total_seconds()  # a half-life of a week, in seconds


def direct(events: list[tuple[float, float]], at: float, half_life: float | None) -> float:
    """V(T) = sum_i p_i * 2 ** (-(T - t_i) / h), event times and T in seconds after T0."""
    if half_life is None:
        return math.fsum(p for p, _ in events)
    return math.fsum(p * 2 ** (-(at - t) / half_life) for p, t in events)


def state_after(events: list[tuple[float, float]], half_life: float | None) -> RuleState:
    state = RuleState()
    for points, t in events:
        state.add(points, T0 + timedelta(seconds=t), half_life)
    return state


@pytest.mark.parametrize(("seconds", "half_life", "factor"), [
    (0, H, 1.0), (H, H, 0.5), (2 * H, H, 0.25), (H / 2, H, 2 ** -0.5), (-H, H, 2.0), (10 * H, None, 1.0),
])
def test_decay_factor_halves_every_half_life(seconds, half_life, factor):
    assert decay_factor(seconds, half_life) == pytest.approx(factor, rel=1e-12)


def test_a_value_halves_after_one_half_life():
    state = state_after([(8.0, 0)], H)
    assert state.value_at(T0, H) == 8
    assert state.value_at(T0 + timedelta(seconds=H), H) == pytest.approx(4, rel=1e-12)
    assert state.value_at(T0 + timedelta(seconds=3 * H), H) == pytest.approx(1, rel=1e-12)


def test_an_empty_state_is_worth_nothing():
    assert RuleState().value_at(T0, H) == 0


def test_a_rule_without_decay_just_sums_its_points():
    state = state_after([(10, 0), (5, 3 * H), (-2, H)], None)
    assert state.value_at(T0 + 100 * DAY, None) == 13
    assert state.hits == 3


def test_an_older_event_is_discounted_to_the_latest_one_without_moving_it():
    state = state_after([(10, 2 * H), (8, H)], H)
    assert state.as_of == T0 + timedelta(seconds=2 * H)
    assert state.last_fired_at == T0 + timedelta(seconds=2 * H)
    assert state.value == pytest.approx(14, rel=1e-12)  # 10 + 8 * 1/2


event_lists = st.lists(
    st.tuples(st.floats(0.5, 100), st.floats(0, 40 * H)),  # points, seconds after T0: up to 40 half-lives
    min_size=1, max_size=12)


@given(events=event_lists, order=st.randoms(use_true_random=False), later=st.floats(0, 20 * H),
       half_life_days=st.sampled_from([0.01, 1, 7, 30, 365]))
def test_adding_events_in_any_order_gives_the_directly_decayed_sum(events, order, later, half_life_days):
    half_life = half_life_days * DAY.total_seconds()
    shuffled = list(events)
    order.shuffle(shuffled)
    state = state_after(shuffled, half_life)
    at = max(t for _, t in events) + later
    expected = direct(events, at, half_life)
    assert state.value_at(T0 + timedelta(seconds=at), half_life) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert state.hits == len(events)
    assert state.last_fired_at == T0 + timedelta(seconds=max(t for _, t in events))


@given(events=st.lists(st.tuples(st.floats(-50, 50).filter(lambda p: p != 0), st.floats(0, 10 * H)),
                       min_size=1, max_size=12),
       order=st.randoms(use_true_random=False))
def test_mixed_positive_and_negative_points_also_add_up_in_any_order(events, order):
    shuffled = list(events)
    order.shuffle(shuffled)
    at = 12 * H
    scale = direct([(abs(p), t) for p, t in events], at, H)  # the error is relative to the magnitudes summed
    value = state_after(shuffled, H).value_at(T0 + timedelta(seconds=at), H)
    assert abs(value - direct(events, at, H)) <= 1e-9 * scale


@pytest.mark.parametrize("gap_half_lives", [1_100, 5_000, 100_000])
@pytest.mark.parametrize("newest_first", [False, True])
def test_events_thousands_of_half_lives_apart_neither_overflow_nor_lose_the_recent_one(gap_half_lives, newest_first):
    events = [(10.0, 0.0), (3.0, gap_half_lives * H)]
    state = state_after(events[::-1] if newest_first else events, H)
    latest = T0 + timedelta(seconds=gap_half_lives * H)
    assert state.value_at(latest, H) == pytest.approx(3.0, rel=1e-12)
    assert state.value_at(latest + timedelta(seconds=H), H) == pytest.approx(1.5, rel=1e-12)
    assert state.value_at(latest + timedelta(seconds=gap_half_lives * H), H) == 0.0  # underflows to 0, no error


def test_points_dated_ahead_of_the_clock_do_not_grow_when_read_earlier():
    state = RuleState()
    ahead = T0 + timedelta(hours=23)
    state.add(1.0, ahead, 3600.0)  # a one-hour half-life, 23 half-lives ahead
    assert state.value_at(T0, 3600.0) == 1.0
    assert state.value_at(ahead + timedelta(hours=1), 3600.0) == pytest.approx(0.5)
