"""Logon access control on a Connection, sans-IO: Username (553) / Password (554)
checked against the session's PasswordHash, the AllowedRemoteAddresses list, the
refusal (a silent close, the same as for an unknown CompID), its log line and
counter, and the tarpit of an address with too many refused Logons."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from fixserver.auth import LogonGuard, hash_password
from fixserver.connection import Connection, Refusal, SessionRegistry
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

PORT = 5001          # sessions with access control: the guard counts failures here
OPEN_PORT = 5002     # no access control on this port
HOME = "192.0.2.10:40000"   # the brokers' address in these tests
# Cheap hash parameters keep the tests fast; the format and the checks are the same.
PASSWORDS = {client: hash_password(password, n=1 << 10)
             for client, password in (("TW44", "right-44"), ("TW42", "right-42"))}


def networks(*items: str) -> tuple:
    return tuple(ipaddress.ip_network(i) for i in items)


class Venue:
    """TW44 (FIX.4.4, Username trader44) and TW42 (FIX.4.2, Username trader42) with
    passwords, LAN (FIX.4.4) allowed from 10.0.0.0/8 and 2001:db8::/32 only, all on
    PORT; OPEN42 (FIX.4.2) without access control on OPEN_PORT."""

    def __init__(self, guard: LogonGuard | None = None) -> None:
        self.clock = FakeClock()
        configs = [
            base_config(username="trader44", password_hash=PASSWORDS["TW44"]),
            base_config(begin_string="FIX.4.2", target_comp_id="TW42", username="trader42",
                        password_hash=PASSWORDS["TW42"]),
            base_config(target_comp_id="LAN",
                        allowed_remote_addresses=networks("10.0.0.0/8", "2001:db8::/32")),
            base_config(begin_string="FIX.4.2", target_comp_id="OPEN42", port=OPEN_PORT),
        ]
        self.apps = {c.target_comp_id: RecordingApp() for c in configs}
        self.sessions = {
            c.target_comp_id: Session(c, MemoryStore(), self.apps[c.target_comp_id],
                                      validator_for(c.begin_string))
            for c in configs
        }
        self.registry = SessionRegistry(list(self.sessions.values()), guard)

    def connect(self, peer: str = HOME, port: int = PORT) -> Connection:
        return Connection(self.registry, port, peer, self.clock.wall)

    def logon(self, client: str = "TW44", *credentials: tuple[int, str],
              begin_string: str | None = None) -> bytes:
        if begin_string is None:
            begin_string = "FIX.4.2" if client.endswith("42") else "FIX.4.4"
        return encode_raw(begin_string, [(35, "A"), (34, 1), (49, client),
                                          (52, self.clock.utc()), (56, "ISLD"),
                                          (98, 0), (108, 30), *credentials])

    def feed(self, conn: Connection, data: bytes) -> list:
        conn.receive(data, self.clock.wall)
        return decode_all(conn.drain(self.clock.wall))


RIGHT_44 = ((553, "trader44"), (554, "right-44"))
RIGHT_42 = ((553, "trader42"), (554, "right-42"))


@pytest.fixture
def venue() -> Venue:
    return Venue()


def assert_refused_silently(venue: Venue, conn: Connection, out: list,
                            session: str = "TW44") -> None:
    assert out == []
    assert conn.close_reason is not None
    assert conn.session is None
    assert not venue.sessions[session].connected
    assert venue.apps[session].logons == 0


# -- credentials ---------------------------------------------------------------------------


def test_a_logon_with_the_right_username_and_password_binds(venue):
    conn = venue.connect()

    out = venue.feed(conn, venue.logon("TW44", *RIGHT_44))

    assert types(out) == ["A"]
    assert conn.session is venue.sessions["TW44"]
    assert venue.sessions["TW44"].logged_on


def test_a_fix42_logon_carries_the_same_tags_553_and_554(venue):
    conn = venue.connect()

    out = venue.feed(conn, venue.logon("TW42", *RIGHT_42))

    assert types(out) == ["A"] and out[0].get(8) == "FIX.4.2"
    assert venue.sessions["TW42"].logged_on


@pytest.mark.parametrize(("credentials", "reason"), [
    (((553, "trader44"), (554, "wrong")), Refusal.WRONG_PASSWORD),
    (((553, "trader44"),), Refusal.PASSWORD_MISSING),
    (((553, "trader44"), (554, "")), Refusal.PASSWORD_MISSING),
    (((554, "right-44"),), Refusal.USERNAME_MISSING),
    (((553, "trader42"), (554, "right-44")), Refusal.WRONG_USERNAME),
    ((), Refusal.USERNAME_MISSING),
], ids=["wrong password", "no password", "empty password", "no username",
        "wrong username", "no credentials"])
def test_a_logon_with_bad_credentials_is_closed_without_a_reply(venue, credentials, reason):
    conn = venue.connect()

    out = venue.feed(conn, venue.logon("TW44", *credentials))

    assert_refused_silently(venue, conn, out)
    assert venue.registry.refused == {reason: 1}


def test_the_password_of_one_session_does_not_open_another(venue):
    conn = venue.connect()

    out = venue.feed(conn, venue.logon("TW42", (553, "trader42"), (554, "right-44")))

    assert_refused_silently(venue, conn, out, "TW42")


def test_a_refused_logon_leaves_the_session_free_for_the_right_one(venue):
    venue.feed(venue.connect(), venue.logon("TW44", (553, "trader44"), (554, "wrong")))

    out = venue.feed(venue.connect(), venue.logon("TW44", *RIGHT_44))

    assert types(out) == ["A"]


def test_a_duplicate_logon_with_a_wrong_password_is_refused_for_its_password(venue):
    venue.feed(venue.connect(), venue.logon("TW44", *RIGHT_44))
    second = venue.connect()

    out = venue.feed(second, venue.logon("TW44", (553, "trader44"), (554, "wrong")))

    assert out == [] and second.close_reason is not None
    # Not "already logged on": whether a session is connected is not for strangers.
    assert venue.registry.refused == {Refusal.WRONG_PASSWORD: 1}


def test_the_session_never_sees_the_credentials(venue):
    """Neither the session's validation nor its message log (FileLogPath) gets them."""

    class MessageLog:
        def __init__(self) -> None:
            self.incoming_raw: list[bytes] = []

        def incoming(self, raw: bytes, now: float) -> None:
            self.incoming_raw.append(raw)

        def outgoing(self, raw: bytes, now: float) -> None:
            pass

        def event(self, text: str, now: float) -> None:
            pass

    message_log = MessageLog()
    venue.sessions["TW42"].message_log = message_log

    venue.feed(venue.connect(), venue.logon("TW42", *RIGHT_42))

    [logon] = message_log.incoming_raw
    assert b"right-42" not in logon and b"\x01553=" not in logon and b"\x01554=" not in logon
    assert b"\x0198=0\x01108=30\x01" in logon


