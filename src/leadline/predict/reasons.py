"""Per-lead reasons: the factors that move this lead's probability most, in plain words and probability terms.

A factor's effect is measured by swapping it for its typical value (the training median or most frequent
level) and predicting again: "3 visits in 7 days: raises the chance from 9 % to 21 %". This holds for any model
(trees, logistic, naive Bayes) and speaks in the calibrated probability, never in model internals or points.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadline.predict.features import MISSING, OTHER
from leadline.predict.models import LeadModel

#: Effects smaller than this (in probability) are not worth saying.
MIN_EFFECT = 0.002


@dataclass(frozen=True)
class Reason:
    feature: str
    value: str
    effect: float  # probability with this value minus probability with the typical value
    without: float  # the probability had this factor been typical
    text: str


def _value_text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return {MISSING: "unknown", OTHER: "a rare value"}.get(text, text)


def reasons(model: LeadModel, frame: pd.DataFrame, *, top: int = 3,
            label: Callable[[str], str] = lambda name: name.replace("_", " ")) -> list[list[Reason]]:
    """The `top` reasons for each row of `frame` (raw columns), strongest first."""
    encoded = model.spec.encode(frame).reset_index(drop=True)
    n = len(encoded)
    base = model.predict_encoded(encoded)
    names = list(model.spec.columns)
    swapped = []
    for name in names:
        copy = encoded.copy()
        copy[name] = model.spec.encode(pd.DataFrame({name: [model.reference[name]] * n}))[name].to_numpy() \
            if name in model.spec.categorical else model.reference[name]
        swapped.append(copy)
    if not names:
        return [[] for _ in range(n)]
    stacked = pd.concat(swapped, ignore_index=True)
    for name in model.spec.categorical:  # concat keeps the categories, but be explicit about the dtype
        stacked[name] = pd.Categorical(stacked[name], categories=model.spec.levels[name])
    without = model.predict_encoded(stacked).reshape(len(names), n)
    effects = base[None, :] - without
    out: list[list[Reason]] = []
    for i in range(n):
        order = np.argsort(-np.abs(effects[:, i]), kind="stable")[:top]
        row: list[Reason] = []
        for j in order:
            effect = float(effects[j, i])
            if abs(effect) < MIN_EFFECT:
                continue
            name = names[j]
            value = _value_text(encoded.at[i, name])
            verb = "raises" if effect > 0 else "lowers"
            text = (f"{label(name)}: {value} {verb} the chance from {without[j, i]:.0%} to {base[i]:.0%} "
                    f"(typical: {_value_text(model.reference[name])})")
            row.append(Reason(feature=name, value=value, effect=round(effect, 4),
                              without=round(float(without[j, i]), 4), text=text))
        out.append(row)
    return out
