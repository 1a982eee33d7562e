"""The journal in segments (persistence.segments): rolling over at a commit, reading
across segments from any record, and what a damaged segment does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from persistence.journal import FILE_HEADER_SIZE, JournalCorrupt
from persistence.segments import SegmentedJournal, read_segments, segment_files, segment_path

KIND, VERSION = "commands", 1


def journal(path: Path, segment_bytes: int) -> SegmentedJournal:
    return SegmentedJournal(path, kind=KIND, schema_version=VERSION, fsync=False,
                            segment_bytes=segment_bytes)


def write(path: Path, batches: list[list[bytes]], segment_bytes: int, first_seq: int = 1
          ) -> SegmentedJournal:
    j = journal(path, segment_bytes)
    seq = first_seq
    for batch in batches:
        for payload in batch:
            j.append(payload)
            seq += 1
        j.commit()
        j.roll_if_full(seq)
    j.close()
    return j


def payloads(path: Path, start: tuple[str, int] | None = None) -> list[bytes]:
    return [p for _, _, p in read_segments(path, kind=KIND, schema_version=VERSION,
                                           start=start)]


def test_the_first_segment_is_the_configured_file(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a"]], segment_bytes=1 << 20)
    assert segment_files(path) == [path]


def test_a_full_segment_is_followed_by_one_named_after_its_first_seq(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a", b"b"], [b"c"], [b"d"]], segment_bytes=1)
    assert [p.name for p in segment_files(path)] == [
        "commands.wal", "commands.000000000003.wal", "commands.000000000004.wal",
        "commands.000000000005.wal"]


def test_a_segment_ends_on_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a", b"b", b"c"], [b"d"]], segment_bytes=1)
    first = [p for seg, _, p in read_segments(path, kind=KIND, schema_version=VERSION)
             if seg == path]
    assert first == [b"a", b"b", b"c"]


def test_records_are_read_across_segments_in_order(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    batches = [[b"%d" % i for i in range(k, k + 3)] for k in range(0, 30, 3)]
    write(path, batches, segment_bytes=40)
    assert len(segment_files(path)) > 2
    assert payloads(path) == [p for b in batches for p in b]


def test_reading_starts_at_the_record_a_position_names(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a", b"b"], [b"c", b"d"], [b"e"]], segment_bytes=1)
    positions = [(seg.name, off) for seg, off, _ in
                 read_segments(path, kind=KIND, schema_version=VERSION)]
    assert payloads(path, positions[3]) == [b"d", b"e"]


def test_a_position_in_a_deleted_segment_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a"], [b"b"]], segment_bytes=1)
    path.unlink()
    with pytest.raises(FileNotFoundError, match="no such journal segment"):
        payloads(path, ("commands.wal", FILE_HEADER_SIZE))


def test_reading_goes_on_after_the_first_segments_are_deleted(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a"], [b"b"], [b"c"]], segment_bytes=1)
    path.unlink()
    assert payloads(path) == [b"b", b"c"]


def test_a_torn_record_in_a_segment_before_the_last_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a", b"bbbb"], [b"c"]], segment_bytes=1)
    os.truncate(path, path.stat().st_size - 2)
    with pytest.raises(JournalCorrupt, match="a later segment"):
        payloads(path)


def test_a_torn_tail_of_the_last_segment_is_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a"]], segment_bytes=1)
    write(path, [[b"bbbb"]], segment_bytes=1 << 20, first_seq=2)
    last = segment_files(path)[-1]
    os.truncate(last, last.stat().st_size - 2)
    assert payloads(path) == [b"a"]
    assert payloads(path) == [b"a"]


def test_appending_goes_on_in_the_last_segment(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    write(path, [[b"a"], [b"b"]], segment_bytes=1)
    write(path, [[b"c"]], segment_bytes=1 << 20, first_seq=3)
    assert payloads(path) == [b"a", b"b", b"c"]
    assert segment_files(path)[-1] == segment_path(path, 3)    # started after b, empty
