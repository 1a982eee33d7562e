"""persistence.journal: file header, records, group commit, fsync policy, torn tails,
corruption, format checks."""

from __future__ import annotations

import marshal
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from persistence.journal import (
    Journal,
    JournalCorrupt,
    JournalFormatError,
    LegacyJournalError,
    read_records,
)

REPO = Path(__file__).resolve().parents[2]

KIND = "commands"
SCHEMA = 3  # the caller's schema version: the journal only records and checks it
FILE_HEADER = 32  # magic, kind, framing version, schema version, crc32
HEADER = 12  # <u32 length><u32 payload crc32><u32 crc32 of the first 8 bytes>

PAYLOADS = [b"first", b"\x00\x01binary\xff", b"x" * 70_000, b"last one"]


# -- the format, written here independently of the code under test --------------------


def file_header(kind: str = KIND, schema: int = SCHEMA, framing: int = 1,
                magic: bytes = b"FIXEXLOG") -> bytes:
    body = magic + kind.encode("ascii").ljust(16, b"\0") + struct.pack("<HH", framing, schema)
    return body + struct.pack("<I", zlib.crc32(body))


def record(payload: bytes) -> bytes:
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def journal_bytes(payloads: list[bytes]) -> bytes:
    return file_header() + b"".join(record(p) for p in payloads)


def offsets(payloads: list[bytes]) -> list[int]:
    out, pos = [], FILE_HEADER
    for p in payloads:
        out.append(pos)
        pos += HEADER + len(p)
    return out


def open_journal(path: Path, **options: object) -> Journal:
    return Journal(path, **{"kind": KIND, "schema_version": SCHEMA, "fsync": False,
                            **options})


def read(path: Path, **options: object) -> list[bytes]:
    return list(read_records(path, **{"kind": KIND, "schema_version": SCHEMA, **options}))


def write_journal(path: Path, payloads: list[bytes]) -> None:
    journal = open_journal(path)
    for p in payloads:
        journal.append(p)
    journal.close()


# -- round trip -----------------------------------------------------------------------


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, PAYLOADS)
    assert read(path) == PAYLOADS


def test_file_layout_is_the_file_header_then_length_crc_payload_records(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, PAYLOADS)
    assert path.read_bytes() == journal_bytes(PAYLOADS)


def test_records_of_several_commits_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    expected = []
    for batch in range(5):
        for i in range(batch + 1):
            payload = b"batch %d record %d" % (batch, i)
            journal.append(payload)
            expected.append(payload)
        journal.commit()
    assert read(path) == expected


def test_reopened_journal_appends_after_existing_records(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, [b"a", b"b"])
    write_journal(path, [b"c"])
    assert read(path) == [b"a", b"b", b"c"]


def test_reopened_journal_keeps_one_header_and_appends_after_it(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, [])
    write_journal(path, [b"a"])
    write_journal(path, [b"b"])
    assert path.read_bytes() == journal_bytes([b"a", b"b"])


