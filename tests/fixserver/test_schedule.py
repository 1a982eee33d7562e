"""Session schedules (fixserver.schedule) against QuickFIX's rules, on a fake clock: a
window is [start, end] when start is before end, else it wraps (StartTime == EndTime
never closes); weekly windows add the days; times are wall-clock times of the zone,
across midnight, week ends and daylight saving changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from fixserver.schedule import Schedule, local_zone, parse_day, zone_of

NEW_YORK = ZoneInfo("America/New_York")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def at(text: str, zone: dt.tzinfo = dt.UTC) -> float:
    """Seconds since the epoch of a wall-clock time in ``zone``: "2026-12-01 08:00"."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def daily(start: str, end: str, zone: dt.tzinfo = dt.UTC) -> Schedule:
    return Schedule(dt.time.fromisoformat(start), dt.time.fromisoformat(end), zone=zone)


def weekly(start_day: int, start: str, end_day: int, end: str,
           zone: dt.tzinfo = dt.UTC) -> Schedule:
    return Schedule(dt.time.fromisoformat(start), dt.time.fromisoformat(end), start_day,
                    end_day, zone)


# -- daily windows ---------------------------------------------------------------------


def test_no_schedule_is_always_open():
    s = Schedule()
    assert s.always_open and s.is_open(at("2026-12-01 03:00"))
    assert s.period_start(at("2026-12-01 03:00")) is None


def test_a_same_day_window_is_open_from_start_to_end_inclusive():
    s = daily("08:00", "17:00")
    assert s.is_open(at("2026-12-01 08:00"))
    assert s.is_open(at("2026-12-01 12:30"))
    assert s.is_open(at("2026-12-01 17:00"))


def test_a_same_day_window_is_closed_before_start_and_after_end():
    s = daily("08:00", "17:00")
    assert not s.is_open(at("2026-12-01 07:59:59"))
    assert not s.is_open(at("2026-12-01 17:00:01"))
    assert not s.is_open(at("2026-12-01 00:00"))


def test_a_window_whose_start_is_after_its_end_wraps_midnight():
    s = daily("22:00", "06:00")
    for time in ("22:00", "23:59:59", "00:00", "03:00", "06:00"):
        assert s.is_open(at(f"2026-12-01 {time}")), time
    for time in ("06:00:01", "12:00", "21:59:59"):
        assert not s.is_open(at(f"2026-12-01 {time}")), time


def test_equal_start_and_end_time_never_closes():
    s = daily("00:00", "00:00")
    assert all(s.is_open(at(f"2026-12-01 {h:02d}:{m:02d}")) for h in range(24)
               for m in (0, 30))


def test_a_24_hour_session_has_a_new_period_every_day_at_start_time():
    s = daily("17:00", "17:00")
    assert s.period_start(at("2026-12-01 16:59")) == at("2026-11-30 17:00")
    assert s.period_start(at("2026-12-01 17:00")) == at("2026-12-01 17:00")
    assert s.closes_at(at("2026-12-01 09:00")) == at("2026-12-01 17:00")


def test_the_period_of_a_wrapped_window_began_the_evening_before():
    s = daily("22:00", "06:00")
    assert s.period_start(at("2026-12-02 03:00")) == at("2026-12-01 22:00")
    assert s.closes_at(at("2026-12-02 03:00")) == at("2026-12-02 06:00")


def test_outside_the_window_there_is_no_period():
    s = daily("08:00", "17:00")
    assert s.period_start(at("2026-12-01 18:00")) is None
    assert s.closes_at(at("2026-12-01 18:00")) is None


def test_next_open_is_today_before_the_start():
    assert daily("08:00", "17:00").next_open(at("2026-12-01 07:00")) == at("2026-12-01 08:00")


def test_next_open_is_tomorrow_after_the_end():
    assert daily("08:00", "17:00").next_open(at("2026-12-01 18:00")) == at("2026-12-02 08:00")


def test_next_open_crosses_the_end_of_a_month_and_a_year():
    assert daily("08:00", "17:00").next_open(at("2026-12-31 18:00")) == at("2027-01-01 08:00")


def test_describe_writes_the_wall_clock_of_the_zone():
    s = daily("09:00", "17:00", NEW_YORK)
    assert s.describe(at("2026-12-01 09:00", NEW_YORK)) == "2026-12-01 09:00:00 EST"


# -- weekly windows ---------------------------------------------------------------------

# Sunday 17:00 to Friday 17:00, New York: a futures week (2026-12-06 is a Sunday).
FUTURES = weekly(SUN, "17:00", FRI, "17:00", NEW_YORK)


def test_a_weekly_window_is_open_on_its_week_days():
    assert FUTURES.is_open(at("2026-12-02 12:00", NEW_YORK))        # Wednesday
    assert FUTURES.is_open(at("2026-12-04 17:00", NEW_YORK))        # Friday, the end
    assert FUTURES.is_open(at("2026-12-06 17:00", NEW_YORK))        # Sunday, the start


