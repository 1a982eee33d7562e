"""One TCP connection, sans-IO: bytes in, bytes out, and a reason to close.

A connection frames and parses what it receives, binds to a session when the
first message, a valid Logon, names one that is configured on its port and not
already logged on, and from then on hands every message to that session. A bad
first message, an unknown session or a duplicate logon is disconnected without
a reply, as the FIX session protocol requires.

Every call takes ``now``, the wall-clock time in seconds since the epoch, which is
also the time of the connection's own LogonTimeout and is passed on to its session.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from .codec import Framer, FramingError, GarbledMessage, Message, parse
from .session import Session

log = logging.getLogger("fixserver.connection")


class SessionRegistry:
    """The configured sessions, found by (BeginString, our CompID, their CompID)."""

    def __init__(self, sessions: list[Session]) -> None:
        self.sessions = sessions
        self._by_key: dict[tuple[bytes, bytes, bytes], Session] = {
            (s.begin_string, s.sender_comp_id, s.target_comp_id): s for s in sessions
        }

    def find(self, begin_string: bytes, our_id: bytes, their_id: bytes) -> Session | None:
        return self._by_key.get((begin_string, our_id, their_id))

    def ports(self) -> dict[int, str]:
        return {s.config.port: s.config.address for s in self.sessions}

    def logon_timeout(self, port: int) -> float:
        """How long a connection on ``port`` may stay silent before its Logon: the
        shortest LogonTimeout of the sessions on that port."""
        return min((s.config.logon_timeout for s in self.sessions if s.config.port == port),
                   default=10)


class Connection:
    """The protocol side of one accepted TCP connection."""

    def __init__(self, registry: SessionRegistry, port: int, peer: str, now: float,
                 logon_timeout: float = 10.0) -> None:
        self.registry = registry
        self.port = port
        self.peer = peer
        self.framer = Framer()
        self.session: Session | None = None
        self.close_reason: str | None = None
        self.opened_at = now
        self.logon_timeout = logon_timeout

    def receive(self, data: bytes, now: float) -> None:
        """Process bytes read from the socket."""
        if self.close_reason is not None:
            return
        framer = self.framer
        try:
            frames = framer.feed(data)
        except FramingError as e:
            self._close(f"unreadable byte stream: {e}")
            return
        if framer.discarded:
            who = self.session.session_id if self.session is not None else self.peer
            log.warning("%s: %d bytes of garbage outside any message discarded", who,
                        framer.discarded)
            framer.discarded = 0
        for frame in frames:
            try:
                msg = parse(frame)
            except GarbledMessage as e:
                if self.session is None or not self.session.logged_on:
                    self._close(f"garbled message before logon: {e}")
                    return
                log.warning("%s: garbled message ignored: %s", self.session.session_id, e)
                continue
            session = self.session
            if session is None:
                session = self._bind(msg, now)
                if session is None:
                    return
            session.on_message(msg, now)
            if session.disconnect_reason is not None:
                self._close(session.disconnect_reason)
                return

    def _bind(self, msg: Message, now: float) -> Session | None:
        if msg.msg_type != b"A":
            self._close(f"first message is not a Logon (MsgType {msg.msg_type!r})")
            return None
        our_id, their_id = msg.get(56) or b"", msg.get(49) or b""
        session = self.registry.find(msg.begin_string, our_id, their_id)
        if session is None or session.config.port != self.port:
            self._close(f"Logon for an unknown session {msg.begin_string.decode('latin-1')}:"
                        f"{their_id.decode('latin-1')}->{our_id.decode('latin-1')}")
            return None
        if session.connected:
            self._close(f"{session.session_id}: already logged on, duplicate Logon refused")
            return None
        session.on_connect(now)
        self.session = session
        return session

    @property
    def bound(self) -> bool:
        """Whether a Logon has bound this connection to its session."""
        return self.session is not None

    def set_output_hook(self, hook: Callable[[], None] | None) -> None:
        """What the session calls when it queues a message outside a read (the I/O
        driver's wake-up of its writer), or None while the driver is writing anyway."""
        if self.session is not None:
            self.session.on_output = hook

    def shutdown(self, reason: str, now: float) -> None:
        """The server is stopping: log the session out and close once that is sent."""
        if self.session is not None:
            self.session.logout(reason, now)
        self._close(reason)

    def read_failed(self, error: Exception) -> None:
        self._close(f"read failed: {error}")

    def _close(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            log.info("connection from %s closed: %s", self.peer, reason)

    def next_deadline(self) -> float:
        """Wall-clock time at which on_timer must next run (math.inf: nothing pending,
        the I/O driver waits until woken)."""
        if self.session is not None:
            d = self.session.next_deadline()
            return d if d is not None else math.inf
        return self.opened_at + self.logon_timeout

    def on_timer(self, now: float) -> None:
        session = self.session
        if session is None:
            if now - self.opened_at >= self.logon_timeout and self.close_reason is None:
                self._close("no Logon received")
            return
        session.on_timer(now)
        if session.disconnect_reason is not None:
            self._close(session.disconnect_reason)

    def drain(self, now: float) -> list[bytes]:
        if self.session is not None:
            return self.session.drain(now)
        return []

    def peer_closed(self) -> None:
        """The client closed the connection."""
        partial = self.framer.buffered
        self._close("closed by the peer" + (
            f" with {partial} bytes of an incomplete message discarded" if partial else ""))

    def evict(self) -> None:
        """Too many connections are waiting for a Logon: this, the oldest, goes."""
        self._close("too many connections without a Logon: oldest dropped")

    def connection_lost(self, now: float) -> None:
        if self.session is not None:
            self.session.on_disconnect(now)
            self.session = None
