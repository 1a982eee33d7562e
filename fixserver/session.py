"""The FIX session state machine, sans-IO.

A :class:`Session` holds one counterparty's session: its state (a
:class:`~fixserver.session_state.SessionState`, changed only through the transition
table of ``session_state.py``), sequence numbers (through its store), heartbeat
timers, the queue of messages received past a gap, and what it has asked to
resend. It is driven by calls that all take ``now``, the wall-clock time in
seconds since the epoch (what ``time.time()`` gives):

* ``on_connect(now)`` when a connection's Logon names this session,
* ``on_message(msg, now)`` for every parsed message of the connection,
* ``on_timer(now)`` whenever ``next_deadline()`` passes,
* ``on_disconnect(now)`` when the connection is gone,

and it answers with messages to write (``drain(now)``) and by setting
``disconnect_reason``. No socket, no clock, no thread: ``now`` is the only time the
session knows, for its timers as for SendingTime, the session schedule and
CheckLatency (QuickFIX too runs its session timers on UTC time), so tests drive it
directly. The behaviour follows the FIX session protocol as the QuickFIX
acceptance suite checks it (see docs in README.md).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from time import perf_counter, perf_counter_ns
from typing import TYPE_CHECKING, Protocol

from .codec import Field, Message, encode, encode_fields, frame, parse
from .session_state import SessionEvent, SessionState, next_state
from .settings import SessionConfig
from .store import MemoryStore
from .utctime import Timestamps, parse_utc
from .validation import Problem, SessionRejectReason, Validator

if TYPE_CHECKING:
    from metrics.latency import Stages

log = logging.getLogger("fixserver.session")

ADMIN_TYPES = frozenset((b"0", b"1", b"2", b"3", b"4", b"5", b"A"))
# Header fields a session writes itself; everything else in a header is the message's.
SESSION_HEADER_TAGS = frozenset((8, 9, 35, 34, 49, 52, 56, 43, 122, 10))
# A large resend goes out in slices, with the event loop's other work between them:
# at most RESEND_SLICE stored messages re-stamped per drain, and no more than
# RESEND_SLICE_SECONDS of it. With 1000 per drain, another broker's orders waited
# 25 ms (p50) during a 100,000-message resend; with 0.1 ms slices, p50 460 us, p99
# 710 us, max 4.5 ms (as without a resend), at 58k messages/s (bench/bench_resend.py).
RESEND_SLICE = 64
RESEND_SLICE_SECONDS = 0.0001
RESEND_SLICE_MIN = 8      # messages re-stamped before the clock is looked at
# Routing fields swapped when answering a message (OnBehalfOf <-> DeliverTo, Sub/Location IDs).
REVERSE_ROUTE = {115: 128, 128: 115, 116: 129, 129: 116, 144: 145, 145: 144,
                 50: 57, 57: 50, 142: 143, 143: 142}
# A message of a resend, stamped (SendingTime, OrigSendingTime) with the time it is drained.
_Stamp = Callable[[float], bytes]


class UnsupportedMessageType(Exception):
    """Raised by an application for an application message it does not handle."""


class BusinessReject(Exception):
    """Raised by an application to answer with a BusinessMessageReject (j)."""

    def __init__(self, reason: int, text: str, ref_id: bytes | None = None) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text
        self.ref_id = ref_id


class Application(Protocol):
    """What a session hands its application messages to."""

    def on_logon(self, session: Session) -> None: ...

    def on_logout(self, session: Session) -> None: ...

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        """``now`` is the session's time (wall clock, seconds since the epoch), to
        pass to ``session.send`` for any answer."""


# Header tags whose values may hold any byte (data fields): their messages take the
# full parse when resent.
_DATA_HEADER_TAGS = frozenset((90, 91, 95, 96, 212, 213))


def restamp(stored: bytes, begin_string: bytes, now_ts: bytes,
            header_tags: frozenset[int] | set[int]) -> bytes | None:
    """A stored message as it is resent: PossDupFlag (43)=Y, SendingTime ``now_ts`` and
    OrigSendingTime (122) its first SendingTime, in a header sorted by tag, body as it
    was. Only the header is read, which makes it about three times cheaper than a
    parse and an encode (11 us a message; a resend of 100,000 is this in a loop).
    None for a message it does not handle (a data field in the header, 43 or 122
    already there): the caller does it the long way."""
    start = stored.find(b"\x0135=") + 1
    end = stored.rfind(b"\x0110=") + 1
    if start <= 0 or end <= start:
        return None
    msg_type_end = stored.index(b"\x01", start) + 1
    pos = msg_type_end
    fields: list[Field] = [(43, b"Y"), (52, now_ts)]
    orig = b""
    while pos < end:
        eq = stored.find(b"=", pos, end)
        if eq < 0:
            return None
        tag_text = stored[pos:eq]
        if not tag_text.isdigit():
            return None
        tag = int(tag_text)
        if tag not in header_tags:
            break
        if tag in _DATA_HEADER_TAGS or tag == 43 or tag == 122:
            return None
        value_end = stored.find(b"\x01", eq, end)
        if value_end < 0:
            return None
        if tag == 52:
            orig = stored[eq + 1:value_end]
        else:
            fields.append((tag, stored[eq + 1:value_end]))
        pos = value_end + 1
    fields.append((122, orig))
    fields.sort(key=lambda f: f[0])
    return frame(begin_string, b"%b%b%b" % (stored[start:msg_type_end], encode_fields(fields),
                                            stored[pos:end]))


def _slice(resend: Iterator[_Stamp], most: int, now: float) -> tuple[list[bytes], bool]:
    """The next messages of a resend, stamped: up to ``most``, and past
    RESEND_SLICE_MIN only as many as RESEND_SLICE_SECONDS allows; and whether the
    resend is done."""
    deadline = perf_counter() + RESEND_SLICE_SECONDS
    out = []
    for stamp in resend:
        out.append(stamp(now))
        n = len(out)
        if n >= most or (n >= RESEND_SLICE_MIN and perf_counter() >= deadline):
            return out, False
    return out, True


class MessageLog(Protocol):
    """Where a session writes every message it sends and receives and its events
    (FileLogPath). Calls only hand the data over: the writing happens elsewhere."""

    def incoming(self, raw: bytes, now: float) -> None: ...

    def outgoing(self, raw: bytes, now: float) -> None: ...

    def event(self, text: str, now: float) -> None: ...


class Session:
    """One FIX session (BeginString, our CompID, their CompID) and its state."""

    def __init__(
        self,
        config: SessionConfig,
        store: MemoryStore,
        application: Application,
        validator: Validator | None,
    ) -> None:
        self.config = config
        self.store = store
        self.app = application
        self.validator = validator
        self.begin_string = config.begin_string.encode()
        self.sender_comp_id = config.sender_comp_id.encode()  # ours
        self.target_comp_id = config.target_comp_id.encode()  # theirs
        self.session_id = config.session_id
        self._sender_field = b"49=%b\x01" % self.sender_comp_id
        self._target_field = b"56=%b\x01" % self.target_comp_id
        self._timestamps = Timestamps(config.precision)
        # Outgoing messages in order; a large resend is an iterator, read from the
        # store only as the driver drains it.
        self._out: deque[bytes | Iterator[_Stamp]] = deque()
        self.on_output: Callable[[], None] | None = None  # set by the I/O driver
        self.message_log: MessageLog | None = None  # set by the composition (FileLogPath)
        self.stages: Stages | None = None   # times the validation when set (metrics)
        # For the metrics and the operator: counts since the start, the last Logon.
        self.logons = 0
        self.received = 0              # messages read
        self.rejects_sent = 0          # session-level Rejects (3)
        self.error_disconnects = 0     # connections ended on a problem
        self.logged_on_at = 0.0        # when the current (or last) Logon was accepted
        self._state = SessionState.DISCONNECTED
        self._reset_connection_state(0.0)

    # -- state ------------------------------------------------------------------

    def _reset_connection_state(self, now: float) -> None:
        self.logout_sent_at = 0.0
        self.connected_at = now
        # When the schedule's current period ends (None: it never does): the session
        # is logged out then.
        self.period_end: float | None = None
        self.heartbeat_interval = 0
        self.last_sent = now
        self.last_received = now
        self.test_requests = 0
        self.queue: dict[int, Message] = {}
        self.resend_range: tuple[int, int] | None = None
        self.disconnect_reason: str | None = None

    def _event(self, event: SessionEvent) -> None:
        self._state = next_state(self._state, event)

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def connected(self) -> bool:
        """Whether a connection is bound to the session (a Logon may not be accepted yet)."""
        return self._state is not SessionState.DISCONNECTED

    @property
    def logged_on(self) -> bool:
        """Whether a Logon has been accepted on the current connection (a Logout we
        sent may be waiting for its answer)."""
        return self._state is SessionState.LOGGED_ON or self._state is SessionState.LOGOUT_SENT

    @property
    def next_sender_seq(self) -> int:
        return self.store.next_sender_seq

    @property
    def next_target_seq(self) -> int:
        return self.store.next_target_seq

    def _incr_target(self) -> None:
        self.store.set_next_target(self.store.next_target_seq + 1)

    def _note(self, now: float, text: str) -> None:
        """An event of the session: to the server's log and the session's event log."""
        log.info("%s: %s", self.session_id, text)
        if self.message_log is not None:
            self.message_log.event(text, now)

    def disconnect(self, reason: str, *, error: bool = True) -> None:
        """Close the connection once what is queued is sent. ``error``: the session
        ends on a problem, not on a completed Logout (counted for the metrics)."""
        if self.disconnect_reason is None:
            self.disconnect_reason = reason
            self.error_disconnects += error
            log.info("%s: disconnecting: %s", self.session_id, reason)

    # -- connection events --------------------------------------------------------

    def on_connect(self, now: float) -> None:
        self._event(SessionEvent.CONNECT)
        self._reset_connection_state(now)
        self._out.clear()

    def on_disconnect(self, now: float) -> None:
        was_logged_on = self.logged_on
        self._event(SessionEvent.CONNECTION_LOST)
        self.queue.clear()
        self.resend_range = None
        if self.config.reset_on_disconnect:
            self.store.reset(now)
        self._note(now, f"disconnected: {self.disconnect_reason or 'connection lost'}")
        if was_logged_on:
            self._note(now, "logged out")
            self.app.on_logout(self)

    # -- sending --------------------------------------------------------------------

    def _header(self, seq: int, now: float,
                extra: list[Field] | tuple[Field, ...] = ()) -> list[Field]:
        header = [(34, b"%d" % seq), (49, self.sender_comp_id),
                  (52, self._timestamps.format(now)), (56, self.target_comp_id)]
        if extra:
            header.extend(extra)
            header.sort(key=lambda f: f[0])
        return header

    def send(self, msg_type: bytes, body: list[Field] | tuple[Field, ...] | bytes,
             header: list[Field] | tuple[Field, ...] = (), *, now: float,
             source: int = 0, persist: bool = True) -> bytes:
        """Send a message with the next MsgSeqNum and SendingTime ``now``; application
        messages are stored first so a ResendRequest can always be answered.
        ``source``: the application's number for what the message comes from, kept
        with it in the store (see ``store.py``). ``persist`` False: not stored, so a
        ResendRequest gap-fills it, as it does session messages (market data: stale
        once sent, and a subscriber that missed some asks for a new snapshot).
        ``body`` may be given encoded (``tag=value<SOH>`` bytes): the same body sent
        to many sessions is encoded once."""
        store = self.store
        seq = store.next_sender_seq
        if isinstance(body, bytes):
            if header:
                payload = (encode_fields([(35, msg_type), *self._header(seq, now, header)])
                           + body)
            else:   # the usual case of an encoded body (a report), written directly
                payload = b"35=%b\x0134=%d\x01%b52=%b\x01%b%b" % (
                    msg_type, seq, self._sender_field, self._timestamps.format(now),
                    self._target_field, body)
        elif header:
            payload = encode_fields([(35, msg_type), *self._header(seq, now, header), *body])
        else:
            # The usual case, written directly: 35, 34, 49, 52, 56 then the body.
            payload = b"35=%b\x0134=%d\x01%b52=%b\x01%b%b" % (
                msg_type, seq, self._sender_field,
                self._timestamps.format(now), self._target_field,
                encode_fields(body))
        raw = frame(self.begin_string, payload)
        if persist and self.config.persist_messages and msg_type not in ADMIN_TYPES:
            store.save(seq, raw, source)
        store.set_next_sender(seq + 1)
        if self.connected:
            self._out.append(raw)
            self.last_sent = now
            if self.message_log is not None:
                self.message_log.outgoing(raw, now)
            if self.on_output is not None:
                self.on_output()
        return raw

    @property
    def backlog(self) -> int:
        """Messages queued and not yet taken to be written (a resend counts one): a
        counterparty that stops reading makes it grow."""
        return len(self._out)

    @property
    def outbox(self) -> list[bytes]:
        """Messages ready to be written (not counting the unread part of a resend)."""
        return [m for m in self._out if isinstance(m, bytes)]

    def drain(self, now: float, limit: int = 1000) -> list[bytes]:
        """Take up to about ``limit`` messages to write, in order, and at most one
        slice (RESEND_SLICE) of a resend; resent messages get ``now`` as their
        SendingTime."""
        out: list[bytes] = []
        queue = self._out
        while queue and len(out) < limit:
            item = queue[0]
            if isinstance(item, bytes):
                out.append(queue.popleft())
                continue
            chunk, done = _slice(item, min(limit - len(out), RESEND_SLICE), now)
            if self.message_log is not None:
                for raw in chunk:
                    self.message_log.outgoing(raw, now)
            out.extend(chunk)
            if done:
                queue.popleft()
            if chunk:
                break   # the caller writes this slice (and yields) before the next
        if out:
            self.store.sync()  # stored before sent: a resend can always be answered
            self.last_sent = now
        return out

    def logout(self, text: str, now: float) -> None:
        """Start a logout of a logged-on session (at server shutdown, say)."""
        if self._state is SessionState.LOGGED_ON:
            self._send_logout(now, text)

    def _send_logout(self, now: float, text: str | None = None) -> None:
        body = [(58, text.encode())] if text else []
        self.send(b"5", body, now=now)
        if self._state is SessionState.AWAITING_LOGON:
            # No Logon accepted: this Logout refuses the connection, there is no answer
            # to wait for (and the application never heard of it).
            self.disconnect(text or "Logout")
            return
        self._event(SessionEvent.LOGOUT_SENT)
        self.logout_sent_at = now

    def _reject(self, msg: Message, reason: int, now: float, tag: int | None = None) -> None:
        """Session-level Reject (3) of ``msg``; layout per FIX version."""
        if not self.logged_on:
            self.disconnect(f"invalid message before logon: {Problem(reason, tag).text}")
            return
        self.rejects_sent += 1
        body: list[Field] = []
        seq = msg.get(34)
        if seq:
            body.append((45, seq))
        text = Problem(reason, tag).text
        if text:
            body.append((58, text.encode()))
            if tag is not None:
                body.append((371, b"%d" % tag))
        if self.begin_string >= b"FIX.4.2":
            if msg.msg_type:
                body.append((372, msg.msg_type))
            if self.begin_string > b"FIX.4.2" or reason <= SessionRejectReason.INVALID_MSGTYPE:
                body.append((373, b"%d" % reason))
        if msg.msg_type not in (b"A", b"4") and msg.get_int(34) == self.next_target_seq:
            self._incr_target()
        self._note(now, f"rejected message {seq and seq.decode()}: {text}"
                        + (f" (tag {tag})" if tag is not None else ""))
        self.send(b"3", body, self._reverse_route(msg), now=now)

    def business_reject(self, msg: Message, reason: int, text: str,
                        ref_id: bytes | None = None, *, now: float) -> None:
        """BusinessMessageReject (j) of an application message."""
        if log.isEnabledFor(logging.DEBUG):     # never journaled: no seq
            cl_ord_id = (msg.get(11) or b"").decode("latin-1")
            log.debug("%s: BusinessMessageReject of %s%s: %s", self.session_id,
                      msg.msg_type.decode("latin-1"), f" {cl_ord_id}" if cl_ord_id else "",
                      text,
                      extra={"session": self.session_id, "cl_ord_id": cl_ord_id,
                             "event": "business_reject", "reason": reason})
        body: list[Field] = []
        seq = msg.get(34)
        if seq:
            body.append((45, seq))
        body.append((58, text.encode()))
        body.append((372, msg.msg_type))
        if ref_id:
            body.append((379, ref_id))
        body.append((380, b"%d" % reason))
        if msg.get_int(34) == self.next_target_seq:
            self._incr_target()
        self.send(b"j", body, self._reverse_route(msg), now=now)

    @staticmethod
    def _reverse_route(msg: Message) -> list[Field]:
        out = []
        for tag, value in msg.fields:
            other = REVERSE_ROUTE.get(tag)
            if other is not None and value:
                out.append((other, value))
        return out

    # -- receiving ------------------------------------------------------------------

    def on_message(self, msg: Message, now: float, queued: bool = False) -> None:
        """Process one message received on this session's connection."""
        self.last_received = now
        self.test_requests = 0
        self.received += not queued
        if self.message_log is not None and not queued:
            self.message_log.incoming(msg.raw, now)
        msg_type = msg.msg_type
        if msg.begin_string != self.begin_string:
            if msg_type == b"5":
                self._next_logout(msg, now)
            else:
                self._send_logout(now, "Incorrect BeginString")
                self._incr_target()
            return
        if self.validator is not None:
            stages = self.stages
            if stages is None:
                problem = self.validator.validate(msg)
            else:
                started = perf_counter_ns()
                problem = self.validator.validate(msg)
                stages.validation.observe(perf_counter_ns() - started)
            if problem is not None:
                if msg_type == b"A":
                    self.disconnect(f"invalid Logon: {problem.text} ({problem.tag})")
                    return
                self._reject(msg, problem.reason, now, problem.tag)
                if not queued:
                    self._process_queue(now)
                return
        if msg_type == b"A":
            if self.logged_on and msg.get(141) != b"Y":
                self.disconnect("Logon received on a session already logged on")
                return
            self._next_logon(msg, now)
        elif msg_type == b"0":
            if self._verify(msg, now):
                self._incr_target()
        elif msg_type == b"1":
            if self._verify(msg, now):
                test_req_id = msg.get(112)
                self.send(b"0", [(112, test_req_id)] if test_req_id is not None else [], now=now)
                self._incr_target()
        elif msg_type == b"2":
            self._next_resend_request(msg, now)
        elif msg_type == b"3":
            if self._verify(msg, now):
                self._note(now, f"counterparty rejected our message "
                                f"{(msg.get(45) or b'?').decode('latin-1')}: "
                                f"{(msg.get(58) or b'').decode('latin-1')}")
                self._incr_target()
        elif msg_type == b"4":
            self._next_sequence_reset(msg, now)
        elif msg_type == b"5":
            self._next_logout(msg, now)
        else:
            self._next_application(msg, now)
        if not queued:
            self._process_queue(now)
            rr = self.resend_range
            if rr is not None and self.next_target_seq > rr[1]:
                self._note(now, f"resend of {rr[0]}..{rr[1]} complete")
                self.resend_range = None

    def _next_application(self, msg: Message, now: float) -> None:
        if not self._verify(msg, now):
            return
        try:
            self.app.on_message(self, msg, now)
        except UnsupportedMessageType:
            self.business_reject(msg, 3, "Unsupported Message Type", now=now)
            return
        except BusinessReject as e:
            self.business_reject(msg, e.reason, e.text, e.ref_id, now=now)
            return
        self._incr_target()

    def _verify(self, msg: Message, now: float, too_high: bool = True,
                too_low: bool = True) -> bool:
        """SendingTime, CompIDs and MsgSeqNum checks shared by every message type."""
        cfg = self.config
        if cfg.check_latency:
            sent = parse_utc(msg.get(52) or b"")
            if sent is None or abs(now - sent) > cfg.max_latency:
                self._bad(msg, SessionRejectReason.SENDINGTIME_ACCURACY_PROBLEM, now)
                return False
        if cfg.check_comp_id and (msg.get(49) != self.target_comp_id
                                  or msg.get(56) != self.sender_comp_id):
            self._bad(msg, SessionRejectReason.COMPID_PROBLEM, now)
            return False
        seq = msg.get_int(34) or 0
        expected = self.next_target_seq
        if too_high and seq > expected:
            self._target_too_high(msg, seq, now)
            return False
        if too_low and seq < expected:
            if msg.get(43) != b"Y":
                text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
                self._send_logout(now, text)
                self.disconnect(text)
            elif msg.msg_type != b"4":
                orig = msg.get(122)
                if orig is None:
                    self._reject(msg, SessionRejectReason.REQUIRED_TAG_MISSING, now, 122)
                else:
                    orig_t, sent_t = parse_utc(orig), parse_utc(msg.get(52) or b"")
                    if orig_t is None or sent_t is None or orig_t > sent_t:
                        self._bad(msg, SessionRejectReason.SENDINGTIME_ACCURACY_PROBLEM, now)
            return False
        # Only a message whose MsgSeqNum was checked fills our gap (as QuickFIX's verify).
        if (too_high or too_low) and self.resend_range is not None \
                and seq >= self.resend_range[1]:
            self._note(now, f"resend of {self.resend_range[0]}..{self.resend_range[1]} complete")
            self.resend_range = None
        return True

    def _bad(self, msg: Message, reason: int, now: float) -> None:
        """SendingTime or CompID problem: Reject, then Logout (disconnect before logon)."""
        if not self.logged_on:
            self.disconnect(f"Logon refused: {Problem(reason).text}")
            return
        self._reject(msg, reason, now)
        self._send_logout(now)

    def _target_too_high(self, msg: Message, seq: int, now: float) -> None:
        self.queue[seq] = msg
        rr = self.resend_range
        if rr is not None and not self.config.send_redundant_resend_requests and seq >= rr[0]:
            return
        begin = self.next_target_seq
        end = 0 if self.begin_string >= b"FIX.4.2" else seq - 1
        self._note(now, f"MsgSeqNum too high, expecting {begin} but received {seq}: "
                        "ResendRequest")
        self.resend_range = (begin, seq - 1)
        self.send(b"2", [(7, b"%d" % begin), (16, b"%d" % end)], now=now)

    def _process_queue(self, now: float) -> None:
        queue = self.queue
        while queue and self.disconnect_reason is None:
            expected = self.next_target_seq
            for stale in [s for s in queue if s < expected]:
                del queue[stale]
            msg = queue.pop(expected, None)
            if msg is None:
                return
            if msg.msg_type in (b"A", b"2"):
                self._incr_target()
            else:
                self.on_message(msg, now, queued=True)

    def _next_logon(self, msg: Message, now: float) -> None:
        cfg = self.config
        if cfg.refresh_on_logon:
            self.store.refresh()     # a standby taking over: the store may be newer
        schedule = cfg.schedule
        period_start = schedule.period_start(now)
        if period_start is None and not schedule.always_open:
            opens = schedule.next_open(now)
            assert opens is not None
            self._send_logout(now, "Logon outside of session time: the session opens at "
                              f"{schedule.describe(opens)}")
            return
        if period_start is not None and self.store.creation_time < period_start:
            self._note(now, "new session period: sequence numbers reset")
            self.store.reset(now)
        reset_requested = msg.get(141) == b"Y"
        if reset_requested or cfg.reset_on_logon:
            self.store.reset(now)
        if not self._verify(msg, now, too_high=False, too_low=True):
            if not self.logged_on:
                self.disconnect(self.disconnect_reason or "Logon refused")
            return
        heartbeat = msg.get_int(108)
        if heartbeat is None or heartbeat < 0:
            self.disconnect("Logon with an invalid HeartBtInt")
            return
        self._event(SessionEvent.LOGON_ACCEPTED)
        self.logons += 1
        self.logged_on_at = now
        self.period_end = schedule.closes_at(now)
        self.heartbeat_interval = heartbeat
        body: list[Field] = [(98, b"0"), (108, b"%d" % heartbeat)]
        if reset_requested:
            body.append((141, b"Y"))
        self.send(b"A", body, now=now)
        self._note(now, f"logged on (HeartBtInt={heartbeat})")
        seq = msg.get_int(34) or 0
        if seq > self.next_target_seq and not reset_requested:
            self._target_too_high(msg, seq, now)
        else:
            self._incr_target()
        self.app.on_logon(self)

    def _next_logout(self, msg: Message, now: float) -> None:
        if not self._verify(msg, now, too_high=False, too_low=False):
            return
        if self._state is not SessionState.LOGOUT_SENT:
            self._send_logout(now)
        self._incr_target()
        if self.config.reset_on_logout:
            self.store.reset(now)
        self.disconnect("Logout", error=False)

    def _next_sequence_reset(self, msg: Message, now: float) -> None:
        gap_fill = msg.get(123) == b"Y"
        if not self._verify(msg, now, too_high=gap_fill, too_low=gap_fill):
            return
        new_seq = msg.get_int(36)
        if new_seq is None:
            return
        expected = self.next_target_seq
        if new_seq > expected:
            self.store.set_next_target(new_seq)
        elif new_seq < expected:
            self._reject(msg, SessionRejectReason.VALUE_IS_INCORRECT, now)

    def _next_resend_request(self, msg: Message, now: float) -> None:
        if not self._verify(msg, now, too_high=False, too_low=False):
            return
        begin = msg.get_int(7) or 0
        end = msg.get_int(16) or 0
        last_sent = self.next_sender_seq - 1
        if end == 0 or end >= last_sent or (self.begin_string <= b"FIX.4.2" and end == 999999):
            end = last_sent
        self._note(now, f"ResendRequest {begin}..{end}")
        if self.connected:
            self._out.append(self._resend(max(begin, 1), end))
            if self.on_output is not None:
                self.on_output()
        seq = msg.get_int(34) or 0
        if seq == self.next_target_seq:
            self._incr_target()

    def _resend(self, begin: int, end: int) -> Iterator[_Stamp]:
        """Resend stored application messages (43=Y, 122) and gap-fill the rest,
        reading the store lazily as the output is drained; each message is stamped
        by ``drain`` with the time it goes out."""
        gap_start: int | None = None
        next_seq = begin
        for seq, raw in self.store.messages(begin, end):
            if seq > next_seq and gap_start is None:
                gap_start = next_seq
            if gap_start is not None:
                yield partial(self._gap_fill, gap_start, seq)
                gap_start = None
            yield partial(self._possdup, raw)
            next_seq = seq + 1
        if next_seq <= end:
            yield partial(self._gap_fill, gap_start or next_seq, end + 1)

    def _gap_fill(self, seq: int, new_seq: int, now: float) -> bytes:
        now_ts = self._timestamps.format(now)
        header = [(34, b"%d" % seq), (43, b"Y"), (49, self.sender_comp_id), (52, now_ts),
                  (56, self.target_comp_id), (122, now_ts)]
        return encode(self.begin_string, [(35, b"4"), *header, (36, b"%d" % new_seq),
                                          (123, b"Y")])

    def _possdup(self, stored: bytes, now: float) -> bytes:
        header_tags = self.validator.dd.header.tags if self.validator else SESSION_HEADER_TAGS
        now_ts = self._timestamps.format(now)
        restamped = restamp(stored, self.begin_string, now_ts, header_tags)
        if restamped is not None:
            return restamped
        msg = parse(stored)
        orig_time = msg.get(52) or b""
        header: list[Field] = [(43, b"Y"), (52, now_ts), (122, orig_time)]
        body: list[Field] = []
        for tag, value in msg.fields[1:]:
            if tag in (43, 52, 122):
                continue
            (header if tag in header_tags else body).append((tag, value))
        header.sort(key=lambda f: f[0])
        return encode(self.begin_string, [(35, msg.msg_type), *header, *body])

    # -- timers ---------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """Wall-clock time (seconds since the epoch) at which on_timer must next run
        (None: nothing pending)."""
        state = self._state
        if state is SessionState.DISCONNECTED:
            return None
        deadlines = []
        if state is SessionState.LOGOUT_SENT:
            deadlines.append(self.logout_sent_at + self.config.logout_timeout)
        if state is SessionState.AWAITING_LOGON:
            deadlines.append(self.connected_at + self.config.logon_timeout)
        else:
            hb = self.heartbeat_interval
            if hb > 0:
                deadlines.append(self.last_received + 2.4 * hb)
                deadlines.append(self.last_received + 1.2 * (self.test_requests + 1) * hb)
                if self.test_requests == 0:
                    deadlines.append(self.last_sent + hb)
            if self.period_end is not None and state is SessionState.LOGGED_ON:
                deadlines.append(self.period_end)     # then the Logout, once
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> None:
        state = self._state
        if state is SessionState.DISCONNECTED or self.disconnect_reason is not None:
            return
        if state is SessionState.LOGOUT_SENT and \
                now - self.logout_sent_at >= self.config.logout_timeout:
            self.disconnect("timed out waiting for the Logout response")
            return
        if state is SessionState.AWAITING_LOGON:
            if now - self.connected_at >= self.config.logon_timeout:
                self.disconnect("no Logon received")
            return
        if self.period_end is not None and now >= self.period_end:
            if state is SessionState.LOGGED_ON:
                self._send_logout(now, "Session end time reached")
            return
        hb = self.heartbeat_interval
        if hb <= 0:
            return
        since_received = now - self.last_received
        if since_received >= 2.4 * hb:
            if self.config.send_logout_before_timeout_disconnect:
                self.send(b"5", [(58, b"Timed out waiting for heartbeat")], now=now)
            self.disconnect("timed out waiting for a heartbeat")
        elif since_received >= 1.2 * (self.test_requests + 1) * hb:
            self.send(b"1", [(112, b"TEST")], now=now)
            self.test_requests += 1
            self._note(now, "sent TestRequest TEST")
        elif now - self.last_sent >= hb and self.test_requests == 0:
            self.send(b"0", [], now=now)
