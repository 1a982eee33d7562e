"""``fixserver audit verify|tail`` (server/audit_cli.py) on the trail of the scripted
day, as an operator runs it: a process of its own, outside the repository.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from audit.chain import parse
from audit.records import EVENT_TYPES

from .audit_kit import lines, trading_day, write_day

# ``fixserver`` itself, as installed (server.cli:main), from a directory of the test's own.
FIXSERVER = "import sys; from server.cli import main; sys.exit(main(sys.argv[1:]))"
FILE = "audit-2025-06-15.jsonl"


def fixserver(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", FIXSERVER, "audit", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def day_trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_day(tmp_path_factory.mktemp("day"), trading_day())


@pytest.fixture
def trail(day_trail: Path, tmp_path: Path) -> Path:
    """A copy of the day's trail, to tamper with."""
    return Path(shutil.copytree(day_trail, tmp_path / "audit"))


Change = Callable[[list[bytes]], None]   # edits the stored lines in place


def tamper(trail: Path, change: Change) -> None:
    file = trail / FILE
    stored = file.read_bytes().splitlines()
    change(stored)
    file.write_bytes(b"".join(line + b"\n" for line in stored))


def edit(stored: list[bytes]) -> None:
    assert stored[19].count(b'"quantity":10,') == 1   # record 20: x1 rejected, seq 8
    stored[19] = stored[19].replace(b'"quantity":10,', b'"quantity":1000,')


def delete(stored: list[bytes]) -> None:
    del stored[19]


def swap(stored: list[bytes]) -> None:
    stored[19], stored[20] = stored[20], stored[19]


# -- verify ----------------------------------------------------------------------------------


def test_verify_of_a_good_trail_exits_0_with_the_records_per_event_type(
        trail: Path, tmp_path: Path) -> None:
    result = fixserver(tmp_path, "verify", "--file", str(trail))
    assert result.returncode == 0, result.stderr
    records = [parse(line) for line in lines(trail)]
    counts = Counter(r["event_type"] for r in records)
    out = result.stdout.splitlines()
    assert out[0] == f"audit trail {trail}: {len(records)} records checked"
    assert out[1].split() == ["event", "type", "records"]
    table = [line.split() for line in out[2:2 + len(counts)]]
    assert table == [[t, str(counts[t])] for t in EVENT_TYPES if t in counts]
    assert out[2 + len(counts):] == [
        f"OK: every record checks out; the chain is unbroken from record 1 to "
        f"{len(records)} (seq 1 to 22), last hash {records[-1]['hash']}"]


def test_verify_reads_the_trail_of_a_data_directory(day_trail: Path, tmp_path: Path) -> None:
    result = fixserver(tmp_path, "verify", "--data-dir", str(day_trail.parent))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"audit trail {day_trail}: 51 records checked")


def test_verify_of_one_file_of_the_trail(trail: Path, tmp_path: Path) -> None:
    result = fixserver(tmp_path, "verify", "--file", str(trail / FILE))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("change", "broken"), [
    pytest.param(edit, "BROKEN at record 20 (seq 8): hash does not match the record's "
                 f"content (the record was edited) ({FILE} line 20)", id="edited"),
    pytest.param(delete, "BROKEN at record 21 (seq 9): record 21 where record 20 was "
                 f"expected (a record is missing or out of order) ({FILE} line 20)",
                 id="deleted"),
    pytest.param(swap, "BROKEN at record 21 (seq 9): record 21 where record 20 was "
                 f"expected (a record is missing or out of order) ({FILE} line 20)",
                 id="swapped"),
])
def test_verify_of_a_tampered_trail_exits_1_and_names_the_record_and_its_seq(
        trail: Path, tmp_path: Path, change: Change, broken: str) -> None:
    tamper(trail, change)
    result = fixserver(tmp_path, "verify", "--file", str(trail))
    assert result.returncode == 1, result.stderr
    out = result.stdout.splitlines()
    assert out[0] == f"audit trail {trail}: 19 records checked"   # those before the break
    assert out[-1] == broken


def test_verify_of_a_missing_path_exits_2_and_says_so(tmp_path: Path) -> None:
    result = fixserver(tmp_path, "verify", "--file", str(tmp_path / "nowhere"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"fixserver audit: {tmp_path / 'nowhere'}: no such file or directory\n"


def test_verify_of_a_directory_without_audit_files_exits_2_and_says_so(tmp_path: Path) -> None:
    result = fixserver(tmp_path, "verify", "--file", str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"fixserver audit: {tmp_path}: no audit files "
                             "(audit-YYYY-MM-DD.jsonl) there\n")


# -- tail ------------------------------------------------------------------------------------


def test_tail_prints_a_header_then_one_row_per_record(day_trail: Path, tmp_path: Path) -> None:
    result = fixserver(tmp_path, "tail", "--file", str(day_trail))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["record", "seq", "timestamp", "event_type", "symbol", "side",
                              "quantity", "price", "user_id", "order_id", "detail"]
    records = [parse(line) for line in lines(day_trail)]
    assert [row.split()[:4] for row in rows] == [
        [str(r["record"]), str(r["seq"]), r["timestamp"], r["event_type"]] for r in records]
    assert "trade 1: buy BRK2-MAIN b2 / sell BRK1-MAIN s1" in rows[8]   # record 9


def test_tail_json_prints_the_stored_lines(day_trail: Path, tmp_path: Path) -> None:
    result = fixserver(tmp_path, "tail", "--json", "--file", str(day_trail))
    assert result.returncode == 0, result.stderr
    assert result.stdout.encode() == b"".join(line + b"\n" for line in lines(day_trail))


def test_tail_from_a_seq_starts_there(day_trail: Path, tmp_path: Path) -> None:
    result = fixserver(tmp_path, "tail", "--json", "--from", "21", "--file", str(day_trail))
    assert result.returncode == 0, result.stderr
    expected = [line for line in lines(day_trail) if parse(line)["seq"] >= 21]
    assert [parse(line)["seq"] for line in expected] == [21, 21, 21, 21, 22]
    assert result.stdout.encode() == b"".join(line + b"\n" for line in expected)


def test_tail_of_a_missing_path_exits_2(tmp_path: Path) -> None:
    result = fixserver(tmp_path, "tail", "--file", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "no such file or directory" in result.stderr


def test_tail_follow_prints_records_as_they_are_written(trail: Path, tmp_path: Path) -> None:
    file = trail / FILE
    stored = file.read_bytes().splitlines(keepends=True)
    file.write_bytes(b"".join(stored[:10]))
    follower = subprocess.Popen([sys.executable, "-c", FIXSERVER, "audit", "tail", "--file",
                                 str(trail), "--follow", "--json"], cwd=tmp_path,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        first = [follower.stdout.readline() for _ in range(10)]
        with file.open("ab") as f:          # the trail goes on, a line torn for a moment
            f.write(b"".join(stored[10:20]) + stored[20][:30])
            f.flush()
            f.write(stored[20][30:])
        more = [follower.stdout.readline() for _ in range(11)]
    finally:
        follower.kill()
        follower.wait()
    assert [line.encode() for line in first + more] == stored[:21]
