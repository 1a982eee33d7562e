"""A durable consumer in a process of its own (the audit trail, the PostgreSQL
writer): both sides.

Turning entries into audit records, hashing them and writing them cost the order
path a third of its orders/s when a thread of the server did it (the thread holds
the GIL: ``bench/bench_audit.py``); making database rows is the same kind of work.
So the server runs each such consumer in a child process that reads the event log
itself (``EventLog`` read-only, ``refresh`` to follow it) and feeds the consumer
through the same ``venue.stream.DurableFeed`` as a thread would: same rows, same
checkpoint, same exactly-once. The child reports its position; the server shows it
as that consumer's feed of its event stream (lag, retention floor, spool limit).

:class:`ConsumerProcess` is the server's trio task: it starts the child
(``python -m server.consumer_process NAME``) with its setup, reads its reports, and
starts it again if it dies (the consumer resumes from its checkpoint). The child
stops when its stdin closes, after the batch in hand.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import msgspec
import trio

from audit.records import Parties
from consumers.audit import AuditTrail
from consumers.database import DatabaseWriter, Seed
from persistence.eventlog import EventLog
from venue.config import AuditConfig, PostgresConfig
from venue.stream import EVENT_LOG_VERSION, DurableFeed, Entry

from . import logs
from .child import json_lines, off_the_servers_cpus

log = logging.getLogger("server.consumer")

RESTART_SECONDS = 5.0
# The child looks for new entries this often when it has caught up. Every look that
# finds some is a batch (a write and an fdatasync for the trail) on a CPU that was
# idle: at 0.01 s the audit child spent 48-60 us an order under load, at 0.1 s 38.
POLL_SECONDS = 0.1
REPORT_SECONDS = 0.1     # and reports its position at most this often
NICE = 5                 # the order path goes first when the cores are busy


class AuditSetup(msgspec.Struct, tag="audit"):
    """What the audit child needs: where things are, ``[audit]``, and who is who."""

    data_dir: str
    event_log: str
    config: AuditConfig
    account_firms: dict[str, str]
    sessions: dict[str, tuple[str, str]]

    name = AuditTrail.name

    def consumer(self) -> AuditTrail:
        return AuditTrail.configured(self.config,
                                     Parties(self.account_firms, self.sessions),
                                     Path(self.data_dir))


class DatabaseSetup(msgspec.Struct, tag="postgres"):
    """What the PostgreSQL writer's child needs: the event log, ``[postgres]`` and the
    starting balances."""

    event_log: str
    config: PostgresConfig
    seed: Seed

    name = DatabaseWriter.name

    def consumer(self) -> DatabaseWriter:
        return DatabaseWriter(self.config.dsn, self.seed, self.config.retention_days)


Setup = AuditSetup | DatabaseSetup


class RemoteFeed:
    """The child's feed as the server's event stream sees it (``venue.stream.Feed``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.position = 0
        self.failures = 0
        self.last_ts = 0    # the timestamp of the last entry written (ns)

    def wake(self) -> None:
        """The child polls the event log: nothing to wake."""

    def stop(self, timeout: float = 5.0) -> None:
        """The child is stopped by its task (``AuditProcess``)."""


class ConsumerProcess:
    """The server's task for one consumer's child process."""

    ADVANCED_EVERY = 1.0   # seconds: how often at most ``advanced`` is set

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.feed = RemoteFeed(setup.name)
        # Set (and replaced) when the consumer's checkpoint moved, at most once a second:
        # journal retention may have segments to delete then.
        self.advanced = trio.Event()
        self._advanced_at = -math.inf

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Keep the child running until cancelled."""
        task_status.started()
        while True:
            code = await self._run_once()
            log.error("the %s consumer's process stopped (exit code %s); starting it again "
                      "in %.0f s (it resumes from its checkpoint)", self.setup.name, code,
                      RESTART_SECONDS)
            await trio.sleep(RESTART_SECONDS)

    async def _run_once(self) -> int | None:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "server.consumer_process", self.setup.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE)
        off_the_servers_cpus(process.pid)
        assert process.stdin is not None and process.stdout is not None
        try:
            await process.stdin.send_all(msgspec.json.encode(self.setup) + b"\n")
            async for report in json_lines(process.stdout):
                self._on_report(report)
            return await process.wait()
        finally:
            # Closing its stdin stops it after the batch in hand; it is not killed, so
            # what it was writing is whole.
            with trio.CancelScope(shield=True):
                await process.stdin.aclose()
                with trio.move_on_after(10):
                    await process.wait()
                if process.returncode is None:
                    process.kill()

    def _on_report(self, report: dict[str, int]) -> None:
        feed = self.feed
        moved = report["position"] != feed.position
        feed.position = report["position"]
        feed.failures = report["failures"]
        feed.last_ts = report["last_ts"]
        now = trio.current_time()
        if moved and now - self._advanced_at >= self.ADVANCED_EVERY:
            self._advanced_at = now
            self.advanced.set()
            self.advanced = trio.Event()


# -- the child ------------------------------------------------------------------------


class _Followed:
    """The event log as the child's feed reads it: refreshed before every read."""

    def __init__(self, event_log: EventLog) -> None:
        self.log = event_log

    @property
    def last_seq(self) -> int:
        self.log.refresh()
        return self.log.last_seq

    def read_after(self, seq: int, max_entries: int) -> list[Entry]:
        self.log.refresh()
        return self.log.read_after(seq, max_entries)


def main() -> int:
    # The server stops the child by closing its stdin; a Ctrl-C or SIGTERM to the
    # process group must not cut it short in the middle of a write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure("INFO", logs.inherited_format())   # as the server logs
    os.nice(NICE)
    setup = msgspec.json.decode(sys.stdin.buffer.readline(), type=Setup)
    event_log = EventLog(setup.event_log, Entry, EVENT_LOG_VERSION, readonly=True)
    consumer = setup.consumer()
    feed = DurableFeed(consumer, _Followed(event_log), poll_seconds=POLL_SECONDS)
    closed = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()     # until the server closes it (or dies)
        closed.set()

    threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()
    feed.start()
    reported = None
    try:
        while True:
            stopping = closed.wait(REPORT_SECONDS)
            report = (feed.position, feed.failures, consumer.last_ts)
            if report != reported:
                reported = report
                line = json.dumps({"position": report[0], "failures": report[1],
                                   "last_ts": report[2]})
                try:
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
                except BrokenPipeError:
                    stopping = True
            if stopping:
                break
    finally:
        # Not longer: a batch cut short by the exit is whole again at the next start
        # (files: the torn tail is cut; Kafka: what the topic has is skipped;
        # PostgreSQL: the transaction never committed).
        feed.stop(timeout=2)
        consumer.close()
        event_log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
