"""Follow-up deadlines: N business minutes after an assignment, counted in the owner's time zone, within the
owner's working hours, skipping weekends and public holidays.

Minutes are real elapsed minutes: each working window is turned into UTC instants before it is measured, so
a window that spans a daylight-saving change counts the hour it really has, not its wall-clock width.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
#: A deadline further than this is a configuration error (no working time at all), not a date to store.
MAX_DAYS = 3 * 366

Window = tuple[time, time | None]  # end None: midnight at the end of the day


@dataclass(frozen=True)
class WorkingHours:
    """Working windows per weekday (0 = Monday), in local wall-clock time."""

    windows: Mapping[int, tuple[Window, ...]] = field(default_factory=dict)

    def of(self, weekday: int) -> tuple[Window, ...]:
        return self.windows.get(weekday, ())


DEFAULT_HOURS = WorkingHours({day: ((time(9), time(17)),) for day in range(5)})


def parse_working_hours(document: Mapping[str, object] | None) -> WorkingHours:
    """`{"mon": ["09:00-12:30", "13:30-18:00"], "sat": []}`; days left out do not work; None gives Monday to
    Friday 09:00-17:00. Raises ValueError naming the day and the reason."""
    if document is None:
        return DEFAULT_HOURS
    windows: dict[int, tuple[Window, ...]] = {}
    for key, value in document.items():
        if key not in DAYS:
            raise ValueError(f"{key}: unknown day (use {', '.join(DAYS)})")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key}: a list of 'HH:MM-HH:MM' windows")
        parsed = [_window(key, v) for v in value]
        parsed.sort(key=lambda w: w[0])
        for (_, end), (start, _) in itertools.pairwise(parsed):
            if end is None or start < end:
                raise ValueError(f"{key}: windows overlap")
        windows[DAYS.index(key)] = tuple(parsed)
    if not any(windows.values()):
        raise ValueError("no working time in the week")
    return WorkingHours(windows)


def _window(day: str, text: str) -> Window:
    match = _WINDOW.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{day}: {text!r} is not 'HH:MM-HH:MM'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h2 == 24 and m2 != 0:
        raise ValueError(f"{day}: {text!r} ends after midnight")
    start, end = time(h1, m1), (None if h2 == 24 else time(h2, m2))
    if end is not None and end <= start:
        raise ValueError(f"{day}: {text!r} ends before it starts")
    return start, end


def format_working_hours(hours: WorkingHours) -> dict[str, list[str]]:
    return {DAYS[day]: [f"{s:%H:%M}-{'24:00' if e is None else format(e, '%H:%M')}" for s, e in windows]
            for day, windows in sorted(hours.windows.items())}


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; ValueError for anything else (ZoneInfo also accepts odd paths, refuse them)."""
    if not name or name.startswith(("/", ".")) or ".." in name or len(name) > 64:
        raise ValueError(f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc


@lru_cache(maxsize=256)
def public_holidays(country: str | None, subdivision: str | None = None) -> Callable[[date], bool]:
    """Whether a date is a public holiday in `country` (ISO 3166-1 alpha-2) and optional subdivision.
    ValueError for a country or subdivision the `holidays` library does not know."""
    if not country:
        return lambda _day: False
    try:
        calendar = holidays.country_holidays(country.upper(), subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValueError(f"no public holidays known for {country!r}"
                         + (f" / {subdivision!r}" if subdivision else "")) from exc
    return calendar.__contains__


@dataclass(frozen=True)
class Calendar:
    """One owner's business time: zone, working hours and public holidays."""

    tz: ZoneInfo
    hours: WorkingHours = DEFAULT_HOURS
    is_holiday: Callable[[date], bool] = field(default=lambda _day: False)
    #: Windows already computed, by day (routing 10,000 leads asks for the same few days over and over).
    _memo: dict[date, list[tuple[datetime, datetime]]] = field(default_factory=dict, compare=False, repr=False)

    def windows_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working windows as UTC instants (none on a holiday)."""
        found = self._memo.get(day)
        if found is None:
            found = self._memo[day] = self._windows(day)
        return found

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if self.is_holiday(day):
            return []
        spans = []
        for start, end in self.hours.of(day.weekday()):
            begin = datetime.combine(day, start, self.tz)
            finish = (datetime.combine(day + timedelta(days=1), time(0), self.tz) if end is None
                      else datetime.combine(day, end, self.tz))
            spans.append((begin.astimezone(UTC), finish.astimezone(UTC)))
        return spans


UTC_CALENDAR = Calendar(ZoneInfo("UTC"))


def add_business_minutes(start: datetime, minutes: float, calendar: Calendar) -> datetime:
    """The instant `minutes` of working time after `start` (aware), in UTC. Zero minutes gives `start` itself
    if it falls in working time, else the next opening."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if minutes < 0:
        raise ValueError("minutes must be >= 0")
    cursor = start.astimezone(UTC)
    remaining = timedelta(minutes=minutes)
    day = cursor.astimezone(calendar.tz).date() - timedelta(days=1)  # a window of the day before may still run
    for _ in range(MAX_DAYS):
        for begin, finish in calendar.windows_on(day):
            if finish <= cursor:
                continue
            cursor = max(cursor, begin)
            available = finish - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
            cursor = finish
        day += timedelta(days=1)
    raise ValueError(f"no working time within {MAX_DAYS} days")


def business_minutes_between(start: datetime, end: datetime, calendar: Calendar) -> float:
    """Working minutes from `start` to `end` (0 if end <= start): how late a follow-up is in business time."""
    if end <= start:
        return 0.0
    total = timedelta()
    day = start.astimezone(calendar.tz).date() - timedelta(days=1)
    last = end.astimezone(calendar.tz).date()
    while day <= last:
        for begin, finish in calendar.windows_on(day):
            lo, hi = max(begin, start), min(finish, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total.total_seconds() / 60
