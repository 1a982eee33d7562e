"""Specification of fixserver.codec: framing, parsing, encoding and the CheckSum.

simplefix is the independent oracle: what our encoder writes, simplefix reads back
field for field, and what simplefix writes, our parser reads back field for field.
"""

from __future__ import annotations

import pytest
import simplefix
import simplefix.data
from hypothesis import given, settings
from hypothesis import strategies as st

from fixserver.codec import (
    DATA_LENGTH_TAGS,
    MAX_MESSAGE_SIZE,
    Framer,
    FramingError,
    GarbledMessage,
    checksum,
    encode,
    parse,
)

SOH = b"\x01"


def with_checksum(prefix: bytes) -> bytes:
    """Append a CheckSum computed independently of the codec."""
    return prefix + b"10=%03d\x01" % (sum(prefix) % 256)


def assemble(body: bytes, begin: bytes = b"FIX.4.2") -> bytes:
    """A well-framed message around ``body`` (which starts at MsgType and ends with SOH),
    BodyLength and CheckSum computed independently of the codec."""
    return with_checksum(b"8=%b\x019=%d\x01%b" % (begin, len(body), body))


def simplefix_pairs(raw: bytes) -> list[tuple[int, bytes]]:
    parser = simplefix.FixParser()
    parser.append_buffer(raw)
    msg = parser.get_message()
    assert msg is not None, "simplefix found no complete message"
    assert parser.get_message() is None, "simplefix found more than one message"
    return [(int(t), v) for t, v in msg.pairs]


def simplefix_encode(begin: bytes, fields: list[tuple[int, bytes]]) -> bytes:
    msg = simplefix.FixMessage()
    msg.append_pair(8, begin)
    for tag, value in fields:
        msg.append_pair(tag, value)
    return msg.encode()


HEARTBEAT = [(35, b"0"), (34, b"2"), (49, b"TW"), (52, b"20240415-12:00:00.000"), (56, b"ISLD")]
ORDER = [(35, b"D"), (34, b"7"), (49, b"TW"), (52, b"20240415-12:00:00.000"), (56, b"ISLD"),
         (11, b"ORD-1"), (21, b"1"), (38, b"100"), (40, b"2"), (44, b"10.25"), (54, b"1"),
         (55, b"IBM"), (58, b"a=b c=d"), (60, b"20240415-12:00:00")]

# -- strategies --------------------------------------------------------------------

# simplefix also knows the FIX 5.0 length tags (1277, 1401, ...): a random tag that is a
# length tag for the oracle would make it read the next field by length, so those are
# left out as well.
_EXCLUDED = ({8, 9, 10, 35} | set(DATA_LENGTH_TAGS) | set(DATA_LENGTH_TAGS.values())
             | set(simplefix.data.RAW_LEN_TAGS) | set(simplefix.data.RAW_DATA_TAGS))
tags = st.integers(1, 9999).filter(lambda t: t not in _EXCLUDED)
# Printable bytes; SOH never, '=' allowed.
values = st.lists(st.integers(0x20, 0x7E), min_size=1, max_size=24).map(bytes)
msg_types = st.sampled_from([b"0", b"1", b"A", b"D", b"8", b"j", b"AE", b"U1"])
begin_strings = st.sampled_from([b"FIX.4.2", b"FIX.4.4"])
field_lists = st.lists(st.tuples(tags, values), max_size=25)
# Data field content: any bytes, SOH and embedded "10=" included.
data_values = st.binary(min_size=1, max_size=80) | st.builds(
    lambda inner: encode(b"FIX.4.4", inner), st.lists(st.tuples(tags, values), max_size=5).map(
        lambda fs: [(35, b"D"), *fs]))


@st.composite
def messages(draw) -> tuple[bytes, list[tuple[int, bytes]]]:
    """(BeginString, fields starting with MsgType) of a random message."""
    return draw(begin_strings), [(35, draw(msg_types)), *draw(field_lists)]


