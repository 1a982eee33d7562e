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
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable
from functools import partial

import trio

from .connection import Connection, SessionRegistry

log = logging.getLogger("fixserver.acceptor")


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
                 on_read_batch: Callable[[], object] | None = None) -> None:
        """``on_read_batch`` runs after every read a connection has processed, before
        the replies are written, and after a connection is gone."""
        self.registry = registry
        self.on_read_batch = on_read_batch
        self._connections: dict[Connection, _Link] = {}
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
        conn = Connection(self.registry, port, peer, time.time(),
                          logon_timeout=self.registry.logon_timeout(port))
        link = _Link()
        self._connections[conn] = link
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
            self._connections.pop(conn, None)
            self._pending.pop(conn, None)
            conn.connection_lost(time.time())
            if self.on_read_batch is not None:
                self.on_read_batch()  # e.g. a cancel on disconnect, submitted at logout
            with trio.move_on_after(1):
                await stream.aclose()

    async def _reader(self, stream: trio.SocketStream, conn: Connection, link: _Link) -> None:
        on_read_batch = self.on_read_batch
        try:
            while conn.close_reason is None:
                data = await stream.receive_some(65536)
                if not data:
                    conn.peer_closed()
                    break
                # While this task handles the read it sends the session's replies itself:
                # waking the writer for them would cost a task switch per order.
                conn.set_output_hook(None)
                conn.receive(data, time.time())
                if on_read_batch is not None:
                    on_read_batch()   # e.g. the group commit of every order read so far
                await self._send_pending(stream, conn, link)
                if conn.bound:
                    conn.set_output_hook(link.wakeup.set)
                    self._pending.pop(conn, None)
                if conn.close_reason is not None or conn.next_deadline() < link.deadline:
                    link.wakeup.set()  # the writer must close, or wake earlier than planned
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            conn.read_failed(e)
        link.wakeup.set()

    @staticmethod
    async def _send_pending(stream: trio.SocketStream, conn: Connection, link: _Link) -> None:
        """Write everything queued for the connection, unless the other task is at it."""
        if link.sending:
            return
        link.sending = True
        try:
            while out := conn.drain(time.time()):
                await stream.send_all(b"".join(out))
        finally:
            link.sending = False

    async def _writer(self, stream: trio.SocketStream, conn: Connection, link: _Link) -> None:
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

    def shutdown(self, reason: str = "Server shutting down") -> None:
        """Log out every logged-on session; connections close once that is sent."""
        now = time.time()
        for conn, link in list(self._connections.items()):
            conn.shutdown(reason, now)
            link.wakeup.set()
