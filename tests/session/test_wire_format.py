"""What every message the session writes looks like: SendingTime with
milliseconds, header 8, 9, 35 then ascending tags, body in ascending tag order,
correct BodyLength and CheckSum (checked by the harness's own decoder)."""

from __future__ import annotations

import re

import pytest

from fixserver.echo import EchoApplication

from .harness import Driver, FakeClock, Out, logged_on, types

HEADER_TAGS = {34, 43, 49, 52, 56, 97, 115, 116, 122, 128, 129, 144, 145}


def assert_canonical(m: Out) -> None:
    tags = m.tags()
    assert tags[:3] == [8, 9, 35], m
    assert tags[-1] == 10, m
    middle = tags[3:-1]
    header = [t for t in middle if t in HEADER_TAGS]
    body = [t for t in middle if t not in HEADER_TAGS]
    assert middle == header + body, f"header and body fields interleaved: {m}"
    assert header == sorted(header), f"header not in ascending tag order: {m}"
    assert body == sorted(body), f"body not in ascending tag order: {m}"


def every_kind_of_message() -> list[Out]:
    """Logon, Heartbeat, TestRequest, Reject with routing, BusinessMessageReject,
    echo of an order with routing, PossDup resend, GapFill, ResendRequest, Logout."""
    d = Driver(app=EchoApplication())
    out = d.logon()
    out += d.send("1", (112, "X"))
    out += d.send("D", (60, d.clock.utc()), (55, "INTC"), (54, 1), (40, 1), (21, 3), (11, "ID"),
                  header=[(128, "JCD"), (115, "ABC")])  # body in reverse tag order
    out += d.send("D", (11, "ID"), (21, 3), (40, "w"), (54, 1), (55, "INTC"),
                  (60, d.clock.utc()), header=[(115, "JCD"), (116, "CS")])
    out += d.send("8", (37, "id"), (17, "id"), (150, 0), (39, 0), (55, "W"), (54, 1),
                  (151, 100), (14, 0), (6, "0.0"))
    out += d.send("2", (7, 1), (16, 0))
    out += d.advance(30)
    out += d.advance(6)
    out += d.send("0", seq=d.next_seq + 3)  # a gap: ResendRequest
    out += d.send("5")
    return out


def test_every_kind_of_message_is_produced():
    assert set(types(every_kind_of_message())) >= {"A", "0", "1", "2", "3", "4", "5", "D", "j"}


def test_header_is_8_9_35_then_ascending_tags_and_body_ascending():
    for m in every_kind_of_message():
        assert_canonical(m)


def test_sending_time_has_milliseconds_from_the_wall_clock():
    d = Driver(clock=FakeClock(wall=1_700_000_000.25))

    out = d.logon()

    assert out[0].get(52) == "20231114-22:13:20.250"


@pytest.mark.parametrize(("wall", "text"), [
    (1_700_000_000.0, "20231114-22:13:20.000"),
    (1_700_000_000.5, "20231114-22:13:20.500"),
    (1_700_000_039.875, "20231114-22:13:59.875"),
    (1_700_006_400.0625, "20231115-00:00:00.062"),
])
def test_sending_time_follows_the_clock(wall, text):
    d = logged_on()
    d.clock.wall = wall

    out = d.send("1", (112, "X"), sending_time=d.clock.utc())

    assert out[0].get(52) == text


def test_sending_time_format_on_every_message():
    for m in every_kind_of_message():
        assert re.fullmatch(r"\d{8}-\d{2}:\d{2}:\d{2}\.\d{3}", m.get(52)), m
        if 122 in m:
            assert re.fullmatch(r"\d{8}-\d{2}:\d{2}:\d{2}\.\d{3}", m.get(122)), m


def test_logon_response_is_exactly_as_the_suite_expects():
    d = Driver()

    out = d.logon()

    assert [(t, v) for t, v in out[0].pairs if t not in (9, 10, 52)] == [
        (8, "FIX.4.4"), (35, "A"), (34, "1"), (49, "ISLD"), (56, "TW44"), (98, "0"), (108, "30")]


def test_messages_are_sent_with_consecutive_sequence_numbers():
    msgs = [m for m in every_kind_of_message() if m.get(43) != "Y"]

    assert [m.seq for m in msgs] == list(range(1, len(msgs) + 1))
