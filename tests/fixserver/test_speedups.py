"""The C accelerator of the codec (fixserver/_speedups.c) agrees with the Python codec.

``parse_fields`` handles only well-formed frames with plain tags and no data field, and
returns None for everything else; on what it handles it must give exactly what
``codec.parse_python`` gives, and wherever it returns None the Python parser decides.
``next_frames`` cuts the well-formed frames at the start of a buffer and stops at
anything else; a Framer with it must give what a Framer without it gives, chunk by
chunk, garbage, noise and errors included.
In CI the accelerator must be there (the machine has a compiler); elsewhere a missing
one is said once and these tests are skipped: the codec then runs in Python only.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixserver import codec, dictionary
from fixserver.codec import (
    DATA_LENGTH_TAGS,
    Framer,
    FramingError,
    GarbledMessage,
    frame_python,
    parse,
    parse_python,
)
from fixserver.speedups import PURE_PYTHON_ENV
from fixserver.validation import Validator
from tests.conftest import compiled_or_skip

speedups = compiled_or_skip("fixserver._speedups")
fast_valid, frame = speedups.fast_valid, speedups.frame
next_frames, parse_fields = speedups.next_frames, speedups.parse_fields

LENGTH_TAGS = frozenset(DATA_LENGTH_TAGS)


def assemble(body: bytes, begin: bytes = b"FIX.4.4") -> bytes:
    """A well-framed message around ``body`` (from MsgType on, ending with SOH)."""
    prefix = b"8=%b\x019=%d\x01%b" % (begin, len(body), body)
    return prefix + b"10=%03d\x01" % (sum(prefix) % 256)


def python_result(raw: bytes) -> tuple[bytes, list[tuple[int, bytes]]] | str:
    """What the Python parser makes of ``raw``: its fields, or its error."""
    try:
        msg = parse_python(raw)
    except GarbledMessage as e:
        return f"garbled: {e}"
    return msg.begin_string, msg.fields


plain_tag = st.integers(1, 9999).filter(lambda t: t not in LENGTH_TAGS)
value = st.binary(max_size=12).map(lambda b: b.replace(b"\x01", b""))
fields = st.lists(st.tuples(plain_tag, value), max_size=12)


def body_of(pairs: list[tuple[int, bytes]], msg_type: bytes = b"D") -> bytes:
    return b"35=" + msg_type + b"\x01" + b"".join(b"%d=%b\x01" % p for p in pairs)


@given(fields)
def test_a_well_formed_frame_gives_the_python_parsers_fields(
        pairs: list[tuple[int, bytes]]) -> None:
    raw = assemble(body_of(pairs))
    assert parse_fields(raw, LENGTH_TAGS) == python_result(raw)


@given(fields, st.data())
def test_any_byte_changed_gives_the_python_result_or_leaves_it_to_python(
        pairs: list[tuple[int, bytes]], data: st.DataObject) -> None:
    raw = bytearray(assemble(body_of(pairs)))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255))
    got = parse_fields(bytes(raw), LENGTH_TAGS)
    assert got is None or got == python_result(bytes(raw))


@given(st.binary(max_size=80))
def test_arbitrary_bytes_give_the_python_result_or_are_left_to_python(raw: bytes) -> None:
    got = parse_fields(raw, LENGTH_TAGS)
    assert got is None or got == python_result(raw)


@pytest.mark.parametrize("body", [
    pytest.param(b"35=D\x0195=3\x0196=a\x01b\x01", id="a data field (slow path)"),
    pytest.param(b"35=D\x01035=x\x01", id="a tag with a leading zero"),
    pytest.param(b"35=D\x0110000=x\x01", id="a tag of 10000"),
    pytest.param(b"35=D\x01-5=x\x01", id="a negative tag"),
    pytest.param(b"35=D\x01\x0155=x\x01", id="an empty field"),
    pytest.param(b"35=D\x0155\x01", id="a field without '='"),
])
def test_what_the_python_parser_handles_specially_is_left_to_it(body: bytes) -> None:
    raw = assemble(body)
    assert parse_fields(raw, LENGTH_TAGS) is None
    expected = python_result(raw)
    try:
        assert (parse(raw).begin_string, parse(raw).fields) == expected
    except GarbledMessage as e:
        assert expected == f"garbled: {e}"


def test_a_wrong_checksum_is_left_to_the_python_parser_which_says_so() -> None:
    raw = assemble(b"35=D\x0155=AAPL\x01")
    bad = raw[:-4] + b"%03d\x01" % ((int(raw[-4:-1]) + 1) % 256)
    assert parse_fields(bad, LENGTH_TAGS) is None
    with pytest.raises(GarbledMessage, match="CheckSum"):
        parse(bad)


def test_codec_parse_uses_the_accelerator_unless_it_is_turned_off() -> None:
    turned_off = bool(os.environ.get(PURE_PYTHON_ENV))
    assert codec._parse_fields is (None if turned_off else parse_fields)


def test_the_environment_can_turn_the_accelerator_off() -> None:
    script = "import fixserver.codec as c; print(c._parse_fields is None)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, PURE_PYTHON_ENV: "1"}, check=True)
    assert out.stdout.strip() == "True"


# -- framing ------------------------------------------------------------------------------


def outcome(chunks: list[bytes], accelerated: bool) -> list[object]:
    """Per chunk the frames a Framer gives (or its FramingError), then what it holds
    and what it threw away; ``accelerated`` False: with ``next_frames`` out of the way."""
    framer, saved = Framer(), codec._next_frames
    codec._next_frames = saved if accelerated else None
    out: list[object] = []
    try:
        for chunk in chunks:
            try:
                out.append(framer.feed(chunk))
            except FramingError as e:
                out.append(f"framing error: {e}")
                break
    finally:
        codec._next_frames = saved
    return [*out, framer.buffered, framer.discarded]


frame_bodies = fields.map(body_of)
noise = st.sampled_from([b"", b"x", b"8=", b"8=FIX", b"\x01", b"8=FIX.4.4\x019=abc\x01",
                         b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01", b"garbage\x01"])


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    """Frames, noise between them now and then, a byte changed sometimes, cut into
    chunks anywhere."""
    parts = []
    for body in draw(st.lists(frame_bodies, max_size=6)):
        parts.append(draw(noise) if draw(st.booleans()) else b"")
        parts.append(assemble(body))
    stream = bytearray(b"".join(parts))
    if stream and draw(st.booleans()):
        stream[draw(st.integers(0, len(stream) - 1))] = draw(st.integers(0, 255))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    return [bytes(stream[a:b]) for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@given(streams())
def test_a_framer_with_the_accelerator_gives_what_one_without_it_gives(
        chunks: list[bytes]) -> None:
    assert outcome(chunks, accelerated=True) == outcome(chunks, accelerated=False)


def test_next_frames_takes_whole_frames_and_stops_at_the_first_partial_one() -> None:
    a, b = assemble(b"35=0\x01"), assemble(b"35=D\x0155=AAPL\x01")
    assert next_frames(a + b + b[:7], 1 << 20) == ([a, b], len(a) + len(b))


def test_next_frames_stops_at_noise_for_the_python_framer() -> None:
    a = assemble(b"35=0\x01")
    assert next_frames(b"xx" + a, 1 << 20) == ([], 0)
    framer = Framer()
    assert framer.feed(b"xx" + a) == [a]
    assert framer.discarded == 2


# -- framing what is sent -----------------------------------------------------------------


@given(st.binary(max_size=12), st.binary(max_size=300))
def test_frame_writes_what_the_python_frame_writes(begin_string: bytes, payload: bytes
                                                    ) -> None:
    assert frame(begin_string, payload) == frame_python(begin_string, payload)


def test_codec_frame_is_the_accelerator_unless_it_is_turned_off() -> None:
    turned_off = bool(os.environ.get(PURE_PYTHON_ENV))
    assert codec.frame is (frame_python if turned_off else frame)


# -- the validator's single pass ----------------------------------------------------------

VALIDATOR = Validator(dictionary.for_begin_string(b"FIX.4.4"))
MSG_TYPES = [b"D", b"F", b"G", b"8", b"0", b"A", b"V"]
SAMPLES = [b"", b"0", b"1", b"-3", b"12.5", b".5", b"1.", b"-", b".", b"1.2.3", b"Y", b"N",
           b"AB", b"20261203-12:00:00.000", b"20261203-25:00:00", b"12:00:00", b"20261203",
           b"x"]


VALID_BY_TYPE = {"INT": b"12", "LENGTH": b"3", "SEQNUM": b"7", "NUMINGROUP": b"1",
                 "FLOAT": b"1.5", "PRICE": b"189.00", "QTY": b"100", "AMT": b"10",
                 "CHAR": b"x", "BOOLEAN": b"Y", "UTCTIMESTAMP": b"20261203-12:00:00.000",
                 "UTCTIMEONLY": b"12:00:00", "UTCDATE": b"20261203",
                 "UTCDATEONLY": b"20261203"}


def valid_value(tag: int) -> bytes:
    fd = VALIDATOR.dd.fields[tag]
    if fd.enums and tag != 35:
        return sorted(fd.enums)[0]
    return VALID_BY_TYPE.get(fd.type, b"abc")


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, bytes]]]:
    """A valid message of a type (its required fields and some others, in their
    sections' order, each value valid), then up to two changes: a value that may not
    pass its check, two fields swapped, a tag twice, a field dropped, an unknown tag."""
    msg_type = draw(st.sampled_from(MSG_TYPES))
    sections, _, required, _ = VALIDATOR._fast[msg_type]
    optional = sorted(set(sections) - required)
    chosen = set(draw(st.lists(st.sampled_from(optional), max_size=6)))
    tags = sorted((required & set(sections)) | chosen, key=lambda t: (sections[t], t))
    fields = [(t, msg_type if t == 35 else valid_value(t)) for t in tags]
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(fields) - 1))
        change = draw(st.sampled_from(["value", "swap", "twice", "drop", "unknown"]))
        if change == "value":
            fields[i] = (fields[i][0], draw(st.sampled_from(SAMPLES)))
        elif change == "swap":
            j = draw(st.integers(0, len(fields) - 1))
            fields[i], fields[j] = fields[j], fields[i]
        elif change == "twice":
            fields.insert(i, fields[i])
        elif change == "drop" and len(fields) > 1:
            del fields[i]
        elif change == "unknown":
            fields.insert(i, (draw(st.sampled_from([9999, 20000, 5001])), b"v"))
    return msg_type, fields


@given(messages())
def test_the_validators_pass_gives_what_the_python_pass_gives(
        message: tuple[bytes, list[tuple[int, bytes]]]) -> None:
    msg_type, fields = message
    sections, checks, required, c_checks = VALIDATOR._fast[msg_type]
    got = fast_valid(fields, sections, c_checks, required)
    expected = Validator.fast_valid_python(fields, sections, checks, required)
    assert got is None or got == expected
    assert got is not None or any(t >= 16384 for t, _ in fields)


def test_a_well_formed_new_order_single_is_valid_in_both_passes() -> None:
    stamp = b"20261203-12:00:00.000"
    fields = [(35, b"D"), (34, b"2"), (49, b"BRK1"), (52, stamp), (56, b"EXCH"),
              (1, b"BRK1-MAIN"), (11, b"o1"), (38, b"100"), (40, b"2"), (44, b"189.00"),
              (54, b"1"), (55, b"AAPL"), (59, b"0"), (60, stamp)]
    sections, checks, required, c_checks = VALIDATOR._fast[b"D"]
    assert fast_valid(fields, sections, c_checks, required) is True
    assert Validator.fast_valid_python(fields, sections, checks, required) is True