@st.composite
def messages_with_data(draw) -> tuple[bytes, list[tuple[int, bytes]]]:
    """A random message holding a length-prefixed data field somewhere in its body."""
    begin, fields = draw(messages())
    length_tag = draw(st.sampled_from([95, 212, 354]))
    data = draw(data_values)
    at = draw(st.integers(1, len(fields)))
    fields[at:at] = [(length_tag, b"%d" % len(data)), (DATA_LENGTH_TAGS[length_tag], data)]
    return begin, fields


# -- encode ------------------------------------------------------------------------


def test_encode_writes_begin_string_body_length_fields_and_checksum():
    assert encode(b"FIX.4.2", [(35, b"0"), (49, b"A")]) == (
        b"8=FIX.4.2\x019=10\x0135=0\x0149=A\x0110=185\x01")


def test_encode_writes_the_checksum_with_three_digits():
    raw = encode(b"FIX.4.2", [(35, b"0")])
    assert raw.endswith(b"\x0110=%03d\x01" % (sum(raw[:-7]) % 256))
    assert len(raw.rsplit(b"10=", 1)[1]) == 4


def test_encode_matches_simplefix_byte_for_byte():
    assert encode(b"FIX.4.4", ORDER) == simplefix_encode(b"FIX.4.4", ORDER)


def test_an_encoded_message_parses_identically_with_simplefix():
    raw = encode(b"FIX.4.4", ORDER)
    pairs = simplefix_pairs(raw)
    assert pairs[0] == (8, b"FIX.4.4")
    assert pairs[1] == (9, b"%d" % (raw.index(b"\x0110=") + 1 - raw.index(b"35=")))
    assert pairs[2:-1] == ORDER
    assert pairs[-1] == (10, b"%03d" % (sum(raw[:raw.index(b"10=")]) % 256))


def test_a_simplefix_message_parses_identically_with_the_codec():
    raw = simplefix_encode(b"FIX.4.2", ORDER)
    msg = parse(raw)
    assert msg.begin_string == b"FIX.4.2"
    assert msg.fields == ORDER
    assert msg.raw == raw


@settings(max_examples=150, deadline=None)
@given(messages())
def test_any_encoded_message_parses_identically_with_simplefix(message):
    begin, fields = message
    raw = encode(begin, fields)
    pairs = simplefix_pairs(raw)
    assert pairs[0] == (8, begin)
    assert pairs[2:-1] == fields
    assert raw == simplefix_encode(begin, fields)


@settings(max_examples=150, deadline=None)
@given(messages())
def test_any_simplefix_message_parses_identically_with_the_codec(message):
    begin, fields = message
    msg = parse(simplefix_encode(begin, fields))
    assert (msg.begin_string, msg.fields) == (begin, fields)


@settings(max_examples=150, deadline=None)
@given(messages())
def test_encode_then_parse_gives_back_the_fields(message):
    begin, fields = message
    msg = parse(encode(begin, fields))
    assert msg.begin_string == begin
    assert msg.fields == fields
    assert msg.msg_type == fields[0][1]


# -- Message -----------------------------------------------------------------------


def test_message_get_returns_the_last_occurrence_of_a_repeated_tag():
    # Outside repeating groups a repeated tag is rejected by validation; inside them the
    # layout, not get(), gives each entry's value.
    msg = parse(encode(b"FIX.4.2", [(35, b"D"), (58, b"first"), (55, b"X"), (58, b"second")]))
    assert msg.get(58) == b"second"


def test_message_get_returns_the_default_for_an_absent_tag():
    msg = parse(encode(b"FIX.4.2", HEARTBEAT))
    assert msg.get(112) is None
    assert msg.get(112, b"none") == b"none"
    assert 112 not in msg
    assert 49 in msg


def test_message_get_int_reads_a_number_and_gives_none_for_text():
    msg = parse(encode(b"FIX.4.2", [(35, b"0"), (34, b"42"), (49, b"TW")]))
    assert msg.get_int(34) == 42
    assert msg.get_int(49) is None
    assert msg.get_int(7) is None


def test_message_fields_start_with_msg_type_and_exclude_framing_fields():
    msg = parse(encode(b"FIX.4.2", HEARTBEAT))
    assert msg.msg_type == b"0"
    assert [t for t, _ in msg.fields] == [35, 34, 49, 52, 56]