def test_journal_given_the_end_offset_appends_there(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    write_journal(path, [b"a"])
    journal = open_journal(path, end=path.stat().st_size)
    journal.append(b"b")
    journal.close()
    assert path.read_bytes() == journal_bytes([b"a", b"b"])


def test_journal_given_an_end_on_a_missing_file_writes_the_header(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path, end=0)
    journal.append(b"a")
    journal.close()
    assert path.read_bytes() == journal_bytes([b"a"])


def test_journal_creates_missing_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "data" / "journal" / "commands.wal"
    write_journal(path, [b"a"])
    assert read(path) == [b"a"]


# -- the file header --------------------------------------------------------------------


def test_a_new_journal_file_holds_its_header_before_any_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    try:
        assert path.read_bytes() == file_header()
    finally:
        journal.close()


def test_the_header_records_the_kind_and_the_callers_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    Journal(path, kind="events", schema_version=7, fsync=False).close()
    assert path.read_bytes() == file_header("events", 7)


def test_a_header_only_file_has_no_records(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header())
    assert (read(path), path.read_bytes()) == ([], file_header())


@pytest.mark.parametrize("zeros", [0, 1, 12, 31, 32, 4096])
def test_a_file_of_zeros_is_a_crash_before_the_header_and_starts_fresh(
        tmp_path: Path, zeros: int) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(b"\0" * zeros)
    assert read(path) == []
    write_journal(path, [b"a"])
    assert path.read_bytes() == journal_bytes([b"a"])


def test_a_file_of_zeros_opened_at_a_given_end_starts_fresh(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(b"\0" * 20)
    journal = open_journal(path, end=20)
    journal.append(b"a")
    journal.close()
    assert path.read_bytes() == journal_bytes([b"a"])


def test_a_journal_kind_must_fit_the_header(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        Journal(tmp_path / "j.wal", kind="k" * 17, schema_version=1)


# -- files the journal refuses -----------------------------------------------------------


def old_format_journal(path: Path) -> bytes:
    """A journal of the exchange before file headers: marshal records from offset 0."""
    data = b"".join(record(marshal.dumps((seq, 1_000 + seq, (8,)))) for seq in (1, 2))
    path.write_bytes(data)
    return data


def test_an_old_format_journal_is_refused_with_the_upgrade_command(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    old_format_journal(path)
    with pytest.raises(LegacyJournalError) as info:
        read(path)
    message = str(info.value)
    assert (str(path) in message, "before" in message, "marshal" in message,
            f"fixserver-journal upgrade {path}" in message) == (True, True, True, True)


def test_opening_an_old_format_journal_for_appending_is_refused_untouched(
        tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    data = old_format_journal(path)
    with pytest.raises(LegacyJournalError, match="fixserver-journal upgrade"):
        open_journal(path)
    assert path.read_bytes() == data


def test_an_old_format_journal_of_one_short_record_is_refused_as_old(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(record(b"x"))  # 13 bytes: shorter than a file header
    with pytest.raises(LegacyJournalError):
        read(path)


def test_an_old_format_journal_is_refused_even_when_opened_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    data = old_format_journal(path)
    with pytest.raises(LegacyJournalError):
        open_journal(path, end=len(data))
    assert path.read_bytes() == data


def test_a_file_with_an_unknown_magic_is_refused_as_not_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    data = b"PK\x03\x04 this is a zip file, not a journal" * 4
    path.write_bytes(data)
    with pytest.raises(JournalFormatError, match="not a journal") as info:
        read(path)
    assert (str(path) in str(info.value), path.read_bytes()) == (True, data)


def test_a_header_with_a_bad_checksum_is_refused_as_corrupt(tmp_path: Path) -> None:
    data = bytearray(journal_bytes([b"a"]))
    data[24] ^= 0x01  # the framing version
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalFormatError, match="header is corrupt"):
        read(path)


def test_a_partial_header_is_refused_as_truncated(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header()[:20])
    with pytest.raises(JournalFormatError, match="truncated"):
        read(path)


def test_a_zeroed_header_with_records_after_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(b"\0" * FILE_HEADER + record(b"a"))
    with pytest.raises(JournalFormatError, match="zeros but data follows"):
        read(path)


def test_a_newer_framing_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header(framing=2) + record(b"a"))
    with pytest.raises(JournalFormatError,
                       match=r"framing version 2 .*newer version of the exchange.*"
                             r"framing version 1"):
        read(path)


def test_a_newer_schema_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header(schema=SCHEMA + 1))
    with pytest.raises(JournalFormatError,
                       match=rf"schema version {SCHEMA + 1} .*newer version of the "
                             rf"exchange.*versions {SCHEMA} to {SCHEMA}"):
        read(path)


def test_an_older_schema_version_is_refused_by_default(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header(schema=SCHEMA - 1) + record(b"a"))
    with pytest.raises(JournalFormatError, match=rf"schema version {SCHEMA - 1} is older"):
        read(path)


def test_an_older_schema_version_the_reader_accepts_is_read(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header(schema=SCHEMA - 1) + record(b"a"))
    assert read(path, min_schema_version=SCHEMA - 1) == [b"a"]


def test_records_are_never_appended_to_an_older_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header(schema=SCHEMA - 1) + record(b"a"))
    with pytest.raises(JournalFormatError, match="older"):
        open_journal(path)


def test_a_journal_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(file_header(kind="events") + record(b"a"))
    with pytest.raises(JournalFormatError, match="'events' journal, not a 'commands'"):
        read(path)


def test_format_errors_are_not_journal_corruption() -> None:
    assert (issubclass(JournalFormatError, JournalCorrupt),
            issubclass(LegacyJournalError, JournalFormatError)) == (False, True)


# -- group commit -------------------------------------------------------------------------


def test_append_writes_nothing_before_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    for p in PAYLOADS:
        journal.append(p)
    try:
        assert path.stat().st_size == FILE_HEADER
    finally:
        journal.close()


def test_commit_writes_every_pending_record(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    for p in PAYLOADS:
        journal.append(p)
    journal.commit()
    try:
        assert read(path, repair=False) == PAYLOADS
    finally:
        journal.close()
    assert path.stat().st_size == FILE_HEADER + sum(HEADER + len(p) for p in PAYLOADS)


def test_records_reach_the_file_only_at_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    seen = []
    for batch in range(3):
        for p in PAYLOADS:
            journal.append(p)
            seen.append(("append", batch, len(read(path, repair=False))))
        journal.commit()
        seen.append(("commit", batch, len(read(path, repair=False))))
    journal.close()
    expected = []
    for batch in range(3):
        expected += [("append", batch, batch * len(PAYLOADS))] * len(PAYLOADS)
        expected.append(("commit", batch, (batch + 1) * len(PAYLOADS)))
    assert seen == expected


def test_the_file_is_preallocated_ahead_and_trimmed_at_close(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    journal.append(b"a")
    journal.commit()
    assert path.stat().st_size >= Journal.CHUNK
    journal.close()
    assert path.stat().st_size == FILE_HEADER + HEADER + 1


def test_a_preallocated_tail_left_by_a_crash_is_dropped_and_appends_continue(
        tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    journal.append(b"a")
    journal.commit()
    os.close(journal._fd)  # a crash: no close(), the zero tail stays
    again = open_journal(path)
    again.append(b"b")
    again.commit()
    again.close()
    assert path.read_bytes() == journal_bytes([b"a", b"b"])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/self/io")
def test_commit_of_a_batch_is_one_write_system_call(tmp_path: Path) -> None:
    def write_calls() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("syscw:"):
                return int(line.split()[1])
        raise AssertionError("no syscw in /proc/self/io")

    journal = open_journal(tmp_path / "j.wal")
    for i in range(200):
        journal.append(b"record %d" % i)
    before = write_calls()
    journal.commit()
    after = write_calls()
    journal.close()
    assert after - before == 1


def test_commit_with_nothing_pending_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    journal.append(b"a")
    journal.commit()
    journal.commit()
    journal.close()
    assert (journal.commits, path.stat().st_size) == (1, FILE_HEADER + HEADER + 1)


def test_pending_counts_records_until_commit(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.wal")
    journal.append(b"a")
    journal.append(b"b")
    seen = [journal.pending]
    journal.commit()
    seen.append(journal.pending)
    journal.close()
    assert seen == [2, 0]


def test_commit_counts_commits_and_records(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.wal")
    for n in (3, 1, 2):
        for i in range(n):
            journal.append(b"%d" % i)
        journal.commit()
    journal.close()
    assert (journal.commits, journal.records) == (3, 6)


def test_close_commits_pending_records(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    journal.append(b"pending")
    journal.close()
    assert read(path) == [b"pending"]


# -- fsync policy (observed with strace in a child process) --------------------------------

_STRACE_SCRIPT = textwrap.dedent("""
    import os
    import sys
    sys.path.insert(0, {repo!r})
    from persistence.journal import Journal
    journal = Journal(sys.argv[1], kind="commands", schema_version=1,
                      fsync=sys.argv[2] == "1")
    os.write(1, b"FD %d\\n" % journal._fd)  # marks the end of the header in the trace
    for batch in range(2):
        for i in range(50):
            journal.append(b"batch %d record %d" % (batch, i))
        journal.commit()
""")


def _journal_syscalls(tmp_path: Path, fsync: bool) -> tuple[tuple[int, int], tuple[int, int]]:
    """((writes, fsyncs) while a new journal is opened, (writes, fdatasyncs) of the two
    commits after it) on the journal's file descriptor."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    script = tmp_path / "journal_child.py"
    script.write_text(_STRACE_SCRIPT.format(repo=str(REPO)))
    trace = tmp_path / "trace.txt"
    journal = tmp_path / "j.wal"
    proc = subprocess.run(
        [strace, "-f", "-e", "trace=openat,write,pwrite64,fsync,fdatasync", "-o", str(trace),
         sys.executable, str(script), str(journal), "1" if fsync else "0"],
        capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    fd = int(proc.stdout.split()[1])
    calls = [line.split(None, 1)[1] for line in trace.read_text().splitlines()
             if " " in line]
    opened = next(i for i, c in enumerate(calls)
                  if c.startswith("openat(") and f'"{journal}"' in c)
    marker = next(i for i, c in enumerate(calls) if c.startswith('write(1, "FD '))

    def count(part: list[str], *prefixes: str) -> int:
        return sum(1 for c in part if c.startswith(prefixes))

    writes = (f"write({fd},", f"pwrite64({fd},")
    opening, commits = calls[opened:marker], calls[marker + 1:]
    # fdatasync per commit; an fsync records the header and each preallocated chunk.
    return ((count(opening, *writes), count(opening, f"fsync({fd})")),
            (count(commits, *writes), count(commits, f"fdatasync({fd})")))


def test_durable_journal_syncs_once_per_commit(tmp_path: Path) -> None:
    assert _journal_syscalls(tmp_path, fsync=True)[1] == (2, 2)


def test_relaxed_journal_writes_each_commit_without_syncing(tmp_path: Path) -> None:
    assert _journal_syscalls(tmp_path, fsync=False)[1] == (2, 0)


def test_durable_journal_writes_and_syncs_the_header_of_a_new_file_once(
        tmp_path: Path) -> None:
    assert _journal_syscalls(tmp_path, fsync=True)[0] == (1, 1)


def test_relaxed_journal_writes_the_header_without_syncing(tmp_path: Path) -> None:
    assert _journal_syscalls(tmp_path, fsync=False)[0] == (1, 0)


def test_relaxed_journal_records_are_readable_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    journal = open_journal(path)
    journal.append(b"a")
    journal.commit()
    try:
        assert read(path) == [b"a"]
    finally:
        journal.close()


# -- torn tail --------------------------------------------------------------------------------


def _cuts_of_last_record() -> list[int]:
    start = offsets(PAYLOADS)[-1]
    end = start + HEADER + len(PAYLOADS[-1])
    return list(range(start + 1, end))


def test_torn_last_record_is_dropped_at_every_cut(tmp_path: Path) -> None:
    full = journal_bytes(PAYLOADS)
    path = tmp_path / "j.wal"
    wrong = []
    for cut in _cuts_of_last_record():
        path.write_bytes(full[:cut])
        if read(path) != PAYLOADS[:-1]:
            wrong.append(cut)
    assert wrong == []


def test_torn_last_record_is_cut_off_the_file_at_every_cut(tmp_path: Path) -> None:
    full = journal_bytes(PAYLOADS)
    start = offsets(PAYLOADS)[-1]
    path = tmp_path / "j.wal"
    wrong = []
    for cut in _cuts_of_last_record():
        path.write_bytes(full[:cut])
        read(path)
        if path.read_bytes() != full[:start]:
            wrong.append(cut)
    assert wrong == []


def test_appends_after_a_repaired_torn_tail_read_back_cleanly(tmp_path: Path) -> None:
    full = journal_bytes(PAYLOADS)
    path = tmp_path / "j.wal"
    wrong = []
    for cut in _cuts_of_last_record():
        path.write_bytes(full[:cut])
        read(path)
        write_journal(path, [b"after restart"])
        if read(path) != [*PAYLOADS[:-1], b"after restart"]:
            wrong.append(cut)
    assert wrong == []


def test_a_torn_first_record_leaves_the_header(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(journal_bytes([b"only"])[:-2])
    assert (read(path), path.read_bytes()) == ([], file_header())


def test_torn_tail_is_left_in_place_without_repair(tmp_path: Path) -> None:
    full = journal_bytes(PAYLOADS)
    path = tmp_path / "j.wal"
    path.write_bytes(full[:-3])
    records = read(path, repair=False)
    assert (records, path.read_bytes()) == (PAYLOADS[:-1], full[:-3])


def test_last_record_with_a_bad_checksum_is_dropped_as_torn(tmp_path: Path) -> None:
    data = bytearray(journal_bytes(PAYLOADS))
    data[-1] ^= 0xFF
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    assert read(path) == PAYLOADS[:-1]


# -- corruption -------------------------------------------------------------------------------


def test_corrupt_record_in_the_middle_raises_journal_corrupt_naming_its_offset(
        tmp_path: Path) -> None:
    data = bytearray(journal_bytes(PAYLOADS))
    bad = offsets(PAYLOADS)[1]
    data[bad + HEADER + 2] ^= 0x01   # one bit of the second record's payload
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match=rf"offset {bad}\b") as info:
        read(path)
    assert str(path) in str(info.value)


def test_corrupt_checksum_field_in_the_middle_raises_journal_corrupt(tmp_path: Path) -> None:
    data = bytearray(journal_bytes(PAYLOADS))
    bad = offsets(PAYLOADS)[2]
    data[bad + 4] ^= 0x80             # the third record's stored crc
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match=rf"offset {bad}\b"):
        read(path)


def test_corrupt_record_in_the_middle_leaves_the_file_untouched(tmp_path: Path) -> None:
    data = bytearray(journal_bytes(PAYLOADS))
    data[offsets(PAYLOADS)[1] + HEADER] ^= 0x01
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        read(path)
    assert path.read_bytes() == bytes(data)


def test_records_before_a_corrupt_one_are_yielded_first(tmp_path: Path) -> None:
    data = bytearray(journal_bytes(PAYLOADS))
    data[offsets(PAYLOADS)[2] + HEADER] ^= 0x01
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    seen = []
    with pytest.raises(JournalCorrupt):
        for payload in read_records(path, kind=KIND, schema_version=SCHEMA):
            seen.append(payload)
    assert seen == PAYLOADS[:2]


def test_corrupt_length_of_a_middle_record_raises_journal_corrupt(tmp_path: Path) -> None:
    data = bytearray(journal_bytes(PAYLOADS))
    struct.pack_into("<I", data, offsets(PAYLOADS)[1], 10_000_000)
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        read(path)


def test_corrupt_first_record_right_after_the_header_raises_journal_corrupt(
        tmp_path: Path) -> None:
    data = bytearray(journal_bytes(PAYLOADS))
    data[FILE_HEADER + 1] ^= 0x01   # the first record's length
    path = tmp_path / "j.wal"
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match=rf"offset {FILE_HEADER}\b"):
        read(path)


# -- empty and missing ----------------------------------------------------------------------


def test_missing_file_yields_no_records(tmp_path: Path) -> None:
    assert read(tmp_path / "absent.wal") == []


def test_reading_a_missing_file_does_not_create_it(tmp_path: Path) -> None:
    read(tmp_path / "absent.wal")
    assert not (tmp_path / "absent.wal").exists()


def test_empty_file_yields_no_records(tmp_path: Path) -> None:
    path = tmp_path / "empty.wal"
    path.write_bytes(b"")
    assert read(path) == []


def test_an_empty_file_opened_as_a_journal_gets_the_header(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    path.write_bytes(b"")
    open_journal(path).close()
    assert path.read_bytes() == file_header()
