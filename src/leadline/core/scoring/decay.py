"""Exponential decay kept incrementally: one (value, as_of) pair per lead and rule.

A rule's value at time T is the sum of its points, each halved every half-life since it was earned:
    V(T) = sum_i p_i * 2 ** (-(T - t_i) / h)
Storing V at the time of its latest event (`as_of`) makes adding an event O(1) and reading V at any moment
one multiplication. The value is re-based on every write instead of being kept against a fixed reference
time, which would overflow float64 after 1,024 half-lives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


def decay_factor(seconds: float, half_life_seconds: float | None) -> float:
    """2 ** (-seconds / half_life); no half-life means no decay. Negative spans grow (an event dated later)."""
    if half_life_seconds is None or seconds == 0:
        return 1.0
    return math.exp2(-seconds / half_life_seconds)


@dataclass(slots=True)
class RuleState:
    """One lead's running total for one engagement rule."""

    value: float = 0.0  # decayed sum of points, as of `as_of`
    as_of: datetime | None = None  # the latest event time counted
    hits: int = 0  # occurrences counted (after the daily cap)
    last_fired_at: datetime | None = None

    def add(self, points: float, at: datetime, half_life_seconds: float | None) -> None:
        """Count one occurrence earned at `at` (which may be older than events already counted)."""
        if self.as_of is None:
            self.value, self.as_of = points, at
        elif at >= self.as_of:
            self.value = self.value * decay_factor((at - self.as_of).total_seconds(), half_life_seconds) + points
            self.as_of = at
        else:
            self.value += points * decay_factor((self.as_of - at).total_seconds(), half_life_seconds)
        self.hits += 1
        if self.last_fired_at is None or at > self.last_fired_at:
            self.last_fired_at = at

    def value_at(self, moment: datetime, half_life_seconds: float | None) -> float:
        """The value at `moment`; before the latest event (dated ahead of the clock), the value as of that
        event: points never grow by being dated in the future."""
        if self.as_of is None:
            return 0.0
        return self.value * decay_factor(max(0.0, (moment - self.as_of).total_seconds()), half_life_seconds)
