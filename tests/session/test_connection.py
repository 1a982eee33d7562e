"""Connection + SessionRegistry: framing a byte stream, binding the first Logon to
a configured session, refusing what must be refused without a reply (QuickFIX
suite 1b, 1e, 2d, 3c, AlreadyLoggedOn)."""

from __future__ import annotations

import math

import pytest

from fixserver.connection import Connection, SessionRegistry
from fixserver.session import Session
from fixserver.store import MemoryStore

from .harness import (
    FakeClock,
    RecordingApp,
    base_config,
    decode_all,
    encode_raw,
    types,
    validator_for,
)

PORT = 5001
OTHER_PORT = 5002


class Exchange:
    """Three sessions: TW44 (FIX.4.4) and TW42 (FIX.4.2) on PORT, OTHER on OTHER_PORT."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        configs = [
            base_config(),
            base_config(begin_string="FIX.4.2", target_comp_id="TW42"),
            base_config(target_comp_id="OTHER", port=OTHER_PORT),
        ]
        self.apps = {c.target_comp_id: RecordingApp() for c in configs}
        self.sessions = {
            c.target_comp_id: Session(c, MemoryStore(), self.apps[c.target_comp_id],
                                      validator_for(c.begin_string))
            for c in configs
        }
        self.registry = SessionRegistry(list(self.sessions.values()))

    def connect(self, port: int = PORT) -> Connection:
        return Connection(self.registry, port, "127.0.0.1:40000", self.clock.wall)

    def msg(self, msg_type: str, seq: int, *fields: object, client: str = "TW44",
            begin_string: str = "FIX.4.4", target: str = "ISLD") -> bytes:
        return encode_raw(begin_string, [(35, msg_type), (34, seq), (49, client),
                                         (52, self.clock.utc()), (56, target), *fields])

    def logon(self, seq: int = 1, **kwargs: object) -> bytes:
        return self.msg("A", seq, (98, 0), (108, 30), **kwargs)  # type: ignore[arg-type]

    def feed(self, conn: Connection, data: bytes) -> list:
        conn.receive(data, self.clock.wall)
        return decode_all(conn.drain(self.clock.wall))


@pytest.fixture
def ex() -> Exchange:
    return Exchange()


def test_valid_logon_binds_the_connection_to_its_session(ex):
    conn = ex.connect()

    out = ex.feed(conn, ex.logon())

    assert types(out) == ["A"]
    assert conn.session is ex.sessions["TW44"]
    assert conn.close_reason is None
    assert ex.sessions["TW44"].logged_on


def test_first_message_not_a_logon_is_closed_without_reply(ex):
    conn = ex.connect()

    out = ex.feed(conn, ex.msg("0", 1))

    assert out == []
    assert conn.close_reason is not None
    assert conn.session is None
    assert not ex.sessions["TW44"].connected


def test_logon_for_an_unknown_comp_id_is_closed_without_reply(ex):
    conn = ex.connect()

    out = ex.feed(conn, ex.logon(client="NOBODY"))

    assert out == []
    assert conn.close_reason is not None
    assert conn.session is None


def test_logon_to_an_unknown_target_comp_id_is_closed_without_reply(ex):
    conn = ex.connect()

    out = ex.feed(conn, ex.logon(target="DLSI"))

    assert out == []
    assert conn.close_reason is not None


@pytest.mark.parametrize("begin_string", ["FIX.4.3", "FIX.4.2"])
def test_logon_with_a_begin_string_not_configured_for_the_comp_id_is_closed(ex, begin_string):
    conn = ex.connect()

    out = ex.feed(conn, ex.logon(begin_string=begin_string))  # TW44 is FIX.4.4 only

    assert out == []
    assert conn.close_reason is not None
    assert not ex.sessions["TW44"].connected


def test_logon_on_a_port_the_session_is_not_configured_on_is_refused(ex):
    conn = ex.connect(OTHER_PORT)

    out = ex.feed(conn, ex.logon())  # TW44 is on PORT

    assert out == []
    assert conn.close_reason is not None
    assert not ex.sessions["TW44"].connected


def test_session_on_the_other_port_logs_on_there(ex):
    conn = ex.connect(OTHER_PORT)

    out = ex.feed(conn, ex.logon(client="OTHER"))

    assert types(out) == ["A"]


def test_sessions_of_both_versions_share_one_port(ex):
    c44, c42 = ex.connect(), ex.connect()

    out44 = ex.feed(c44, ex.logon())
    out42 = ex.feed(c42, ex.logon(client="TW42", begin_string="FIX.4.2"))

    assert types(out44) == ["A"] and out44[0].get(8) == "FIX.4.4"
    assert types(out42) == ["A"] and out42[0].get(8) == "FIX.4.2"
    assert out42[0].get(56) == "TW42"


def test_second_connection_for_a_logged_on_session_is_closed_without_reply(ex):
    first, second = ex.connect(), ex.connect()
    ex.feed(first, ex.logon())

    out = ex.feed(second, ex.logon(seq=2))

    assert out == []
    assert second.close_reason is not None
    assert second.session is None


def test_first_connection_keeps_working_after_a_duplicate_logon(ex):
    first, second = ex.connect(), ex.connect()
    ex.feed(first, ex.logon())
    first.receive(ex.msg("1", 2, (112, "PENDING")), ex.clock.wall)  # answer not drained yet

    ex.feed(second, ex.logon(seq=2))
    second.connection_lost(ex.clock.wall)

    pending = decode_all(first.drain(ex.clock.wall))
    assert [(m.msg_type, m.get(112), m.seq) for m in pending] == [("0", "PENDING", 2)]
    out = ex.feed(first, ex.msg("1", 3, (112, "AFTER")))
    assert [(m.msg_type, m.get(112), m.seq) for m in out] == [("0", "AFTER", 3)]
    assert first.close_reason is None
    assert ex.sessions["TW44"].logged_on
    assert ex.apps["TW44"].logons == 1 and ex.apps["TW44"].logouts == 0


def test_session_can_log_on_again_once_its_connection_is_gone(ex):
    first = ex.connect()
    ex.feed(first, ex.logon())
    out = ex.feed(first, ex.msg("5", 2))
    assert types(out) == ["5"] and first.close_reason is not None
    first.connection_lost(ex.clock.wall)

    second = ex.connect()
    out = ex.feed(second, ex.logon(seq=3))

    assert types(out) == ["A"]
    assert out[0].seq == 3


def test_refused_logon_leaves_the_session_free(ex):
    first = ex.connect()
    assert ex.feed(first, ex.msg("A", 1, (98, 0))) == []  # HeartBtInt missing
    assert first.close_reason is not None
    first.connection_lost(ex.clock.wall)

    second = ex.connect()
    out = ex.feed(second, ex.logon())

    assert types(out) == ["A"]


def test_logon_with_bad_sending_time_closes_the_connection_without_reply(ex):
    conn = ex.connect()
    raw = encode_raw("FIX.4.4", [(35, "A"), (34, 1), (49, "TW44"), (52, ex.clock.utc(-500)),
                                 (56, "ISLD"), (98, 0), (108, 30)])

    out = ex.feed(conn, raw)

    assert out == []
    assert conn.close_reason is not None


def test_garbled_message_before_logon_closes_the_connection(ex):
    conn = ex.connect()
    logon = ex.logon()
    bad_checksum = logon[:-4] + b"%03d\x01" % ((int(logon[-4:-1]) + 1) % 256)

    out = ex.feed(conn, bad_checksum)

    assert out == []
    assert conn.close_reason is not None
    assert not ex.sessions["TW44"].connected


def test_logon_with_a_wrong_body_length_closes_the_connection(ex):
    """1d_InvalidLogonLengthInvalid.def: BodyLength 40 on a longer Logon."""
    conn = ex.connect()
    logon = ex.logon()
    body = logon[logon.index(b"35="):logon.rindex(b"10=")]
    raw = b"8=FIX.4.4\x019=40\x01" + body
    raw += b"10=%03d\x01" % (sum(raw) % 256)

    out = ex.feed(conn, raw)

    assert out == []
    assert conn.close_reason is not None


def test_logon_with_an_unknown_begin_string_closes_the_connection(ex):
    """1d_InvalidLogonWrongBeginString.def"""
    conn = ex.connect()

    out = ex.feed(conn, ex.logon(begin_string="FIX.3.9"))

    assert out == []
    assert conn.close_reason is not None


def test_garbled_message_after_logon_is_ignored(ex):
    """2d_GarbledMessage.def: a field with a non-numeric tag."""
    conn = ex.connect()
    ex.feed(conn, ex.logon())
    garbled = b"8=FIX.4.4\x019=52\x0135=0\x0134=2\x014garbled9=TW\x0152=" + \
        ex.clock.utc().encode() + b"\x0156=ISLD\x0110=0\x01"

    out = ex.feed(conn, garbled)
    assert out == []
    assert conn.close_reason is None

    out = ex.feed(conn, ex.msg("1", 2, (112, "STILL-HERE")))
    assert types(out) == ["0"] and out[0].get(112) == "STILL-HERE"


def test_message_with_bad_checksum_after_logon_is_ignored(ex):
    conn = ex.connect()
    ex.feed(conn, ex.logon())
    good = ex.msg("1", 2, (112, "X"))
    bad = good[:-4] + b"%03d\x01" % ((int(good[-4:-1]) + 7) % 256)

    assert ex.feed(conn, bad) == []
    assert conn.close_reason is None
    assert ex.sessions["TW44"].next_target_seq == 2


def test_noise_between_messages_after_logon_is_ignored(ex):
    conn = ex.connect()
    ex.feed(conn, ex.logon())

    out = ex.feed(conn, b"hello world\r\n" + ex.msg("1", 2, (112, "X")))

    assert types(out) == ["0"]
    assert conn.close_reason is None


def test_every_message_of_one_read_is_processed_in_order(ex):
    conn = ex.connect()

    out = ex.feed(conn, ex.logon() + ex.msg("1", 2, (112, "ONE")) + ex.msg("1", 3, (112, "TWO")))

    assert [(m.msg_type, m.get(112)) for m in out] == [("A", None), ("0", "ONE"), ("0", "TWO")]


def test_message_split_across_reads_is_processed_when_complete(ex):
    conn = ex.connect()
    data = ex.logon()

    assert ex.feed(conn, data[:20]) == []
    assert ex.feed(conn, data[20:-3]) == []
    out = ex.feed(conn, data[-3:])

    assert types(out) == ["A"]


def test_session_disconnect_closes_the_connection(ex):
    conn = ex.connect()
    ex.feed(conn, ex.logon())

    out = ex.feed(conn, ex.msg("0", 1))  # MsgSeqNum too low

    assert types(out) == ["5"]
    assert conn.close_reason is not None


def test_no_logon_within_the_logon_timeout_closes_the_connection(ex):
    conn = Connection(ex.registry, PORT, "peer", ex.clock.wall, logon_timeout=10)

    assert conn.next_deadline() == ex.clock.wall + 10
    conn.on_timer(ex.clock.wall + 9.9)
    assert conn.close_reason is None
    conn.on_timer(ex.clock.wall + 10)
    assert conn.close_reason is not None


def test_connection_lost_tells_the_session(ex):
    conn = ex.connect()
    ex.feed(conn, ex.logon())

    conn.connection_lost(ex.clock.wall)

    assert not ex.sessions["TW44"].connected
    assert ex.apps["TW44"].logouts == 1


def test_a_bound_connection_with_no_timer_pending_waits_until_woken(ex):
    conn = ex.connect()
    ex.feed(conn, ex.msg("A", 1, (98, 0), (108, 0)))  # HeartBtInt 0: no heartbeats

    assert conn.next_deadline() == math.inf


def test_shutdown_logs_the_session_out_and_closes(ex):
    conn = ex.connect()
    ex.feed(conn, ex.logon())

    conn.shutdown("Server shutting down", ex.clock.wall)

    out = decode_all(conn.drain(ex.clock.wall))
    assert types(out) == ["5"] and out[0].get(58) == "Server shutting down"
    assert conn.close_reason == "Server shutting down"