def test_a_weekly_window_is_closed_over_the_week_end():
    assert not FUTURES.is_open(at("2026-12-04 17:00:01", NEW_YORK))  # Friday after the end
    assert not FUTURES.is_open(at("2026-12-05 12:00", NEW_YORK))     # Saturday
    assert not FUTURES.is_open(at("2026-12-06 16:59:59", NEW_YORK))  # Sunday before


def test_a_weekly_period_begins_on_the_start_day():
    assert FUTURES.period_start(at("2026-12-03 10:00", NEW_YORK)) == \
        at("2026-11-29 17:00", NEW_YORK)
    assert FUTURES.closes_at(at("2026-12-03 10:00", NEW_YORK)) == \
        at("2026-12-04 17:00", NEW_YORK)


def test_next_open_over_a_week_end_is_sunday_at_start_time():
    assert FUTURES.next_open(at("2026-12-05 12:00", NEW_YORK)) == \
        at("2026-12-06 17:00", NEW_YORK)


def test_a_week_with_equal_start_and_end_never_closes_and_has_weekly_periods():
    s = weekly(MON, "00:00", MON, "00:00")
    assert all(s.is_open(at(f"2026-12-0{d} 12:00")) for d in range(1, 8))
    assert s.period_start(at("2026-12-03 12:00")) == at("2026-11-30 00:00")   # Monday


def test_one_day_a_week_when_start_and_end_are_on_the_same_day():
    s = weekly(TUE, "09:00", TUE, "17:00")
    assert s.is_open(at("2026-12-01 12:00"))        # a Tuesday
    assert not s.is_open(at("2026-12-02 12:00"))    # Wednesday


def test_a_same_day_week_whose_end_is_before_its_start_wraps_the_week():
    s = weekly(MON, "09:00", MON, "08:00")           # all but one hour of the week
    assert s.is_open(at("2026-12-03 12:00"))
    assert not s.is_open(at("2026-12-07 08:30"))    # Monday, in the hour off


# -- daylight saving time --------------------------------------------------------------


def test_a_window_follows_the_zone_across_the_spring_change():
    s = daily("09:00", "17:00", NEW_YORK)            # DST starts 2026-03-08 in New York
    assert not s.is_open(at("2026-03-06 13:30"))     # 08:30 EST
    assert s.is_open(at("2026-03-09 13:30"))         # 09:30 EDT


def test_a_window_follows_the_zone_across_the_autumn_change():
    s = daily("09:00", "17:00", NEW_YORK)            # DST ends 2026-11-01
    assert s.is_open(at("2026-10-30 13:30"))         # 09:30 EDT
    assert not s.is_open(at("2026-11-02 13:30"))     # 08:30 EST


def test_a_weekly_period_spanning_the_change_starts_at_its_wall_clock_time():
    # The week that starts Sunday 2026-03-08 17:00 EDT, the day the clocks moved.
    assert FUTURES.period_start(at("2026-03-10 12:00", NEW_YORK)) == \
        at("2026-03-08 17:00", NEW_YORK)
    assert FUTURES.period_start(at("2026-03-10 12:00", NEW_YORK)) == at("2026-03-08 21:00")


def test_a_start_time_the_spring_change_skips_is_read_before_the_change():
    s = daily("02:30", "12:00", NEW_YORK)            # 02:30 does not exist on 2026-03-08
    assert s.period_start(at("2026-03-08 11:00", NEW_YORK)) == at("2026-03-08 07:30")


def test_a_start_time_the_autumn_change_repeats_is_its_first_occurrence():
    s = daily("01:30", "12:00", NEW_YORK)            # 01:30 happens twice on 2026-11-01
    assert s.period_start(at("2026-11-01 11:00", NEW_YORK)) == at("2026-11-01 05:30")


# -- days and zones -------------------------------------------------------------------


@pytest.mark.parametrize("text, day", [("mo", MON), ("Mon", MON), ("monday", MON),
                                       ("tu", TUE), ("th", THU), ("THUR", THU),
                                       ("sa", SAT), ("su", SUN), ("sunday", SUN)])
def test_a_day_is_any_abbreviation_of_its_english_name(text, day):
    assert parse_day(text) == day


@pytest.mark.parametrize("text", ["m", "t", "s", "x", "mondays", ""])
def test_an_ambiguous_or_unknown_day_is_an_error(text):
    with pytest.raises(ValueError):
        parse_day(text)


def test_the_default_zone_is_utc():
    assert zone_of("", False) is dt.UTC


def test_time_zone_wins_over_use_local_time():
    assert zone_of("Asia/Tokyo", True) == ZoneInfo("Asia/Tokyo")


def test_use_local_time_takes_the_zone_of_the_tz_variable(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Paris")
    assert zone_of("", True) == ZoneInfo("Europe/Paris")
    assert local_zone() == ZoneInfo("Europe/Paris")