def test_parse_keeps_an_empty_value_for_the_validator_to_reject():
    msg = parse(assemble(b"35=0\x01112=\x0149=TW\x01"))
    assert msg.fields == [(35, b"0"), (112, b""), (49, b"TW")]


def test_parse_reads_a_negative_tag_for_the_validator_to_reject():
    msg = parse(assemble(b"35=0\x01-1=x\x01"))
    assert msg.fields == [(35, b"0"), (-1, b"x")]


def test_equals_signs_in_a_value_belong_to_the_value():
    msg = parse(assemble(b"35=0\x0158=a=b==c\x01"))
    assert msg.get(58) == b"a=b==c"


# -- parse: garbled messages ---------------------------------------------------------


def test_parse_rejects_a_wrong_checksum_as_garbled():
    raw = encode(b"FIX.4.2", HEARTBEAT)
    good = int(raw[-4:-1])
    bad = raw[:-4] + b"%03d\x01" % ((good + 1) % 256)
    with pytest.raises(GarbledMessage):
        parse(bad)


def test_parse_rejects_a_non_numeric_checksum_as_garbled():
    raw = encode(b"FIX.4.2", HEARTBEAT)
    with pytest.raises(GarbledMessage):
        parse(raw[:-4] + b"1x3\x01")


@pytest.mark.parametrize("delta", [-1, 1])
def test_parse_rejects_a_wrong_body_length_as_garbled(delta):
    body = b"35=0\x0149=TW\x0156=ISLD\x01"
    raw = with_checksum(b"8=FIX.4.2\x019=%d\x01%b" % (len(body) + delta, body))
    with pytest.raises(GarbledMessage):
        parse(raw)


def test_parse_rejects_a_message_whose_begin_string_is_not_first():
    body = b"35=0\x0149=TW\x01"
    raw = with_checksum(b"9=%d\x018=FIX.4.2\x01%b" % (len(body), body))
    with pytest.raises(GarbledMessage):
        parse(raw)


def test_parse_rejects_a_message_whose_body_length_is_not_second():
    body = b"35=0\x0149=TW\x01"
    raw = with_checksum(b"8=FIX.4.2\x0135=0\x019=%d\x0149=TW\x01" % (len(body)))
    with pytest.raises(GarbledMessage):
        parse(raw)


def test_parse_rejects_a_message_whose_msg_type_is_not_third():
    with pytest.raises(GarbledMessage):
        parse(assemble(b"49=TW\x0135=0\x0156=ISLD\x01"))


def test_parse_rejects_a_message_without_checksum():
    body = b"35=0\x0149=TW\x01"
    with pytest.raises(GarbledMessage):
        parse(b"8=FIX.4.2\x019=%d\x01%b" % (len(body), body))


def test_parse_rejects_a_non_numeric_field_without_equals_sign():
    with pytest.raises(GarbledMessage):
        parse(assemble(b"35=0\x01abc\x0149=TW\x01"))


def test_parse_rejects_a_numeric_field_without_equals_sign():
    with pytest.raises(GarbledMessage):
        parse(assemble(b"35=0\x0155\x0149=TW\x01"))


def test_parse_rejects_a_field_without_equals_sign_in_a_message_with_data():
    with pytest.raises(GarbledMessage):
        parse(assemble(b"35=0\x0195=2\x0196=ab\x0155\x0149=TW\x01"))


@pytest.mark.parametrize("tag", [b"5x", b"x", b"", b"+5", b" 5", b"5 ", b"1_0", b"-"])
def test_parse_rejects_a_non_numeric_tag_as_garbled(tag):
    with pytest.raises(GarbledMessage):
        parse(assemble(b"35=0\x01%b=v\x0149=TW\x01" % tag))


def test_parse_rejects_an_empty_field_between_two_separators():
    with pytest.raises(GarbledMessage):
        parse(assemble(b"35=0\x01\x0149=TW\x01"))


# -- data fields ---------------------------------------------------------------------

