"""The trio acceptor: listens on every configured port, one task pair per connection.

This module only moves bytes between sockets and :class:`Connection` objects.
Per connection a reader task feeds received bytes in, and a writer task sends
what the session has queued, wakes at the session's timer deadlines, and closes
the socket when the protocol says so. A slow or dead client only ever blocks
its own writer.

The sessions read no clock: every call into a connection gets ``now =
time.time()`` (wall-clock seconds, the sessions' only time), and the writer turns
a connection's wall-clock deadline into a delay.

It knows nothing of what runs behind the sessions: after each pass of reads (and
after a connection is gone) it calls one hook, ``on_read_batch``, which the
composition module (``server/compose.py``) points at the exchange's group commit.

Each port has its :class:`PortOptions`, made by :func:`port_options` from the
sessions on it: TLS (``SocketUseSSL``, see ``tls.py``) and the socket options
(``SocketNodelay``, ``SocketReuseAddress``, the buffer sizes). Sessions sharing a
port share its socket, so they must agree on all of them: a disagreement is a
start-up error naming the port, both sessions and the key. On a TLS port the
handshake completes, within the port's LogonTimeout, before a Connection exists
(whose LogonTimeout for the Logon then starts); a client that fails it (plain TCP,
no or an untrusted certificate, too slow) is logged with its address and the
reason and closed, and the sessions never see it. Handshakes under way count
against ``max_pending`` with the connections that have not logged on.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from time import perf_counter_ns
from typing import TYPE_CHECKING

import trio

from .connection import Connection, SessionRegistry
from .settings import SessionConfig
from .tls import KEY_NAMES, TLSConfigError, TLSSettings, server_context

if TYPE_CHECKING:
    from metrics.latency import Stages

log = logging.getLogger("fixserver.acceptor")

BACKLOG = 1024


class ListenerConfigError(Exception):
    """A port that cannot be set up as configured: sessions on it that disagree on
    its TLS or socket settings, or a TLS setting that cannot be used. The message
    names the port, the sessions and the key or file."""


@dataclass(frozen=True, slots=True)
class PortOptions:
    """How one port listens and what it does with an accepted socket."""

    tls: ssl.SSLContext | None = None   # None: plain TCP
    nodelay: bool = True                # TCP_NODELAY on accepted sockets
    reuse_address: bool = True          # SO_REUSEADDR on the listening sockets
    send_buffer: int = 0                # SO_SNDBUF (0: the system's)
    receive_buffer: int = 0             # SO_RCVBUF (0: the system's)


# The socket options sessions on one port must agree on: (key, SessionConfig attribute).
_SOCKET_KEYS = (("SocketNodelay", "nodelay"), ("SocketReuseAddress", "socket_reuse_address"),
                ("SocketSendBufferSize", "send_buffer"),
                ("SocketReceiveBufferSize", "receive_buffer"))


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    return "(not set)" if value in (None, "") else str(value)


def _agree(port: int, first: SessionConfig, other: SessionConfig, key: str,
           mine: object, theirs: object) -> None:
    if mine != theirs:
        raise ListenerConfigError(
            f"port {port}: sessions {first.session_id} and {other.session_id} disagree on "
            f"{key} ({_shown(mine)} vs {_shown(theirs)}); sessions sharing a port share "
            "its TLS and socket settings")


def port_options(configs: Iterable[SessionConfig], cfg_dir: Path) -> dict[int, PortOptions]:
    """The options of every configured port, its TLS context built (certificate files
    read now). Relative certificate paths are resolved against ``cfg_dir``, the
    sessions.cfg's directory. The sessions on a port must agree on SocketUseSSL, on
    every TLS key when it is Y, and on the socket options: a ListenerConfigError
    otherwise, as for an unusable certificate, key or CA file."""
    by_port: dict[int, list[SessionConfig]] = {}
    for config in configs:
        by_port.setdefault(config.port, []).append(config)
    contexts: dict[TLSSettings, ssl.SSLContext] = {}
    options = {}
    for port, sessions in by_port.items():
        first = sessions[0]
        tls = TLSSettings.of(first, cfg_dir)
        for other in sessions[1:]:
            _agree(port, first, other, "SocketUseSSL", first.socket_use_ssl,
                   other.socket_use_ssl)
            theirs = TLSSettings.of(other, cfg_dir)
            if tls is not None and theirs is not None:
                for name, key in KEY_NAMES.items():
                    _agree(port, first, other, key, getattr(tls, name), getattr(theirs, name))
            for key, attr in _SOCKET_KEYS:
                _agree(port, first, other, key, getattr(first, attr), getattr(other, attr))
        context = None
        if tls is not None:
            if tls not in contexts:
                try:
                    contexts[tls] = server_context(tls)
                except TLSConfigError as e:
                    ids = ", ".join(s.session_id for s in sessions)
                    raise ListenerConfigError(f"port {port} ({ids}): {e}") from e
            context = contexts[tls]
        options[port] = PortOptions(context, first.nodelay, first.socket_reuse_address,
                                    first.send_buffer, first.receive_buffer)
    return options


async def open_listeners(port: int, host: str | None, options: PortOptions,
                         backlog: int = BACKLOG) -> list[trio.SocketListener]:
    """Listening sockets on every address ``host`` resolves to, as
    ``trio.open_tcp_listeners`` makes them, but with SO_REUSEADDR only when
    ``options`` asks for it (trio always sets it) and the buffer sizes set before
    listen(): accepted sockets inherit them, and the receive window's scale is
    agreed in the SYN exchange, before accept() returns a socket to set it on."""
    addresses = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM,
                                              flags=trio.socket.AI_PASSIVE)
    listeners: list[trio.SocketListener] = []
    unsupported: list[OSError] = []
    try:
        for family, type_, proto, _, sockaddr in addresses:
            try:
                sock = trio.socket.socket(family, type_, proto)
            except OSError as e:
                if e.errno == errno.EAFNOSUPPORT:   # e.g. "::" on a host without IPv6
                    unsupported.append(e)
                    continue
                raise
            try:
                if options.reuse_address:
                    sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
                if family == trio.socket.AF_INET6:
                    sock.setsockopt(trio.socket.IPPROTO_IPV6, trio.socket.IPV6_V6ONLY, 1)
                _set_buffers(sock, options)
                await sock.bind(sockaddr)
                sock.listen(backlog)
                listeners.append(trio.SocketListener(sock))
            except BaseException:
                sock.close()
                raise
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    if not listeners and unsupported:
        raise unsupported[0]
    return listeners


def _set_buffers(sock: trio.socket.SocketType | trio.SocketStream, options: PortOptions) -> None:
    if options.send_buffer > 0:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_SNDBUF, options.send_buffer)
    if options.receive_buffer > 0:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_RCVBUF, options.receive_buffer)


def _set_socket_options(stream: trio.SocketStream, options: PortOptions) -> None:
    """The port's options on an accepted socket."""
    if not options.nodelay:
        # trio's SocketStream turns TCP_NODELAY on for every socket it wraps.
        stream.setsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_NODELAY, False)
    # Inherited from the listener on Linux; set again for systems that do not.
    _set_buffers(stream, options)


