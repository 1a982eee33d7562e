"""Fixtures of the exchange end-to-end tests: a server with the exchange sessions
(see ``exchangeclient.SESSIONS_CFG``) and logged-on broker clients.

Every test gets a fresh server process with its own data directory. Starting one
takes about half a second (interpreter and imports), so the next test's server is
started in the background while the current test runs: one of the same kind (the
same ``start_server`` arguments) as the current test's, since the next test likely
wants that kind too, and default ones.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FixServer, free_port
from tests.exchange.exchangeclient import SESSIONS_CFG, Broker, write_exchange_toml


class _Starting:
    """A server being started on a background thread; ``kind`` is what it was
    started with (``ServerPool.kind``)."""

    def __init__(self, directory: Path, kind: str, durable: bool, end_of_day: str | None,
                 exchange: dict) -> None:
        write_exchange_toml(directory, durable, end_of_day, **exchange)
        self.kind = kind
        self.server = FixServer(SESSIONS_CFG, directory, free_port())
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self.server.start()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            self._error = e

    def ready(self) -> FixServer:
        self._thread.join(30)
        if self._error is not None:
            raise self._error
        assert self.server.alive(), self.server.log()
        return self.server


class ServerPool:
    """Hands out fresh servers, keeping the next ones already starting.

    A kind is the configuration a server is started with: ``durable`` and the
    ``write_exchange_toml`` keyword arguments (``exchange``). Spares are kept of the
    default kind and of each kind a test asked for; a spare of a non-default kind is
    stopped when a test asks for another non-default kind. A server with
    an ``end_of_day`` is always started for the test (its timing matters)."""

    DEFAULT = "{}"

    def __init__(self, root: Path, depth: int = 2) -> None:
        self.root = root
        self.depth = depth
        self.count = 0
        self.spares: list[_Starting] = []

    @staticmethod
    def kind(durable: bool, exchange: dict) -> str:
        return json.dumps({"durable": True, **exchange} if durable else exchange,
                          sort_keys=True)

    def _launch(self, durable: bool = False, end_of_day: str | None = None,
                exchange: dict | None = None) -> _Starting:
        self.count += 1
        exchange = exchange or {}
        return _Starting(self.root / f"server{self.count}", self.kind(durable, exchange),
                         durable, end_of_day, exchange)

    def take(self, durable: bool, end_of_day: str | None = None,
             exchange: dict | None = None) -> FixServer:
        exchange = exchange or {}
        if end_of_day is not None:  # started for the test
            return self._launch(durable, end_of_day, exchange).ready()
        kind = self.kind(durable, exchange)
        if kind != self.DEFAULT:  # tests of one kind run together: drop another's spare
            for stale in [s for s in self.spares if s.kind not in (kind, self.DEFAULT)]:
                self.spares.remove(stale)
                stale.ready().stop()
        starting = next((s for s in self.spares if s.kind == kind), None)
        if starting is not None:
            self.spares.remove(starting)
        else:
            starting = self._launch(durable, exchange=exchange)
        if not any(s.kind == kind for s in self.spares):
            self.spares.append(self._launch(durable, exchange=exchange))
        while len(self.spares) < self.depth:
            self.spares.append(self._launch())
        return starting.ready()

    def close(self) -> None:
        for spare in self.spares:
            spare.ready().stop()


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("exchange"))
    yield pool
    pool.close()


@pytest.fixture
def start_server(server_pool: ServerPool) -> Iterator:
    """start_server(durable=False, end_of_day=None, **exchange) -> a fresh running
    server (journal fsync off unless ``durable``: then the default, durable journal;
    DAY orders expire at ``end_of_day`` UTC if given; ``exchange``: keyword arguments
    of ``write_exchange_toml`` such as ``risk``, ``accounts``, ``firms``); stopped at
    the end."""
    started: list[FixServer] = []

    def start(durable: bool = False, end_of_day: str | None = None,
              **exchange: object) -> FixServer:
        server = server_pool.take(durable, end_of_day, exchange)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def server(start_server) -> FixServer:
    return start_server()


@pytest.fixture
def clients() -> Iterator[list[Broker]]:
    opened: list[Broker] = []
    yield opened
    for c in opened:
        c.close()


@pytest.fixture
def login(server: FixServer, clients: list[Broker]):
    """login("BRK1") -> a Broker logged on to ``server`` (closed at the end)."""
    def make(sender: str, next_seq: int = 1) -> Broker:
        c = Broker(server.port, sender, next_seq)
        clients.append(c)
        c.logon()
        return c
    return make


@pytest.fixture
def brk1(login) -> Broker:
    """BROKER1, FIX.4.4, CancelOnDisconnect=Y."""
    return login("BRK1")


@pytest.fixture
def brk2(login) -> Broker:
    """BROKER2, FIX.4.2."""
    return login("BRK2")


@pytest.fixture
def brk3(login) -> Broker:
    """BROKER3, FIX.4.4."""
    return login("BRK3")


@pytest.fixture
def dc1(login) -> Broker:
    """Drop copy of every firm, FIX.4.4."""
    return login("DC1")


@pytest.fixture
def md1(login) -> Broker:
    """Market data only (Application=marketdata), FIX.4.4."""
    return login("MD1")
