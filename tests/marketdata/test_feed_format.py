"""The binary feed's wire format (marketdata.feed): MoldUDP64 packets of 26-byte
ticks, decoded back to what was encoded, and anything else refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketdata.feed import (
    HEADER,
    KINDS,
    TICK,
    FeedError,
    Packet,
    Tick,
    decode_packet,
    encode_packet,
    encode_tick,
    end_of_session,
    heartbeat,
    session_name,
)

SESSION = session_name("20260105")
u32 = st.integers(0, 0xFFFF_FFFF)
ticks = st.builds(Tick, st.integers(0, 2**64 - 1), u32, u32, u32, u32, st.integers(0, 255),
                  st.sampled_from(sorted(KINDS)))


def test_a_tick_is_the_seeds_26_bytes() -> None:
    assert TICK.size == 26 and HEADER.size == 20


@given(st.integers(0, 2**64 - 1), st.lists(ticks, max_size=50))
def test_a_packet_decodes_to_what_was_encoded(sequence: int, payload: list[Tick]) -> None:
    assert decode_packet(encode_packet(SESSION, sequence, payload)) == \
        Packet(SESSION, sequence, tuple(payload))


def test_a_heartbeat_has_no_message_and_the_next_sequence_number() -> None:
    assert decode_packet(heartbeat(SESSION, 42)) == Packet(SESSION, 42, ())


def test_the_end_of_session_is_marked() -> None:
    assert decode_packet(end_of_session(SESSION, 42)).end_of_session


@given(st.lists(ticks, min_size=1, max_size=5), st.data())
def test_a_truncated_packet_is_refused(payload: list[Tick], data: st.DataObject) -> None:
    raw = encode_packet(SESSION, 1, payload)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(FeedError):
        decode_packet(raw[:cut])


def test_bytes_after_the_last_message_are_refused() -> None:
    with pytest.raises(FeedError, match="after the last message"):
        decode_packet(encode_packet(SESSION, 1, []) + b"x")


def test_an_unknown_kind_is_refused_both_ways() -> None:
    with pytest.raises(FeedError, match="unknown tick kind"):
        encode_tick(Tick(0, 1, 0, 0, 0, 0, ord("Z")))
    raw = bytearray(encode_packet(SESSION, 1, [Tick(0, 1, 0, 0, 0, 0, ord("T"))]))
    raw[-1] = ord("Z")
    with pytest.raises(FeedError, match="unknown tick kind"):
        decode_packet(bytes(raw))


def test_a_price_beyond_32_bits_is_refused() -> None:
    with pytest.raises(FeedError, match="32 bits"):
        encode_tick(Tick(0, 1, 2**32, 1, 1, 1, ord("T")))


def test_a_session_name_is_padded_to_ten_bytes_and_no_longer() -> None:
    assert session_name("D1") == b"D1        "
    with pytest.raises(FeedError):
        session_name("ELEVENBYTES")