def test_a_fix42_session_without_credentials_accepts_a_logon_carrying_them(venue):
    conn = venue.connect(port=OPEN_PORT)

    out = venue.feed(conn, venue.logon("OPEN42", (553, "someone"), (554, "anything")))

    assert types(out) == ["A"]


def test_a_registry_refuses_a_malformed_password_hash_naming_the_session():
    config = base_config(username="trader44", password_hash="scrypt$n=16384$broken")
    session = Session(config, MemoryStore(), RecordingApp(), None)

    with pytest.raises(ValueError, match=r"FIX\.4\.4:ISLD->TW44: PasswordHash"):
        SessionRegistry([session])


# -- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize("peer", ["10.20.30.40:5000", "2001:db8:5::1:5000",
                                  "::ffff:10.1.1.1:5000"])
def test_a_logon_from_an_allowed_address_binds(venue, peer):
    conn = venue.connect(peer)

    out = venue.feed(conn, venue.logon("LAN"))

    assert types(out) == ["A"]


@pytest.mark.parametrize("peer", ["192.0.2.10:5000", "2001:db9::1:5000", "::1:5000"])
def test_a_logon_from_an_address_not_allowed_is_closed_without_a_reply(venue, peer):
    conn = venue.connect(peer)

    out = venue.feed(conn, venue.logon("LAN"))

    assert_refused_silently(venue, conn, out, "LAN")
    assert venue.registry.refused == {Refusal.ADDRESS_NOT_ALLOWED: 1}


# -- what a refusal looks like -------------------------------------------------------------


def observable(venue: Venue, conn: Connection, data: bytes) -> tuple:
    """All the peer can see of a connection after sending ``data``: what it was sent,
    whether it is closed, and what it waits for next."""
    out = venue.feed(conn, data)
    return out, conn.close_reason is not None, conn.bound, conn.next_deadline()


