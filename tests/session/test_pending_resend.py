"""Our own pending ResendRequest: it is complete only when the gap it asked for is
filled, not when any message with a high enough MsgSeqNum arrives. As in QuickFIX
(Session::verify), only a message whose MsgSeqNum is checked as too high or too
low completes it; a ResendRequest of the counterparty, handled before that
check, does not.

The scenario: the counterparty logs on with 9 while we expect 8 (we ask for 8..),
then sends its own ResendRequest as 10 and a Heartbeat as 11 before its answer to
ours arrives. SendRedundantResendRequests=N (the default): one ResendRequest only.
"""

from __future__ import annotations

from fixserver.store import MemoryStore

from .harness import Driver, Out, types


class Events:
    """A session's message log (FileLogPath) that keeps only its events."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def incoming(self, raw: bytes, now: float) -> None:
        pass

    def outgoing(self, raw: bytes, now: float) -> None:
        pass

    def event(self, text: str, now: float) -> None:
        self.events.append(text)

    def completions(self) -> list[str]:
        return [e for e in self.events if e.startswith("resend of")]


def resend_requests(out: list[Out]) -> list[tuple[str | None, str | None]]:
    """(BeginSeqNo, EndSeqNo) of every ResendRequest in ``out``."""
    return [(m.get(7), m.get(16)) for m in out if m.msg_type == "2"]


def high_logon() -> tuple[Driver, Events, list[Out]]:
    """Step 1: a Logon as 9 while 8 is expected, answered with a Logon and a
    ResendRequest for 8 onwards. Returns everything the session has sent."""
    store = MemoryStore()
    store.set_next_target(8)
    d = Driver(store=store)
    events = Events()
    d.session.message_log = events
    out = d.logon(seq=9)
    assert types(out) == ["A", "2"]
    assert resend_requests(out) == [("8", "0")]
    assert d.session.resend_range == (8, 8)
    return d, events, out


def their_resend_request(d: Driver) -> list[Out]:
    """Step 2: the counterparty's own ResendRequest (for our 1..), as 10."""
    return d.send("2", (7, 1), (16, 0), seq=10)


def possdup(d: Driver) -> list[tuple[int, str]]:
    return [(43, "Y"), (122, d.clock.utc(-1))]


def test_a_counterpartys_resend_request_does_not_complete_our_pending_resend():
    d, events, _ = high_logon()

    out = their_resend_request(d)

    assert types(out) == ["4"]  # their request is answered (a gap fill of our 1..2)
    assert d.session.resend_range == (8, 8)  # 8 has not arrived: still pending
    assert events.completions() == []
    assert d.session.next_target_seq == 8


def test_only_one_resend_request_is_sent_until_the_gap_fill_arrives():
    d, _, sent = high_logon()
    sent += their_resend_request(d)

    sent += d.send("0", seq=11)  # step 3: past the gap, before the gap fill

    assert resend_requests(sent) == [("8", "0")]
    assert d.session.resend_range == (8, 8)
    assert sorted(d.session.queue) == [9, 11]  # their Logon and Heartbeat wait for 8
    assert d.session.next_target_seq == 8


def test_the_gap_fill_completes_our_pending_resend():
    d, events, sent = high_logon()
    sent += their_resend_request(d)
    sent += d.send("0", seq=11)

    # Their answer to our 8..0: 8 to 11 were all session messages, one gap fill.
    sent += d.send("4", (36, 12), (123, "Y"), seq=8, header=possdup(d))

    assert d.session.resend_range is None
    assert events.completions() == ["resend of 8..8 complete"]
    assert d.session.next_target_seq == 12
    assert d.session.queue == {}
    assert types(d.send("0", seq=12)) == []  # in step: no new ResendRequest
    assert resend_requests(sent) == [("8", "0")]