EMBEDDED = encode(b"FIX.4.4", [(35, b"D"), (11, b"INNER"), (55, b"IBM"), (58, b"x\x01y")])


def test_raw_data_holding_soh_is_cut_by_raw_data_length():
    data = b"a\x01b=c\x01\x01d"
    raw = assemble(b"35=A\x0198=0\x01108=30\x0195=%d\x0196=%b\x0158=z\x01" % (len(data), data))
    msg = parse(raw)
    assert msg.fields == [(35, b"A"), (98, b"0"), (108, b"30"), (95, b"%d" % len(data)),
                          (96, data), (58, b"z")]


def test_xml_data_holding_a_whole_fix_message_is_cut_by_xml_data_len():
    raw = assemble(b"35=B\x01212=%d\x01213=%b\x0158=after\x01" % (len(EMBEDDED), EMBEDDED))
    msg = parse(raw)
    assert msg.get(213) == EMBEDDED
    assert msg.get(58) == b"after"
    assert [t for t, _ in msg.fields] == [35, 212, 213, 58]


def test_data_field_as_last_field_holding_a_checksum_field_is_parsed_by_length():
    data = b"x\x0110=123\x01"
    msg = parse(assemble(b"35=B\x0195=%d\x0196=%b\x01" % (len(data), data)))
    assert msg.get(96) == data


def test_data_field_longer_than_its_length_is_garbled():
    with pytest.raises(GarbledMessage):
        parse(assemble(b"35=B\x0195=2\x0196=abcd\x0158=z\x01"))


def test_data_field_built_by_simplefix_parses_identically():
    msg = simplefix.FixMessage()
    msg.append_pair(8, b"FIX.4.4")
    msg.append_pair(35, b"B")
    msg.append_data(212, 213, EMBEDDED)
    msg.append_pair(58, b"after")
    assert parse(msg.encode()).fields == [(35, b"B"), (212, b"%d" % len(EMBEDDED)),
                                          (213, EMBEDDED), (58, b"after")]


@settings(max_examples=100, deadline=None)
@given(messages_with_data())
def test_any_message_with_a_data_field_round_trips_through_both_codecs(message):
    begin, fields = message
    raw = encode(begin, fields)
    assert parse(raw).fields == fields
    assert simplefix_pairs(raw)[2:-1] == fields
    assert parse(simplefix_encode(begin, fields)).fields == fields


# -- checksum ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=2000))
def test_checksum_is_the_byte_sum_modulo_256(data):
    assert checksum(data) == sum(data) % 256


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 511, 512, 513, 4096, 100_000])
def test_checksum_of_all_ff_bytes_at_chunk_boundaries(n):
    data = b"\xff" * n
    assert checksum(data) == (255 * n) % 256
    assert checksum(memoryview(data)) == (255 * n) % 256


# -- Framer --------------------------------------------------------------------------

M1 = encode(b"FIX.4.2", HEARTBEAT)
M2 = encode(b"FIX.4.4", ORDER)
M3 = encode(b"FIX.4.4", [(35, b"B"), (212, b"%d" % len(EMBEDDED)), (213, EMBEDDED),
                         (58, b"after")])


def test_framer_returns_every_message_of_one_read():
    assert Framer().feed(M1 + M2 + M3 + M1) == [M1, M2, M3, M1]


def test_framer_keeps_an_incomplete_message_for_the_next_read():
    framer = Framer()
    assert framer.feed(M1 + M2[:30]) == [M1]
    assert framer.buffered == 30
    assert framer.feed(M2[30:]) == [M2]
    assert framer.buffered == 0


@pytest.mark.parametrize("raw", [M1, M2, M3], ids=["heartbeat", "order", "embedded"])
def test_framer_joins_a_message_split_at_any_byte_boundary(raw):
    for cut in range(len(raw) + 1):
        framer = Framer()
        assert framer.feed(raw[:cut]) + framer.feed(raw[cut:]) == [raw], cut
        assert framer.buffered == 0


def test_framer_joins_a_message_with_an_embedded_message_arriving_byte_by_byte():
    framer = Framer()
    frames = []
    for i in range(len(M3)):
        frames += framer.feed(M3[i:i + 1])
    assert frames == [M3]
    assert parse(frames[0]).get(213) == EMBEDDED


