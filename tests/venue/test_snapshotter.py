"""The snapshotter (``python -m venue.snapshotter``): a process of its own that follows
the journal the exchange writes, with a core of its own, and writes the snapshots.

Specified here, with the snapshotter as a real child process talking JSON lines over
its stdin and stdout, and the journal written by a real in-process exchange (the
shipped exchange.toml, fsync off):

* it answers its setup with ``ready`` and the seq it loaded;
* ``snapshot`` writes one that covers every command flushed so far, including those
  flushed after it started, across journal segment rolls, and that loads into an
  exchange with exactly the writer's state; with nothing new it answers
  ``"new": false`` and writes nothing;
* every ``interval`` seconds it writes one on its own, only when there is something
  new, and keeps only the newest ``keep`` snapshot files;
* it never modifies the journal, not even a torn last record, and never snapshots
  past the last whole record;
* an unknown command is answered with an ``error`` event;
* ``stop``, and the end of its stdin, make it exit with status 0 at once.

Every read from the child has a timeout (a reader thread and a queue): a child that
hangs fails its test instead of hanging the run; every child is killed at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from matching.constants import BUY, SELL
from persistence.journal import JournalCorrupt, encode_record
from persistence.segments import segment_files
from persistence.snapshots import SnapshotFile, snapshot_path
from venue import snapshot as core_state
from venue import snapshotter as snapshotter_module
from venue.commands import Command
from venue.config import ExchangeConfig
from venue.exchange import Exchange
from venue.snapshotter import Setup, Snapshotter

from . import support
from .support import REPO, px
from .test_snapshot_recovery import config, run
from .test_snapshot_recovery import exchange as writer

B1 = "FIX.4.4:EXCH->BRK1"
B2 = "FIX.4.2:EXCH->BRK2"
T0 = 1_750_000_000_000_000_000
TIMEOUT = 10.0          # seconds any one answer of the child may take


def state(ex: Exchange) -> bytes:
    return core_state.encode(core_state.capture(ex, ex.applied_seq, ex.last_ts))


def loaded_from(data_dir: Path, cfg: ExchangeConfig | None = None) -> tuple[Exchange, int]:
    """A fresh exchange loaded from ``data_dir`` without touching it; and how many
    journal commands it replayed after the snapshot it loaded."""
    ex = Exchange(cfg or config(), data_dir)
    ex.add_session(B1, "BRK1")
    ex.add_session(B2, "BRK2")
    return ex, ex.load(repair=False)


def orders(n: int, start: int = 0) -> list[Command]:
    """``n`` orders that rest (buys below and sells above the reference price), and
    every third one crosses the previous resting sell."""
    out: list[Command] = []
    for i in range(start, start + n):
        if i % 3 == 2:
            out.append(support.new(B2, f"x{i}", BUY, 5, px("190.50"), symbol="AAPL"))
        elif i % 2:
            out.append(support.new(B2, f"b{i}", BUY, 10, px("189.00"), symbol="AAPL"))
        else:
            out.append(support.new(B1, f"s{i}", SELL, 10, px("190.50"), symbol="AAPL"))
    return out


def journal_bytes(data_dir: Path) -> dict[str, str]:
    """sha256 of every journal segment's bytes, by file name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in segment_files(data_dir / "journal" / "commands.wal")}


def snapshot_seqs(data_dir: Path) -> list[int]:
    directory = data_dir / "snapshots"
    return sorted(int(p.stem) for p in directory.glob("*.snapshot")) if directory.is_dir() \
        else []


# -- the child --------------------------------------------------------------------------------


