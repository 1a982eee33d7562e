"""UTCTimestamp text: formatting with milliseconds, and parsing to epoch seconds."""

from __future__ import annotations

import calendar
import re
import time


class Timestamps:
    """UTCTimestamp text with milliseconds, the date and time formatted once per second."""

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def format(self, wall: float) -> bytes:
        """Seconds since the epoch (time.time()) -> ``YYYYMMDD-HH:MM:SS.sss``."""
        second = int(wall)
        return self._text(second, int((wall - second) * 1000))

    def format_ns(self, ns: int) -> bytes:
        """Nanoseconds since the epoch (the sequencer's stamps) -> the same text."""
        second, rem = divmod(ns, 1_000_000_000)
        return self._text(second, rem // 1_000_000)

    def _text(self, second: int, millis: int) -> bytes:
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        return b"%b.%03d" % (self._prefix, millis)


_UTC = re.compile(rb"(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
_utc_cache: dict[bytes, float] = {}


def parse_utc(value: bytes) -> float | None:
    """Seconds since the epoch of a UTCTimestamp, or None if malformed."""
    second = value[:17]
    epoch = _utc_cache.get(second)
    if epoch is not None:
        # A second already seen: only the fraction is left to check.
        n = len(value)
        if n == 17:
            return epoch
        frac = value[18:]
        if value[17:18] == b"." and 1 <= n - 18 <= 9 and frac.isdigit():
            return epoch + int(frac) / 10 ** len(frac)
        return None
    m = _UTC.fullmatch(value)
    if m is None:
        return None
    if epoch is None:
        y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
            return None
        if len(_utc_cache) > 4096:
            _utc_cache.clear()
        epoch = _utc_cache[second] = float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
    frac = m[7]
    return epoch + int(frac) / 10 ** len(frac) if frac else epoch
