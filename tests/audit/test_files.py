"""The audit trail in day files (audit/files.py): one file per UTC day of the records'
timestamps; after a crash, ``position`` cuts a torn last line and the records of the
last entry, and what is written next continues the chain, so the trail verifies and
holds every record exactly once.

The reference for "every record exactly once" is the trail of a run that was not
interrupted: the records are a pure function of the journal, so the two are the
same, byte for byte.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit.chain import ChainState, Sealed, Verifier, parse, seal
from audit.files import AuditFiles, audit_files, file_name

from .audit_kit import AUDIT, SECOND, T0, lines, restart, trading_day, write_day

DAY = trading_day()
REPO_ROOT = Path(__file__).resolve().parents[2]
MIDNIGHT = 1_750_032_000 * SECOND          # 2025-06-16T00:00:00Z
GENESIS = ChainState()

Entry = tuple[int, str, int]   # (seq, timestamp, how many records)


def seal_entries(entries: list[Entry], state: ChainState = GENESIS
                 ) -> tuple[list[list[Sealed]], ChainState]:
    """The sealed records of ``entries``, entry by entry, as the consumer makes them
    (kill switches: records of the schema, as every record the suite writes must be)."""
    out = []
    for seq, ts, n in entries:
        batch = []
        for i in range(n):
            record = {"event_type": "KILL_SWITCH", "seq": seq, "timestamp": ts,
                      "scope": "firm", "name": f"F{seq}.{i}", "on": True}
            line, state = seal(record, state)
            batch.append(Sealed(state.record, seq, ts, "exchange", line))
        out.append(batch)
    return out, state


def verifies(trail: Path) -> Verifier:
    verifier = Verifier()
    for line in lines(trail):
        verifier.check(line)
    assert verifier.broken is None, verifier.broken
    return verifier


def state_after(batch: list[Sealed]) -> ChainState:
    last = parse(batch[-1].line)
    return ChainState(last["record"], last["seq"], last["hash"])


def whole(batches: list[list[Sealed]]) -> bytes:
    return b"".join(r.line + b"\n" for batch in batches for r in batch)


# -- day files ---------------------------------------------------------------------------------


def test_a_record_goes_to_the_file_of_its_utc_date(tmp_path: Path) -> None:
    (a, b), _ = seal_entries([(1, "2025-06-15T23:59:59.999999Z", 2),
                              (2, "2025-06-16T00:00:00.000000Z", 1)])
    files = AuditFiles(tmp_path)
    files.write(a + b)      # one batch across midnight
    files.close()
    assert [p.name for p in audit_files(tmp_path)] == ["audit-2025-06-15.jsonl",
                                                       "audit-2025-06-16.jsonl"]
    assert (tmp_path / "audit-2025-06-15.jsonl").read_bytes() == whole([a])
    assert (tmp_path / "audit-2025-06-16.jsonl").read_bytes() == whole([b])
    assert verifies(tmp_path).records == 3          # one chain across the files
    assert file_name("2025-06-16T00:00:00.000000Z") == "audit-2025-06-16.jsonl"


def test_the_server_rotates_at_utc_midnight(tmp_path: Path) -> None:
    trail = write_day(tmp_path, DAY[:4], start_ns=MIDNIGHT - 2_000_000)   # 1 ms a command
    days = {}
    for file in audit_files(trail):
        days[file.name] = {parse(line)["timestamp"][:10] for line in lines(file)}
    assert days == {"audit-2025-06-15.jsonl": {"2025-06-15"},
                    "audit-2025-06-16.jsonl": {"2025-06-16"}}
    assert verifies(trail).records == 12


def test_a_clock_stepped_back_across_midnight_keeps_the_trail_in_order(tmp_path: Path) -> None:
    (a, b), _ = seal_entries([(1, "2025-06-16T00:00:00.500000Z", 1),
                              (2, "2025-06-15T23:59:59.900000Z", 1)])   # NTP stepped back
    files = AuditFiles(tmp_path)
    files.write(a)
    files.write(b)
    files.close()
    verifies(tmp_path)


# -- position after a crash ------------------------------------------------------------------


def test_an_empty_trail_starts_at_the_genesis(tmp_path: Path) -> None:
    assert AuditFiles(tmp_path).position() == GENESIS
    (tmp_path / "audit-2025-06-15.jsonl").touch()
    assert AuditFiles(tmp_path).position() == GENESIS


def test_a_torn_last_line_is_cut_with_the_entry_before_it(tmp_path: Path) -> None:
    batches, _ = seal_entries([(1, "2025-06-15T10:00:00.000000Z", 2),
                               (2, "2025-06-15T10:00:00.001000Z", 3)])
    file = tmp_path / "audit-2025-06-15.jsonl"
    file.write_bytes(whole(batches) + batches[1][0].line[:40])     # a write torn by a crash
    # The last whole line's entry may be missing records the torn write had: it goes too.
    assert AuditFiles(tmp_path).position() == state_after(batches[0])
    assert file.read_bytes() == whole(batches[:1])


def test_a_partial_last_entry_is_cut(tmp_path: Path) -> None:
    batches, _ = seal_entries([(1, "2025-06-15T10:00:00.000000Z", 2),
                               (2, "2025-06-15T10:00:00.001000Z", 3)])
    file = tmp_path / "audit-2025-06-15.jsonl"
    file.write_bytes(whole(batches)[:-len(batches[1][-1].line) - 1])   # its last record lost
    assert AuditFiles(tmp_path).position() == state_after(batches[0])
    assert file.read_bytes() == whole(batches[:1])


def test_after_a_cut_the_next_write_continues_the_chain(tmp_path: Path) -> None:
    entries = [(1, "2025-06-15T10:00:00.000000Z", 2), (2, "2025-06-15T10:00:00.001000Z", 3)]
    batches, _ = seal_entries(entries)
    file = tmp_path / "audit-2025-06-15.jsonl"
    file.write_bytes(whole(batches)[:-10])
    files = AuditFiles(tmp_path)
    state = files.position()
    again, _ = seal_entries(entries[1:], state)      # made again from the event log
    files.write(again[0])
    files.close()
    assert file.read_bytes() == whole(batches)
    assert verifies(tmp_path).records == 5


def test_a_cut_that_empties_the_last_day_file_keeps_the_previous_days_entries(
        tmp_path: Path) -> None:
    batches, _ = seal_entries([(1, "2025-06-15T23:59:59.000000Z", 2),
                               (2, "2025-06-16T00:00:01.000000Z", 3)])
    (tmp_path / "audit-2025-06-15.jsonl").write_bytes(whole(batches[:1]))
    (tmp_path / "audit-2025-06-16.jsonl").write_bytes(whole(batches[1:])[:-10])
    # The last entry (seq 2) is cut; the one before it, whole in yesterday's file, stays.
    assert AuditFiles(tmp_path).position() == state_after(batches[0])
    assert (tmp_path / "audit-2025-06-15.jsonl").read_bytes() == whole(batches[:1])


def test_a_new_day_file_with_only_a_torn_line_keeps_the_previous_days_entries(
        tmp_path: Path) -> None:
    batches, _ = seal_entries([(1, "2025-06-15T23:59:59.000000Z", 2),
                               (2, "2025-06-16T00:00:01.000000Z", 1)])
    (tmp_path / "audit-2025-06-15.jsonl").write_bytes(whole(batches[:1]))
    (tmp_path / "audit-2025-06-16.jsonl").write_bytes(batches[1][0].line[:50])
    assert AuditFiles(tmp_path).position() == state_after(batches[0])
    assert (tmp_path / "audit-2025-06-15.jsonl").read_bytes() == whole(batches[:1])
    assert (tmp_path / "audit-2025-06-16.jsonl").read_bytes() == b""


# -- the server made whole again -------------------------------------------------------------


@pytest.fixture(scope="module")
def day_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after the whole scripted day, cleanly closed."""
    data_dir = tmp_path_factory.mktemp("day")
    write_day(data_dir, DAY)
    return data_dir


