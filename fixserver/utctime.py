"""UTCTimestamp text: formatting (0 to 9 digits of the second), and parsing to epoch seconds."""

from __future__ import annotations

import calendar
import re
import time


class Timestamps:
    """UTCTimestamp text with ``precision`` digits of the second (3: milliseconds, the
    default; 0: none; up to 9: nanoseconds), the date and time formatted once per second."""

    __slots__ = ("_second", "_prefix", "_scale", "_fraction", "_wall", "_wall_text", "_ns",
                 "_ns_text")

    def __init__(self, precision: int = 3) -> None:
        if not 0 <= precision <= 9:
            raise ValueError(f"timestamp precision must be 0 to 9, got {precision}")
        self._second = -1
        self._prefix = b""
        self._scale = 10 ** precision
        self._fraction = b"%%b.%%0%dd" % precision if precision else b"%b"
        self._wall = -1.0         # the last ``format`` and its text: the reports of
        self._wall_text = b""     # one batch are all sent at the same ``now``
        self._ns = -1             # the last ``format_ns`` and its text: the reports of
        self._ns_text = b""       # one command share its TransactTime

    def format(self, wall: float) -> bytes:
        """Seconds since the epoch (time.time()) -> ``YYYYMMDD-HH:MM:SS.sss``."""
        if wall == self._wall:
            return self._wall_text
        second = int(wall)
        text = self._text(second, int((wall - second) * self._scale))
        self._wall, self._wall_text = wall, text
        return text

    def format_ns(self, ns: int) -> bytes:
        """Nanoseconds since the epoch (the sequencer's stamps) -> the same text."""
        if ns == self._ns:
            return self._ns_text
        second, rem = divmod(ns, 1_000_000_000)
        text = self._text(second, rem * self._scale // 1_000_000_000)
        self._ns, self._ns_text = ns, text
        return text

    def _text(self, second: int, fraction: int) -> bytes:
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        if self._scale == 1:
            return self._prefix
        return self._fraction % (self._prefix, fraction)


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
        # Year 0 fits the pattern but no calendar (timegm raised for it).
        if not (y >= 1 and 1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59
                and s <= 60):
            return None
        if len(_utc_cache) > 4096:
            _utc_cache.clear()
        epoch = _utc_cache[second] = float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
    frac = m[7]
    return epoch + int(frac) / 10 ** len(frac) if frac else epoch
