"""Journal retention on an exchange's data directory (server.retention).

Segments go once recovery (the oldest usable snapshot) and every reader given to the
policy (the report stores' mark, the event log, durable consumers) are past them and
they are older than ``retention_hours``; a restart after the deletion recovers the
same state from the snapshot, and one that would need a deleted segment says so
instead of building a wrong state.

An in-process exchange on the shipped configuration, fsync off, with a new journal
segment after every batch (``journal_segment_mb = 0``).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from persistence.segments import JournalIncomplete, segment_files
from persistence.snapshots import snapshots
from server.cli import main as fixserver
from server.retention import JournalRetention

from .test_snapshot_recovery import DAY, config, crash, exchange, run, state

HOUR = 3600 * 10**9
CONFIG = config(journal_segment_mb=0, retention_hours=0)


def journal_files(data_dir: Path) -> list[str]:
    return [p.name for p in segment_files(data_dir / "journal" / "commands.wal")]


def test_without_a_snapshot_no_segment_goes(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY)
    before = journal_files(tmp_path)
    assert JournalRetention(ex, {}).enforce() == []
    assert journal_files(tmp_path) == before


def test_segments_before_the_oldest_snapshot_go(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])           # three batches: segments from seq 1, 4 and 7
    ex.write_snapshot()        # seq 9, pointing at the start of the segment of seq 10
    run(ex, DAY[9:])
    gone = JournalRetention(ex, {}).enforce()
    assert [s.path.name for s in gone] == ["commands.wal", "commands.000000000004.wal",
                                           "commands.000000000007.wal"]
    assert journal_files(tmp_path)[0] == "commands.000000000010.wal"


def test_after_retention_a_restart_recovers_the_same_state_from_the_snapshot(
        tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    ex.write_snapshot()
    run(ex, DAY[9:])
    end = state(ex)
    assert JournalRetention(ex, {}).enforce()
    crash(ex)
    again = exchange(tmp_path, CONFIG)
    assert (again.snapshot_seq, state(again)) == (9, end)


def test_a_reader_behind_the_snapshot_holds_the_segments_it_needs(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    ex.write_snapshot()
    gone = JournalRetention(ex, {"the report stores": lambda: 5}).enforce()
    assert [s.path.name for s in gone] == ["commands.wal"]      # seq 1-3 only


def test_the_policy_names_the_reader_that_holds_the_floor(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    ex.write_snapshot()
    policy = JournalRetention(ex, {"consumer audit": lambda: 4, "the event log": lambda: 9})
    assert policy.floor() == (4, "consumer audit")


def test_the_oldest_kept_snapshot_holds_the_journal_after_it(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:3])
    ex.write_snapshot()        # seq 3: a damaged newer one falls back to this one
    run(ex, DAY[3:9])
    ex.write_snapshot()
    gone = JournalRetention(ex, {}).enforce()
    assert [s.path.name for s in gone] == ["commands.wal"]


def test_a_snapshot_under_another_configuration_does_not_count(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    ex.write_snapshot()
    ex.close(snapshot=False)
    other = dataclasses.replace(CONFIG, risk_defaults=dataclasses.replace(
        CONFIG.risk_defaults, max_order_qty=7))
    # Its restart replays the whole journal: every segment is still needed.
    again = exchange(tmp_path, other)
    assert again.snapshot_seq == 0
    assert JournalRetention(again, {}).enforce() == []


def test_segments_younger_than_retention_hours_stay(tmp_path: Path) -> None:
    ex = exchange(tmp_path, config(journal_segment_mb=0, retention_hours=2))
    run(ex, DAY[:9])
    ex.write_snapshot()
    policy = JournalRetention(ex, {})
    assert policy.enforce() == []
    later = policy.enforce(now_ns=(tmp_path / "journal" / "commands.wal").stat().st_mtime_ns
                           + 3 * HOUR)
    assert later


def test_a_snapshot_at_the_end_of_a_segment_keeps_that_segment(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    # A snapshot of seq 9 may name the end of the segment of seq 7-9 as where its
    # journal goes on (the exchange names the start of the next one).
    segment = tmp_path / "journal" / "commands.000000000007.wal"
    ex.write_snapshot((segment.name, segment.stat().st_size))
    run(ex, DAY[9:])
    gone = JournalRetention(ex, {}).enforce()
    assert [s.path.name for s in gone] == ["commands.wal", "commands.000000000004.wal"]
    crash(ex)
    assert exchange(tmp_path, CONFIG).snapshot_seq == 9


def test_a_restart_that_needs_a_deleted_segment_refuses_to_start(tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    ex.write_snapshot()
    assert JournalRetention(ex, {}).enforce()
    crash(ex)
    shutil.rmtree(tmp_path / "snapshots")
    with pytest.raises(JournalIncomplete, match="begins at seq 10"):
        exchange(tmp_path, CONFIG)


def test_replay_before_the_retained_journal_is_an_error_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    ex.write_snapshot()
    assert JournalRetention(ex, {}).enforce()
    ex.close(snapshot=False)
    assert [s.seq for s in snapshots(tmp_path / "snapshots")] == [9]
    # The exchange above ran on its own sessions; replay names the shipped ones.
    assert fixserver(["replay", "--data-dir", str(tmp_path), "--until", "5"]) == 1
    assert "begins at seq 10" in capsys.readouterr().err


def test_a_journal_with_a_segment_missing_in_the_middle_refuses_to_replay(
        tmp_path: Path) -> None:
    ex = exchange(tmp_path, CONFIG)
    run(ex, DAY[:9])
    crash(ex)
    (tmp_path / "journal" / "commands.000000000004.wal").unlink()
    with pytest.raises(JournalIncomplete, match="seq 7 follows seq 3"):
        exchange(tmp_path, CONFIG)
