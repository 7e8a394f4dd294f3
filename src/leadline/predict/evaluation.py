"""The evaluation report: ranking (ROC AUC, PR AUC with bootstrap intervals, top-decile lift and capture) and
calibration (Brier score, reliability curve)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

BOOTSTRAP = 200
SEED = 0


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    leads: int
    predicted: float  # mean predicted probability in the bin
    observed: float  # share of the bin's leads that converted


@dataclass(frozen=True)
class Report:
    leads: int
    positives: int
    base_rate: float
    roc_auc: float
    roc_auc_ci: tuple[float, float]
    pr_auc: float
    pr_auc_ci: tuple[float, float]
    brier: float
    #: Brier score of always predicting the base rate: a model must be below it to be worth anything.
    brier_base: float
    top_decile_lift: float
    top_decile_capture: float
    reliability: tuple[ReliabilityBin, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ranked_metrics(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    if y.min() == y.max():
        return float("nan"), float("nan")
    return float(roc_auc_score(y, p)), float(average_precision_score(y, p))


def _fast_auc(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """ROC AUC (Mann-Whitney with tied ranks averaged) and average precision (sklearn's definition: one step per
    distinct score), in plain numpy: sklearn's input checks cost more than the sums on a resample."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan"), float("nan")
    ranks = rankdata(p)
    roc = (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    order = np.argsort(-p, kind="stable")
    sorted_p, hits = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(sorted_p)), len(sorted_p) - 1]  # end of each run of equal scores
    tp = np.cumsum(hits)[last]
    precision = tp / (last + 1)
    recall = tp / positives
    pr = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    return float(roc), pr


def bootstrap_ci(y: np.ndarray, p: np.ndarray, *, rounds: int = BOOTSTRAP, seed: int = SEED,
                 ) -> tuple[tuple[float, float], tuple[float, float]]:
    """95 % percentile intervals of ROC AUC and PR AUC over `rounds` resamples of the test leads."""
    rng = np.random.default_rng(seed)
    rocs, prs = [], []
    for _ in range(rounds):
        pick = rng.integers(0, len(y), len(y))
        roc, pr = _fast_auc(y[pick], p[pick])
        if not np.isnan(roc):
            rocs.append(roc)
            prs.append(pr)
    if not rocs:
        return (float("nan"), float("nan")), (float("nan"), float("nan"))
    return (float(np.percentile(rocs, 2.5)), float(np.percentile(rocs, 97.5))), \
        (float(np.percentile(prs, 2.5)), float(np.percentile(prs, 97.5)))


def top_decile(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(lift, capture) of the 10 % highest-scored leads: their conversion rate over the base rate, and the share
    of all conversions they hold. Ties at the cut are broken by order, deterministically."""
    n = max(1, int(np.ceil(len(y) * 0.1)))
    top = np.argsort(-p, kind="stable")[:n]
    positives = y.sum()
    if positives == 0:
        return float("nan"), float("nan")
    return float(y[top].mean() / y.mean()), float(y[top].sum() / positives)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[ReliabilityBin, ...]:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            out.append(ReliabilityBin(low=float(edges[b]), high=float(edges[b + 1]), leads=int(inside.sum()),
                                      predicted=round(float(p[inside].mean()), 4),
                                      observed=round(float(y[inside].mean()), 4)))
    return tuple(out)


def evaluate(y: np.ndarray, p: np.ndarray, *, rounds: int = BOOTSTRAP) -> Report:
    y = np.asarray(y, dtype=np.int8)
    p = np.asarray(p, dtype=np.float64)
    roc, pr = _ranked_metrics(y, p)
    roc_ci, pr_ci = bootstrap_ci(y, p, rounds=rounds)
    lift, capture = top_decile(y, p)
    rate = float(y.mean()) if len(y) else float("nan")
    return Report(leads=len(y), positives=int(y.sum()), base_rate=round(rate, 4), roc_auc=round(roc, 4),
                  roc_auc_ci=(round(roc_ci[0], 4), round(roc_ci[1], 4)), pr_auc=round(pr, 4),
                  pr_auc_ci=(round(pr_ci[0], 4), round(pr_ci[1], 4)),
                  brier=round(float(brier_score_loss(y, p)), 4),
                  brier_base=round(float(np.mean((y - rate) ** 2)), 4),
                  top_decile_lift=round(lift, 3), top_decile_capture=round(capture, 3),
                  reliability=reliability(y, p))
