"""Session schedules as QuickFIX defines them: daily or weekly windows, in a time zone.

A schedule is a window in which the session may be logged on, repeating every day
(StartTime/EndTime) or every week (also StartDay/EndDay). The rules are QuickFIX's
(``TimeRange::isInRange``): when the start is before the end the window is
[start, end]; otherwise it wraps, and a time is in it when at or after the start or
at or before the end — so StartTime == EndTime is a window that never closes (a
24-hour session, or a whole week with equal days). Times are wall-clock times in
``zone`` (UTC unless TimeZone or UseLocalTime say otherwise), so a window follows
daylight saving time.

A *period* is one occurrence of the window, from its start to its end: the
session's sequence numbers are reset at the first Logon of a new period, and only
then. A 24-hour daily session therefore has a new period every day at StartTime;
a NonStopSession (QuickFIX/J) and a session without StartTime never close and have
one period that never ends.

Pure: every method takes ``now`` (seconds since the epoch) and reads no clock.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
# Weekday numbers: Monday 0 .. Sunday 6 (datetime.weekday()).
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEK = dt.timedelta(days=7)
_DAY = dt.timedelta(days=1)


def parse_day(text: str) -> int:
    """A day of the week in English, any abbreviation of at least two letters
    ("mo", "mon", "monday"): QuickFIX's rule. Returns 0 (Monday) .. 6 (Sunday)."""
    word = text.strip().lower()
    matches = [i for i, name in enumerate(DAY_NAMES) if len(word) >= 2 and name.startswith(word)]
    if len(matches) != 1:
        raise ValueError(f"expected a day of the week (mo, tu, ..., su), got {text!r}")
    return matches[0]


@dataclass(frozen=True)
class Schedule:
    """When a session may be logged on (see the module docstring)."""

    start_time: dt.time | None = None      # None: no schedule, always open
    end_time: dt.time | None = None
    start_day: int | None = None           # both or neither: a weekly schedule
    end_day: int | None = None
    zone: dt.tzinfo = UTC
    non_stop: bool = False

    @property
    def always_open(self) -> bool:
        return self.non_stop or self.start_time is None

    @property
    def weekly(self) -> bool:
        return self.start_day is not None

    def is_open(self, now: float) -> bool:
        """Whether ``now`` falls in the window."""
        return self.always_open or self.period_start(now) is not None

    def period_start(self, now: float) -> float | None:
        """When the period ``now`` falls in began (seconds since the epoch); None when
        ``now`` is outside the window or the schedule never closes."""
        if self.always_open:
            return None
        period = self._period_containing(self._local(now))
        return period[0].timestamp() if period is not None else None

    def next_open(self, now: float) -> float | None:
        """When the next period begins, for a ``now`` outside the window (None when
        the schedule never closes)."""
        if self.always_open:
            return None
        local = self._local(now)
        start = self._latest_start(local)
        while start <= local:
            start = self._advance(start, 1)
        return start.timestamp()

    def closes_at(self, now: float) -> float | None:
        """When the period ``now`` falls in ends (None: outside, or never closes)."""
        if self.always_open:
            return None
        period = self._period_containing(self._local(now))
        return period[1].timestamp() if period is not None else None

    def describe(self, at: float) -> str:
        """``at`` as the schedule's wall clock, for texts: "2026-12-02 08:00:00 UTC"."""
        return self._local(at).strftime("%Y-%m-%d %H:%M:%S %Z")

    # -- the window, on wall-clock datetimes of the schedule's zone ---------------------

    def _local(self, now: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(now, self.zone)

    def _period_containing(self, local: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
        start = self._latest_start(local)
        end = self._end_after(start)
        return (start, end) if start <= local <= end else None

    def _latest_start(self, local: dt.datetime) -> dt.datetime:
        """The most recent start of the window at or before ``local``."""
        assert self.start_time is not None
        start = self._at(local.date(), self.start_time)
        if self.weekly:
            assert self.start_day is not None
            start -= dt.timedelta(days=(local.weekday() - self.start_day) % 7)
            start = self._at(start.date(), self.start_time)
            if start > local:
                start = self._advance(start, -1)
        elif start > local:
            start = self._advance(start, -1)
        return start

    def _end_after(self, start: dt.datetime) -> dt.datetime:
        """The end of the window that begins at ``start``: the first end time after it
        (a window whose end equals its start lasts a whole day, or week)."""
        assert self.end_time is not None
        if self.weekly:
            assert self.start_day is not None and self.end_day is not None
            days = (self.end_day - self.start_day) % 7
            end = self._at(start.date() + dt.timedelta(days=days), self.end_time)
            if end <= start:
                end = self._at(end.date() + _WEEK, self.end_time)
        else:
            end = self._at(start.date(), self.end_time)
            if end <= start:
                end = self._at(end.date() + _DAY, self.end_time)
        return end

    def _advance(self, start: dt.datetime, n: int) -> dt.datetime:
        """The start ``n`` periods after (or before) ``start``, on the wall clock."""
        assert self.start_time is not None
        step = _WEEK if self.weekly else _DAY
        return self._at(start.date() + n * step, self.start_time)

    def _at(self, day: dt.date, time: dt.time) -> dt.datetime:
        """``time`` on ``day`` in the zone. A wall-clock time that a DST change skips
        is read with the offset before the change (02:30 becomes 03:30 when the clock
        jumps from 02:00 to 03:00), one it repeats at its first occurrence: the rule of
        Python's ``fold=0`` and of Java's lenient calendars."""
        return dt.datetime.combine(day, time, tzinfo=self.zone)


def zone_of(time_zone: str, use_local_time: bool) -> dt.tzinfo:
    """The zone of a session's StartTime/EndTime: TimeZone (an IANA name), else the
    machine's local zone with UseLocalTime=Y, else UTC."""
    if time_zone:
        return ZoneInfo(time_zone)
    if use_local_time:
        return local_zone()
    return UTC


def local_zone() -> dt.tzinfo:
    """The machine's zone, with its daylight saving rules: the TZ variable, else
    /etc/timezone, else the zone /etc/localtime links to; a fixed offset only when
    none of them names one."""
    names = [os.environ.get("TZ", "").lstrip(":")]
    try:
        names.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            names.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return dt.datetime.now().astimezone().tzinfo or UTC
