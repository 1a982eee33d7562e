"""Fixtures of the bad-input tests: a server with three FIX.4.4 echo sessions.

* BRK1 is the session (or the would-be session) that misbehaves;
* BRK2 is the ``watcher``, logged on in parallel for the whole test, which must
  answer a TestRequest before and after the bad input;
* BRK3 logs on only at the end, to show new logons still work.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import FixServer
from tests.robustness.fixclient import RawFixClient
from tests.robustness.support import SESSIONS_CFG


@pytest.fixture
def server(server_factory) -> FixServer:
    return server_factory(SESSIONS_CFG)


@pytest.fixture
def clients() -> Iterator[list[RawFixClient]]:
    """Every client a test opens goes here and is closed at the end."""
    opened: list[RawFixClient] = []
    yield opened
    for c in opened:
        c.close()


@pytest.fixture
def connect(server: FixServer, clients: list[RawFixClient]):
    def make(sender: str = "BRK1", **kwargs) -> RawFixClient:
        c = RawFixClient(server.port, sender, **kwargs)
        clients.append(c)
        return c
    return make


@pytest.fixture
def watcher(connect) -> RawFixClient:
    """A session logged on in parallel; it works before the test does anything."""
    w = connect("BRK2")
    w.logon()
    w.test_request("before")
    return w