def test_an_unknown_comp_id_and_a_wrong_password_look_the_same(venue):
    unknown = observable(venue, venue.connect(),
                         venue.logon("NOBODY", (553, "trader44"), (554, "right-44")))
    wrong = observable(venue, venue.connect(),
                       venue.logon("TW44", (553, "trader44"), (554, "wrong")))

    assert unknown == wrong == ([], True, False, venue.clock.wall + 10)


def test_refused_logons_are_counted_by_reason(venue):
    attempts = [
        venue.logon("TW44", (553, "trader44"), (554, "wrong")),
        venue.logon("TW44", (553, "trader44"), (554, "wrong")),
        venue.logon("TW44", (553, "trader44")),
        venue.logon("NOBODY", *RIGHT_44),
    ]
    for data in attempts:
        venue.feed(venue.connect(), data)
    venue.feed(venue.connect("203.0.113.5:1"), venue.logon("LAN"))

    assert venue.registry.refused == {Refusal.WRONG_PASSWORD: 2, Refusal.PASSWORD_MISSING: 1,
                                      Refusal.UNKNOWN_SESSION: 1,
                                      Refusal.ADDRESS_NOT_ALLOWED: 1}
    assert venue.registry.refused["wrong_password"] == 2   # plain string keys work too


def test_a_refusal_is_logged_with_the_peer_session_and_reason_never_the_password(venue,
                                                                                 caplog):
    caplog.set_level(logging.INFO, logger="fixserver.connection")

    venue.feed(venue.connect("198.51.100.7:4242"),
               venue.logon("TW44", (553, "trader44"), (554, "not-the-password")))

    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert refusals == ["logon refused from 198.51.100.7:4242 for FIX.4.4:ISLD->TW44: "
                        "wrong Password"]
    assert "not-the-password" not in caplog.text


# -- the tarpit ----------------------------------------------------------------------------

ATTACKER = "198.51.100.66:50000"


def fail_from(venue: Venue, peer: str, times: int) -> None:
    for _ in range(times):
        conn = venue.connect(peer)
        venue.feed(conn, venue.logon("TW44", (553, "trader44"), (554, "guess")))
        assert conn.close_reason is not None       # closed at once while under the limit


def test_after_too_many_failures_the_next_connection_is_held_before_its_close(venue):
    fail_from(venue, ATTACKER, 5)
    conn = venue.connect(ATTACKER)
    now = venue.clock.wall

    out = venue.feed(conn, venue.logon("TW44", *RIGHT_44))   # even the right password

    assert out == [] and conn.close_reason is None and not conn.bound
    assert conn.next_deadline() == now + 1.0
    conn.on_timer(now + 0.9)
    assert conn.close_reason is None
    conn.on_timer(now + 1.0)
    assert conn.close_reason is not None
    assert not venue.sessions["TW44"].connected
    assert venue.registry.refused[Refusal.THROTTLED] == 1


def test_another_address_is_not_affected_by_the_tarpit(venue):
    fail_from(venue, ATTACKER, 5)
    conn = venue.connect("198.51.100.67:50000")

    out = venue.feed(conn, venue.logon("TW44", *RIGHT_44))

    assert types(out) == ["A"]


def test_the_hold_doubles_with_each_further_attempt(venue):
    fail_from(venue, ATTACKER, 5)
    holds = []
    for _ in range(3):
        conn = venue.connect(ATTACKER)
        venue.feed(conn, venue.logon("TW44", *RIGHT_44))
        holds.append(conn.next_deadline() - venue.clock.wall)

    assert holds == [1.0, 2.0, 4.0]


def test_a_tarpitted_connection_is_refused_at_its_first_message_of_any_kind(venue):
    fail_from(venue, ATTACKER, 5)
    conn = venue.connect(ATTACKER)
    heartbeat = encode_raw("FIX.4.4", [(35, "0"), (34, 1), (49, "TW44"),
                                       (52, venue.clock.utc()), (56, "ISLD")])

    out = venue.feed(conn, heartbeat)

    assert out == [] and conn.close_reason is None
    assert conn.next_deadline() == venue.clock.wall + 1.0


def test_what_a_tarpitted_connection_sends_during_its_hold_is_ignored(venue):
    fail_from(venue, ATTACKER, 5)
    conn = venue.connect(ATTACKER)
    venue.feed(conn, venue.logon("NOBODY"))

    out = venue.feed(conn, venue.logon("TW44", *RIGHT_44))

    assert out == [] and not conn.bound
    assert not venue.sessions["TW44"].connected


