"""persistence.eventlog.EventLog: batches of entries appended, indexed and read back by
sequence number; the tail after a crash; a log that cannot be read is moved aside."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec
import pytest

from persistence.eventlog import EventLog
from persistence.journal import FILE_HEADER_SIZE


class Item(msgspec.Struct, array_like=True, frozen=True):
    """A stand-in entry: the log needs only ``seq``."""

    seq: int
    text: str = ""


VERSION = 1


def items(first: int, last: int) -> list[Item]:
    return [Item(seq, f"entry {seq}") for seq in range(first, last + 1)]


def opened(path: Path, version: int = VERSION) -> EventLog:
    return EventLog(path, Item, version)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "events.log"


def test_a_new_log_is_empty(path: Path) -> None:
    log = opened(path)
    assert (log.last_seq, log.first_seq, log.read_after(0)) == (0, 0, [])
    log.close()


def test_appended_batches_read_back_in_order(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 3))
    log.append(items(4, 4))
    assert log.read_after(0) == items(1, 4)
    log.close()


def test_read_after_starts_inside_a_batch(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 5))
    log.append(items(6, 8))
    assert log.read_after(3) == items(4, 8)
    log.close()


def test_read_after_the_last_entry_is_empty(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 5))
    assert log.read_after(5) == []
    log.close()


def test_read_after_returns_whole_batches_up_to_the_limit(path: Path) -> None:
    log = opened(path)
    for first in range(1, 31, 10):
        log.append(items(first, first + 9))
    assert [i.seq for i in log.read_after(0, max_entries=15)] == list(range(1, 21))
    log.close()


def test_reopened_log_keeps_its_entries_and_last_seq(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 4))
    log.close()
    again = opened(path)
    assert (again.last_seq, again.read_after(2)) == (4, items(3, 4))
    again.close()


def test_an_entry_not_after_the_last_one_is_refused(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 4))
    with pytest.raises(ValueError, match="not after the last one"):
        log.append(items(4, 5))
    log.close()


def test_fill_appends_only_what_the_log_lacks(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 3))
    log.fill(items(1, 2))
    log.fill(items(2, 6))
    assert [i.seq for i in log.read_after(0)] == [1, 2, 3, 4, 5, 6]
    log.close()


def test_a_torn_last_batch_is_dropped_at_open(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 3))
    log.append(items(4, 6))
    log.close()
    path.write_bytes(path.read_bytes()[:-3])
    again = opened(path)
    assert (again.last_seq, [i.seq for i in again.read_after(0)]) == (3, [1, 2, 3])
    again.append(items(4, 5))
    assert again.last_seq == 5
    again.close()


def test_a_log_corrupt_in_the_middle_is_moved_aside_and_started_anew(path: Path) -> None:
    log = opened(path)
    log.append(items(1, 3))
    log.append(items(4, 6))
    log.close()
    data = bytearray(path.read_bytes())
    data[FILE_HEADER_SIZE + 20] ^= 0xFF            # inside the first record's payload
    path.write_bytes(bytes(data))
    again = opened(path)
    assert again.last_seq == 0
    again.close()
    assert (path.parent / "events.log.unreadable").read_bytes() == bytes(data)


def test_a_log_of_another_version_is_moved_aside(path: Path) -> None:
    log = opened(path, version=1)
    log.append(items(1, 3))
    log.close()
    again = opened(path, version=2)
    assert again.last_seq == 0
    again.close()
    assert (path.parent / "events.log.unreadable").exists()


def test_a_second_unreadable_log_does_not_overwrite_the_first(path: Path) -> None:
    for version in (1, 2, 3):
        log = opened(path, version)
        log.append(items(1, 1))
        log.close()
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "events.log", "events.log.unreadable", "events.log.unreadable.1"]


def test_a_reader_thread_sees_every_batch_while_they_are_appended(path: Path) -> None:
    log = opened(path)
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        position = 0
        while position < 2_000:
            for item in log.read_after(position, max_entries=50):
                seen.append(item.seq)
                position = item.seq
        done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    for first in range(1, 2_001, 20):
        log.append(items(first, first + 19))
    assert done.wait(10)
    thread.join()
    log.close()
    assert seen == list(range(1, 2_001))


def test_a_read_only_log_sees_the_writers_records_and_changes_nothing(path: Path) -> None:
    writer = opened(path)
    writer.append(items(1, 3))
    size = path.stat().st_size
    reader = EventLog(path, Item, VERSION, readonly=True)
    seen = reader.read_after(0)
    reader.close()
    writer.append(items(4, 4))
    assert seen == items(1, 3) and path.stat().st_size == size
    writer.close()


def test_a_read_only_log_refuses_appends(path: Path) -> None:
    opened(path).close()
    reader = EventLog(path, Item, VERSION, readonly=True)
    with pytest.raises(ValueError, match="read-only"):
        reader.append(items(1, 1))
    reader.close()


def test_a_read_only_log_refreshed_sees_what_was_appended_since(path: Path) -> None:
    writer = opened(path)
    writer.append(items(1, 3))
    reader = EventLog(path, Item, VERSION, readonly=True)
    writer.append(items(4, 5))
    assert reader.read_after(0) == items(1, 3)       # until it refreshes
    assert reader.refresh() == 1
    assert (reader.last_seq, reader.read_after(2)) == (5, items(3, 5))
    assert reader.refresh() == 0
    reader.close()
    writer.close()


def test_a_read_only_log_opened_empty_follows_from_the_first_batch(path: Path) -> None:
    writer = opened(path)
    reader = EventLog(path, Item, VERSION, readonly=True)
    writer.append(items(1, 2))
    writer.append(items(3, 3))
    reader.refresh()
    assert reader.read_after(0) == items(1, 3)
    reader.close()
    writer.close()


def two_batches(path: Path) -> tuple[bytes, int, int]:
    """A log of two one-entry batches: its bytes and where each batch ends."""
    writer = opened(path)
    writer.append(items(1, 1))
    writer.append(items(2, 2))
    writer.close()
    full = EventLog(path, Item, VERSION, readonly=True)
    ends = full._ends[0], full._ends[1]
    full.close()
    return path.read_bytes(), *ends


def test_a_refresh_does_not_see_a_batch_half_written(path: Path) -> None:
    whole, first_end, second_end = two_batches(path)
    path.write_bytes(whole[:first_end])
    reader = EventLog(path, Item, VERSION, readonly=True)
    path.write_bytes(whole[:second_end - 3])        # the writer is in the middle of it
    assert reader.refresh() == 0 and reader.last_seq == 1
    path.write_bytes(whole)                          # done
    assert reader.refresh() == 1 and reader.read_after(1) == items(2, 2)
    reader.close()


def test_a_read_only_log_opened_while_a_batch_is_half_written_sees_the_ones_before(
        path: Path) -> None:
    whole, _, second_end = two_batches(path)
    # The second batch half there, then the zeros a writer preallocates.
    path.write_bytes(whole[:second_end - 3] + bytes(1 << 16))
    reader = EventLog(path, Item, VERSION, readonly=True)
    assert (reader.last_seq, reader.read_after(0)) == (1, items(1, 1))
    reader.close()
