"""Train and evaluate on any table of past leads (a CSV from another CRM): the fixed 80/20 split, Leadline's
model and the naive-Bayes baseline on the same test rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from leadline.predict.evaluation import BOOTSTRAP, Report, evaluate
from leadline.predict.features import binary_target, infer_kinds, learn_spec, time_parts
from leadline.predict.models import FALLBACK, SEED, LeadModel, train

TEST_SHARE = 0.2


@dataclass
class HoldoutResult:
    rows: int
    train_rows: int
    test_rows: int
    split: str
    positive_value: str
    numeric: list[str]
    categorical: list[str]
    ignored: list[str]
    model: LeadModel
    report: Report
    baseline: Report
    train_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        report = self.report.as_dict()
        return {**{k: report[k] for k in ("roc_auc", "brier")},
                "algorithm": self.model.algorithm, "calibration": self.model.calibrator.method,
                "why": self.model.why, "rows": self.rows, "train_rows": self.train_rows,
                "test_rows": self.test_rows, "split": self.split, "positive_value": self.positive_value,
                "features": {"numeric": self.numeric, "categorical": self.categorical, "ignored": self.ignored},
                "train_seconds": round(self.train_seconds, 2), "report": report,
                "naive_bayes_baseline": self.baseline.as_dict(), "validation_auc": self.model.validation_auc}


def split_rows(y: np.ndarray, *, ordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: the first 80 % / last 20 % in time order, else stratified 80/20 with seed 0."""
    index = np.arange(len(y))
    if ordered:
        cut = int(len(y) * (1 - TEST_SHARE))
        return index[:cut], index[cut:]
    train_idx, test_idx = train_test_split(index, test_size=TEST_SHARE, random_state=SEED, stratify=y)
    return np.sort(train_idx), np.sort(test_idx)


def holdout(frame: pd.DataFrame, target: str, *, time_column: str | None = None, in_order: bool = False,
            drop: tuple[str, ...] = (), candidates: tuple[str, ...] | None = None,
            rounds: int = BOOTSTRAP) -> HoldoutResult:
    """`time_column`: sort by it, split by time and use its weekday and month as features (never the time
    itself); `in_order`: the rows are already in time order."""
    missing = [c for c in (target, *( [time_column] if time_column else []), *drop) if c not in frame.columns]
    if missing:
        raise ValueError(f"no column {', '.join(repr(m) for m in missing)} in the file")
    frame = frame.drop(columns=list(drop))
    split = "stratified 80/20, seed 0"
    if time_column:
        order = pd.to_datetime(frame[time_column], errors="coerce", utc=True, format="mixed")
        if order.isna().all():
            raise ValueError(f"column {time_column!r} holds no dates")
        frame = frame.assign(**{f"{time_column}_{k}": v for k, v in time_parts(frame[time_column]).items()})
        frame = frame.iloc[np.argsort(order.to_numpy(), kind="stable")].drop(columns=[time_column])
        split = f"time-ordered 80/20 by {time_column}"
    elif in_order:
        split = "time-ordered 80/20 (rows in file order)"
    frame = frame.reset_index(drop=True)
    y, positive = binary_target(frame[target])
    features = frame.drop(columns=[target])
    ordered = bool(time_column) or in_order
    train_idx, test_idx = split_rows(y, ordered=ordered)
    numeric, categorical, ignored = infer_kinds(features.iloc[train_idx])
    spec = learn_spec(features.iloc[train_idx], categorical=categorical, numeric=numeric)
    started = time.perf_counter()
    model = train(features.iloc[train_idx].reset_index(drop=True), y[train_idx], spec, ordered=ordered,
                  candidates=candidates)
    seconds = time.perf_counter() - started
    baseline = train(features.iloc[train_idx].reset_index(drop=True), y[train_idx], spec, ordered=ordered,
                     candidates=(FALLBACK,))
    test = features.iloc[test_idx]
    return HoldoutResult(rows=len(y), train_rows=len(train_idx), test_rows=len(test_idx), split=split,
                         positive_value=positive, numeric=numeric, categorical=categorical, ignored=ignored,
                         model=model, report=evaluate(y[test_idx], model.predict(test), rounds=rounds),
                         baseline=evaluate(y[test_idx], baseline.predict(test), rounds=rounds),
                         train_seconds=seconds)