def _cause(error: BaseException) -> BaseException:
    """What a trio stream error is about: trio raises BrokenResourceError, often with
    no message, from the ssl or socket error that broke the stream."""
    return error.__cause__ if error.__cause__ is not None and not str(error) else error


_CLOSED_IN_HANDSHAKE = "closed by the peer during the TLS handshake"


def _handshake_failure(error: BaseException) -> str:
    """Why a TLS handshake failed, for the log."""
    cause = _cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"client certificate refused: {cause.verify_message}"
    if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError) or (
            cause is error and not str(error)):
        return _CLOSED_IN_HANDSHAKE
    if isinstance(cause, ssl.SSLError):
        reason = cause.reason or str(cause)
        if reason in ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNKNOWN_PROTOCOL",
                      "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
            return f"not a TLS client hello ({reason}): plain TCP on a TLS port?"
        if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
            return "no client certificate (CertificateVerifyLevel=1 requires one)"
        return f"TLS handshake failed: {reason}"
    return f"TLS handshake failed: {cause}"


def _is_tls_eof(error: trio.BrokenResourceError) -> bool:
    """A TLS peer that closed its TCP connection without a close_notify: for FIX, whose
    Logout ends a session, that is the peer closing, as on a plain socket."""
    cause = error.__cause__
    return isinstance(cause, ssl.SSLEOFError) or (
        isinstance(cause, ssl.SSLError) and cause.reason == "UNEXPECTED_EOF_WHILE_READING")


