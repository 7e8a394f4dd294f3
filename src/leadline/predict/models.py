"""The candidates, the choice between them on a time-ordered validation fold, and calibration.

`train` never sees the test rows: it splits the rows it is given into a fit part and a validation part (the
latest 20 % when the rows are in time order), fits every candidate on the fit part, keeps the one with the best
ROC AUC on the validation part, calibrates it on that part's predictions, then refits the winner on all its rows
(the most recent outcomes matter most when conversion rates drift) and keeps the calibration map.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from leadline.predict.features import MISSING, FeatureSpec

#: Below this many positive outcomes the flexible models overfit: the naive-Bayes frequency model is used.
MIN_POSITIVES = 30
#: Isotonic calibration needs enough positives in the calibration fold; below, Platt's sigmoid.
ISOTONIC_MIN_POSITIVES = 150
VALIDATION_SHARE = 0.2
SEED = 0


class FrequencyNaiveBayes(ClassifierMixin, BaseEstimator):
    """Odoo's predictive lead scoring: per field, how often each value appears among won and lost leads
    (Laplace-smoothed), multiplied as if the fields were independent. Numbers are cut into quantile bins."""

    def __init__(self, bins: int = 5, alpha: float = 1.0) -> None:
        self.bins = bins
        self.alpha = alpha

    def _codes(self, X: pd.DataFrame, j: int) -> np.ndarray:
        column = X.iloc[:, j]
        if isinstance(column.dtype, pd.CategoricalDtype):
            return column.cat.codes.to_numpy(dtype=np.int64) + 1  # -1 (missing) -> 0
        values = column.to_numpy(dtype=np.float64)
        codes = np.searchsorted(self.edges_[j], values, side="right") + 1
        return np.where(np.isnan(values), 0, codes)

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> FrequencyNaiveBayes:
        y = np.asarray(y)
        self.classes_ = np.array([0, 1])
        self.edges_: list[np.ndarray] = []
        self.log_ratios_: list[np.ndarray] = []
        positives, negatives = y.sum(), len(y) - y.sum()
        self.prior_ = float(np.log((positives + self.alpha) / (negatives + self.alpha)))
        for j in range(X.shape[1]):
            column = X.iloc[:, j]
            if isinstance(column.dtype, pd.CategoricalDtype):
                self.edges_.append(np.empty(0))
                size = len(column.cat.categories) + 1
            else:
                values = column.to_numpy(dtype=np.float64)
                edges = np.unique(np.nanquantile(values, np.linspace(0, 1, self.bins + 1)[1:-1])) \
                    if np.isfinite(values).any() else np.empty(0)
                self.edges_.append(edges)
                size = len(edges) + 2
            codes = self._codes(X, j)
            won = np.bincount(codes[y == 1], minlength=size) + self.alpha
            lost = np.bincount(codes[y == 0], minlength=size) + self.alpha
            self.log_ratios_.append(np.log(won / won.sum()) - np.log(lost / lost.sum()))
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        total = np.full(len(X), self.prior_)
        for j, ratios in enumerate(self.log_ratios_):
            total += ratios[np.clip(self._codes(X, j), 0, len(ratios) - 1)]
        return total

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def _boosted(spec: FeatureSpec) -> Any:
    # Shallow, slow-learning, regularised trees: lead data is small and noisy; native categories, no one-hot.
    return HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=300, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
        early_stopping=True, validation_fraction=0.15, n_iter_no_change=20, random_state=SEED,
        categorical_features="from_dtype")


def _logistic(spec: FeatureSpec) -> Any:
    # Numbers as a scaled trend only: quantile bins fit the past's shape and break when the data drifts
    # (the bank's last months put every macro-economic value in one extreme bin).
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    parts: list[tuple[str, Any, list[str]]] = []
    if spec.numeric:
        parts.append(("num", numeric, list(spec.numeric)))
    if spec.categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore", drop=None), list(spec.categorical)))
    return Pipeline([("encode", ColumnTransformer(parts)),
                     ("model", LogisticRegression(C=0.3, max_iter=2000))])


def _naive_bayes(spec: FeatureSpec) -> Any:
    return FrequencyNaiveBayes()


#: Name -> builder; the order breaks ties (the simpler model wins a tie).
CANDIDATES: dict[str, Callable[[FeatureSpec], Any]] = {
    "naive_bayes": _naive_bayes,
    "logistic": _logistic,
    "boosted_trees": _boosted,
}
FALLBACK = "naive_bayes"


@dataclass
class Calibrator:
    """Maps a model's raw probability to a calibrated one: isotonic, Platt's sigmoid on the logit, or none."""

    method: str
    isotonic: IsotonicRegression | None = None
    sigmoid: LogisticRegression | None = None

    @classmethod
    def fit(cls, method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        if method == "isotonic":
            return cls(method, isotonic=IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
                       .fit(raw, y))
        if method == "sigmoid":
            return cls(method, sigmoid=LogisticRegression(C=1e4).fit(_logit(raw), y))
        return cls("none")

    @classmethod
    def choose(cls, raw: np.ndarray, y: np.ndarray) -> tuple[Calibrator, dict[str, float]]:
        """Fit each method on the older half of the out-of-fold predictions, keep the one with the lowest Brier
        score on the newer half, refit it on all of them. Under drift the past's calibration may not carry
        over: then `none` or `sigmoid` (which extrapolates) beats isotonic (which clips at the past's range)."""
        half = len(y) // 2
        methods = ["none"]
        if min(y[:half].sum(), y[half:].sum()) >= 5 and 0 < y[:half].mean() < 1:
            methods.append("sigmoid")
            if min(y[:half].sum(), half - y[:half].sum()) >= ISOTONIC_MIN_POSITIVES // 2:
                methods.append("isotonic")
        briers = {m: round(float(np.mean((cls.fit(m, raw[:half], y[:half])(raw[half:]) - y[half:]) ** 2)), 5)
                  for m in methods}
        best = min(methods, key=lambda m: (briers[m], methods.index(m)))
        return cls.fit(best, raw, y), briers

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.isotonic is not None:
            return np.asarray(self.isotonic.predict(raw), dtype=np.float64)
        if self.sigmoid is not None:
            return np.asarray(self.sigmoid.predict_proba(_logit(raw))[:, 1], dtype=np.float64)
        return np.asarray(raw, dtype=np.float64)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).reshape(-1, 1)


