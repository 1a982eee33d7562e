"""The snapshotter process, seen from the exchange (the process itself:
``venue/snapshotter.py``).

:class:`SnapshotterProcess` is a trio task of the server: it starts the snapshotter
once the exchange is serving (so that the two do not load their cores at once),
hands it its setup, logs what it reports, answers the operator's ``snapshot``
request through it, and stops it at shutdown. A snapshotter that dies is logged
and started again after a pause; the exchange trades on either way (snapshots only
shorten a restart).
"""

from __future__ import annotations

import logging
import math
import subprocess
import sys
from typing import Any

import msgspec
import trio

from venue.exchange import Exchange
from venue.snapshotter import Setup

from .child import json_lines, off_the_servers_cpus

log = logging.getLogger("server.snapshots")

RESTART_SECONDS = 5.0



class SnapshotterUnavailable(RuntimeError):
    """A snapshot asked while the snapshotter is not running (starting, restarting)."""

class SnapshotterProcess:
    """The exchange's snapshotter child process."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.process: trio.Process | None = None
        self.ready = trio.Event()
        self.last: dict[str, Any] | None = None     # the last snapshot event
        self._snapshot_done = trio.Event()
        self.written = trio.Event()                 # set (and replaced) at each new one
        self._lock = trio.Lock()                    # one request at a time

    def _setup(self) -> bytes:
        ex = self.exchange
        config = ex.config
        setup = Setup(config, str(ex.data_dir), sorted(ex.comp_ids.items()),
                      config.snapshot_interval, config.snapshots_kept)
        return msgspec.json.encode(setup) + b"\n"

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Keep a snapshotter running until cancelled."""
        task_status.started()
        while True:
            code = await self._run_once()
            log.error("the snapshotter stopped (exit code %s); starting it again in %.0f s",
                      code, RESTART_SECONDS)
            await trio.sleep(RESTART_SECONDS)

    async def _run_once(self) -> int | None:
        self.ready = trio.Event()
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "venue.snapshotter"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE)
        self.process = process
        off_the_servers_cpus(process.pid)
        assert process.stdin is not None and process.stdout is not None
        try:
            await process.stdin.send_all(self._setup())
            async for event in json_lines(process.stdout):
                self._on_event(event)
            return await process.wait()
        finally:
            with trio.CancelScope(shield=True):
                await self._stop(process)
            self.process = None

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "ready":
            log.info("snapshotter ready at seq %d (loaded in %.3f s)", event["seq"],
                     event["seconds"])
            self.ready.set()
        elif kind == "snapshot":
            self.last = event
            if event.get("new"):
                log.info("snapshot %s: seq %d, %d open orders, %.1f MB, in %.3f s "
                         "(snapshotter)", event["file"], event["seq"], event["orders"],
                         event["bytes"] / 1e6, event["seconds"])
                written, self.written = self.written, trio.Event()
                written.set()
            done, self._snapshot_done = self._snapshot_done, trio.Event()
            done.set()
        else:
            log.error("snapshotter: %s", event)

    async def snapshot(self, timeout: float = math.inf) -> dict[str, Any]:
        """A snapshot now (the operator's request): the snapshotter's report of it."""
        async with self._lock:
            process = self.process
            if process is None or not self.ready.is_set():
                raise SnapshotterUnavailable("the snapshotter is not running (yet): "
                                             "ask again in a moment")
            assert process.stdin is not None
            done = self._snapshot_done
            await process.stdin.send_all(b"snapshot\n")
            with trio.fail_after(timeout):
                await done.wait()
            assert self.last is not None
            return self.last

    async def _stop(self, process: trio.Process) -> None:
        if process.returncode is None:
            try:
                assert process.stdin is not None
                await process.stdin.send_all(b"stop\n")
                await process.stdin.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
            with trio.move_on_after(2):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
