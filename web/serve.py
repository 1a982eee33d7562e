"""Serving an ASGI app with hypercorn in the server's trio loop, on a socket bound
here (so the address is known, port 0 included, and a busy port is a clear error)."""

from __future__ import annotations

import logging
import socket
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

log = logging.getLogger("web")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket at host:port (OSError when it cannot be had)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


async def serve_app(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until cancelled."""
    config = Config()
    # hypercorn owns the descriptor from here and closes it; detached, the socket
    # object can never close a number the process has since reused.
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = log
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0
    await serve(app, config, shutdown_trigger=trio.sleep_forever)  # type: ignore[arg-type]
