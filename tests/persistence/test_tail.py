"""Following a journal another writer appends to (persistence.tail.JournalTail).

A tail returns, at each ``read``, the complete records written since the last one,
in order, each with the position after it (segment file name, offset); it moves to
the next segment once the writer has started it, resumes at a position a previous
read gave, and never repairs, truncates or otherwise writes the files: a record
still being written, or the writer's preallocated zero tail, is simply not there
yet. A segment whose header is not written yet is waited for; one of another kind
is refused.

The writer is a real ``SegmentedJournal`` on a temporary directory (fsync off);
half-written records are made here with ``os.pwrite`` of ``encode_record`` bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from persistence import tail as tail_module
from persistence.journal import (
    FILE_HEADER_SIZE,
    RECORD_HEADER_SIZE,
    Journal,
    JournalFormatError,
    encode_record,
)
from persistence.segments import SegmentedJournal, segment_files, segment_path
from persistence.tail import JournalTail

REPO = Path(__file__).resolve().parents[2]
KIND, VERSION = "commands", 1
BIG = 1 << 20          # a segment size no test reaches: one segment


def writer(path: Path, segment_bytes: int = BIG) -> SegmentedJournal:
    return SegmentedJournal(path, kind=KIND, schema_version=VERSION, fsync=False,
                            segment_bytes=segment_bytes)


def tail(path: Path, position: tuple[str, int] | None = None) -> JournalTail:
    return JournalTail(path, kind=KIND, schema_version=VERSION, position=position)


def commit(journal: SegmentedJournal, payloads: list[bytes], next_seq: int) -> int:
    """Append and commit one batch, then let the writer roll as the exchange does; the
    seq after the batch."""
    for payload in payloads:
        journal.append(payload)
    journal.commit()
    next_seq += len(payloads)
    journal.roll_if_full(next_seq)
    return next_seq


def after(offset: int, payload: bytes) -> int:
    """The offset after ``payload``'s record at ``offset``."""
    return offset + RECORD_HEADER_SIZE + len(payload)


def files_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in segment_files(path)}


# -- records as they are appended -------------------------------------------------------


