"""The trio acceptor: listens on every configured port, one task pair per connection.

This module only moves bytes between sockets and :class:`Connection` objects.
Per connection a reader task feeds received bytes in, and a writer task sends
what the session has queued, wakes at the session's timer deadlines, and closes
the socket when the protocol says so. A slow or dead client only ever blocks
its own writer.
"""

from __future__ import annotations

import gc
import logging
import resource
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import trio

from . import admin
from .apps.exchange import Exchange
from .connection import Connection, SessionRegistry

log = logging.getLogger("fixserver.acceptor")


class _Wakeup:
    """An event that can be set many times; the writer waits on it."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait_until(self, deadline: float) -> None:
        """Wait until set or until the monotonic ``deadline``."""
        delay = max(0.0, deadline - time.monotonic())
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
                 exchange: Exchange | None = None) -> None:
        self.registry = registry
        self.exchange = exchange
        self._connections: set[Connection] = set()
        # Connections that have not logged on yet, oldest first. A flood of them must
        # not use up the descriptors a broker's Logon needs: past max_pending the
        # oldest is dropped.
        self._pending: dict[Connection, _Wakeup] = {}
        if max_pending is None:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            soft = 1 << 20 if soft == resource.RLIM_INFINITY else soft
            max_pending = max(16, (soft - 64) // 2)
        self.max_pending = max_pending
        self._listen_scope: trio.CancelScope | None = None

    async def serve(self, *, task_status: trio.TaskStatus[list[tuple[str, int]]]
                    = trio.TASK_STATUS_IGNORED) -> None:
        """Accept connections until stop_accepting(); connections run until they end."""
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as listening:
                self._listen_scope = listening.cancel_scope
                addresses = []
                for port, host in sorted(self.registry.ports().items()):
                    listeners = await trio.open_tcp_listeners(port, host=host, backlog=1024)
                    for listener in listeners:
                        sockname = listener.socket.getsockname()
                        addresses.append((sockname[0], sockname[1]))
                        listening.start_soon(partial(
                            trio.serve_listeners, self._handler(port), [listener],
                            handler_nursery=connections))
                for host, port in addresses:
                    log.info("listening on %s:%d", host, port)
                task_status.started(addresses)

    def stop_accepting(self) -> None:
        if self._listen_scope is not None:
            self._listen_scope.cancel()

    def _handler(self, port: int) -> Callable[[trio.SocketStream], object]:
        async def handle(stream: trio.SocketStream) -> None:
            await self._handle(stream, port)
        return handle

    async def _handle(self, stream: trio.SocketStream, port: int) -> None:
        try:
            host, port_no = stream.socket.getpeername()[:2]
            peer = f"{host}:{port_no}"
        except OSError:
            return
        conn = Connection(self.registry, port, peer, time.monotonic(),
                          logon_timeout=self.registry.logon_timeout(port))
        link = _Link()
        self._connections.add(conn)
        if len(self._pending) >= self.max_pending:
            oldest = next(iter(self._pending))
            oldest.evict()
            self._pending.pop(oldest).set()
        self._pending[conn] = link.wakeup
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader, stream, conn, link)
                await self._writer(stream, conn, link)
                nursery.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            log.info("connection from %s lost: %s", peer, e)
        finally:
            self._connections.discard(conn)
            self._pending.pop(conn, None)
            conn.connection_lost(time.monotonic())
            if self.exchange is not None and self.exchange.pending:
                self.exchange.flush()  # e.g. cancel on disconnect, submitted at logout
            with trio.move_on_after(1):
                await stream.aclose()

    async def _reader(self, stream: trio.SocketStream, conn: Connection, link: _Link) -> None:
        exchange = self.exchange
        try:
            while conn.close_reason is None:
                data = await stream.receive_some(65536)
                if not data:
                    conn.peer_closed()
                    break
                # While this task handles the read it sends the session's replies itself:
                # waking the writer for them would cost a task switch per order.
                if conn.session is not None:
                    conn.session.on_output = None
                conn.receive(data, time.monotonic())
                if exchange is not None and exchange.pending:
                    # Group commit of everything submitted so far, by any connection.
                    exchange.flush()
                await self._send_pending(stream, conn, link)
                if conn.session is not None:
                    conn.session.on_output = link.wakeup.set
                    self._pending.pop(conn, None)
                if conn.close_reason is not None or conn.next_deadline() < link.deadline:
                    link.wakeup.set()  # the writer must close, or wake earlier than planned
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            conn._close(f"read failed: {e}")
        link.wakeup.set()

    @staticmethod
    async def _send_pending(stream: trio.SocketStream, conn: Connection, link: _Link) -> None:
        """Write everything queued for the connection, unless the other task is at it."""
        if link.sending:
            return
        link.sending = True
        try:
            while out := conn.drain():
                await stream.send_all(b"".join(out))
        finally:
            link.sending = False

    async def _writer(self, stream: trio.SocketStream, conn: Connection, link: _Link) -> None:
        """Sends what other connections and timers produce; closes when told to."""
        while True:
            await self._send_pending(stream, conn, link)
            if conn.close_reason is not None and not link.sending:
                if conn.session is not None:
                    conn.session.on_output = None
                return
            link.deadline = conn.next_deadline()
            await link.wakeup.wait_until(link.deadline)
            conn.on_timer(time.monotonic())

    def shutdown(self, reason: str = "Server shutting down") -> None:
        """Log out every logged-on session; connections close once that is sent."""
        for conn in list(self._connections):
            session = conn.session
            if session is not None and session.logged_on and not session.sent_logout:
                session._send_logout(reason)
            conn.close_reason = conn.close_reason or reason
            if session is not None and session.on_output is not None:
                session.on_output()


async def drive_exchange(exchange: Exchange) -> None:
    """Once a second: time-driven commands (GTD expiry, end of day) and their flush.
    Orders are flushed by the connection that read them (see Acceptor._reader)."""
    while True:
        exchange.on_timer(time.time_ns())
        exchange.flush()
        # Orders live long: move survivors out of the collector's view so a full
        # collection never walks a million resting orders (pauses of ~0.5 s otherwise).
        gc.freeze()
        await trio.sleep(1.0)


async def run(registry: SessionRegistry, exchange: Exchange | None = None,
              task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
              *, admin_socket: Path | None = None) -> None:
    """Serve until SIGINT/SIGTERM, then log sessions out and stop. With an exchange
    and ``admin_socket``, the operator's admin interface listens there (admin.py)."""
    acceptor = Acceptor(registry, exchange=exchange)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            if exchange is not None:
                nursery.start_soon(drive_exchange, exchange)
                if admin_socket is not None:
                    # Its reports reach the sockets as drive_exchange's do: Session.send
                    # wakes the connection's writer. Listening before the FIX ports.
                    await nursery.start(admin.serve, exchange, admin_socket)
            addresses = await nursery.start(acceptor.serve)
            task_status.started(addresses)
            async for signum in signals:
                log.info("received %s: shutting down", signal.Signals(signum).name)
                acceptor.stop_accepting()
                acceptor.shutdown()
                with trio.move_on_after(2):
                    while acceptor._connections:
                        await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
                break
