"""The server's HTTP listener (``[http]`` of exchange.toml): /metrics, the admin API
and the operator page (``web/``), and optionally /metrics alone on an address of its
own. Started by ``compose.run`` once the exchange has recovered; a port that cannot
be had is logged and the exchange trades on without it, as with the admin socket.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from metrics.exposition import registry_of
from venue.config import HttpConfig, split_address
from web import api
from web.app import build_app, metrics_app
from web.serve import bind, serve_app
from web.token import load_or_create

from .compose import Server

log = logging.getLogger("server.http")


def http_config(server: Server, env: dict[str, str] | None = None) -> HttpConfig:
    """``[http]`` with FIXSERVER_HTTP_LISTEN, when it is set."""
    assert server.exchange is not None
    return server.exchange.config.http.with_environment(dict(os.environ if env is None
                                                             else env))


async def serve_http(server: Server, config: HttpConfig,
                     snapshot: Callable[[], Awaitable[dict[str, Any]]] | None = None,
                     task_status: trio.TaskStatus[tuple[str, int] | None]
                     = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; started() with the (host, port) of the listener, or
    None when it is off or could not be had."""
    exchange, observatory = server.exchange, server.observatory
    assert exchange is not None and observatory is not None
    if not config.listen:
        task_status.started(None)
        return
    try:
        token, token_path, created = load_or_create(exchange.data_dir)
    except (OSError, ValueError) as e:
        log.error("HTTP listener disabled: the admin token: %s", e)
        task_status.started(None)
        return
    registry = registry_of(observatory.reading, observatory.alerts)
    operator = api.Operator(exchange, server.sessions, observatory, snapshot)
    app = build_app(operator, token, registry, exchange.config.alerts.consumer_lag_seconds)
    sockets = []
    try:
        for address in (config.listen, config.metrics_listen):
            if address:
                sockets.append(bind(*split_address(address)))
    except (OSError, ValueError) as e:   # ValueError: a bad FIXSERVER_HTTP_LISTEN
        for sock in sockets:
            sock.close()
        log.error("HTTP listener disabled: cannot listen on %s: %s", address, e)
        task_status.started(None)
        return
    (host, port), *metrics_only = [s.getsockname()[:2] for s in sockets]
    log.info("operator page on http://%s/ (metrics at /metrics, the admin API under "
             "/api); the API's bearer token is in %s%s", _url_host(host, port),
             token_path.resolve(), " (made now, mode 0600)" if created else "")
    for mhost, mport in metrics_only:
        log.info("metrics also on http://%s/metrics", _url_host(mhost, mport))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_app, app, sockets[0])
        if len(sockets) > 1:
            nursery.start_soon(serve_app, metrics_app(registry), sockets[1])
        task_status.started((host, port))


def _url_host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
