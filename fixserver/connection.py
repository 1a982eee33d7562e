"""One TCP connection, sans-IO: bytes in, bytes out, and a reason to close.

A connection frames and parses what it receives, binds to a session when the
first message, a valid Logon, names one that is configured on its port, passes the
session's access control and is not already logged on, and from then on hands
every message to that session. A bad first message, an unknown session, a refused
address or credentials, or a duplicate logon is disconnected without a reply, as
the FIX session protocol requires.

Access control (``fixserver/auth.py``), per session and optional: the peer's address
must be in ``AllowedRemoteAddresses``, and with a ``Username`` the Logon must carry
Username (553) and a Password (554) matching ``PasswordHash``, in FIX 4.2 as in FIX
4.4. A refusal looks exactly like an unknown CompID (the same silent close; every
refused Logon carrying a Password on such a port costs one hash verification, so
not even the time to the close tells them apart), is logged with the peer address,
the session and the reason, and is counted in ``SessionRegistry.refused``. The
connection then takes 553 and 554 off every Logon: the session, its dictionary
validation (FIX42.xml has neither tag) and its message log never see a password.

On a port where some session has access control, every refused Logon is a failure
for :class:`~fixserver.auth.LogonGuard` (shared by the registry); a connection from
an address over its limit is refused at its first message and closed only after
the guard's delay (a tarpit), which ``next_deadline``/``on_timer`` carry out.

Every call takes ``now``, the wall-clock time in seconds since the epoch, which is
also the time of the connection's own LogonTimeout and is passed on to its session.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections import Counter
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from time import perf_counter_ns
from typing import TYPE_CHECKING

from .auth import (
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    HashFormatError,
    LogonGuard,
    PasswordHash,
    address_allowed,
    peer_address,
)
from .codec import Framer, FramingError, GarbledMessage, Message, encode, parse
from .session import Session

if TYPE_CHECKING:
    from metrics.latency import Stages

log = logging.getLogger("fixserver.connection")

USERNAME, PASSWORD = 553, 554


class Refusal(StrEnum):
    """Why a Logon was refused: the keys of ``SessionRegistry.refused``."""

    UNKNOWN_SESSION = "unknown_session"
    ADDRESS_NOT_ALLOWED = "address_not_allowed"
    USERNAME_MISSING = "username_missing"
    PASSWORD_MISSING = "password_missing"
    WRONG_USERNAME = "wrong_username"
    WRONG_PASSWORD = "wrong_password"
    THROTTLED = "throttled"          # the address is over the guard's limit
    DUPLICATE_LOGON = "duplicate_logon"


_REFUSAL_TEXT = {
    Refusal.UNKNOWN_SESSION: "no such session on this port",
    Refusal.ADDRESS_NOT_ALLOWED: "address not in AllowedRemoteAddresses",
    Refusal.USERNAME_MISSING: "no Username (553)",
    Refusal.PASSWORD_MISSING: "no Password (554)",
    Refusal.WRONG_USERNAME: "wrong Username",
    Refusal.WRONG_PASSWORD: "wrong Password",
    Refusal.THROTTLED: "too many refused Logons from this address",
    Refusal.DUPLICATE_LOGON: "already logged on, duplicate Logon refused",
}


class SessionRegistry:
    """The configured sessions, found by (BeginString, our CompID, their CompID),
    with what every connection shares: each session's credentials, the failure
    guard, and the count of refused Logons by reason (``refused``, for metrics)."""

    def __init__(self, sessions: list[Session], guard: LogonGuard | None = None) -> None:
        self.sessions = sessions
        self._by_key: dict[tuple[bytes, bytes, bytes], Session] = {
            (s.begin_string, s.sender_comp_id, s.target_comp_id): s for s in sessions
        }
        self.guard = guard if guard is not None else LogonGuard()
        self.refused: Counter[Refusal] = Counter()
        self._credentials: dict[str, tuple[bytes, PasswordHash]] = {}
        for s in sessions:
            c = s.config
            if c.username is not None and c.password_hash is not None:
                try:
                    self._credentials[s.session_id] = (c.username.encode(),
                                                       PasswordHash.parse(c.password_hash))
                except HashFormatError as e:
                    raise ValueError(f"{s.session_id}: PasswordHash: {e}") from None
        # The guard counts failures only on ports where some session has access
        # control: elsewhere there is nothing to guess (and the QuickFIX acceptance
        # suite's unknown-CompID scripts must not tarpit its next scripts).
        self.guarded_ports = frozenset(
            s.config.port for s in sessions
            if s.session_id in self._credentials or s.config.allowed_remote_addresses)
        # What a refused Logon's Password is verified against when there is no
        # session hash to verify it against: same cost, never matches anything used.
        like = next(iter(self._credentials.values()), None)
        n, r, p = (like[1].n, like[1].r, like[1].p) if like else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
        self.dummy_hash = PasswordHash(n, r, p, bytes(16), bytes(32))

    def credentials(self, session: Session) -> tuple[bytes, PasswordHash] | None:
        """(Username, PasswordHash) the session's Logon must match, None if it has none."""
        return self._credentials.get(session.session_id)

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
        self.address = peer_address(peer)
        self.framer = Framer()
        self.session: Session | None = None
        self.stages: Stages | None = None   # times the decode when set (metrics)
        self.close_reason: str | None = None
        self.opened_at = now
        self.logon_timeout = logon_timeout
        # A tarpitted refusal: close_reason is set to this at that time, not before.
        self._close_at: float | None = None
        self._held_reason = ""
        # With ``defer_checks`` (the acceptor sets it), a Logon's password is not
        # verified inside ``receive``: ``pending_check`` is the verification for the
        # driver to run off the event loop (a scrypt takes ~40 ms, the loop is every
        # session's), then to answer with ``checked``. Frames read meanwhile wait.
        self.defer_checks = False
        self.pending_check: Callable[[], bool] | None = None
        self._pending_bind: tuple[Message, Session | None, str] | None = None
        self._held: list[bytes] = []

    def receive(self, data: bytes, now: float) -> None:
        """Process bytes read from the socket."""
        if self.close_reason is not None or self._close_at is not None:
            return
        framer = self.framer
        stages = self.stages
        started = perf_counter_ns() if stages is not None else 0
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
        if self.pending_check is not None:
            self._held.extend(frames)
            return
        # With metrics on, a message's decode is its parse and its share of the framing.
        self._process(frames, now, (perf_counter_ns() - started) // len(frames)
                      if stages is not None and frames else 0)

    def checked(self, matches: bool, now: float) -> None:
        """The answer of ``pending_check``: go on with the Logon, then with the frames
        that arrived behind it."""
        assert self._pending_bind is not None, "no check pending"
        msg, session, named = self._pending_bind
        self._pending_bind = self.pending_check = None
        held, self._held = self._held, []
        bound = self._decide(msg, session, named, msg.get(PASSWORD), matches, now)
        if bound is not None and self._deliver(bound, msg, now):
            self._process(held, now)

    def _process(self, frames: list[bytes], now: float, framing_ns: int = 0) -> None:
        stages = self.stages
        for i, frame in enumerate(frames):
            started = perf_counter_ns() if stages is not None else 0
            try:
                msg = parse(frame)
            except GarbledMessage as e:
                if self.session is None or not self.session.logged_on:
                    self._close(f"garbled message before logon: {e}")
                    return
                log.warning("%s: garbled message ignored: %s", self.session.session_id, e)
                continue
            if stages is not None:
                stages.decode.observe(perf_counter_ns() - started + framing_ns)
            session = self.session
            if session is None:
                session = self._bind(msg, now)
                if session is None:
                    if self.pending_check is not None:
                        self._held = frames[i + 1:]
                    return
            if not self._deliver(session, msg, now):
                return

    def _deliver(self, session: Session, msg: Message, now: float) -> bool:
        """Hand ``msg`` to the session; False when the connection is to close."""
        if msg.fields[0][1] == b"A":
            msg = _without_credentials(msg)
        session.on_message(msg, now)
        if session.disconnect_reason is not None:
            self._close(session.disconnect_reason)
            return False
        return True

    def _bind(self, msg: Message, now: float) -> Session | None:
        registry = self.registry
        guarded = self.port in registry.guarded_ports
        our_id, their_id = msg.get(56) or b"", msg.get(49) or b""
        named = (f"{msg.begin_string.decode('latin-1')}:{our_id.decode('latin-1')}->"
                 f"{their_id.decode('latin-1')}")
        if guarded:
            delay = registry.guard.delay(self.address or self.peer, now)
            if delay is not None:
                self._refuse(Refusal.THROTTLED, named, now, delay=delay)
                return None
        if msg.msg_type != b"A":
            self._close(f"first message is not a Logon (MsgType {msg.msg_type!r})")
            return None
        password = msg.get(PASSWORD)
        session = registry.find(msg.begin_string, our_id, their_id)
        if session is not None and session.config.port != self.port:
            session = None
        # A Password is verified before anything is decided, whichever check fails:
        # the time to the close must not tell which one did (an unknown CompID or an
        # address not allowed costs a verification against a dummy hash).
        against = self._hash_to_verify(session, password, guarded)
        if against is None or password is None:
            return self._decide(msg, session, named, password, False, now)
        if self.defer_checks:
            self.pending_check = partial(against.verify, password)
            self._pending_bind = (msg, session, named)
            return None
        return self._decide(msg, session, named, password, against.verify(password), now)

    def _hash_to_verify(self, session: Session | None, password: bytes | None,
                        guarded: bool) -> PasswordHash | None:
        """The hash a Logon's Password is verified against (None: no verification)."""
        if not password:
            return None
        registry = self.registry
        if session is None:
            return registry.dummy_hash if guarded else None
        credentials = registry.credentials(session)
        if credentials is not None:
            return credentials[1]
        if not address_allowed(self.address, session.config.allowed_remote_addresses):
            return registry.dummy_hash
        return None

    def _decide(self, msg: Message, session: Session | None, named: str,
                password: bytes | None, matches: bool, now: float) -> Session | None:
        """Bind the Logon's session, or refuse it; ``matches``: whether its Password
        verified against the session's hash."""
        if session is None:
            self._refuse(Refusal.UNKNOWN_SESSION, named, now)
            return None
        refusal = self._access_refusal(session, msg, password, matches)
        if refusal is not None:
            self._refuse(refusal, session.session_id, now)
            return None
        # After the access checks: whether a session is logged on is not for strangers.
        if session.connected:
            self._refuse(Refusal.DUPLICATE_LOGON, session.session_id, now)
            return None
        session.on_connect(now)
        self.session = session
        return session

    def _access_refusal(self, session: Session, msg: Message, password: bytes | None,
                        matches: bool) -> Refusal | None:
        """Why ``session``'s access control refuses this Logon, None if it passes."""
        credentials = self.registry.credentials(session)
        if not address_allowed(self.address, session.config.allowed_remote_addresses):
            return Refusal.ADDRESS_NOT_ALLOWED
        if credentials is None:
            return None
        username = msg.get(USERNAME)
        if not username:
            return Refusal.USERNAME_MISSING
        if not password:
            return Refusal.PASSWORD_MISSING
        if not hmac.compare_digest(username, credentials[0]):
            return Refusal.WRONG_USERNAME
        if not matches:
            return Refusal.WRONG_PASSWORD
        return None

    def _refuse(self, refusal: Refusal, session_id: str, now: float,
                delay: float = 0.0) -> None:
        """Refuse the Logon without a reply: count it, log it (never the credentials),
        record the failure, and close now or, tarpitted, ``delay`` seconds from now."""
        registry = self.registry
        registry.refused[refusal] += 1
        if refusal is not Refusal.DUPLICATE_LOGON and self.port in registry.guarded_ports:
            registry.guard.record_failure(self.address or self.peer, now)
        text = f"Logon refused for {session_id}: {_REFUSAL_TEXT[refusal]}"
        if delay > 0:
            log.warning("logon refused from %s for %s: %s; closing in %.0f s", self.peer,
                        session_id, _REFUSAL_TEXT[refusal], delay)
            self._close_at = now + delay
            self._held_reason = text
            return
        log.warning("logon refused from %s for %s: %s", self.peer, session_id,
                    _REFUSAL_TEXT[refusal])
        self._close(text)

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
        if self._close_at is not None and self.close_reason is None:
            return self._close_at
        if self.session is not None:
            d = self.session.next_deadline()
            return d if d is not None else math.inf
        return self.opened_at + self.logon_timeout

    def on_timer(self, now: float) -> None:
        if self._close_at is not None:
            # A tarpitted refusal closes at its time; LogonTimeout does not cut it short.
            if now >= self._close_at:
                self._close(self._held_reason)
            return
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


def _without_credentials(msg: Message) -> Message:
    """The Logon without Username (553) and Password (554): what the session gets,
    so that neither its validation nor its message log sees them."""
    if msg.get(USERNAME) is None and msg.get(PASSWORD) is None:
        return msg
    fields = [f for f in msg.fields if f[0] != USERNAME and f[0] != PASSWORD]
    return Message(msg.begin_string, fields, encode(msg.begin_string, fields))