def test_the_hold_outlasts_the_logon_timeout():
    venue = Venue(LogonGuard(limit=5, base_delay=20.0, max_delay=30.0))
    fail_from(venue, ATTACKER, 5)
    conn = venue.connect(ATTACKER)
    now = venue.clock.wall
    venue.feed(conn, venue.logon("TW44", *RIGHT_44))

    conn.on_timer(now + 10)            # LogonTimeout (10 s) has passed
    assert conn.close_reason is None
    conn.on_timer(now + 20)
    assert conn.close_reason is not None


def test_the_address_is_free_again_once_its_failures_leave_the_window(venue):
    fail_from(venue, ATTACKER, 5)
    venue.clock.advance(61)

    out = venue.feed(venue.connect(ATTACKER), venue.logon("TW44", *RIGHT_44))

    assert types(out) == ["A"]


def test_unknown_comp_ids_count_as_failures_where_sessions_have_passwords(venue):
    for _ in range(5):
        venue.feed(venue.connect(ATTACKER), venue.logon("NOBODY"))
    conn = venue.connect(ATTACKER)

    venue.feed(conn, venue.logon("TW44", *RIGHT_44))

    assert conn.close_reason is None and not conn.bound     # held: a tarpit


def test_a_port_without_access_control_has_no_tarpit(venue):
    """The QuickFIX acceptance suite sends unknown CompIDs from one address, then logs
    on: on a port where no session has a password nothing is counted."""
    for _ in range(10):
        conn = venue.connect(ATTACKER, OPEN_PORT)
        venue.feed(conn, venue.logon("NOBODY42"))
        assert conn.close_reason is not None

    out = venue.feed(venue.connect(ATTACKER, OPEN_PORT), venue.logon("OPEN42"))

    assert types(out) == ["A"]


# -- the verification off the event loop (defer_checks, as the acceptor runs it) ----------


def deferred(venue: Venue) -> Connection:
    conn = venue.connect()
    conn.defer_checks = True
    return conn


def test_a_deferred_logon_waits_for_its_check_and_sends_nothing_meanwhile():
    venue = Venue()
    conn = deferred(venue)

    out = venue.feed(conn, venue.logon("TW44", *RIGHT_44))

    assert out == [] and conn.pending_check is not None and not conn.bound


def test_the_pending_check_verifies_the_password():
    venue = Venue()
    right, wrong = deferred(venue), deferred(Venue())
    venue.feed(right, venue.logon("TW44", *RIGHT_44))
    venue.feed(wrong, venue.logon("TW44", (553, "trader44"), (554, "wrong")))

    assert right.pending_check() is True and wrong.pending_check() is False


def test_a_passed_check_binds_the_session_and_answers_the_logon():
    venue = Venue()
    conn = deferred(venue)
    venue.feed(conn, venue.logon("TW44", *RIGHT_44))

    conn.checked(conn.pending_check(), venue.clock.wall)

    assert conn.bound and types(decode_all(conn.drain(venue.clock.wall))) == ["A"]


def test_messages_behind_a_deferred_logon_are_processed_after_the_check():
    venue = Venue()
    conn = deferred(venue)
    test_request = encode_raw("FIX.4.4", [(35, "1"), (34, 2), (49, "TW44"),
                                           (52, venue.clock.utc()), (56, "ISLD"), (112, "T")])
    venue.feed(conn, venue.logon("TW44", *RIGHT_44) + test_request)
    venue.feed(conn, b"")                                  # nothing more read meanwhile

    conn.checked(conn.pending_check(), venue.clock.wall)

    assert types(decode_all(conn.drain(venue.clock.wall))) == ["A", "0"]


def test_a_failed_check_refuses_the_logon_without_a_reply():
    venue = Venue()
    conn = deferred(venue)
    venue.feed(conn, venue.logon("TW44", (553, "trader44"), (554, "wrong")))

    conn.checked(conn.pending_check(), venue.clock.wall)

    assert conn.close_reason is not None and not conn.bound
    assert conn.drain(venue.clock.wall) == []
    assert venue.registry.refused[Refusal.WRONG_PASSWORD] == 1


def test_a_logon_without_a_password_to_verify_is_not_deferred():
    venue = Venue()
    conn = venue.connect(port=OPEN_PORT)
    conn.defer_checks = True

    out = venue.feed(conn, venue.logon("OPEN42"))

    assert conn.pending_check is None and types(out) == ["A"]