class _Handshake:
    """A TLS handshake under way: it counts against ``max_pending`` as a connection
    waiting for its Logon does, and evicting it cancels it."""

    __slots__ = ("scope", "evicted")

    def __init__(self, timeout: float) -> None:
        self.scope = trio.CancelScope(deadline=trio.current_time() + timeout)
        self.evicted = False

    def evict(self) -> None:
        self.evicted = True
        self.scope.cancel()


_PLAIN = PortOptions()


class _Wakeup:
    """An event that can be set many times; the writer waits on it."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait_until(self, deadline: float) -> None:
        """Wait until set or until the wall-clock ``deadline`` (math.inf: until set)."""
        delay = max(0.0, deadline - time.time())
        with trio.move_on_after(delay):
            await self._event.wait()
        if self._event.is_set():
            self._event = trio.Event()


class _Link:
    """Per-connection I/O state shared by its reader and writer tasks."""

    __slots__ = ("wakeup", "sending", "deadline")

    def __init__(self) -> None:
        self.wakeup = _Wakeup()
        self.sending = False  # one task at a time writes to the socket
        self.deadline = 0.0  # when the writer plans to wake for timers


class Acceptor:
    """Serves a SessionRegistry on its ports until cancelled or signalled."""

    def __init__(self, registry: SessionRegistry, max_pending: int | None = None,
                 on_read_batch: Callable[[], object] | None = None,
                 ports: Mapping[int, PortOptions] | None = None,
                 stages: Stages | None = None, busy_poll: float = 0.0) -> None:
        """``on_read_batch`` runs after every read a connection has processed, before
        the replies are written, and after a connection is gone. ``ports``: the
        options of each port (:func:`port_options`); None makes them from the
        registry's sessions, certificate paths relative to the current directory.
        ``stages``: with metrics on, where each read's decode and its time to the
        replies' send (end to end) are observed. ``busy_poll``: seconds the event loop
        keeps polling the sockets after a read instead of sleeping (0: it sleeps)."""
        self.registry = registry
        self.busy_poll = busy_poll
        self._read_at = 0.0        # trio.current_time() of the last read
        self._reads = trio.Event()
        self.stages = stages
        self.on_read_batch = on_read_batch
        if ports is None:
            ports = port_options([s.config for s in registry.sessions], Path.cwd())
        self.ports = dict(ports)
        self._connections: dict[Connection, _Link] = {}
        # Connections that have not logged on yet (TLS handshakes under way
        # included), oldest first, each with what evicts it. A flood of them must not
        # use up the descriptors a broker's Logon needs: past max_pending the oldest
        # is dropped.
        self._pending: dict[object, Callable[[], None]] = {}
        if max_pending is None:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            soft = 1 << 20 if soft == resource.RLIM_INFINITY else soft
            max_pending = max(16, (soft - 64) // 2)
        self.max_pending = max_pending
        # Logon password verifications (scrypt: ~40 ms and 16 MB each) run in threads
        # off the event loop, two at a time (the machine's cores, and a bound on memory).
        self._checks = trio.CapacityLimiter(2)
        self._listen_scope: trio.CancelScope | None = None

    async def serve(self, *, task_status: trio.TaskStatus[list[tuple[str, int]]]
                    = trio.TASK_STATUS_IGNORED) -> None:
        """Accept connections until stop_accepting(); connections run until they end."""
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as listening:
                self._listen_scope = listening.cancel_scope
                addresses = []
                for port, host in sorted(self.registry.ports().items()):
                    listeners = await open_listeners(port, host, self._options(port))
                    for listener in listeners:
                        sockname = listener.socket.getsockname()
                        addresses.append((sockname[0], sockname[1]))
                        listening.start_soon(partial(
                            trio.serve_listeners, self._handler(port), [listener],
                            handler_nursery=connections))
                for host, port in addresses:
                    log.info("listening on %s:%d%s", host, port,
                             " (TLS)" if self._options(port).tls is not None else "")
                if self.busy_poll > 0:
                    listening.start_soon(self._keep_polling)
                task_status.started(addresses)

    async def _keep_polling(self) -> None:
        """For ``busy_poll`` seconds after each read, yield to the event loop at once
        again and again: the loop then checks the sockets without a timeout instead
        of sleeping in epoll, so the next order is read as soon as it arrives, on a
        CPU that has not gone idle. On this project's 2-core VMs an order read after
        200 µs of idle took twice the CPU of one read back to back (caches gone
        cold); busy polling cut the one-in-flight p50 by 2-8% and its p99 by 18-42%
        with fsync off in paired runs (not in every run), for a CPU kept busy while
        orders flow."""
        while True:
            await self._reads.wait()
            self._reads = trio.Event()
            while trio.current_time() - self._read_at < self.busy_poll:
                await trio.lowlevel.checkpoint()

    def stop_accepting(self) -> None:
        if self._listen_scope is not None:
            self._listen_scope.cancel()

    def _handler(self, port: int) -> Callable[[trio.SocketStream], object]:
        async def handle(stream: trio.SocketStream) -> None:
            await self._handle(stream, port)
        return handle

    def _options(self, port: int) -> PortOptions:
        return self.ports.get(port) or _PLAIN

    def _admit(self, key: object, evict: Callable[[], None]) -> None:
        """Count a connection that has not logged on; past max_pending the oldest goes."""
        if len(self._pending) >= self.max_pending:
            oldest = next(iter(self._pending))
            self._pending.pop(oldest)()
        self._pending[key] = evict

    async def _handle(self, socket_stream: trio.SocketStream, port: int) -> None:
        options = self._options(port)
        try:
            host, port_no = socket_stream.socket.getpeername()[:2]
            _set_socket_options(socket_stream, options)
        except OSError:
            await trio.aclose_forcefully(socket_stream)  # already gone
            return
        peer = f"{host}:{port_no}"
        stream: trio.abc.Stream = socket_stream
        if options.tls is not None:
            tls = await self._handshake(socket_stream, options.tls, port, peer)
            if tls is None:
                return
            stream = tls
        conn = Connection(self.registry, port, peer, time.time(),
                          logon_timeout=self.registry.logon_timeout(port))
        conn.defer_checks = True    # passwords are verified in a thread (see _reader)
        conn.stages = self.stages
        link = _Link()
        self._connections[conn] = link

        def evict() -> None:
            conn.evict()
            link.wakeup.set()

        self._admit(conn, evict)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader, stream, conn, link)
                await self._writer(stream, conn, link)
                nursery.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            log.info("connection from %s lost: %s", peer, _cause(e))
        finally:
            self._connections.pop(conn, None)
            self._pending.pop(conn, None)
            conn.connection_lost(time.time())
            if self.on_read_batch is not None:
                self.on_read_batch()  # e.g. a cancel on disconnect, submitted at logout
            # A TLS stream sends its close_notify; one that broke must not take the
            # acceptor down with it.
            with trio.move_on_after(1), contextlib.suppress(
                    trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await stream.aclose()

    async def _handshake(self, stream: trio.SocketStream, context: ssl.SSLContext, port: int,
                         peer: str) -> trio.SSLStream[trio.SocketStream] | None:
        """The TLS stream once its handshake is done, within the port's LogonTimeout;
        None (the socket closed, the refusal logged) if it fails."""
        timeout = self.registry.logon_timeout(port)
        tls = trio.SSLStream(stream, context, server_side=True, https_compatible=False)
        handshake = _Handshake(timeout)
        self._admit(handshake, handshake.evict)
        reason = None
        try:
            with handshake.scope:
                await tls.do_handshake()
            # Evicted counts even if the handshake then completed without another
            # checkpoint (the cancel came too late to interrupt it): it is no longer
            # counted as pending, and letting it through would overrun max_pending.
            if handshake.evicted:
                reason = "too many connections without a Logon: oldest dropped"
            elif handshake.scope.cancelled_caught:
                reason = f"no TLS handshake within {timeout:g}s"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            reason = _handshake_failure(e)
        except BaseException:  # cancelled: the server is stopping
            await trio.aclose_forcefully(stream)
            raise
        finally:
            self._pending.pop(handshake, None)
        if reason is None:
            cert = tls.getpeercert()
            subject = ",".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn) \
                if cert else ""
            log.info("TLS connection from %s on port %d: %s %s%s", peer, port, tls.version(),
                     tls.cipher()[0], f", client certificate {subject}" if subject else "")
            return tls
        # A connect-and-close (a port probe, a load balancer's health check) is routine.
        log.log(logging.INFO if reason == _CLOSED_IN_HANDSHAKE else logging.WARNING,
                "TLS connection from %s on port %d refused: %s", peer, port, reason)
        await trio.aclose_forcefully(stream)
        return None

    async def _reader(self, stream: trio.abc.Stream, conn: Connection, link: _Link) -> None:
        on_read_batch = self.on_read_batch
        end_to_end = self.stages.end_to_end if self.stages is not None else None
        try:
            while conn.close_reason is None:
                data = await stream.receive_some(65536)
                if not data:
                    conn.peer_closed()
                    break
                read_at = perf_counter_ns() if end_to_end is not None else 0
                # While this task handles the read it sends the session's replies itself:
                # waking the writer for them would cost a task switch per order.
                conn.set_output_hook(None)
                conn.receive(data, time.time())
                if conn.pending_check is not None:
                    matches = await trio.to_thread.run_sync(conn.pending_check,
                                                            limiter=self._checks)
                    conn.checked(matches, time.time())
                if on_read_batch is not None:
                    on_read_batch()   # e.g. the group commit of every order read so far
                if self.busy_poll:
                    self._read_at = trio.current_time()
                    self._reads.set()
                if await self._send_pending(stream, conn, link) and end_to_end is not None:
                    end_to_end.observe(perf_counter_ns() - read_at)
                if conn.bound:
                    conn.set_output_hook(link.wakeup.set)
                    self._pending.pop(conn, None)
                if conn.close_reason is not None or conn.next_deadline() < link.deadline:
                    link.wakeup.set()  # the writer must close, or wake earlier than planned
        except trio.BrokenResourceError as e:
            if _is_tls_eof(e):
                conn.peer_closed()
            else:
                conn.read_failed(_cause(e))  # type: ignore[arg-type]
        except (trio.ClosedResourceError, OSError) as e:
            conn.read_failed(e)
        link.wakeup.set()

    @staticmethod
    async def _send_pending(stream: trio.abc.Stream, conn: Connection, link: _Link) -> bool:
        """Write everything queued for the connection, unless the other task is at it;
        whether anything was written."""
        if link.sending:
            return False
        link.sending = True
        sent = False
        try:
            while out := conn.drain(time.time()):
                await stream.send_all(b"".join(out))
                sent = True
        finally:
            link.sending = False
        return sent

    async def _writer(self, stream: trio.abc.Stream, conn: Connection, link: _Link) -> None:
        """Sends what other connections and timers produce; closes when told to."""
        while True:
            await self._send_pending(stream, conn, link)
            if conn.close_reason is not None and not link.sending:
                conn.set_output_hook(None)
                return
            link.deadline = conn.next_deadline()
            await link.wakeup.wait_until(link.deadline)
            conn.on_timer(time.time())

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def peers(self) -> dict[str, str]:
        """The peer address (host:port) of each session bound to a connection."""
        return {conn.session.session_id: conn.peer for conn in self._connections
                if conn.session is not None}

    def log_out(self, session_id: str, reason: str) -> bool:
        """Log ``session_id`` out with ``reason`` as its Text and close its connection
        once the Logout is sent (the operator's disconnect); False when no connection
        holds it."""
        for conn, link in self._connections.items():
            if conn.session is not None and conn.session.session_id == session_id:
                conn.session.disconnect(reason, error=False)   # the reason its logout gets
                conn.shutdown(reason, time.time())
                link.wakeup.set()
                return True
        return False

    def shutdown(self, reason: str = "Server shutting down") -> None:
        """Log out every logged-on session; connections close once that is sent."""
        now = time.time()
        for conn, link in list(self._connections.items()):
            conn.shutdown(reason, now)
            link.wakeup.set()
