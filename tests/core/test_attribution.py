"""Attribution models: hand-checked shares, and for every model and journey the credit sums to exactly one."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadline.core.attribution import Journey, Model, Touch, attribute, credit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def journey(n: int, *, created: int | None = None, opportunity: int | None = None, gap_days: float = 1.0) -> Journey:
    touches = [Touch(T0 + timedelta(days=i * gap_days), f"c{i}") for i in range(n)]
    at = lambda i: None if i is None else touches[i].at  # noqa: E731
    return Journey(touches, converted_at=T0 + timedelta(days=n * gap_days), created_at=at(created),
                   opportunity_at=at(opportunity))


@pytest.mark.parametrize(("model", "expected"), [
    (Model.FIRST_TOUCH, [1, 0, 0, 0, 0]),
    (Model.LAST_TOUCH, [0, 0, 0, 0, 1]),
    (Model.LINEAR, [0.2] * 5),
    (Model.U_SHAPED, [0.4, 0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3]),       # created at the 2nd touch
    (Model.W_SHAPED, [0.3, 0.3, 0.05, 0.3, 0.05]),                  # opportunity at the 4th
    (Model.FULL_PATH, [0.225, 0.225, 0.1, 0.225, 0.225]),
    (Model.J_SHAPED, [0.2, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.6]),
    (Model.INVERSE_J, [0.6, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.2]),
])
def test_positional_models_share_as_documented(model, expected):
    assert credit(journey(5, created=1, opportunity=3), model) == pytest.approx(expected)


def test_time_decay_halves_the_credit_every_half_life():
    weights = credit(journey(2, gap_days=7), Model.TIME_DECAY, half_life_days=7)
    assert weights[1] == pytest.approx(2 * weights[0])


def test_a_single_touch_gets_all_the_credit_in_every_model():
    for model in Model:
        assert credit(journey(1, created=0, opportunity=0), model) == [1.0]


def test_models_side_by_side_add_up_to_the_number_of_conversions():
    journeys = [journey(3, created=0), journey(1, created=0), Journey([], converted_at=T0)]
    table = attribute(journeys, list(Model), key=lambda t: t.channel)
    for model in Model:
        assert math.fsum(table[model].values()) == pytest.approx(3.0)
        assert table[model]["(none)"] == 1.0


@given(st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=40),
       st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=60),
       st.sampled_from(list(Model)), st.floats(min_value=0.01, max_value=3650))
def test_credit_sums_to_exactly_one(offsets, created, opportunity, model, half_life):
    touches = [Touch(T0 + timedelta(days=d), "x") for d in sorted(offsets)]
    end = touches[-1].at + timedelta(days=1)
    j = Journey(touches, converted_at=end, created_at=T0 + timedelta(days=created),
                opportunity_at=T0 + timedelta(days=opportunity))
    weights = credit(j, model, half_life_days=half_life)
    assert len(weights) == len(touches)
    assert math.fsum(weights) == 1.0
    assert all(w >= 0 for w in weights)
