"""Multi-touch attribution: how one conversion's credit is shared among the marketing touches before it.

Every model returns one weight per touch and the weights sum to exactly 1 (the largest share absorbs the float
remainder), so summed credit equals the number of conversions. Position-based models name key touches:
the first touch, the lead-creation touch (the last touch at or before the lead was created) and, for W-shaped,
the opportunity-creation touch; when two of them are the same touch it gets both shares, and when a model has
fewer touches than shares the missing shares go to the touches there are (spread evenly).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Touch:
    at: datetime
    channel: str
    campaign: str | None = None


@dataclass(frozen=True)
class Journey:
    """A converted lead's touches (in time order, all before the conversion) and its milestones."""

    touches: Sequence[Touch]
    converted_at: datetime
    created_at: datetime | None = None
    opportunity_at: datetime | None = None


class Model(StrEnum):
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    LINEAR = "linear"
    TIME_DECAY = "time_decay"
    U_SHAPED = "u_shaped"
    W_SHAPED = "w_shaped"
    FULL_PATH = "full_path"
    J_SHAPED = "j_shaped"
    INVERSE_J = "inverse_j"


DEFAULT_HALF_LIFE_DAYS = 7.0

Weights = list[float]


def _exact(weights: Weights) -> Weights:
    """Normalise, then give the rounding remainder to the largest share (which it cannot make negative): the
    weights sum to exactly 1.0."""
    total = math.fsum(weights)
    out = [w / total for w in weights]
    largest = max(range(len(out)), key=out.__getitem__)
    out[largest] = 1.0 - math.fsum(out[:largest] + out[largest + 1:])
    return out


def _milestone_index(journey: Journey, at: datetime | None) -> int | None:
    """The last touch at or before `at` (None when `at` is unknown or precedes every touch)."""
    if at is None:
        return None
    index = None
    for i, touch in enumerate(journey.touches):
        if touch.at <= at:
            index = i
    return index


def _positional(n: int, shares: Sequence[tuple[int | None, float]], rest: float) -> Weights:
    """`shares`: (touch index, share) for key touches; `rest` is spread over the touches that are not key.
    Shares whose touch is unknown, and `rest` when every touch is key, are spread over all touches."""
    weights = [0.0] * n
    spread = 0.0
    keys = set()
    for index, share in shares:
        if index is None:
            spread += share
        else:
            weights[index] += share
            keys.add(index)
    others = [i for i in range(n) if i not in keys]
    if others:
        for i in others:
            weights[i] += rest / len(others)
    else:
        spread += rest
    return [w + spread / n for w in weights]


def _first(journey: Journey) -> Weights:
    return [1.0] + [0.0] * (len(journey.touches) - 1)


def _last(journey: Journey) -> Weights:
    return [0.0] * (len(journey.touches) - 1) + [1.0]


def _linear(journey: Journey) -> Weights:
    return [1.0] * len(journey.touches)


def time_decay(half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> Callable[[Journey], Weights]:
    def weights(journey: Journey) -> Weights:
        seconds = half_life_days * 86_400
        return [2.0 ** (-(journey.converted_at - t.at).total_seconds() / seconds) for t in journey.touches]

    return weights


def _ends(first: float, last: float, middle: float) -> Callable[[Journey], Weights]:
    """J, inverse J: shares on the first and the last touch, the middle share spread between them."""
    def weights(journey: Journey) -> Weights:
        n = len(journey.touches)
        if n == 1:
            return [1.0]
        return _positional(n, [(0, first), (n - 1, last)], middle)

    return weights


def _u(journey: Journey) -> Weights:
    n = len(journey.touches)
    creation = _milestone_index(journey, journey.created_at)
    return _positional(n, [(0, 0.4), (creation if creation is not None else n - 1, 0.4)], 0.2)


def _w(journey: Journey) -> Weights:
    n = len(journey.touches)
    creation = _milestone_index(journey, journey.created_at)
    opportunity = _milestone_index(journey, journey.opportunity_at)
    return _positional(n, [(0, 0.3), (creation, 0.3), (opportunity, 0.3)], 0.1)


def _full_path(journey: Journey) -> Weights:
    """22.5 % each on first touch, lead creation, opportunity creation and the closing (last) touch, 10 % over
    the rest."""
    n = len(journey.touches)
    creation = _milestone_index(journey, journey.created_at)
    opportunity = _milestone_index(journey, journey.opportunity_at)
    return _positional(n, [(0, 0.225), (creation, 0.225), (opportunity, 0.225), (n - 1, 0.225)], 0.1)


MODELS: dict[Model, Callable[[Journey], Weights]] = {
    Model.FIRST_TOUCH: _first, Model.LAST_TOUCH: _last, Model.LINEAR: _linear,
    Model.TIME_DECAY: time_decay(), Model.U_SHAPED: _u, Model.W_SHAPED: _w, Model.FULL_PATH: _full_path,
    Model.J_SHAPED: _ends(0.2, 0.6, 0.2), Model.INVERSE_J: _ends(0.6, 0.2, 0.2),
}


def credit(journey: Journey, model: Model, *, half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> Weights:
    """Each touch's share of this conversion (sums to exactly 1; an empty journey gets nothing)."""
    if not journey.touches:
        return []
    rule = time_decay(half_life_days) if model is Model.TIME_DECAY else MODELS[model]
    return _exact(rule(journey))


def attribute(journeys: Sequence[Journey], models: Sequence[Model], *, key: Callable[[Touch], str],
              half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> dict[Model, dict[str, float]]:
    """Credit per key (channel, campaign...) under each model, side by side. Conversions with no touch are
    credited to the key "(none)" so totals always equal the number of conversions."""
    result: dict[Model, dict[str, float]] = {m: {} for m in models}
    for journey in journeys:
        for model in models:
            table = result[model]
            if not journey.touches:
                table["(none)"] = table.get("(none)", 0.0) + 1.0
                continue
            for touch, share in zip(journey.touches, credit(journey, model, half_life_days=half_life_days),
                                    strict=True):
                name = key(touch)
                table[name] = table.get(name, 0.0) + share
    return result