@dataclass
class LeadModel:
    """A trained, calibrated model with what it reads and why it was chosen."""

    spec: FeatureSpec
    algorithm: str
    estimator: Any
    calibrator: Calibrator
    why: str
    validation_auc: dict[str, float]
    #: The typical value of each feature in training (median, most frequent level): the reference for reasons.
    reference: dict[str, Any] = field(default_factory=dict)
    base_rate: float = 0.0

    def raw(self, encoded: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(encoded)[:, 1], dtype=np.float64)

    def predict_encoded(self, encoded: pd.DataFrame) -> np.ndarray:
        return self.calibrator(self.raw(encoded))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of the outcome for each row of `frame` (raw columns; missing ones are NaN)."""
        return self.predict_encoded(self.spec.encode(frame))


def validation_folds(n: int, y: np.ndarray, *, ordered: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validate) index pairs. In time order: three consecutive blocks of the latest 30 %, each predicted
    by a model fit on every row before it (what production does: the past predicts the next period). Else a
    stratified 3-fold split with a fixed seed."""
    index = np.arange(n)
    if ordered:
        edges = [round(n * share) for share in (0.7, 0.8, 0.9, 1.0)]
        return [(index[:lo], index[lo:hi]) for lo, hi in itertools.pairwise(edges)]
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=SEED) if min(y.sum(), n - y.sum()) >= 3 \
        else KFold(n_splits=3, shuffle=True, random_state=SEED)
    return [(fit, valid) for fit, valid in folds.split(index, y)]


def _reference(encoded: pd.DataFrame, spec: FeatureSpec) -> dict[str, Any]:
    ref: dict[str, Any] = {}
    for name in spec.numeric:
        values = encoded[name]
        ref[name] = float(values.median()) if values.notna().any() else float("nan")
    for name in spec.categorical:
        counts = encoded[name].value_counts()
        ref[name] = str(counts.index[0]) if len(counts) else MISSING
    return ref


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else 0.5


def train(frame: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, *, ordered: bool,
          candidates: tuple[str, ...] | None = None) -> LeadModel:
    """Choose, calibrate and fit a model on these rows (`ordered`: they are in time order, oldest first)."""
    y = np.asarray(y, dtype=np.int8)
    encoded = spec.encode(frame)
    names = candidates or tuple(CANDIDATES)
    positives = int(y.sum())
    if positives < MIN_POSITIVES or len(y) - positives < MIN_POSITIVES:
        names = (FALLBACK,)
    folds = validation_folds(len(y), y, ordered=ordered)
    held = np.concatenate([valid for _, valid in folds])
    scores: dict[str, float] = {}
    out_of_fold: dict[str, np.ndarray] = {}
    for name in names:
        raw, aucs = np.empty(len(held)), []
        at = 0
        for fit, valid in folds:
            estimator = CANDIDATES[name](spec).fit(encoded.iloc[fit], y[fit])
            raw[at:at + len(valid)] = estimator.predict_proba(encoded.iloc[valid])[:, 1]
            aucs.append(_auc(y[valid], raw[at:at + len(valid)]))
            at += len(valid)
        scores[name], out_of_fold[name] = round(float(np.mean(aucs)), 4), raw
    best = max(names, key=lambda n: (scores[n], -names.index(n)))
    calibrator, briers = Calibrator.choose(out_of_fold[best], y[held])
    final = CANDIDATES[best](spec).fit(encoded, y)  # all rows, the most recent included
    how = "rolling time folds (each block predicted by the rows before it)" if ordered else "3-fold stratified CV"
    if len(names) == 1:
        why = (f"{best}: only {positives} positive outcomes (< {MIN_POSITIVES}), too few for the flexible models"
               if names == (FALLBACK,) and candidates is None else f"{best}: the only candidate")
    else:
        others = ", ".join(f"{n} {scores[n]:.3f}" for n in names if n != best)
        why = f"{best}: best mean ROC AUC on {how}: {scores[best]:.3f} vs {others}"
    why += f"; calibration {calibrator.method} (held-out Brier {briers})"
    return LeadModel(spec=spec, algorithm=best, estimator=final, calibrator=calibrator, why=why,
                     validation_auc=scores, reference=_reference(encoded, spec), base_rate=float(y.mean()))
