"""A/B statistics, checked against SciPy on known inputs."""

from __future__ import annotations

from collections import Counter

import pytest
from scipy import stats

from leadline.core.experiments import Arm, assign, bayesian, chi_square, sample_size, z_test


def test_assignment_is_deterministic_balanced_and_independent_between_experiments():
    first = [assign("landing-a", f"visitor-{i}", [1, 1]) for i in range(20_000)]
    assert first == [assign("landing-a", f"visitor-{i}", [1, 1]) for i in range(20_000)]
    share = Counter(first)[1] / len(first)
    assert 0.48 < share < 0.52
    weighted = Counter(assign("w", f"v{i}", [1, 3]) for i in range(20_000))
    assert 0.73 < weighted[1] / 20_000 < 0.77
    other = [assign("landing-b", f"visitor-{i}", [1, 1]) for i in range(20_000)]
    assert 0.45 < sum(a == b for a, b in zip(first, other, strict=True)) / 20_000 < 0.55
    with pytest.raises(ValueError):
        assign("x", "y", [0, 0])


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), [(120, 1000, 150, 1000), (30, 400, 22, 380), (5, 50, 9, 48)])
def test_z_test_squared_is_scipys_uncorrected_chi_square(c1, n1, c2, n2):
    result = z_test(Arm("a", c1, n1), Arm("b", c2, n2))
    chi2, p, _dof, _ = stats.chi2_contingency([[c1, n1 - c1], [c2, n2 - c2]], correction=False)
    assert result is not None
    assert result.z ** 2 == pytest.approx(chi2)
    assert result.p_value == pytest.approx(p)
    assert result.low < result.difference < result.high


def test_chi_square_over_three_arms_matches_scipy():
    arms = [Arm("a", 120, 1000), Arm("b", 150, 1000), Arm("c", 90, 800)]
    chi2, p, dof, _ = stats.chi2_contingency([[a.conversions, a.subjects - a.conversions] for a in arms],
                                             correction=False)
    result = chi_square(arms)
    assert result is not None
    assert (result.statistic, result.p_value, result.dof) == (pytest.approx(chi2), pytest.approx(p), dof)
    assert chi_square([Arm("a", 0, 10), Arm("b", 0, 10)]) is None


def test_bayesian_probabilities_sum_to_one_and_favour_the_better_arm():
    result = bayesian([Arm("a", 100, 1000), Arm("b", 130, 1000)])
    assert sum(result.probability_best) == pytest.approx(1.0)
    assert result.probability_best[1] > 0.95
    assert result.expected_loss[1] < result.expected_loss[0]
    assert result == bayesian([Arm("a", 100, 1000), Arm("b", 130, 1000)])  # fixed seed: same report twice


def test_sample_size_matches_the_textbook_figure():
    # 10 % -> 12 %, alpha 0.05 two-sided, power 0.8: 3,841 per arm (Fleiss, without continuity correction).
    assert sample_size(0.10, 0.02) == 3841
    with pytest.raises(ValueError):
        sample_size(0.0, 0.1)


@pytest.mark.parametrize("effect", [0.0, 1e-300, -5e-5])
def test_an_effect_too_small_to_ever_detect_is_refused(effect):
    with pytest.raises(ValueError, match=r"at least 0\.0001"):
        sample_size(0.5, effect)
