"""The event stream (venue.stream): every consumer sees every entry of every durable
batch, in order; a durable consumer, fed from the event log, sees each exactly once
across its own outages and the server's restarts, a kill -9 included.

The reference for "every entry" is an independent replay of the journal into a
fresh exchange: the core is deterministic, so its entries are the truth.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from matching.events import BookChanged, Settlement, Trade
from persistence.eventlog import EventLog
from server.compose import event_log_path
from venue.commands import EndTradingDay, KillSwitch
from venue.stream import EVENT_LOG_VERSION, DurableFeed, Entry

from .stream_kit import REPO_ROOT, SECOND, T0, EntryFile, run, server, trading_day

DAY = trading_day()


class Recorder:
    """An in-process consumer that keeps what it is given."""

    def __init__(self) -> None:
        self.batches: list[list[Entry]] = []

    def on_batch(self, entries: Sequence[Entry]) -> None:
        self.batches.append(list(entries))

    @property
    def entries(self) -> list[Entry]:
        return [e for batch in self.batches for e in batch]


def reference(data_dir: Path) -> list[Entry]:
    """Every entry of the journal in ``data_dir``, replayed by a fresh exchange."""
    replayed: list[Entry] = []
    srv = server(data_dir.parent / (data_dir.name + "-replica"))
    assert srv.exchange is not None
    srv.exchange.journal_path = data_dir / "journal" / "commands.wal"
    srv.exchange.replay(replayed=replayed.extend)
    srv.close()
    return replayed


def seqs(entries: Sequence[Entry]) -> list[int]:
    return [e.seq for e in entries]


# -- in process -------------------------------------------------------------------------


def test_an_in_process_consumer_gets_each_batch_as_it_is_flushed(tmp_path: Path) -> None:
    srv = server(tmp_path)
    recorder = Recorder()
    assert srv.stream is not None
    srv.stream.subscribe(recorder)
    run(srv, DAY[:6], batch=3)
    srv.close()
    assert [seqs(b) for b in recorder.batches] == [[1, 2, 3], [4, 5, 6]]


def test_entries_hold_the_command_its_events_and_its_reports(tmp_path: Path) -> None:
    srv = server(tmp_path)
    recorder = Recorder()
    assert srv.stream is not None
    srv.stream.subscribe(recorder)
    run(srv, DAY[:4])
    srv.close()
    crossing = recorder.entries[3]                  # b2 buys through s1 and s2
    kinds = [type(e) for e in crossing.events]
    assert crossing.command == DAY[3]
    assert kinds.count(Trade) == 2 and kinds.count(Settlement) == 2
    assert BookChanged in kinds
    assert [r.exec_type for r in crossing.reports] == ["0", "F", "F", "F", "F"]


def test_each_trade_is_followed_by_its_settlement(tmp_path: Path) -> None:
    srv = server(tmp_path)
    recorder = Recorder()
    assert srv.stream is not None
    srv.stream.subscribe(recorder)
    run(srv, DAY)
    srv.close()
    for entry in recorder.entries:
        for i, event in enumerate(entry.events):
            if type(event) is Trade:
                settlement = entry.events[i + 1]
                assert type(settlement) is Settlement
                assert settlement.trade_id == event.trade_id


def test_a_failing_consumer_does_not_stop_the_others(tmp_path: Path) -> None:
    class Broken:
        def on_batch(self, entries: Sequence[Entry]) -> None:
            raise RuntimeError("bug")

    srv = server(tmp_path)
    recorder = Recorder()
    assert srv.stream is not None
    srv.stream.subscribe(Broken())
    srv.stream.subscribe(recorder)
    run(srv, DAY[:3])
    errors = srv.stream.consumer_errors
    srv.close()
    assert (seqs(recorder.entries), errors) == ([1, 2, 3], 1)


def test_in_process_consumers_see_the_same_entries_as_a_replay(tmp_path: Path) -> None:
    srv = server(tmp_path)
    recorder = Recorder()
    assert srv.stream is not None
    srv.stream.subscribe(recorder)
    run(srv, DAY)
    srv.close()
    assert recorder.entries == reference(tmp_path)


# -- durable, in process ----------------------------------------------------------------


def test_a_durable_consumer_gets_the_whole_day_exactly_once(tmp_path: Path) -> None:
    consumer = EntryFile(tmp_path / "consumer.jsonl")
    srv = server(tmp_path / "data", consumer)
    run(srv, DAY)
    assert consumer.wait_for(len(DAY))
    srv.close()
    assert consumer.entries() == reference(tmp_path / "data")


def test_a_durable_consumer_gets_every_entry_across_a_restart(tmp_path: Path) -> None:
    consumer = EntryFile(tmp_path / "consumer.jsonl")
    first = server(tmp_path / "data", consumer)
    run(first, DAY[:11])
    assert consumer.wait_for(11)
    first.close()
    second = server(tmp_path / "data", EntryFile(consumer.path), start_ns=T0 + 30 * SECOND)
    run(second, DAY[11:])
    assert consumer.wait_for(len(DAY))
    second.close()
    got = consumer.entries()
    assert seqs(got) == list(range(1, len(DAY) + 1))
    assert got == reference(tmp_path / "data")


def test_a_consumer_added_later_is_given_the_day_from_its_start(tmp_path: Path) -> None:
    first = server(tmp_path / "data")
    run(first, DAY[:15])
    first.close()
    consumer = EntryFile(tmp_path / "late.jsonl")
    second = server(tmp_path / "data", consumer, start_ns=T0 + 30 * SECOND)
    run(second, DAY[15:])
    assert consumer.wait_for(len(DAY))
    second.close()
    assert consumer.entries() == reference(tmp_path / "data")


def test_a_consumer_down_for_a_while_catches_up_without_loss_or_repeat(
        tmp_path: Path) -> None:
    consumer = EntryFile(tmp_path / "consumer.jsonl")
    srv = server(tmp_path / "data", consumer)
    run(srv, DAY[:5])
    assert consumer.wait_for(5)
    assert srv.stream is not None
    # The feed moves its position just after the consumer has written the entries.
    deadline = time.monotonic() + 10
    while srv.stream.status()[consumer.name]["position"] < 5:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    consumer.fail = True
    run(srv, DAY[5:15])
    lagging = srv.stream.status()[consumer.name]
    consumer.fail = False
    run(srv, DAY[15:])
    assert consumer.wait_for(len(DAY))
    srv.close()
    assert lagging["lag"] > 0 and lagging["position"] == 5
    assert consumer.entries() == reference(tmp_path / "data")


def test_a_consumer_whose_store_is_down_at_start_is_fed_once_it_is_up(
        tmp_path: Path) -> None:
    first = server(tmp_path / "data")
    run(first, DAY[:6])
    first.close()
    consumer = EntryFile(tmp_path / "consumer.jsonl")
    consumer.fail = True
    DurableFeed.RETRY_SECONDS, retry = 0.05, DurableFeed.RETRY_SECONDS
    try:
        second = server(tmp_path / "data", consumer, start_ns=T0 + 30 * SECOND)
        assert second.stream is not None
        failures = 0
        for _ in range(200):
            failures = second.stream.status()[consumer.name]["failures"]
            if failures:
                break
            time.sleep(0.01)
        consumer.fail = False
        run(second, DAY[6:9])
        assert consumer.wait_for(9)
        second.close()
    finally:
        DurableFeed.RETRY_SECONDS = retry
    assert failures > 0
    assert consumer.entries() == reference(tmp_path / "data")


def test_a_stopped_server_leaves_the_consumer_at_its_checkpoint(tmp_path: Path) -> None:
    consumer = EntryFile(tmp_path / "consumer.jsonl")
    consumer.fail = True
    srv = server(tmp_path / "data", consumer)
    run(srv, DAY[:6])
    srv.close()
    consumer.fail = False
    again = server(tmp_path / "data", consumer, start_ns=T0 + 30 * SECOND)
    assert consumer.wait_for(6)
    again.close()
    assert seqs(consumer.entries()) == [1, 2, 3, 4, 5, 6]


def test_a_lost_event_log_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    consumer = EntryFile(tmp_path / "consumer.jsonl")
    first = server(tmp_path / "data", consumer)
    run(first, DAY[:8])
    assert consumer.wait_for(8)
    first.close()
    assert first.exchange is not None
    event_log_path(first.exchange).unlink()
    second = server(tmp_path / "data", consumer, start_ns=T0 + 30 * SECOND)
    run(second, DAY[8:])
    assert consumer.wait_for(len(DAY))
    second.close()
    assert consumer.entries() == reference(tmp_path / "data")


def test_the_day_covers_what_consumers_must_see(tmp_path: Path) -> None:
    srv = server(tmp_path)
    recorder = Recorder()
    assert srv.stream is not None
    srv.stream.subscribe(recorder)
    run(srv, DAY)
    srv.close()
    events = {type(e).__name__ for entry in recorder.entries for e in entry.events}
    execs = {r.exec_type for entry in recorder.entries for r in entry.reports
             if hasattr(r, "exec_type")}
    commands = {type(entry.command) for entry in recorder.entries}
    assert {"Accepted", "Rejected", "Trade", "Settlement", "BookChanged", "Cancelled",
            "Replaced", "Expired", "MassCancelDone"} <= events
    assert {"0", "F", "4", "5", "8", "C"} <= execs
    assert {KillSwitch, EndTradingDay} <= commands


# -- durable, across a kill -9 --------------------------------------------------------------


def day_part(data_dir: Path, out: Path, first: int, last: int, kill: bool) -> int:
    """Run commands first..last-1 of the day in a server process of its own."""
    args = [sys.executable, "-m", "tests.venue.stream_kit", str(data_dir), str(out),
            str(first), str(last)] + (["--kill"] if kill else [])
    return subprocess.run(args, cwd=REPO_ROOT, timeout=60).returncode


@pytest.mark.slow
@pytest.mark.parametrize("cut", [4, 13])
def test_a_durable_consumer_gets_every_entry_across_a_kill_9(tmp_path: Path, cut: int) -> None:
    out = tmp_path / "consumer.jsonl"
    assert day_part(tmp_path / "data", out, 0, cut, kill=True) == -9
    assert day_part(tmp_path / "data", out, cut, len(DAY), kill=False) == 0
    got = EntryFile(out).entries()
    assert seqs(got) == list(range(1, len(DAY) + 1))
    assert got == reference(tmp_path / "data")


# -- the event log written off the order path -------------------------------------------


def test_with_a_driver_the_log_waits_for_write_log(tmp_path: Path) -> None:
    srv = server(tmp_path)
    assert srv.stream is not None and srv.event_log is not None
    calls: list[int] = []
    srv.stream.on_unwritten = lambda: calls.append(1)
    run(srv, DAY[:3], batch=3)
    before = srv.event_log.last_seq
    srv.stream.write_log()
    after = srv.event_log.last_seq
    srv.close()
    assert (calls, before, after) == ([1], 0, 3)


def test_closing_the_stream_writes_what_is_left(tmp_path: Path) -> None:
    srv = server(tmp_path)
    assert srv.stream is not None and srv.event_log is not None
    srv.stream.on_unwritten = lambda: None
    run(srv, DAY[:5])
    srv.close()
    on_disk = EventLog(srv.event_log.path, Entry, EVENT_LOG_VERSION, readonly=True)
    last = on_disk.last_seq
    on_disk.close()
    assert last == 5


def test_in_process_consumers_are_not_delayed_by_a_deferred_log(tmp_path: Path) -> None:
    srv = server(tmp_path)
    recorder = Recorder()
    assert srv.stream is not None
    srv.stream.subscribe(recorder)
    srv.stream.on_unwritten = lambda: None
    run(srv, DAY[:4], batch=2)
    srv.close()
    assert [seqs(b) for b in recorder.batches] == [[1, 2], [3, 4]]
