"""A/B test statistics: deterministic assignment, a frequentist test (two-proportion z-test for two variants,
chi-square for more), a Bayesian reading (probability each variant is best, expected loss), and sample size
before the test. Distribution functions come from SciPy; the statistics are checked against SciPy's own tests.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


def assign(experiment: str, subject: str, weights: Sequence[float]) -> int:
    """The variant index for a visitor or lead: the same subject always gets the same variant, variants get
    their share of subjects, and two experiments assign independently (the key includes the experiment)."""
    if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be non-negative with a positive sum")
    digest = hashlib.sha256(f"{experiment}\x00{subject}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(weights)
    total = 0.0
    for index, weight in enumerate(weights):
        total += weight
        if point < total:
            return index
    return len(weights) - 1


@dataclass(frozen=True)
class Arm:
    name: str
    conversions: int
    subjects: int

    @property
    def rate(self) -> float:
        return self.conversions / self.subjects if self.subjects else 0.0


@dataclass(frozen=True)
class ZTest:
    difference: float  # treatment rate - control rate
    z: float
    p_value: float
    low: float  # confidence interval on the difference (unpooled)
    high: float


def z_test(control: Arm, treatment: Arm, confidence: float = 0.95) -> ZTest | None:
    """Two-sided two-proportion z-test (pooled standard error for the test, unpooled for the interval)."""
    n1, n2 = control.subjects, treatment.subjects
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = control.rate, treatment.rate
    pooled = (control.conversions + treatment.conversions) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p2 - p1) / se_pooled if se_pooled > 0 else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2))
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    margin = _NORMAL.inv_cdf(0.5 + confidence / 2) * se
    return ZTest(p2 - p1, z, p_value, p2 - p1 - margin, p2 - p1 + margin)


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    dof: int
    p_value: float


def chi_square(arms: Sequence[Arm]) -> ChiSquare | None:
    """Pearson's chi-square test of independence on the arms x (converted, not converted) table, without
    continuity correction (for two arms it equals the z-test: statistic = z**2)."""
    total = sum(a.subjects for a in arms)
    converted = sum(a.conversions for a in arms)
    if len(arms) < 2 or total == 0 or converted in (0, total) or any(a.subjects == 0 for a in arms):
        return None
    statistic = 0.0
    for arm in arms:
        for observed, share in ((arm.conversions, converted / total), (arm.subjects - arm.conversions,
                                                                       1 - converted / total)):
            expected = arm.subjects * share
            statistic += (observed - expected) ** 2 / expected
    dof = len(arms) - 1
    from scipy import stats  # imported when used: it costs a second at server start

    return ChiSquare(statistic, dof, float(stats.chi2.sf(statistic, dof)))


@dataclass(frozen=True)
class Bayesian:
    probability_best: list[float]
    expected_loss: list[float]  # expected conversion rate given up by choosing this arm


def bayesian(arms: Sequence[Arm], *, draws: int = 200_000, seed: int = 0) -> Bayesian:
    """Beta(1 + conversions, 1 + failures) posteriors (uniform prior), by Monte Carlo with a fixed seed so a
    report reads the same twice."""
    import numpy as np  # imported when used, like SciPy

    rng = np.random.default_rng(seed)
    samples = np.stack([rng.beta(1 + a.conversions, 1 + a.subjects - a.conversions, draws) for a in arms])
    best = samples.max(axis=0)
    winners = np.bincount(samples.argmax(axis=0), minlength=len(arms))
    return Bayesian([float(w) / draws for w in winners],
                    [float(np.mean(best - samples[i])) for i in range(len(arms))])


MIN_EFFECT = 1e-4


def sample_size(baseline: float, minimum_effect: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Subjects per variant to detect an absolute lift of `minimum_effect` over `baseline` (two-sided)."""
    if not 0 < baseline < 1 or not 0 < baseline + minimum_effect < 1:
        raise ValueError("baseline and baseline + effect must be strictly between 0 and 1")
    if abs(minimum_effect) < MIN_EFFECT:  # smaller lifts need more subjects than any site has (and underflow)
        raise ValueError(f"the effect must be at least {MIN_EFFECT} (0.01 percentage point) either way")
    p1, p2 = baseline, baseline + minimum_effect
    z_alpha, z_beta = _NORMAL.inv_cdf(1 - alpha / 2), _NORMAL.inv_cdf(power)
    mean = (p1 + p2) / 2
    numerator = (z_alpha * math.sqrt(2 * mean * (1 - mean))
                 + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2
    return math.ceil(numerator / minimum_effect ** 2)


PEEKING_WARNING = ("Decide on the sample size before the test and read the result once it is reached: stopping "
                   "as soon as p < 0.05 (peeking) makes false winners far more likely than 5 %.")
