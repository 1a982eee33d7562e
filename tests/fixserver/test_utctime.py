"""fixserver.utctime: UTCTimestamp text, checked against datetime's own formatting.

Timestamps keeps the text of the last second, of the last ``format`` and of the last
``format_ns``: whatever the order of the calls, each gives the text of its own instant.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from fixserver.utctime import Timestamps, parse_utc

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
NS = st.integers(0, 4_102_444_800 * 10**9 - 1)     # up to 2100


def expected(ns: int, precision: int) -> bytes:
    """The UTCTimestamp of ``ns`` with ``precision`` digits (truncated), by datetime."""
    seconds, rem = divmod(ns, 10**9)
    text = (EPOCH + dt.timedelta(seconds=seconds)).strftime("%Y%m%d-%H:%M:%S")
    if precision:
        text += "." + f"{rem:09d}"[:precision]
    return text.encode()


@given(st.lists(NS, min_size=1, max_size=20), st.integers(0, 9))
def test_format_ns_gives_each_instant_its_own_text_in_any_order(
        stamps: list[int], precision: int) -> None:
    timestamps = Timestamps(precision)
    for ns in stamps + stamps[::-1]:
        assert timestamps.format_ns(ns) == expected(ns, precision)


@given(st.lists(st.floats(0, 4_102_444_799, allow_nan=False), min_size=1, max_size=20))
def test_format_gives_each_wall_clock_reading_its_own_text_in_any_order(
        walls: list[float]) -> None:
    timestamps = Timestamps()
    for wall in walls + walls[::-1]:
        assert timestamps.format(wall) == Timestamps().format(wall)


def test_the_same_now_twice_gives_the_same_text_and_a_new_second_a_new_one() -> None:
    timestamps = Timestamps()
    assert timestamps.format(1_764_763_200.25) == b"20251203-12:00:00.250"
    assert timestamps.format(1_764_763_200.25) == b"20251203-12:00:00.250"
    assert timestamps.format(1_764_763_201.5) == b"20251203-12:00:01.500"


@given(NS)
def test_parse_utc_reads_back_the_second_of_a_formatted_stamp(ns: int) -> None:
    text = Timestamps(0).format_ns(ns)
    assert parse_utc(text) == ns // 10**9


def test_a_timestamp_in_year_0_is_malformed_not_an_error() -> None:
    assert parse_utc(b"00001203-12:00:00") is None
    assert parse_utc(b"00011203-12:00:00") is not None