class Child:
    """A ``python -m venue.snapshotter`` process; its events, read with a timeout."""

    def __init__(self, ex: Exchange, stderr: Path, *, interval: float = 0.0,
                 keep: int = 3) -> None:
        setup = Setup(ex.config, str(ex.data_dir), sorted(ex.comp_ids.items()), interval,
                      keep)
        self.stderr_path = stderr
        self._stderr = open(stderr, "wb")      # closed in kill()
        self.process = subprocess.Popen([sys.executable, "-m", "venue.snapshotter"],
                                        cwd=REPO, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._stderr)
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send(msgspec.json.encode(setup).decode())

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)          # end of its stdout

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def event(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no event from the snapshotter in {timeout} s; its log:\n{self.log()}")
        if event is None:
            pytest.fail(f"the snapshotter closed its stdout (exit status "
                        f"{self.process.poll()}); its log:\n{self.log()}")
        return event

    def no_event(self, seconds: float) -> None:
        try:
            event = self.events.get(timeout=seconds)
        except queue.Empty:
            return
        pytest.fail(f"unexpected event from the snapshotter: {event}")

    def ready(self) -> dict[str, Any]:
        event = self.event()
        assert event["event"] == "ready", event
        return event

    def snapshot(self) -> dict[str, Any]:
        self.send("snapshot")
        event = self.event()
        assert event["event"] == "snapshot", event
        return event

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the snapshotter did not exit in {timeout} s; its log:\n{self.log()}")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start a snapshotter for an exchange (killed at the end of the test)."""
    children: list[Child] = []

    def start(ex: Exchange, **options: Any) -> Child:
        child = Child(ex, tmp_path / f"snapshotter{len(children)}.log", **options)
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            child.kill()


# -- ready --------------------------------------------------------------------------------------


def test_it_reports_ready_with_the_seq_of_the_end_of_the_journal(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(3))
    ex.write_snapshot()
    run(ex, orders(4, start=3))
    ready = start(ex).ready()
    assert ready["seq"] == ex.applied_seq == 7
    assert ready["seconds"] >= 0


def test_it_reports_ready_at_seq_0_on_a_journal_without_commands(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    assert start(ex).ready()["seq"] == 0


# -- snapshot on request ----------------------------------------------------------------------


def test_a_snapshot_covers_every_command_flushed_and_loads_into_the_writers_state(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(7))
    child = start(ex)
    child.ready()
    event = child.snapshot()
    path = snapshot_path(tmp_path / "data" / "snapshots", 7)
    assert event == {"event": "snapshot", "new": True, "seq": 7, "file": path.name,
                     "seconds": event["seconds"], "orders": len(ex.engine.orders),
                     "bytes": path.stat().st_size}
    loaded, replayed = loaded_from(tmp_path / "data")
    assert (loaded.snapshot_seq, replayed) == (7, 0)
    assert state(loaded) == state(ex)


def test_the_snapshot_names_where_the_journal_goes_on_after_it(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(5))
    child = start(ex)
    child.ready()
    child.snapshot()
    assert ex.journal is not None
    header = SnapshotFile(snapshot_path(tmp_path / "data" / "snapshots", 5)).header
    assert (header.seq, header.ts) == (5, ex.last_ts)
    assert (header.journal_file, header.journal_offset) == ("commands.wal", ex.journal.end)


def test_a_snapshot_with_nothing_new_answers_new_false_and_writes_nothing(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(4))
    child = start(ex)
    child.ready()
    first = child.snapshot()
    files = sorted((tmp_path / "data" / "snapshots").iterdir())
    again = child.snapshot()
    assert again == {"event": "snapshot", "new": False, "seq": 4, "file": first["file"]}
    assert sorted((tmp_path / "data" / "snapshots").iterdir()) == files


def test_a_snapshot_of_an_empty_journal_answers_new_false_and_names_no_file(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    child = start(ex)
    child.ready()
    assert child.snapshot() == {"event": "snapshot", "new": False, "seq": 0, "file": None}
    assert snapshot_seqs(tmp_path / "data") == []


def test_it_follows_the_commands_flushed_after_it_started(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(3))
    child = start(ex)
    assert child.ready()["seq"] == 3
    run(ex, orders(5, start=3))
    assert child.snapshot()["seq"] == 8
    run(ex, orders(2, start=8))
    assert child.snapshot()["seq"] == 10
    loaded, replayed = loaded_from(tmp_path / "data")
    assert (loaded.snapshot_seq, replayed) == (10, 0)
    assert state(loaded) == state(ex)


def test_it_follows_the_journal_across_segment_rolls(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    cfg = config(journal_segment_mb=0)        # every batch starts a new segment
    ex = writer(tmp_path / "data", cfg)
    run(ex, orders(3), batch=1)
    child = start(ex)
    assert child.ready()["seq"] == 3
    run(ex, orders(8, start=3), batch=2)
    segments = segment_files(tmp_path / "data" / "journal" / "commands.wal")
    assert len(segments) >= 7
    assert child.snapshot()["seq"] == 11
    header = SnapshotFile(snapshot_path(tmp_path / "data" / "snapshots", 11)).header
    assert (header.journal_file, header.journal_offset) == (segments[-1].name, 32)
    loaded, replayed = loaded_from(tmp_path / "data", cfg)
    assert (loaded.snapshot_seq, replayed) == (11, 0)
    assert state(loaded) == state(ex)


# -- on its own ---------------------------------------------------------------------------------


def test_it_writes_a_snapshot_every_interval_when_there_is_something_new(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(3))
    child = start(ex, interval=0.1)
    child.ready()
    first = child.event()
    assert (first["event"], first["new"], first["seq"]) == ("snapshot", True, 3)
    run(ex, orders(2, start=3))         # one batch: normally one snapshot at 5
    later = [child.event()]
    while later[-1]["seq"] < 5:
        later.append(child.event())
    assert [(e["event"], e["new"]) for e in later] == [("snapshot", True)] * len(later)
    assert [e["seq"] for e in later] in ([5], [4, 5])
    assert snapshot_seqs(tmp_path / "data")[-1] == 5


def test_it_writes_no_periodic_snapshot_when_nothing_is_new(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(3))
    child = start(ex, interval=0.05)
    child.ready()
    assert child.event()["seq"] == 3
    child.no_event(0.5)        # ten intervals
    assert snapshot_seqs(tmp_path / "data") == [3]


def test_it_keeps_only_the_newest_keep_snapshots(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    child = start(ex, keep=2)
    child.ready()
    kept = []
    for i in range(5):
        run(ex, orders(1, start=i))
        event = child.snapshot()
        assert event["new"] is True
        kept.append(snapshot_seqs(tmp_path / "data"))
    assert kept == [[1], [1, 2], [2, 3], [3, 4], [4, 5]]


def test_it_keeps_only_keep_snapshots_counting_those_already_there(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    for i in range(3):
        run(ex, orders(1, start=i))
        ex.write_snapshot()
    run(ex, orders(1, start=3))
    child = start(ex, keep=2)
    child.ready()
    assert child.snapshot()["seq"] == 4
    assert snapshot_seqs(tmp_path / "data") == [3, 4]


# -- the journal is the exchange's ------------------------------------------------------------


def test_it_never_modifies_the_journal_nor_snapshots_past_a_torn_last_record(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    data_dir = tmp_path / "data"
    ex = writer(data_dir)
    run(ex, orders(4))
    child = start(ex)
    assert child.ready()["seq"] == 4
    run(ex, orders(3, start=4))
    ex.close(snapshot=False)        # the journal now ends with record 7
    journal = data_dir / "journal" / "commands.wal"
    whole = journal.stat().st_size
    torn = encode_record(b"\x93\x08\x01\x02\x03\x04\x05")[:-3]   # record 8, cut short
    with open(journal, "ab") as f:
        f.write(torn)
    before = journal_bytes(data_dir)
    time.sleep(0.2)                 # it polls the torn record meanwhile
    event = child.snapshot()
    assert (event["new"], event["seq"]) == (True, 7)
    header = SnapshotFile(snapshot_path(data_dir / "snapshots", 7)).header
    assert (header.journal_file, header.journal_offset) == ("commands.wal", whole)
    child.send("stop")
    assert child.wait() == 0
    assert journal_bytes(data_dir) == before
    assert journal.read_bytes().endswith(torn)


def test_a_torn_record_in_the_preallocated_tail_of_a_running_journal_is_not_snapshotted(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    data_dir = tmp_path / "data"
    ex = writer(data_dir)           # stays open: zeros are preallocated after its records
    run(ex, orders(5))
    child = start(ex)
    child.ready()
    assert ex.journal is not None
    end = ex.journal.end
    journal = data_dir / "journal" / "commands.wal"
    assert journal.stat().st_size > end
    torn = encode_record(b"\x93\x06\x01\x02\x03\x04\x05")[:-3]   # record 6, half written
    with open(journal, "r+b") as f:
        f.seek(end)
        f.write(torn)
    before = journal_bytes(data_dir)
    time.sleep(0.2)
    event = child.snapshot()
    assert (event["new"], event["seq"]) == (True, 5)
    header = SnapshotFile(snapshot_path(data_dir / "snapshots", 5)).header
    assert (header.journal_file, header.journal_offset) == ("commands.wal", end)
    child.send("stop")
    assert child.wait() == 0
    assert journal_bytes(data_dir) == before


def test_it_never_modifies_any_segment_of_a_running_exchanges_journal(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    data_dir = tmp_path / "data"
    ex = writer(data_dir, config(journal_segment_mb=0))
    run(ex, orders(4), batch=2)
    child = start(ex, interval=0.05)
    child.ready()
    run(ex, orders(6, start=4), batch=2)
    assert child.snapshot()["seq"] == 10
    before = journal_bytes(data_dir)
    assert len(before) >= 5
    child.send("stop")
    assert child.wait() == 0
    assert journal_bytes(data_dir) == before


# -- commands and stopping --------------------------------------------------------------------


def test_an_unknown_command_is_answered_with_an_error_and_it_carries_on(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(2))
    child = start(ex)
    child.ready()
    child.send("snapshto")
    assert child.event() == {"event": "error", "text": "unknown command 'snapshto'"}
    assert child.snapshot()["seq"] == 2


def test_stop_makes_it_exit_with_status_0_at_once(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(2))
    child = start(ex)
    child.ready()
    t0 = time.monotonic()
    child.send("stop")
    assert child.wait() == 0
    assert time.monotonic() - t0 < 3.0


def test_the_end_of_its_stdin_makes_it_exit_with_status_0_at_once(
        tmp_path: Path, start: Callable[..., Child]) -> None:
    ex = writer(tmp_path / "data")
    run(ex, orders(2))
    child = start(ex, interval=0.05)
    child.ready()
    t0 = time.monotonic()
    assert child.process.stdin is not None
    child.process.stdin.close()
    assert child.wait() == 0
    assert time.monotonic() - t0 < 3.0


def test_the_end_of_its_stdin_before_the_setup_makes_it_exit_with_status_0(
        tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "venue.snapshotter"], cwd=REPO,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0
    assert out == b""


def test_an_exchange_gone_while_it_writes_a_snapshot_stops_it_quietly(tmp_path: Path) -> None:
    # A kill -9 of the exchange closes the pipes under a snapshot being written: the
    # snapshot is finished (it is of the journal, which stays true) and it exits.
    ex = writer(tmp_path / "data")
    run(ex, orders(4))
    setup = Setup(ex.config, str(ex.data_dir), sorted(ex.comp_ids.items()), 0.0, 3)
    stderr = tmp_path / "snapshotter.log"
    with open(stderr, "wb") as err:
        process = subprocess.Popen([sys.executable, "-m", "venue.snapshotter"], cwd=REPO,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(msgspec.json.encode(setup) + b"\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["event"] == "ready"
        process.stdout.close()
        process.stdin.write(b"snapshot\n")
        process.stdin.flush()
        try:
            assert process.wait(TIMEOUT) == 0
        finally:
            process.kill()
            process.stdin.close()
    log = stderr.read_text()
    assert "the exchange is gone" in log and "Traceback" not in log, log
    assert snapshot_seqs(tmp_path / "data") == [4]


# -- loading a live journal ------------------------------------------------------------------

# Bytes where a record header should be that fail its checksum, with more after them: what a
# read catches when the exchange is in the middle of writing a batch.
HALF_WRITTEN = b"\x2a\x00\x00\x00\x01\x02" + b"\xff" * 40


def _caught_mid_write(tmp_path: Path) -> tuple[Exchange, Path, int]:
    data_dir = tmp_path / "data"
    ex = writer(data_dir)
    run(ex, orders(4))
    ex.close(snapshot=False)
    journal = data_dir / "journal" / "commands.wal"
    whole = journal.stat().st_size
    with open(journal, "ab") as f:
        f.write(HALF_WRITTEN)
    return ex, journal, whole


def test_a_journal_caught_mid_write_is_loaded_again_from_scratch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, journal, whole = _caught_mid_write(tmp_path)
    retries = []

    def write_completes(seconds: float) -> None:   # the exchange finishes its write
        retries.append(seconds)
        os.truncate(journal, whole)

    monkeypatch.setattr(snapshotter_module.time, "sleep", write_completes)
    snap = Snapshotter(Setup(ex.config, str(ex.data_dir), sorted(ex.comp_ids.items()), 0.0, 3))
    snap.load()
    assert len(retries) == 1
    assert snap.exchange.last_seq == 4
    again = writer(ex.data_dir)     # the same journal, recovered by a writer of its own
    assert core_state.encode(core_state.capture(snap.exchange, 4, 0)) == \
        core_state.encode(core_state.capture(again, 4, 0))


def test_a_journal_still_corrupt_after_the_attempts_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, _, _ = _caught_mid_write(tmp_path)
    monkeypatch.setattr(snapshotter_module.time, "sleep", lambda seconds: None)
    snap = Snapshotter(Setup(ex.config, str(ex.data_dir), sorted(ex.comp_ids.items()), 0.0, 3))
    with pytest.raises(JournalCorrupt):
        snap.load(attempts=3)
