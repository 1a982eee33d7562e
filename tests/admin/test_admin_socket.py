"""venue.admin.serve: the admin socket in the data directory, in process.

A trio task serves a real Exchange (``Running`` of tests/venue) on a real
Unix-domain socket in a temporary directory; clients connect with plain sockets
from a worker thread, as the fixserver-admin command does.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.venue.test_exchange_recovery import Running
from venue import admin


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path)
    yield running
    running.close()


def serving(running: Running, path: Path, client: Callable[[Path | None], Any]) -> Any:
    """Run admin.serve on ``path`` while ``client(started)`` runs in a thread, then stop
    serving; client's result. ``started`` is the path, or None when serve gave up."""
    result: list[Any] = []

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            started = await nursery.start(admin.serve, running.exchange, path)
            result.append(await trio.to_thread.run_sync(client, started))
            nursery.cancel_scope.cancel()

    trio.run(main)
    return result[0]


def exchange_lines(path: Path, data: bytes, n: int, shut_write: bool = False) -> list[bytes]:
    """Send ``data``, read ``n`` reply lines (fewer if the server closes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(os.fspath(path))
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while received.count(b"\n") < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.splitlines()


def test_socket_is_private_to_the_owner(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    mode = serving(running, path, lambda _: os.stat(path).st_mode)
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_several_requests_share_one_connection_and_are_answered_in_order(
        running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    lines = serving(running, path,
                    lambda p: exchange_lines(p, b"killed\nkill firm BROKER2\nkilled\n", 3))
    replies = [json.loads(line) for line in lines]
    assert [r["killed"]["firm"] for r in (replies[0], replies[2])] == [[], ["BROKER2"]]


def test_a_last_request_without_newline_is_answered_at_end_of_input(
        running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    lines = serving(running, path, lambda p: exchange_lines(p, b"killed", 1, shut_write=True))
    assert json.loads(lines[0])["ok"] is True


def test_an_overlong_request_is_refused_and_the_connection_closed(
        running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    lines = serving(running, path,
                    lambda p: exchange_lines(p, b"x" * (admin.MAX_REQUEST + 1), 2))
    assert len(lines) == 1 and "longer than" in json.loads(lines[0])["error"]


def test_the_socket_is_removed_when_serving_stops(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    serving(running, path, lambda _: None)
    assert not path.exists()


def test_a_stale_socket_file_is_replaced(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(os.fspath(path))   # bound, never listening: what a killed server leaves
    reply = serving(running, path, lambda p: admin.request(p, "killed"))
    assert json.loads(reply)["ok"] is True


def test_a_socket_another_process_serves_is_left_to_it(
        running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(os.fspath(path))
        other.listen(1)
        inode = os.stat(path).st_ino
        started = serving(running, path, lambda started: started)
        assert (started, os.stat(path).st_ino) == (None, inode)


def test_a_file_that_is_not_a_socket_is_left_alone(running: Running, tmp_path: Path) -> None:
    path = tmp_path / "admin.sock"
    path.write_text("operator notes")
    started = serving(running, path, lambda started: started)
    assert (started, path.read_text()) == (None, "operator notes")


def test_a_socket_path_too_long_for_unix_sockets_disables_the_interface(
        running: Running, tmp_path: Path) -> None:
    path = tmp_path / ("d" * 120) / "admin.sock"
    path.parent.mkdir()
    assert serving(running, path, lambda started: started) is None
