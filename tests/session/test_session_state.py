"""The session's states and its transition table (fixserver/session_state.py), and
the state a Session is in after what the wire and the I/O driver do to it."""

from __future__ import annotations

import itertools
import re

import pytest

import fixserver.session_state as session_state
from fixserver.session_state import (
    TRANSITIONS,
    SessionEvent,
    SessionState,
    TransitionError,
    next_state,
)
from fixserver.store import MemoryStore

from .harness import Driver, base_config, logged_on, types

S, E = SessionState, SessionEvent

ALLOWED = sorted(TRANSITIONS.items(), key=lambda kv: (kv[0][0].name, kv[0][1].name))
NOT_ALLOWED = [pair for pair in itertools.product(SessionState, SessionEvent)
               if pair not in TRANSITIONS]


def pair_id(pair: tuple[SessionState, SessionEvent]) -> str:
    return f"{pair[0].name}-{pair[1].name}"


# -- the table ----------------------------------------------------------------------


@pytest.mark.parametrize(("pair", "new_state"), ALLOWED, ids=[pair_id(p) for p, _ in ALLOWED])
def test_an_allowed_event_leads_to_the_new_state_of_the_table(pair, new_state):
    state, event = pair

    assert next_state(state, event) is new_state


@pytest.mark.parametrize("pair", NOT_ALLOWED, ids=[pair_id(p) for p in NOT_ALLOWED])
def test_an_event_not_in_the_table_raises_a_transition_error(pair):
    state, event = pair

    with pytest.raises(TransitionError, match=f"{event.name} .* {state.name}"):
        next_state(state, event)


def test_the_table_is_exactly_the_one_the_module_docstring_shows():
    row = re.compile(r"^([A-Z_]+) +([A-Z_]+) +([A-Z_]+) ", re.MULTILINE)
    shown = {(S[state], E[event]): S[new] for state, event, new
             in row.findall(session_state.__doc__ or "")}

    assert shown == dict(TRANSITIONS)


def test_the_table_cannot_be_changed_at_run_time():
    with pytest.raises(TypeError):
        TRANSITIONS[S.DISCONNECTED, E.LOGON_ACCEPTED] = S.LOGGED_ON  # type: ignore[index]


def test_only_connect_leaves_disconnected():
    assert [e for e in SessionEvent if (S.DISCONNECTED, e) in TRANSITIONS] == [E.CONNECT]


def test_every_connected_state_can_lose_its_connection():
    for state in (S.AWAITING_LOGON, S.LOGGED_ON, S.LOGOUT_SENT):
        assert TRANSITIONS[state, E.CONNECTION_LOST] is S.DISCONNECTED


# -- a Session's state ----------------------------------------------------------------


def test_a_new_session_is_disconnected():
    d = Driver()

    assert d.session.state is S.DISCONNECTED
    assert not d.session.connected and not d.session.logged_on


def test_a_connected_session_awaits_the_logon():
    d = Driver()

    d.connect()

    assert d.session.state is S.AWAITING_LOGON
    assert d.session.connected and not d.session.logged_on


def test_an_accepted_logon_logs_the_session_on():
    d = logged_on()

    assert d.session.state is S.LOGGED_ON
    assert d.session.logged_on


def test_a_reset_logon_on_a_logged_on_session_keeps_it_logged_on():
    d = logged_on()

    out = d.logon(reset=True, connect=False, seq=1)

    assert types(out) == ["A"]
    assert d.session.state is S.LOGGED_ON


def test_our_logout_moves_the_session_to_logout_sent():
    d = logged_on()

    d.send("1", (112, "id"), begin_string="FIX.4.1")  # -> Logout "Incorrect BeginString"

    assert d.session.state is S.LOGOUT_SENT
    assert d.session.logged_on and not d.disconnected


def test_a_reset_logon_after_our_logout_still_waits_for_their_logout():
    d = Driver(config=base_config(logout_timeout=2))
    d.logon()
    d.send("1", (112, "id"), begin_string="FIX.4.1")
    d.next_seq = 1

    out = d.logon(reset=True, connect=False)

    assert types(out) == ["A"]
    assert d.session.state is S.LOGOUT_SENT
    d.advance(2)
    assert "Logout" in (d.session.disconnect_reason or "")


def test_a_logout_refusing_a_logon_disconnects_without_a_logout_timeout():
    store = MemoryStore()
    store.set_next_target(5)
    d = Driver(store=store)

    out = d.logon()  # MsgSeqNum 1, expected 5

    assert types(out) == ["5"]
    assert d.session.state is S.AWAITING_LOGON
    assert d.session.disconnect_reason == "MsgSeqNum too low, expecting 5 but received 1"
    assert d.session.next_deadline() == d.session.connected_at + d.config.logon_timeout


def test_a_lost_connection_disconnects_the_session():
    d = logged_on()

    d.session.on_disconnect(d.clock.wall)

    assert d.session.state is S.DISCONNECTED


def test_a_session_can_connect_again_after_its_connection_is_lost():
    d = logged_on()
    d.session.on_disconnect(d.clock.wall)

    d.connect()

    assert d.session.state is S.AWAITING_LOGON
    assert d.session.disconnect_reason is None


def test_connecting_a_connected_session_is_a_programming_error():
    d = logged_on()

    with pytest.raises(TransitionError):
        d.connect()


def test_a_logon_on_a_session_without_a_connection_is_a_programming_error():
    d = Driver()

    with pytest.raises(TransitionError):
        d.logon(connect=False)


def test_losing_a_connection_the_session_does_not_have_is_a_programming_error():
    d = Driver()

    with pytest.raises(TransitionError):
        d.session.on_disconnect(d.clock.wall)
