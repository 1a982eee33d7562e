"""persistence.journal: records, group commit, fsync policy, torn tails, corruption."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from persistence.journal import Journal, JournalCorrupt, read_records
from tests.venue.support import REPO

HEADER = 12  # <u32 length><u32 payload crc32><u32 crc32 of the first 8 bytes>

PAYLOADS = [b"first", b"\x00\x01binary\xff", b"x" * 70_000, b"last one"]


def record(payload: bytes) -> bytes:
    """A journal record, encoded here independently of the code under test."""
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def write_journal(path: Path, payloads: list[bytes]) -> None:
    journal = Journal(path, fsync=False)
    for p in payloads:
        journal.append(p)
    journal.close()


def offsets(payloads: list[bytes]) -> list[int]:
    out, pos = [], 0
    for p in payloads:
        out.append(pos)
        pos += HEADER + len(p)
    return out


# -- round trip -----------------------------------------------------------------------


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, PAYLOADS)
    assert list(read_records(path)) == PAYLOADS


def test_file_layout_is_length_crc_payload(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, PAYLOADS)
    assert path.read_bytes() == b"".join(record(p) for p in PAYLOADS)


def test_records_of_several_commits_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    expected = []
    for batch in range(5):
        for i in range(batch + 1):
            payload = b"batch %d record %d" % (batch, i)
            journal.append(payload)
            expected.append(payload)
        journal.commit()
    assert list(read_records(path)) == expected


def test_reopened_journal_appends_after_existing_records(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, [b"a", b"b"])
    write_journal(path, [b"c"])
    assert list(read_records(path)) == [b"a", b"b", b"c"]


def test_journal_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "data" / "journal" / "commands.wal"
    write_journal(path, [b"a"])
    assert list(read_records(path)) == [b"a"]


# -- group commit -------------------------------------------------------------------------


def test_append_writes_nothing_before_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    for p in PAYLOADS:
        journal.append(p)
    try:
        assert path.stat().st_size == 0
    finally:
        journal.close()


def test_commit_writes_every_pending_record(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    for p in PAYLOADS:
        journal.append(p)
    journal.commit()
    try:
        assert list(read_records(path, repair=False)) == PAYLOADS
    finally:
        journal.close()
    assert path.stat().st_size == sum(HEADER + len(p) for p in PAYLOADS)


def test_records_reach_the_file_only_at_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    seen = []
    for batch in range(3):
        for p in PAYLOADS:
            journal.append(p)
            seen.append(("append", batch, len(list(read_records(path, repair=False)))))
        journal.commit()
        seen.append(("commit", batch, len(list(read_records(path, repair=False)))))
    journal.close()
    expected = []
    for batch in range(3):
        expected += [("append", batch, batch * len(PAYLOADS))] * len(PAYLOADS)
        expected.append(("commit", batch, (batch + 1) * len(PAYLOADS)))
    assert seen == expected


def test_the_file_is_preallocated_ahead_and_trimmed_at_close(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    journal.append(b"a")
    journal.commit()
    assert path.stat().st_size >= Journal.CHUNK
    journal.close()
    assert path.stat().st_size == HEADER + 1


def test_a_preallocated_tail_left_by_a_crash_is_dropped_and_appends_continue(
        tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    journal.append(b"a")
    journal.commit()
    os.close(journal._fd)  # a crash: no close(), the zero tail stays
    again = Journal(path, fsync=False)
    again.append(b"b")
    again.commit()
    again.close()
    assert list(read_records(path)) == [b"a", b"b"]


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io")
def test_commit_of_a_batch_is_one_write_system_call(tmp_path: Path) -> None:
    def write_calls() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("syscw:"):
                return int(line.split()[1])
        raise AssertionError("no syscw in /proc/self/io")

    journal = Journal(tmp_path / "j.wal", fsync=False)
    for i in range(200):
        journal.append(b"record %d" % i)
    before = write_calls()
    journal.commit()
    after = write_calls()
    journal.close()
    assert after - before == 1


def test_commit_with_nothing_pending_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    journal.append(b"a")
    journal.commit()
    journal.commit()
    journal.close()
    assert (journal.commits, path.stat().st_size) == (1, HEADER + 1)


def test_pending_counts_records_until_commit(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.wal", fsync=False)
    journal.append(b"a")
    journal.append(b"b")
    seen = [journal.pending]
    journal.commit()
    seen.append(journal.pending)
    journal.close()
    assert seen == [2, 0]


def test_commit_counts_commits_and_records(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.wal", fsync=False)
    for n in (3, 1, 2):
        for i in range(n):
            journal.append(b"%d" % i)
        journal.commit()
    journal.close()
    assert (journal.commits, journal.records) == (3, 6)


def test_close_commits_pending_records(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    journal.append(b"pending")
    journal.close()
    assert list(read_records(path)) == [b"pending"]


# -- fsync policy (observed with strace in a child process) --------------------------------

_STRACE_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from persistence.journal import Journal
    journal = Journal(sys.argv[1], fsync=sys.argv[2] == "1")
    print("FD", journal._fd, flush=True)
    for batch in range(2):
        for i in range(50):
            journal.append(b"batch %d record %d" % (batch, i))
        journal.commit()
""")


