"""A TCP relay on loopback that can go down: a database outage as its client sees it.

``down()`` closes the listening socket and every relayed connection (the client gets
a reset or an end of stream, then "connection refused"); ``up()`` listens again on the
same port. While down the port stays bound by a socket that does not listen, so no
other socket of the machine (an outgoing connection's ephemeral port) can take it
meanwhile. Real sockets both ways: only the path between them is cut.
"""

from __future__ import annotations

import socket
import threading


class TcpOutage:
    """Relays 127.0.0.1:``port`` to ``target`` while it is up."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._reserved: socket.socket | None = None   # the port, held while down
        self.up()

    def _bound(self) -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        return sock

    def up(self) -> None:
        listener, self._reserved = self._reserved or self._bound(), None
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed, self._sockets = self._sockets, []
        if listener is not None:
            # A thread blocked in accept() keeps a closed socket listening; shutdown
            # wakes it (EINVAL) so the port is free for the reservation below.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for s in doomed:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        if listener is not None:
            self._reserved = self._bound()   # connects are refused, the port kept

    def close(self) -> None:
        self.down()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return   # closed by down()
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
