"""The snapshot service's wire format (marketdata.feed_snapshot): a snapshot decodes
to what was encoded, and one cut short or miscounted is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata.book import Level, Print
from marketdata.feed import FeedError, session_name
from marketdata.feed_snapshot import HEADER, Snapshot, SnapshotLevel, SymbolState, decode, encode

SESSION = session_name("2612021400")
u32 = st.integers(0, 0xFFFF_FFFF)
names = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=32)
prints = st.builds(Print, st.integers(1, 0xFFFF_FFFF), u32, u32, st.integers(0, 2**64 - 1))
symbols = st.builds(SymbolState, u32, names, st.integers(0, 255), st.none() | prints)
levels = st.builds(SnapshotLevel, u32, st.sampled_from([1, 2]), st.builds(Level, u32, u32, u32))


@given(st.integers(0, 2**64 - 1), st.lists(symbols, max_size=20), st.lists(levels, max_size=50))
def test_a_snapshot_decodes_to_what_was_encoded(sequence: int, syms: list[SymbolState],
                                                lvls: list[SnapshotLevel]) -> None:
    assert decode(encode(SESSION, sequence, syms, lvls)) == \
        Snapshot(SESSION, sequence, tuple(syms), tuple(lvls))


def test_a_snapshot_cut_short_is_refused_wherever_it_is_cut() -> None:
    data = encode(SESSION, 7, [SymbolState(1, "AAPL", 3)],
                  [SnapshotLevel(1, 1, Level(1_900_000, 10, 1))])
    for end in range(len(data)):
        with pytest.raises(FeedError):
            decode(data[:end])


def test_a_header_that_miscounts_its_levels_is_refused() -> None:
    data = encode(SESSION, 7, [SymbolState(1, "AAPL", 3)],
                  [SnapshotLevel(1, 1, Level(1_900_000, 10, 1))])
    without_level = encode(SESSION, 7, [SymbolState(1, "AAPL", 3)], [])
    head = data[:2 + HEADER.size]         # the H block of the snapshot with one level
    with pytest.raises(FeedError, match="announces"):
        decode(head + without_level[2 + HEADER.size:])


def test_a_name_too_long_for_the_format_is_refused_when_encoding() -> None:
    with pytest.raises(FeedError, match="1 to 32"):
        encode(SESSION, 0, [SymbolState(1, "X" * 33, 3)], [])