def test_records_appended_after_the_tail_was_created_are_read_in_order_with_positions(
        tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    t = tail(path)
    commit(journal, [b"a", b"bb"], 1)
    commit(journal, [b"ccc"], 3)
    first = after(FILE_HEADER_SIZE, b"a")
    assert t.read() == [(b"a", ("commands.wal", first)),
                        (b"bb", ("commands.wal", after(first, b"bb"))),
                        (b"ccc", ("commands.wal", after(after(first, b"bb"), b"ccc")))]


def test_a_read_with_nothing_new_returns_nothing(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    t = tail(path)
    commit(journal, [b"a"], 1)
    assert [p for p, _ in t.read()] == [b"a"]
    assert t.read() == []


def test_each_read_returns_only_what_was_committed_since_the_last(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    t = tail(path)
    commit(journal, [b"a"], 1)
    got = [[p for p, _ in t.read()]]
    commit(journal, [b"b", b"c"], 2)
    got.append([p for p, _ in t.read()])
    assert got == [[b"a"], [b"b", b"c"]]


def test_the_position_is_after_the_last_record_read(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    t = tail(path)
    commit(journal, [b"a", b"bb"], 1)
    records = t.read()
    assert t.position == records[-1][1] == ("commands.wal", journal.end)


def test_a_tail_of_a_journal_not_created_yet_reads_it_once_it_is(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "commands.wal"
    t = tail(path)
    assert (t.read(), t.position) == ([], ("commands.wal", FILE_HEADER_SIZE))
    commit(writer(path), [b"a"], 1)
    assert [p for p, _ in t.read()] == [b"a"]


def test_records_bigger_than_a_read_chunk_are_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes=64 << 20)
    t = tail(path)
    big = [bytes([i]) * (tail_module.CHUNK + 1000) for i in range(1, 3)]
    commit(journal, [b"small", *big, b"end"], 1)
    assert [p for p, _ in t.read()] == [b"small", *big, b"end"]


def test_records_beyond_the_first_read_chunk_are_read_in_the_same_read(tmp_path: Path
                                                                        ) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes=64 << 20)
    t = tail(path)
    payloads = [bytes([i]) * (tail_module.CHUNK // 3) for i in range(1, 8)]
    commit(journal, payloads, 1)
    assert [p for p, _ in t.read()] == payloads


def test_many_small_records_beyond_the_smallest_read_chunk_are_read_in_one_read(
        tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes=64 << 20)
    t = tail(path)
    payloads = [b"%07d" % i * 10 for i in range(3 * tail_module.MIN_CHUNK // 70)]
    commit(journal, payloads, 1)
    assert [p for p, _ in t.read(max_records=len(payloads))] == payloads


# -- what is not a record (yet) ---------------------------------------------------------


@pytest.mark.parametrize("cut", [4, RECORD_HEADER_SIZE, RECORD_HEADER_SIZE + 5],
                         ids=["in the header", "after the header", "in the payload"])
def test_a_record_written_in_two_halves_is_returned_only_once_complete(
        tmp_path: Path, cut: int) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a"], 1)
    t = tail(path)
    record = encode_record(b"0123456789")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, record[:cut], journal.end)
        first = t.read()
        os.pwrite(fd, record[cut:], journal.end + cut)
        second = t.read()
    finally:
        os.close(fd)
    assert [p for p, _ in first] == [b"a"]
    assert second == [(b"0123456789", ("commands.wal", journal.end + len(record)))]


def test_a_partly_written_record_is_left_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a"], 1)
    journal.close()                         # no zero tail: the torn record ends the file
    with open(path, "ab") as f:
        f.write(encode_record(b"0123456789")[:15])
    before = path.read_bytes()
    t = tail(path)
    records = t.read()
    assert [p for p, _ in records] == [b"a"]
    assert path.read_bytes() == before
    assert t.position == ("commands.wal", after(FILE_HEADER_SIZE, b"a"))


def test_the_preallocated_zero_tail_is_not_a_record(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a"], 1)
    assert path.stat().st_size >= Journal.CHUNK      # the writer preallocated zeros
    t = tail(path)
    assert ([p for p, _ in t.read()], t.read()) == ([b"a"], [])
    assert t.position == ("commands.wal", journal.end)
    assert path.stat().st_size >= Journal.CHUNK      # and they are left there


def test_a_record_with_a_bad_payload_checksum_is_not_returned(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a"], 1)
    record = bytearray(encode_record(b"payload"))
    record[-1] ^= 0xFF                      # the last byte of the payload not written yet
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes(record), journal.end)
    finally:
        os.close(fd)
    assert [p for p, _ in tail(path).read()] == [b"a"]


# -- across segments --------------------------------------------------------------------


def test_the_tail_follows_the_writer_into_each_new_segment(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes=1)     # a new segment after every commit
    t = tail(path)
    seq = commit(journal, [b"a", b"b"], 1)
    commit(journal, [b"c"], seq)
    second = segment_path(path, 3).name
    assert t.read() == [(b"a", ("commands.wal", after(FILE_HEADER_SIZE, b"a"))),
                        (b"b", ("commands.wal", after(after(FILE_HEADER_SIZE, b"a"), b"b"))),
                        (b"c", (second, after(FILE_HEADER_SIZE, b"c")))]
    assert t.position == (segment_path(path, 4).name, FILE_HEADER_SIZE)


def test_records_committed_just_before_a_roll_are_read_before_the_next_segment(
        tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    # Full after the second record: the commit of b ends the segment.
    journal = writer(path, segment_bytes=after(after(FILE_HEADER_SIZE, b"a"), b"b"))
    t = tail(path)
    seq = commit(journal, [b"a"], 1)
    assert ([p for p, _ in t.read()], segment_files(path)) == ([b"a"], [path])
    seq = commit(journal, [b"b"], seq)      # into commands.wal, then the roll
    commit(journal, [b"c"], seq)
    assert [(p, name) for p, (name, _) in t.read()] == [
        (b"b", "commands.wal"), (b"c", segment_path(path, 3).name)]


def test_the_tail_stays_in_the_active_segment_until_the_writer_rolls(tmp_path: Path
                                                                     ) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    t = tail(path)
    commit(journal, [b"a"], 1)
    t.read()
    t.read()
    assert t.position == ("commands.wal", journal.end)


# -- starting at a position -------------------------------------------------------------


def test_a_tail_started_at_a_position_from_a_read_resumes_right_after_it(tmp_path: Path
                                                                         ) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a", b"b", b"c", b"d"], 1)
    records = tail(path).read()
    assert tail(path, records[1][1]).read() == records[2:]


def test_a_tail_started_at_the_end_of_a_closed_segment_goes_on_in_the_next(
        tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes=1)
    seq = commit(journal, [b"a", b"b"], 1)
    seq = commit(journal, [b"c"], seq)
    commit(journal, [b"d"], seq)
    records = tail(path).read()
    end_of_first = records[1][1]
    assert end_of_first == ("commands.wal", path.stat().st_size)
    assert tail(path, end_of_first).read() == records[2:]


def test_positions_read_across_segments_each_resume_after_their_record(tmp_path: Path
                                                                       ) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes=1)
    seq = 1
    for batch in ([b"a", b"b"], [b"c"], [b"d", b"e"], [b"f"]):
        seq = commit(journal, batch, seq)
    records = tail(path).read()
    wrong = [i for i, (_, position) in enumerate(records)
             if tail(path, position).read() != records[i + 1:]]
    assert wrong == []


# -- max_records ------------------------------------------------------------------------


@pytest.mark.parametrize("segment_bytes", [BIG, 1], ids=["one segment", "segment per commit"])
def test_max_records_limits_a_read_and_the_next_read_goes_on(tmp_path: Path,
                                                             segment_bytes: int) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes)
    seq = 1
    for batch in ([b"a", b"b"], [b"c"], [b"d", b"e"]):
        seq = commit(journal, batch, seq)
    t = tail(path)
    reads = [[p for p, _ in t.read(max_records=2)] for _ in range(4)]
    assert reads == [[b"a", b"b"], [b"c", b"d"], [b"e"], []]


def test_a_limited_read_leaves_the_position_after_its_last_record(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a", b"b", b"c"], 1)
    t = tail(path)
    records = t.read(max_records=1)
    assert t.position == records[0][1] == ("commands.wal", after(FILE_HEADER_SIZE, b"a"))


# -- segment headers --------------------------------------------------------------------


def test_a_next_segment_whose_header_is_not_written_yet_is_waited_for(tmp_path: Path
                                                                      ) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a"], 1)
    journal.close()
    second = segment_path(path, 2)
    second.touch()                          # created by the writer, header not yet there
    t = tail(path)
    assert [p for p, _ in t.read()] == [b"a"]
    assert t.read() == []
    commit(writer(path), [b"b"], 2)         # the writer writes the header, then a record
    assert t.read() == [(b"b", (second.name, after(FILE_HEADER_SIZE, b"b")))]


def test_a_first_segment_whose_header_is_not_written_yet_is_waited_for(tmp_path: Path
                                                                       ) -> None:
    path = tmp_path / "commands.wal"
    path.touch()
    t = tail(path)
    assert t.read() == []
    commit(writer(path), [b"a"], 1)
    assert [p for p, _ in t.read()] == [b"a"]


def test_a_segment_header_not_written_yet_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    path.write_bytes(b"\0" * 100)           # the file grew, its header did not land yet
    tail(path).read()
    assert path.read_bytes() == b"\0" * 100


def test_a_segment_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    events = SegmentedJournal(path, kind="events", schema_version=VERSION, fsync=False)
    events.append(b"a")
    events.close()
    with pytest.raises(JournalFormatError, match="'events' journal, not a 'commands'"):
        tail(path).read()


def test_a_later_segment_of_another_kind_is_refused_when_reached(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path)
    commit(journal, [b"a"], 1)
    journal.close()
    other = Journal(segment_path(path, 2), kind="events", schema_version=VERSION,
                    fsync=False)
    other.close()
    t = tail(path)
    with pytest.raises(JournalFormatError, match="not a 'commands' journal"):
        t.read()


def test_a_segment_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    newer = SegmentedJournal(path, kind=KIND, schema_version=VERSION + 1, fsync=False)
    newer.append(b"a")
    newer.close()
    with pytest.raises(JournalFormatError, match="schema version"):
        tail(path).read()


# -- read only --------------------------------------------------------------------------


def test_the_tail_never_changes_the_journal_files(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    journal = writer(path, segment_bytes=1)
    seq = commit(journal, [b"a"], 1)
    commit(journal, [b"b"], seq)
    fd = os.open(journal.path, os.O_WRONLY)
    try:
        os.pwrite(fd, encode_record(b"torn")[:7], journal.end)
    finally:
        os.close(fd)
    before = files_bytes(path)
    t = tail(path)
    t.read()
    t.read(max_records=1)
    t.close()
    assert files_bytes(path) == before


# -- beside a writer process ------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    import time
    from pathlib import Path
    from persistence.segments import SegmentedJournal
    path, n = Path(sys.argv[1]), int(sys.argv[2])
    journal = SegmentedJournal(path, kind="commands", schema_version=1, fsync=False,
                               segment_bytes=2048)
    seq = 1
    for i in range(n):
        journal.append(b"record %06d" % i)
        seq += 1
        if i % 7 == 6:
            journal.commit()
            journal.roll_if_full(seq)
        if i % 100 == 99:
            time.sleep(0.002)           # let the reader catch up now and then
    journal.close()
""")


@pytest.mark.slow
def test_a_tail_beside_a_writer_process_reads_every_record_once_in_order(tmp_path: Path
                                                                         ) -> None:
    path = tmp_path / "journal" / "commands.wal"
    n = 3000
    t = tail(path)
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n)], cwd=REPO)
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + 20
        while len(got) < n and time.monotonic() < deadline:
            got.extend(p for p, _ in t.read(max_records=50))
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    got.extend(p for p, _ in t.read())
    assert len(segment_files(path)) > 10
    assert got == [b"record %06d" % i for i in range(n)]
