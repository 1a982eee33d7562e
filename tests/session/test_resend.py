"""Answering a ResendRequest: application messages are resent with PossDupFlag=Y
and OrigSendingTime, admin messages are replaced by SequenceReset-GapFill
(QuickFIX suite 8_*, 20); large ranges are streamed from the store; a restarted
server can still answer."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixserver import dictionary
from fixserver.codec import encode, parse
from fixserver.echo import EchoApplication
from fixserver.session import RESEND_SLICE, restamp
from fixserver.store import FileStore

from .harness import Driver, FakeClock, base_config, decode_all, logged_on, order_fields, types

STORE_NAME = "FIX.4.4-ISLD-TW44"


def echo_session(**kwargs: object) -> Driver:
    d = Driver(app=EchoApplication(), **kwargs)  # type: ignore[arg-type]
    assert types(d.logon()) == ["A"]
    return d


def test_resend_of_an_application_message_is_a_possdup_copy():
    d = echo_session()
    original = d.order("ID1")[0]
    assert original.seq == 2
    d.clock.advance(5)

    out = d.send("2", (7, 2), (16, 2))

    assert types(out) == ["D"]
    resent = out[0]
    assert resent.seq == 2  # the same MsgSeqNum
    assert resent.get(43) == "Y"
    assert resent.get(122) == original.get(52)  # OrigSendingTime: when it was first sent
    assert resent.get(52) == d.clock.utc()  # SendingTime: now
    assert resent.get(52) != original.get(52)
    assert resent.body() == original.body()  # the same body, field for field


def test_resent_messages_carry_the_sending_time_of_the_drain_that_writes_them():
    d = echo_session()
    d.order("ID1")
    d.session.on_message(d.message("2", (7, 1), (16, 2)), d.clock.wall)
    later = d.clock.wall + 3

    raw: list[bytes] = []
    while batch := d.session.drain(later):   # a slice may end after any message
        raw.extend(batch)
    gap_fill, resent = decode_all(raw)

    assert (gap_fill.msg_type, resent.msg_type) == ("4", "D")
    assert gap_fill.get(52) == gap_fill.get(122) == FakeClock(later).utc()
    assert resent.get(52) == FakeClock(later).utc()


def test_resend_keeps_the_header_in_ascending_tag_order():
    d = echo_session()
    d.order("ID1")

    resent = d.send("2", (7, 2), (16, 2))[0]

    header = resent.tags()[3:resent.tags().index(11)]
    assert header == sorted(header)
    assert set(header) == {34, 43, 49, 52, 56, 122}


def test_resend_does_not_consume_sender_sequence_numbers():
    d = echo_session()
    d.order("ID1")
    d.order("ID2")
    before = d.session.next_sender_seq

    d.send("2", (7, 1), (16, 0))

    assert d.session.next_sender_seq == before
    hb = d.send("1", (112, "X"))
    assert hb[0].seq == before


def test_resend_request_consumes_one_target_sequence_number():
    d = echo_session()

    d.send("2", (7, 1), (16, 0))

    assert d.session.next_target_seq == 3


def test_resend_of_admin_messages_is_a_single_gap_fill():
    d = echo_session()
    d.send("1", (112, "A"))  # our 2
    d.send("1", (112, "B"))  # our 3

    out = d.send("2", (7, 1), (16, 3))

    assert types(out) == ["4"]
    gf = out[0]
    assert gf.seq == 1
    assert gf.get(123) == "Y"
    assert gf.get(36) == "4"
    assert gf.get(43) == "Y"
    assert 122 in gf


def test_end_seq_no_zero_means_up_to_the_last_message_sent():
    d = echo_session()
    d.order("ID1")  # our 2
    d.order("ID2")  # our 3

    out = d.send("2", (7, 2), (16, 0))

    assert [(m.msg_type, m.seq, m.get(11)) for m in out] == [("D", 2, "ID1"), ("D", 3, "ID2")]


def test_end_seq_no_beyond_the_last_message_sent_stops_at_the_last():
    d = echo_session()
    d.order("ID1")  # our 2

    out = d.send("2", (7, 1), (16, 50))

    assert [(m.msg_type, m.seq) for m in out] == [("4", 1), ("D", 2)]
    assert out[0].get(36) == "2"


def test_resend_of_a_range_ending_in_admin_messages_gap_fills_past_the_end():
    d = echo_session()
    d.order("ID1")  # 2
    d.send("1", (112, "A"))  # 3
    d.send("1", (112, "B"))  # 4

    out = d.send("2", (7, 2), (16, 0))

    assert [(m.msg_type, m.seq) for m in out] == [("D", 2), ("4", 3)]
    assert out[1].get(36) == "5"


def test_business_message_reject_is_resent_as_an_application_message():
    d = echo_session()
    rej = d.send("R", (131, "Q1"), (146, 1), (55, "INTC"))  # QuoteRequest: unsupported
    assert types(rej) == ["j"]

    out = d.send("2", (7, 2), (16, 2))

    assert types(out) == ["j"]
    assert out[0].get(43) == "Y"
    assert out[0].body() == rej[0].body()


# What 8_AdminAndApplicationMessages.def expects: our admin messages 2-4 and 7-8 and
# application messages 5, 6 and 9; each ResendRequest below with the answers, as
# (MsgType, MsgSeqNum, NewSeqNo or Symbol).
ADMIN_AND_APP_CASES = [
    ((2, 4), [("4", 2, "5")]),
    ((2, 6), [("4", 2, "5"), ("D", 5, "INTC"), ("D", 6, "CDG")]),
    ((2, 8), [("4", 2, "5"), ("D", 5, "INTC"), ("D", 6, "CDG"), ("4", 7, "9")]),
    ((2, 9), [("4", 2, "5"), ("D", 5, "INTC"), ("D", 6, "CDG"), ("4", 7, "9"),
              ("D", 9, "IVP")]),
    ((2, 0), [("4", 2, "5"), ("D", 5, "INTC"), ("D", 6, "CDG"), ("4", 7, "9"),
              ("D", 9, "IVP")]),
]


def admin_and_application_session() -> Driver:
    d = echo_session()
    for _ in range(3):
        assert types(d.send("1", (112, "HELLO"))) == ["0"]  # 2, 3, 4
    assert types(d.order("ID", symbol="INTC")) == ["D"]  # 5
    assert types(d.order("ID", symbol="CDG")) == ["D"]  # 6
    for _ in range(2):
        assert types(d.send("1", (112, "HELLO"))) == ["0"]  # 7, 8
    assert types(d.order("ID", symbol="IVP")) == ["D"]  # 9
    return d


@pytest.mark.parametrize(("request_range", "expected"), ADMIN_AND_APP_CASES,
                         ids=[f"{b}-{e}" for (b, e), _ in ADMIN_AND_APP_CASES])
def test_resend_of_admin_and_application_messages(request_range, expected):
    d = admin_and_application_session()
    begin, end = request_range

    out = d.send("2", (7, begin), (16, end))

    got = [(m.msg_type, m.seq, m.get(36) if m.msg_type == "4" else m.get(55)) for m in out]
    assert got == expected
    for m in out:
        assert m.get(43) == "Y" and 122 in m
        if m.msg_type == "4":
            assert m.get(123) == "Y"


def test_sequence_numbers_are_intact_after_the_admin_and_application_resends():
    d = admin_and_application_session()
    for (begin, end), _ in ADMIN_AND_APP_CASES:
        d.send("2", (7, begin), (16, end))

    hb = d.send("1", (112, "HELLO"))
    out = d.send("5")

    assert hb[0].seq == 10
    assert types(out) == ["5"] and out[0].seq == 11


def test_resend_request_while_we_wait_for_a_gap_is_answered_at_once():
    """20_SimultaneousResendRequest.def"""
    d = echo_session()
    d.order("ID")  # 2
    d.order("ID")  # 3
    rr = d.send("0", seq=7)
    assert types(rr) == ["2"] and rr[0].get(7) == "4"

    out = d.send("2", (7, 2), (16, 3), seq=8)

    assert [(m.msg_type, m.seq, m.get(43)) for m in out] == [("D", 2, "Y"), ("D", 3, "Y")]
    for seq in (4, 5, 6):
        d.send("0", seq=seq, header=[(43, "Y"), (122, d.clock.utc())])
    assert types(d.send("5", seq=7)) == ["5"]


# -- large ranges and persistence -------------------------------------------------------


def fill_store(d: Driver, count: int) -> None:
    """Send ``count`` application messages as the application would."""
    for i in range(count):
        body = [(tag, str(value).encode())
                for tag, value in order_fields(f"C{i}", "20231114-22:13:20")]
        d.session.send(b"D", body, now=d.clock.wall)
    d.drain()


LARGE = 20_000


@pytest.fixture(scope="module")
def large_store_files(tmp_path_factory) -> Path:
    """A FileStore directory holding our Logon (1) and LARGE orders (2 .. LARGE + 1),
    built once: each test works on its own copy."""
    directory = tmp_path_factory.mktemp("large-store")
    store = FileStore(directory, STORE_NAME)
    d = Driver(store=store, app=EchoApplication())
    d.logon()
    fill_store(d, LARGE)
    store.close()
    return directory


@pytest.fixture
def large_session(large_store_files, tmp_path) -> Iterator[Driver]:
    """A session logged on again over a copy of the large store."""
    directory = tmp_path / "store"
    shutil.copytree(large_store_files, directory)
    store = FileStore(directory, STORE_NAME)
    d = Driver(store=store, app=EchoApplication())
    d.next_seq = store.next_target_seq
    assert types(d.logon()) == ["A"]
    yield d
    store.close()


def test_large_resend_from_a_file_store_is_complete_and_in_order(large_session):
    d = large_session

    out = d.send("2", (7, 2), (16, 0))

    # Our messages 2 .. LARGE + 1 are the orders; LARGE + 2 is the Logon of this
    # connection, gap-filled.
    assert len(out) == LARGE + 1
    assert [m.seq for m in out] == list(range(2, LARGE + 3))
    assert [m.get(11) for m in out[:-1]] == [f"C{i}" for i in range(LARGE)]
    assert all(m.msg_type == "D" and m.get(43) == "Y" for m in out[:-1])
    assert (out[-1].msg_type, out[-1].get(36)) == ("4", str(LARGE + 3))


def test_large_resend_reads_the_store_lazily(large_session):
    """The store is read only as the output is drained: the session never pulls the
    whole range out of the store, nor holds it encoded, at once."""
    d = large_session
    store = d.store
    reads: list[int] = []
    real_messages = store.messages

    def spying_messages(begin: int, end: int) -> Iterator[tuple[int, bytes]]:
        for seq, raw in real_messages(begin, end):
            reads.append(seq)
            yield seq, raw

    store.messages = spying_messages  # type: ignore[method-assign]

    d.session.on_message(d.message("2", (7, 2), (16, LARGE + 1)), d.clock.wall)
    assert reads == []
    first = d.session.drain(d.clock.wall, limit=100)
    assert 0 < len(first) <= RESEND_SLICE
    assert len(reads) == len(first)
    rest = d.drain()
    assert len(rest) == LARGE - len(first)
    assert reads == list(range(2, LARGE + 2))


def test_a_large_resend_is_drained_one_slice_at_a_time(large_session):
    """So that the driver writes (and the event loop serves other sessions) between
    slices: no drain re-stamps more than RESEND_SLICE stored messages."""
    d = large_session
    d.session.on_message(d.message("2", (7, 2), (16, LARGE + 1)), d.clock.wall)
    sizes = []
    while batch := d.session.drain(d.clock.wall):
        sizes.append(len(batch))
    assert sum(sizes) == LARGE and max(sizes) <= RESEND_SLICE


def test_messages_queued_behind_a_finished_resend_are_drained(large_session):
    d = large_session
    d.session.on_message(d.message("2", (7, 2), (16, LARGE + 1)), d.clock.wall)
    d.session.send(b"8", [(58, b"after the resend")], now=d.clock.wall)
    out = []
    while batch := d.session.drain(d.clock.wall):
        out.extend(batch)
    assert len(out) == LARGE + 1 and b"58=after the resend" in out[-1]


@settings(max_examples=200, deadline=None)
@given(extra=st.lists(st.sampled_from([(115, b"BRK1"), (128, b"EXCH"), (50, b"DESK"),
                                       (57, b"TRADER"), (97, b"N")]), unique=True),
       body=st.lists(st.tuples(st.sampled_from([11, 17, 55, 58, 6, 14, 9999]),
                               st.binary(min_size=1, max_size=12).filter(
                                   lambda b: b"\x01" not in b and b"=" not in b)),
                     min_size=1, max_size=8))
def test_restamping_a_stored_message_gives_what_a_full_parse_and_encode_gives(
        extra: list, body: list) -> None:
    stored = encode(b"FIX.4.4", [(35, b"8"), (34, b"7"), (49, b"EXCH"),
                                 (52, b"20261201-10:00:00.000"), (56, b"BRK1"),
                                 *sorted(extra), *body])
    header_tags = dictionary.for_begin_string(b"FIX.4.4").header.tags
    msg = parse(stored)
    now = b"20261201-11:00:00.000"
    header = sorted([(43, b"Y"), (52, now), (122, b"20261201-10:00:00.000")]
                    + [f for f in msg.fields[1:] if f[0] in header_tags and f[0] != 52])
    full = encode(b"FIX.4.4", [(35, b"8"), *header,
                               *[f for f in msg.fields[1:] if f[0] not in header_tags]])
    assert restamp(stored, b"FIX.4.4", now, header_tags) == full


def test_large_resend_is_handed_to_the_driver_in_bounded_batches(large_session):
    d = large_session

    d.session.on_message(d.message("2", (7, 2), (16, LARGE + 1)), d.clock.wall)
    batches = []
    while batch := d.session.drain(d.clock.wall):
        batches.append(len(batch))

    assert sum(batches) == LARGE
    assert max(batches) <= LARGE // 2


def test_resend_after_a_restart_comes_from_the_file_store(tmp_path):
    store = FileStore(tmp_path, STORE_NAME)
    first = Driver(store=store, app=EchoApplication())
    first.logon()
    sent = [first.order(f"ID{i}")[0] for i in range(3)]  # our 2, 3, 4
    first.send("1", (112, "X"))  # our 5 (admin)
    first.session.on_disconnect(first.clock.wall)
    store.close()

    clock = first.clock
    clock.advance(60)
    store2 = FileStore(tmp_path, STORE_NAME)
    second = Driver(store=store2, app=EchoApplication(), clock=clock)
    assert (store2.next_sender_seq, store2.next_target_seq) == (6, 6)
    second.next_seq = 6
    logon = second.logon()
    assert types(logon) == ["A"] and logon[0].seq == 6

    out = second.send("2", (7, 1), (16, 0))

    assert [(m.msg_type, m.seq) for m in out] == [("4", 1), ("D", 2), ("D", 3), ("D", 4),
                                                 ("4", 5)]
    for resent, original in zip(out[1:4], sent, strict=True):
        assert resent.get(43) == "Y"
        assert resent.get(122) == original.get(52)
        assert resent.body() == original.body()
    assert out[4].get(36) == "7"  # 5 and our Logon 6 are admin
    store2.close()


def test_sequence_numbers_survive_a_restart(tmp_path):
    store = FileStore(tmp_path, STORE_NAME)
    d = Driver(store=store)
    d.logon()
    d.send("0")
    d.send("1", (112, "X"))
    store.close()

    reopened = FileStore(tmp_path, STORE_NAME)
    assert reopened.next_sender_seq == 3
    assert reopened.next_target_seq == 4
    reopened.close()


def test_persist_messages_off_answers_every_resend_with_a_gap_fill():
    d = Driver(config=base_config(persist_messages=False), app=EchoApplication())
    d.logon()
    d.order("ID1")

    out = d.send("2", (7, 1), (16, 0))

    assert [(m.msg_type, m.seq, m.get(36)) for m in out] == [("4", 1, "3")]


def test_resend_before_anything_was_sent_after_logon_is_one_gap_fill():
    d = logged_on()

    out = d.send("2", (7, 1), (16, 0))

    assert [(m.msg_type, m.seq, m.get(36)) for m in out] == [("4", 1, "2")]