def cut_points(trail: bytes) -> dict[str, int]:
    """Where a crash may have stopped the trail's last write."""
    ends = [i + 1 for i, byte in enumerate(trail) if byte == ord("\n")]
    seqs = [parse(line)["seq"] for line in trail.splitlines()]
    inside = max(i for i in range(1, len(seqs)) if seqs[i] == seqs[i - 1])   # line i's entry
    return {"torn last line": len(trail) - 30,
            "one entry's records in part": ends[inside - 1],
            "after a whole entry": ends[-2], "the first line torn": 30, "an empty file": 0}


@pytest.mark.parametrize("where", ["torn last line", "one entry's records in part",
                                   "after a whole entry", "the first line torn",
                                   "an empty file"])
def test_a_trail_cut_by_a_crash_is_made_whole_by_the_next_start(
        day_dir: Path, tmp_path: Path, where: str) -> None:
    [file] = audit_files(day_dir / AUDIT)
    expected = file.read_bytes()
    data_dir = tmp_path / "data"
    shutil.copytree(day_dir, data_dir)
    copy = data_dir / AUDIT / file.name
    with copy.open("r+b") as f:
        f.truncate(cut_points(expected)[where])
    restart(data_dir)
    assert copy.read_bytes() == expected
    verifies(data_dir / AUDIT)


def day_part(data_dir: Path, first: int, last: int, kill: bool) -> int:
    """Run commands first..last-1 of the day in a server process of its own."""
    args = [sys.executable, "-m", "tests.audit.audit_kit", str(data_dir), str(first),
            str(last)] + (["--kill"] if kill else [])
    return subprocess.run(args, cwd=REPO_ROOT, timeout=120).returncode


def uninterrupted(data_dir: Path, cut: int) -> bytes:
    """The trail of the same two runs, in process, the first one closed cleanly."""
    write_day(data_dir, DAY[:cut], start_ns=T0)
    write_day(data_dir, DAY[cut:], start_ns=T0 + cut * SECOND)
    return b"".join(file.read_bytes() for file in audit_files(data_dir / AUDIT))


@pytest.mark.slow
@pytest.mark.parametrize("cut", [4, 13, 21])
def test_after_a_kill_9_the_trail_holds_every_record_once(tmp_path: Path, cut: int) -> None:
    data_dir = tmp_path / "data"
    assert day_part(data_dir, 0, cut, kill=True) == -9
    assert day_part(data_dir, cut, len(DAY), kill=False) == 0
    trail = b"".join(file.read_bytes() for file in audit_files(data_dir / AUDIT))
    assert trail == uninterrupted(tmp_path / "reference", cut)
    verifier = verifies(data_dir / AUDIT)
    assert verifier.state.seq == len(DAY)
