"""Follow-up deadlines in business time: the owner's zone, working hours, weekends, holidays and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from leadline.core.follow_up import (
    DEFAULT_HOURS,
    Calendar,
    add_business_minutes,
    business_minutes_between,
    format_working_hours,
    parse_working_hours,
    public_holidays,
    zone,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def cal(tz: ZoneInfo = PARIS, country: str | None = None, hours: dict[str, list[str]] | None = None) -> Calendar:
    return Calendar(tz, parse_working_hours(hours), public_holidays(country))


def test_inside_working_hours_adds_plain_minutes() -> None:
    assert add_business_minutes(paris(2026, 3, 10, 10, 0), 60, cal()) == paris(2026, 3, 10, 11, 0)


def test_friday_evening_lands_on_monday_morning() -> None:
    # Friday 2026-03-13 18:30 Paris: after hours; 60 business minutes -> Monday 10:00.
    due = add_business_minutes(paris(2026, 3, 13, 18, 30), 60, cal())
    assert due == paris(2026, 3, 16, 10, 0)
    assert due.tzinfo == UTC


def test_minutes_carry_over_the_end_of_the_day_and_the_weekend() -> None:
    # Friday 16:30 + 60 min: 30 on Friday, 30 on Monday.
    assert add_business_minutes(paris(2026, 3, 13, 16, 30), 60, cal()) == paris(2026, 3, 16, 9, 30)


def test_one_business_day_is_the_next_day_same_time() -> None:
    assert add_business_minutes(paris(2026, 3, 10, 11, 15), 480, cal()) == paris(2026, 3, 11, 11, 15)


def test_before_opening_starts_at_opening() -> None:
    assert add_business_minutes(paris(2026, 3, 10, 7, 0), 30, cal()) == paris(2026, 3, 10, 9, 30)


def test_public_holiday_is_skipped_with_the_owner_country() -> None:
    # 2026-05-01 (Friday) is Labour Day in France, not a holiday in the US calendar.
    start = paris(2026, 4, 30, 16, 30)
    assert add_business_minutes(start, 60, cal(country="FR")) == paris(2026, 5, 4, 9, 30)
    assert add_business_minutes(start, 60, cal(country=None)) == paris(2026, 5, 1, 9, 30)


def test_christmas_and_boxing_day_in_germany() -> None:
    start = datetime(2026, 12, 24, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    due = add_business_minutes(start, 120, cal(ZoneInfo("Europe/Berlin"), country="DE"))
    # 24 Dec is a working day in DE (1 h left), 25 and 26 are holidays, 27 is a Sunday: Monday 28 Dec 10:00.
    assert due == datetime(2026, 12, 28, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def test_counted_in_the_owner_zone_not_utc() -> None:
    # 14:00 UTC is 10:00 in New York (EDT) but 16:00 in Paris.
    start = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)
    assert add_business_minutes(start, 120, cal(NEW_YORK)) == datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    assert add_business_minutes(start, 120, cal(PARIS)) == paris(2026, 6, 11, 10, 0)


def test_dst_spring_forward_inside_working_hours_counts_real_minutes() -> None:
    # Paris jumps 02:00 -> 03:00 on Sunday 2026-03-29. A 24-hour working day that Sunday has 23 real hours.
    hours = {"sun": ["00:00-24:00"], "mon": ["09:00-17:00"]}
    due = add_business_minutes(paris(2026, 3, 29, 0, 0), 23 * 60, cal(hours=hours))
    assert due == paris(2026, 3, 30, 0, 0)  # midnight: the whole (short) Sunday used
    assert business_minutes_between(paris(2026, 3, 29, 0, 0), paris(2026, 3, 30, 0, 0), cal(hours=hours)) == 1380


def test_dst_fall_back_day_has_25_hours() -> None:
    hours = {"sun": ["00:00-24:00"]}
    start = paris(2026, 10, 25, 0, 0)
    assert business_minutes_between(start, paris(2026, 10, 26, 0, 0), cal(hours=hours)) == 25 * 60


def test_office_hours_across_a_dst_weekend_keep_wall_clock_opening() -> None:
    # Friday before the spring change 16:00 + 2 h -> Monday 10:00 local (UTC offset changed from +1 to +2).
    due = add_business_minutes(paris(2026, 3, 27, 16, 0), 120, cal())
    assert due == paris(2026, 3, 30, 10, 0)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)  # +02:00 now, it was +01:00 on Friday


def test_lunch_break_and_custom_days() -> None:
    hours = {"mon": ["09:00-12:00", "14:00-18:00"], "sat": ["10:00-12:00"]}
    calendar = cal(hours=hours)
    assert add_business_minutes(paris(2026, 3, 9, 11, 30), 60, calendar) == paris(2026, 3, 9, 14, 30)
    # Monday 17:30 + 60 min: 30 on Monday, Tuesday-Friday off, 30 on Saturday.
    assert add_business_minutes(paris(2026, 3, 9, 17, 30), 60, calendar) == paris(2026, 3, 14, 10, 30)


def test_zero_minutes_inside_and_outside_hours() -> None:
    assert add_business_minutes(paris(2026, 3, 10, 10, 0), 0, cal()) == paris(2026, 3, 10, 10, 0)
    assert add_business_minutes(paris(2026, 3, 14, 10, 0), 0, cal()) == paris(2026, 3, 16, 9, 0)


def test_between_is_the_inverse_of_add() -> None:
    calendar = cal(country="FR")
    start = paris(2026, 4, 29, 15, 17)
    for minutes in (1, 59, 60, 480, 1000, 5000):
        due = add_business_minutes(start, minutes, calendar)
        assert business_minutes_between(start, due, calendar) == pytest.approx(minutes)


def test_refuses_naive_and_negative() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(datetime(2026, 1, 1), 1, cal())
    with pytest.raises(ValueError, match=">= 0"):
        add_business_minutes(paris(2026, 1, 1), -1, cal())


@pytest.mark.parametrize(("document", "message"), [
    ({"monday": ["09:00-17:00"]}, "unknown day"),
    ({"mon": ["9-17"]}, "not 'HH:MM-HH:MM'"),
    ({"mon": ["17:00-09:00"]}, "ends before it starts"),
    ({"mon": ["09:00-12:00", "11:00-13:00"]}, "overlap"),
    ({"mon": []}, "no working time"),
    ({"mon": "09:00-17:00"}, "a list"),
])
def test_working_hours_errors_name_the_day(document: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_working_hours(document)


def test_working_hours_round_trip() -> None:
    doc = {"mon": ["09:00-12:00", "13:00-24:00"], "fri": ["08:30-16:00"]}
    assert format_working_hours(parse_working_hours(doc)) == doc
    assert format_working_hours(DEFAULT_HOURS)["mon"] == ["09:00-17:00"]


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/usr/share/zoneinfo/UTC", "Europe/"])
def test_zone_refuses_what_is_not_iana(name: str) -> None:
    with pytest.raises(ValueError, match="IANA"):
        zone(name)


def test_holidays_for_unknown_country_refused() -> None:
    with pytest.raises(ValueError, match="no public holidays"):
        public_holidays("ZZ")
    assert public_holidays("FR")(date(2026, 7, 14))
    assert not public_holidays(None)(date(2026, 7, 14))