def _journal_syscalls(tmp_path: Path, fsync: bool) -> tuple[int, int]:
    """(writes, syncs) the journal's file descriptor received for two commits."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    script = tmp_path / "journal_child.py"
    script.write_text(_STRACE_SCRIPT.format(repo=str(REPO)))
    trace = tmp_path / "trace.txt"
    proc = subprocess.run(
        [strace, "-f", "-e", "trace=write,pwrite64,fsync,fdatasync", "-o", str(trace),
         sys.executable, str(script), str(tmp_path / "j.wal"), "1" if fsync else "0"],
        capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    fd = int(proc.stdout.split()[1])
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines()
             if " " in line]
    writes = sum(1 for c in calls if c.startswith((f"write({fd},", f"pwrite64({fd},")))
    # fdatasync per commit; an fsync records the size of each preallocated chunk.
    syncs = sum(1 for c in calls if c.startswith(f"fdatasync({fd})"))
    return writes, syncs


def test_durable_journal_syncs_once_per_commit(tmp_path: Path) -> None:
    assert _journal_syscalls(tmp_path, fsync=True) == (2, 2)


def test_relaxed_journal_writes_each_commit_without_syncing(tmp_path: Path) -> None:
    assert _journal_syscalls(tmp_path, fsync=False) == (2, 0)


def test_relaxed_journal_records_are_readable_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    journal.append(b"a")
    journal.commit()
    try:
        assert list(read_records(path)) == [b"a"]
    finally:
        journal.close()


# -- torn tail --------------------------------------------------------------------------------


def _cuts_of_last_record() -> list[int]:
    start = offsets(PAYLOADS)[-1]
    end = start + HEADER + len(PAYLOADS[-1])
    return list(range(start + 1, end))


def test_torn_last_record_is_dropped_at_every_cut(tmp_path: Path) -> None:
    full = b"".join(record(p) for p in PAYLOADS)
    path = tmp_path / "j.wal"
    wrong = []
    for cut in _cuts_of_last_record():
        path.write_bytes(full[:cut])
        if list(read_records(path)) != PAYLOADS[:-1]:
            wrong.append(cut)
    assert wrong == []


def test_torn_last_record_is_cut_off_the_file_at_every_cut(tmp_path: Path) -> None:
    full = b"".join(record(p) for p in PAYLOADS)
    start = offsets(PAYLOADS)[-1]
    path = tmp_path / "j.wal"
    wrong = []
    for cut in _cuts_of_last_record():
        path.write_bytes(full[:cut])
        list(read_records(path))
        if path.read_bytes() != full[:start]:
            wrong.append(cut)
    assert wrong == []


def test_appends_after_a_repaired_torn_tail_read_back_cleanly(tmp_path: Path) -> None:
    full = b"".join(record(p) for p in PAYLOADS)
    path = tmp_path / "j.wal"
    wrong = []
    for cut in _cuts_of_last_record():
        path.write_bytes(full[:cut])
        list(read_records(path))
        write_journal(path, [b"after restart"])
        if list(read_records(path)) != [*PAYLOADS[:-1], b"after restart"]:
            wrong.append(cut)
    assert wrong == []


def test_torn_tail_is_left_in_place_without_repair(tmp_path: Path) -> None:
    full = b"".join(record(p) for p in PAYLOADS)
    path = tmp_path / "j.wal"
    path.write_bytes(full[:-3])
    records = list(read_records(path, repair=False))
    assert (records, path.read_bytes()) == (PAYLOADS[:-1], full[:-3])


def test_last_record_with_a_bad_checksum_is_dropped_as_torn(tmp_path: Path) -> None:
    data = bytearray(b"".join(record(p) for p in PAYLOADS))
    data[-1] ^= 0xFF
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    assert list(read_records(path)) == PAYLOADS[:-1]


# -- corruption -------------------------------------------------------------------------------


def test_corrupt_record_in_the_middle_raises_journal_corrupt_naming_its_offset(
        tmp_path: Path) -> None:
    data = bytearray(b"".join(record(p) for p in PAYLOADS))
    bad = offsets(PAYLOADS)[1]
    data[bad + HEADER + 2] ^= 0x01   # one bit of the second record's payload
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match=rf"offset {bad}\b") as info:
        list(read_records(path))
    assert str(path) in str(info.value)


def test_corrupt_checksum_field_in_the_middle_raises_journal_corrupt(tmp_path: Path) -> None:
    data = bytearray(b"".join(record(p) for p in PAYLOADS))
    bad = offsets(PAYLOADS)[2]
    data[bad + 4] ^= 0x80             # the third record's stored crc
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match=rf"offset {bad}\b"):
        list(read_records(path))


def test_corrupt_record_in_the_middle_leaves_the_file_untouched(tmp_path: Path) -> None:
    data = bytearray(b"".join(record(p) for p in PAYLOADS))
    data[offsets(PAYLOADS)[1] + HEADER] ^= 0x01
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        list(read_records(path))
    assert path.read_bytes() == bytes(data)


def test_records_before_a_corrupt_one_are_yielded_first(tmp_path: Path) -> None:
    data = bytearray(b"".join(record(p) for p in PAYLOADS))
    data[offsets(PAYLOADS)[2] + HEADER] ^= 0x01
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    seen = []
    with pytest.raises(JournalCorrupt):
        for payload in read_records(path):
            seen.append(payload)
    assert seen == PAYLOADS[:2]


def test_corrupt_length_of_a_middle_record_raises_journal_corrupt(tmp_path: Path) -> None:
    data = bytearray(b"".join(record(p) for p in PAYLOADS))
    struct.pack_into("<I", data, offsets(PAYLOADS)[1], 10_000_000)
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        list(read_records(path))


# -- empty and missing ----------------------------------------------------------------------


def test_missing_file_yields_no_records(tmp_path: Path) -> None:
    assert list(read_records(tmp_path / "absent.wal")) == []


def test_reading_a_missing_file_does_not_create_it(tmp_path: Path) -> None:
    list(read_records(tmp_path / "absent.wal"))
    assert not (tmp_path / "absent.wal").exists()


def test_empty_file_yields_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.wal"
    path.write_bytes(b"")
    assert list(read_records(path)) == []


def test_new_journal_file_is_empty_until_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = Journal(path, fsync=False)
    try:
        assert (path.exists(), os.path.getsize(path)) == (True, 0)
    finally:
        journal.close()