@settings(max_examples=80, deadline=None)
@given(st.lists(messages() | messages_with_data(), min_size=1, max_size=5), st.data())
def test_framer_yields_exactly_the_messages_of_an_arbitrarily_chunked_stream(msgs, data):
    raws = [encode(begin, fields) for begin, fields in msgs]
    stream = b"".join(raws)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    framer = Framer()
    frames = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        frames += framer.feed(stream[prev:cut])
        prev = cut
    assert frames == raws
    assert framer.buffered == 0
    assert [parse(f).fields for f in frames] == [fields for _, fields in msgs]


@pytest.mark.parametrize("garbage", [b"garbage", b"\x01\x01\x01", b"x" * 500 + b"\x01",
                                     b"88", b"10=123\x01", b"9=12\x01"])
def test_framer_skips_garbage_before_a_message(garbage):
    assert Framer().feed(garbage + M1 + M2) == [M1, M2]


def test_framer_skips_garbage_arriving_in_its_own_read():
    framer = Framer()
    assert framer.feed(b"noise\x01noise") == []
    assert framer.feed(M1) == [M1]


def test_framer_skips_garbage_holding_8_equals_before_a_message():
    assert Framer().feed(b"noise 58=x " + M1) == [M1]


def test_framer_rejects_a_body_length_that_is_not_a_number():
    with pytest.raises(FramingError):
        Framer().feed(b"8=FIX.4.2\x019=12a\x0135=0\x0110=000\x01")


def test_framer_rejects_a_body_length_that_never_ends():
    with pytest.raises(FramingError):
        Framer().feed(b"8=FIX.4.2\x019=" + b"1" * 40)


def test_framer_rejects_a_declared_length_over_max_size():
    framer = Framer(max_size=1000)
    with pytest.raises(FramingError):
        framer.feed(b"8=FIX.4.2\x019=2000\x0135=0\x01")


def test_framer_rejects_a_declared_length_over_the_default_limit():
    with pytest.raises(FramingError):
        Framer().feed(b"8=FIX.4.2\x019=%d\x0135=0\x01" % (10 * 1024 * 1024))


def test_framer_accepts_a_message_up_to_max_size():
    assert Framer(max_size=len(M2)).feed(M2) == [M2]


def test_framer_rejects_a_started_message_whose_checksum_never_comes():
    framer = Framer(max_size=1000)
    framer.feed(b"8=FIX.4.2\x019=20\x0135=0\x01")
    with pytest.raises(FramingError):
        for _ in range(100):
            framer.feed(b"x" * 100)


def test_framer_rejects_a_10_mb_stream_without_a_frame_before_buffering_it_all():
    framer = Framer()
    chunk = b"y" * 65536
    fed = 0
    with pytest.raises(FramingError):
        framer.feed(b"8=FIX.4.4\x019=50\x0135=D\x01")
        while fed < 10 * 1024 * 1024:
            framer.feed(chunk)
            fed += len(chunk)
    assert fed <= MAX_MESSAGE_SIZE + len(chunk)


def test_framer_discards_10_mb_of_noise_without_growing_its_buffer():
    framer = Framer()
    chunk = (b"noise\x01" * 11000)[:65536]
    for _ in range(160):
        assert framer.feed(chunk) == []
        assert framer.buffered <= 64
    assert framer.feed(M1) == [M1]


def test_framer_drops_noise_holding_8_equals_without_a_body_length():
    framer = Framer()
    for _ in range(100):
        assert framer.feed(b"58=abc\x01448=x\x01" * 100) == []
        assert framer.buffered <= 64


def test_framer_frames_a_message_whose_checksum_is_garbled_for_parse_to_reject():
    bad = M1[:-4] + b"%03d\x01" % ((int(M1[-4:-1]) + 1) % 256)
    framer = Framer()
    frames = framer.feed(bad + M2)
    assert frames == [bad, M2]
    with pytest.raises(GarbledMessage):
        parse(frames[0])
