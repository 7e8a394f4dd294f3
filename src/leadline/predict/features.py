"""Feature columns: which are categorical and which numeric, and a stable encoding of each.

A `FeatureSpec` is learned on the training rows only (category levels, rare levels folded into `other`), so
scoring new rows never sees a level the model was not trained on: unknown levels become `other` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

OTHER = "(other)"
MISSING = "(missing)"
#: A level needs this many training rows to keep its own name; HistGradientBoosting takes at most 255 levels.
MIN_LEVEL_ROWS = 10
MAX_LEVELS = 60
_TRUE = {"1", "true", "yes", "y", "t", "won", "converted"}
_FALSE = {"0", "false", "no", "n", "f", "lost", ""}


@dataclass(frozen=True)
class FeatureSpec:
    """The columns a model reads, in order, with the levels of each categorical column."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Training range of numeric columns; values outside are clipped to it when set (no extrapolation to
    #: values the model never saw, e.g. a lead older than any training row was at its cut-off).
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input: numbers as float64 (NaN when missing), categories with the training levels."""
        out: dict[str, pd.Series] = {}
        for name in self.numeric:
            column = frame[name] if name in frame else pd.Series(np.nan, index=frame.index)
            values = pd.to_numeric(column, errors="coerce").astype("float64")
            # getattr: a spec saved before `bounds` existed is loaded by skops without it.
            bounds = getattr(self, "bounds", None) or {}
            if name in bounds:
                values = values.clip(*bounds[name])
            out[name] = values
        for name in self.categorical:
            levels = self.levels[name]
            raw = _as_text(frame[name]) if name in frame else pd.Series(MISSING, index=frame.index)
            known = raw.where(raw.isin(levels), OTHER)
            out[name] = pd.Categorical(known, categories=levels)
        return pd.DataFrame(out, index=frame.index)


def _as_text(column: pd.Series) -> pd.Series:
    text = column.astype("string").fillna(MISSING).str.strip()
    return text.mask(text == "", MISSING).astype(object)


def learn_spec(frame: pd.DataFrame, *, categorical: Iterable[str] = (), numeric: Iterable[str] = (),
               clip: bool = False) -> FeatureSpec:
    """Levels of the categorical columns from the training rows: frequent ones by name, the rest as `other`;
    with `clip`, the numeric columns' training ranges."""
    categorical, numeric = tuple(categorical), tuple(numeric)
    levels: dict[str, tuple[str, ...]] = {}
    for name in categorical:
        counts = _as_text(frame[name]).value_counts()
        kept = [str(v) for v, n in counts.items() if n >= MIN_LEVEL_ROWS][:MAX_LEVELS]
        levels[name] = tuple(sorted(set(kept) | {OTHER, MISSING}))
    bounds: dict[str, tuple[float, float]] = {}
    for name in numeric if clip else ():
        values = pd.to_numeric(frame[name], errors="coerce")
        if values.notna().any():
            bounds[name] = (float(values.min()), float(values.max()))
    return FeatureSpec(numeric=numeric, categorical=categorical, levels=levels, bounds=bounds)


def infer_kinds(frame: pd.DataFrame, exclude: Sequence[str] = ()) -> tuple[list[str], list[str], list[str]]:
    """(numeric, categorical, ignored) columns of a CSV: identifiers (a distinct value on almost every row) and
    constant columns are ignored; numbers with few distinct values stay numbers (trees and bins handle them)."""
    numeric: list[str] = []
    categorical: list[str] = []
    ignored: list[str] = []
    rows = max(len(frame), 1)
    for name in frame.columns:
        if name in exclude:
            continue
        column = frame[name]
        distinct = column.nunique(dropna=True)
        as_number = pd.to_numeric(column, errors="coerce")
        is_number = as_number.notna().sum() >= 0.95 * column.notna().sum() and column.notna().any()
        if distinct <= 1:
            ignored.append(name)
        elif is_number and column.dtype != bool:
            numeric.append(name)
        elif distinct > 0.5 * rows and distinct > MAX_LEVELS:
            ignored.append(name)  # an identifier or free text: no level repeats enough to learn from
        else:
            categorical.append(name)
    return numeric, categorical, ignored


def binary_target(column: pd.Series) -> tuple[np.ndarray, str]:
    """0/1 labels from yes/no, true/false, 1/0 (or any two values: the rarer one is the positive outcome),
    with the value taken as positive."""
    text = column.astype("string").str.strip().str.lower().fillna("")
    values = set(text.unique())
    if values <= _TRUE | _FALSE and values & _TRUE:
        positive = next(iter(sorted(values & _TRUE)))
        return text.isin(_TRUE).to_numpy(dtype=np.int8), positive
    if len(values) != 2:
        raise ValueError(f"the target needs two outcomes; found {len(values)} distinct values")
    counts = text.value_counts()
    positive = str(counts.index[-1])
    return (text == positive).to_numpy(dtype=np.int8), positive


def time_parts(column: pd.Series) -> pd.DataFrame:
    """Weekday and month of a time column, as categories (the time itself must never be a feature: the future
    holds values the past never saw)."""
    when = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    return pd.DataFrame({"weekday": when.dt.day_name().astype(object), "month": when.dt.month_name().astype(object)},
                        index=column.index)
