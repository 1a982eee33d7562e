"""The HTTP routes: ``/metrics``, the JSON admin API under ``/api`` and the operator
page at ``/`` (static files, no build step), as one Starlette app.

``/metrics``, ``/api/health`` and ``/api/ready`` answer anyone, as Prometheus and
probes expect; every other ``/api`` route wants ``Authorization: Bearer <token>``
(``web/token.py``) and answers 401 without it. Errors are JSON:
``{"error": reason}`` with the status that fits (400 a bad request, 404 unknown,
409 not possible in this state). ``/api/stream`` is the page's live feed: a
server-sent event ``state`` every second (``web/api.py: state``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from metrics.readings import Reading

from . import api
from .token import matches

log = logging.getLogger("web")

STATIC = Path(__file__).parent / "static"
STREAM_INTERVAL = 1.0     # seconds between the page's updates
MAX_BODY = 16_384         # bytes of a request body

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise api.ApiError(413, f"request body over {MAX_BODY} bytes")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise api.ApiError(400, f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise api.ApiError(400, "the body must be a JSON object")
    return body


def build_app(op: api.Operator, token: str, registry: CollectorRegistry,
              lag_limit: float) -> Starlette:
    """The app over ``op``; ``token`` guards the API, ``registry`` is scraped at
    /metrics, ``lag_limit`` (seconds) decides readiness."""
    feed = StateFeed(op)

    def guarded(handler: Callable[[Request], Awaitable[Any]], *, auth: bool = True
                ) -> Handler:
        async def endpoint(request: Request) -> Response:
            if auth and not matches(token, request.headers.get("authorization")):
                return JSONResponse({"error": "missing or wrong bearer token (the token "
                                     "is in <data-dir>/admin.token)"}, status_code=401,
                                    headers={"WWW-Authenticate": 'Bearer realm="fixserver"'})
            try:
                result = await handler(request)
            except api.ApiError as e:
                return _error(e.status, e.reason)
            except Exception as e:  # noqa: BLE001 - the client gets a reason, the log a trace
                log.exception("%s %s failed", request.method, request.url.path)
                return _error(500, f"internal error: {type(e).__name__}: {e}")
            return result if isinstance(result, Response) else JSONResponse(result)
        return endpoint

    metrics = _metrics(registry)

    async def health(request: Request) -> dict[str, Any]:
        return api.health(op)

    async def ready(request: Request) -> Response:
        ok, body = api.ready(op, lag_limit)
        return JSONResponse(body, status_code=200 if ok else 503)

    async def sessions(request: Request) -> dict[str, Any]:
        return api.sessions(op)

    async def disconnect(request: Request) -> dict[str, Any]:
        reason = (await _body(request)).get("reason", "")
        if not isinstance(reason, str):
            raise api.ApiError(400, '"reason" must be a string')
        if any(c < " " or c == "\x7f" for c in reason):   # SOH would end the Text (58)
            raise api.ApiError(400, '"reason" must not contain control characters (it '
                                    "becomes the Logout's Text)")
        return api.disconnect(op, request.path_params["session"], reason)

    async def sequence(request: Request) -> dict[str, Any]:
        return api.set_sequence(op, request.path_params["session"], await _body(request))

    async def phases(request: Request) -> dict[str, Any]:
        return api.phases(op)

    async def phase(request: Request) -> dict[str, Any]:
        name = (await _body(request)).get("phase")
        if not isinstance(name, str):
            raise api.ApiError(400, 'give {"phase": NAME}: pre_open, opening_auction, '
                                    "continuous, halted, closing_auction, closed")
        return api.set_phase(op, request.path_params["target"], name.lower())

    async def phase_action(request: Request) -> dict[str, Any]:
        action = request.path_params["action"]
        if action not in api.PHASE_ACTIONS:
            raise api.ApiError(404, f"unknown action {action!r}: "
                                    f"{', '.join(api.PHASE_ACTIONS)}")
        return api.set_phase(op, request.path_params["target"], action)

    async def kill_switches(request: Request) -> dict[str, Any]:
        return api.kill_switches(op)

    async def kill_switch(request: Request) -> dict[str, Any]:
        body = await _body(request)
        return api.set_kill_switch(op, request.path_params["scope"],
                                   request.path_params["name"], body.get("on"))

    async def books(request: Request) -> dict[str, Any]:
        return api.books(op, request.query_params.get("depth"))

    async def book(request: Request) -> dict[str, Any]:
        return api.one_book(op, request.path_params["symbol"],
                            request.query_params.get("depth"))

    async def trades(request: Request) -> dict[str, Any]:
        return api.trades(op, request.query_params.get("symbol", ""),
                          request.query_params.get("limit"))

    async def accounts(request: Request) -> dict[str, Any]:
        return api.accounts(op)

    async def account(request: Request) -> dict[str, Any]:
        return api.one_account(op, request.path_params["name"])

    async def alerts(request: Request) -> dict[str, Any]:
        return api.alerts(op)

    async def snapshot(request: Request) -> dict[str, Any]:
        if op.snapshot is None:
            raise api.ApiError(409, "snapshots are not available here")
        try:
            report = await op.snapshot()
        except RuntimeError as e:   # the snapshotter is starting or restarting
            raise api.ApiError(409, str(e)) from None
        return {"ok": True, "snapshot": {k: v for k, v in report.items() if k != "event"}}

    async def stream(request: Request) -> Response:
        return StreamingResponse(_states(feed, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"no route {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"{request.method} is not allowed on {request.url.path}")

    get, post = ["GET"], ["POST"]
    routes = [
        Route("/metrics", metrics, methods=get),
        Route("/api/health", guarded(health, auth=False), methods=get),
        Route("/api/ready", guarded(ready, auth=False), methods=get),
        Route("/api/sessions", guarded(sessions), methods=get),
        Route("/api/sessions/{session}/disconnect", guarded(disconnect), methods=post),
        Route("/api/sessions/{session}/sequence", guarded(sequence), methods=post),
        Route("/api/phases", guarded(phases), methods=get),
        Route("/api/phases/{target}", guarded(phase), methods=post),
        Route("/api/phases/{target}/{action}", guarded(phase_action), methods=post),
        Route("/api/killswitches", guarded(kill_switches), methods=get),
        Route("/api/killswitches/{scope}/{name}", guarded(kill_switch), methods=post),
        Route("/api/books", guarded(books), methods=get),
        Route("/api/books/{symbol}", guarded(book), methods=get),
        Route("/api/trades", guarded(trades), methods=get),
        Route("/api/accounts", guarded(accounts), methods=get),
        Route("/api/accounts/{name}", guarded(account), methods=get),
        Route("/api/alerts", guarded(alerts), methods=get),
        Route("/api/snapshot", guarded(snapshot), methods=post),
        Route("/api/stream", guarded(stream), methods=get),
        Route("/", page, methods=get),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})


def metrics_app(registry: CollectorRegistry) -> Starlette:
    """/metrics alone, for ``[http] metrics_listen``."""
    return Starlette(routes=[Route("/metrics", _metrics(registry), methods=["GET"])])


def _metrics(registry: CollectorRegistry) -> Handler:
    """The /metrics endpoint: a scrape of ``registry`` in Prometheus' text format."""
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return metrics


class StateFeed:
    """The page's ``state`` event, made at most once per STREAM_INTERVAL however many
    pages are open (a reading and its JSON cost the event loop a few ms), with the rates
    since the one before."""

    def __init__(self, op: api.Operator, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.op = op
        self.clock = clock
        self._before: Reading | None = None
        self._made = -math.inf
        self._event = b""

    def event(self) -> bytes:
        if self.clock() - self._made >= STREAM_INTERVAL * 0.9:
            now = self.op.observatory.reading()
            payload = json.dumps(api.state(self.op, self._before, now), separators=(",", ":"))
            self._event = f"event: state\ndata: {payload}\n\n".encode()
            self._before, self._made = now, self.clock()
        return self._event


async def _states(feed: StateFeed, request: Request) -> AsyncIterator[bytes]:
    """A ``state`` event now and every STREAM_INTERVAL, until the client goes."""
    while True:
        yield feed.event()
        if await request.is_disconnected():
            return
        await trio.sleep(STREAM_INTERVAL)
