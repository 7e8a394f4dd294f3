"""Funnel maths on hand-checked cohorts: skipped stages count as passed, times only between entered stages,
Wilson intervals as published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.funnel import LeadPath, Section, build_funnel, maturity, quantile, reached, wilson
from leadline.core.leads import Stage

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def test_a_skipped_stage_is_reached_when_the_later_one_is():
    path = LeadPath(T0, {Stage.SQL: day(3), Stage.CUSTOMER: day(10)})
    assert reached(path) == {"lead": T0, "mql": day(3), "sql": day(3), "opportunity": day(10),
                             "customer": day(10)}


def test_counts_rates_and_waits_of_a_small_cohort():
    paths = [
        LeadPath(T0, {}),                                                    # stays a lead
        LeadPath(T0, {Stage.MQL: day(1)}),                                   # MQL after 1 day
        LeadPath(T0, {Stage.MQL: day(2), Stage.SQL: day(4)}),                # MQL 2 d, SQL 2 d later
        LeadPath(T0, {Stage.SQL: day(5), Stage.CUSTOMER: day(9)}),           # skips MQL and opportunity
    ]
    funnel = build_funnel(paths, visitors=40)
    by_step = {s.step: s for s in funnel.steps}
    assert [(s.step, s.count) for s in funnel.steps] == [
        ("visitor", 40), ("lead", 4), ("mql", 3), ("sql", 2), ("opportunity", 1), ("customer", 1)]
    assert by_step["lead"].rate_from_previous == pytest.approx(0.1)
    assert by_step["mql"].rate_from_previous == pytest.approx(0.75)
    assert by_step["sql"].rate_from_lead == pytest.approx(0.5)
    # MQL waits: 1 and 2 days (the skipper never entered MQL); SQL wait: 2 days (from its own MQL); customer:
    # no lead went opportunity -> customer, so no wait is measured there.
    assert by_step["mql"].median_days_from_previous == pytest.approx(1.5)
    assert by_step["sql"].median_days_from_previous == pytest.approx(2.0)
    assert by_step["customer"].median_days_from_previous is None
    assert by_step["visitor"].section is Section.TOFU and by_step["customer"].section is Section.BOFU


def test_without_visitors_the_funnel_starts_at_lead():
    funnel = build_funnel([LeadPath(T0, {Stage.MQL: day(1)})])
    assert funnel.steps[0].step == "lead" and funnel.steps[0].rate_from_previous is None


def test_wilson_interval_matches_the_published_example():
    # Newcombe (1998) example: 81 of 263 -> 0.2553 to 0.3662 (95 %).
    interval = wilson(81, 263)
    assert interval is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)
    zero = wilson(0, 10)
    assert zero is not None and zero.low == 0 and 0.27 < zero.high < 0.31
    assert wilson(0, 0) is None


def test_quantiles_interpolate_like_numpy():
    import numpy as np

    values = sorted([3.0, 1.0, 7.5, 2.0, 10.0])
    for q in (0.0, 0.5, 0.9, 1.0):
        assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)))
    assert quantile([], 0.5) is None


def test_a_young_cohort_is_not_mature_yet():
    assert not maturity(day(-10), T0, typical_days=30).mature
    assert maturity(day(-40), T0, typical_days=30).mature
