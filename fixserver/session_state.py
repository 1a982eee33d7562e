"""The states of a FIX session and the events that move it from one to the next.

A :class:`~fixserver.session.Session` is in exactly one :class:`SessionState`; it
changes state only through :func:`next_state`, by looking the pair (state, event)
up in :data:`TRANSITIONS` (in the style of h11's ``_state.py``). A pair that is not
in the table is a programming error in the session and raises
:class:`TransitionError`: no message from the wire can reach one.

=============== ================ =============== =========================================
state           event            new state       when
=============== ================ =============== =========================================
DISCONNECTED    CONNECT          AWAITING_LOGON  a connection's first message, a Logon,
                                                 names this session
AWAITING_LOGON  LOGON_ACCEPTED   LOGGED_ON       that Logon is accepted and answered
AWAITING_LOGON  CONNECTION_LOST  DISCONNECTED    the connection is gone (a Logon refused)
LOGGED_ON       LOGON_ACCEPTED   LOGGED_ON       a Logon with ResetSeqNumFlag=Y
LOGGED_ON       LOGOUT_SENT      LOGOUT_SENT     we send a Logout (theirs, a problem,
                                                 EndTime, server shutdown)
LOGGED_ON       CONNECTION_LOST  DISCONNECTED    the connection is gone
LOGOUT_SENT     LOGON_ACCEPTED   LOGOUT_SENT     a Logon with ResetSeqNumFlag=Y: our Logout
                                                 still stands, its timeout keeps running
LOGOUT_SENT     LOGOUT_SENT      LOGOUT_SENT     another Logout (Incorrect BeginString, a
                                                 problem): its timeout starts again
LOGOUT_SENT     CONNECTION_LOST  DISCONNECTED    the connection is gone
=============== ================ =============== =========================================

What the states imply for the session:

* Only AWAITING_LOGON has the LogonTimeout; only LOGGED_ON and LOGOUT_SENT have
  heartbeats, TestRequests and the EndTime check; only LOGOUT_SENT has the
  LogoutTimeout.
* CONNECTION_LOST from LOGGED_ON or LOGOUT_SENT tells the application
  (``on_logout``); from AWAITING_LOGON it does not, the application never heard of
  the connection.
* A Logout sent while AWAITING_LOGON (a Logon refused for a MsgSeqNum too low) is
  not the event LOGOUT_SENT: it always comes with the session's request to close
  (``Session.disconnect_reason``), so there is nothing to wait for.
* ``disconnect_reason`` is not a state: it is the session's request to the I/O layer,
  which answers with CONNECTION_LOST once the socket is closed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class SessionState(enum.Enum):
    """Where a session is between connection, Logon and Logout."""

    DISCONNECTED = "disconnected"      # no connection
    AWAITING_LOGON = "awaiting logon"  # connected, no Logon accepted yet
    LOGGED_ON = "logged on"
    LOGOUT_SENT = "logout sent"        # after a Logon: waiting for their Logout or the timeout


class SessionEvent(enum.Enum):
    """What happens to a session that can change its state."""

    CONNECT = "connect"
    LOGON_ACCEPTED = "logon accepted"
    LOGOUT_SENT = "logout sent"
    CONNECTION_LOST = "connection lost"


class TransitionError(RuntimeError):
    """An event that the table does not allow in the current state (a bug, not input)."""


_S = SessionState
_E = SessionEvent

TRANSITIONS: Mapping[tuple[SessionState, SessionEvent], SessionState] = MappingProxyType({
    (_S.DISCONNECTED, _E.CONNECT): _S.AWAITING_LOGON,
    (_S.AWAITING_LOGON, _E.LOGON_ACCEPTED): _S.LOGGED_ON,
    (_S.AWAITING_LOGON, _E.CONNECTION_LOST): _S.DISCONNECTED,
    (_S.LOGGED_ON, _E.LOGON_ACCEPTED): _S.LOGGED_ON,
    (_S.LOGGED_ON, _E.LOGOUT_SENT): _S.LOGOUT_SENT,
    (_S.LOGGED_ON, _E.CONNECTION_LOST): _S.DISCONNECTED,
    (_S.LOGOUT_SENT, _E.LOGON_ACCEPTED): _S.LOGOUT_SENT,
    (_S.LOGOUT_SENT, _E.LOGOUT_SENT): _S.LOGOUT_SENT,
    (_S.LOGOUT_SENT, _E.CONNECTION_LOST): _S.DISCONNECTED,
})


def next_state(state: SessionState, event: SessionEvent) -> SessionState:
    """The state ``event`` leads to from ``state``; TransitionError if not allowed."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise TransitionError(f"{event.name} is not allowed in state {state.name}") from None
