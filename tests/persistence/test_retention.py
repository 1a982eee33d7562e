"""Which journal segments retention deletes (persistence.retention).

A segment goes when every record in it is at or below the floor (the lowest seq any
reader still needs), it was last written at least the retention period ago and no
snapshot points into it; deletion runs from the first segment and stops at the first
one that must stay, so the journal left is contiguous, and the active segment never
goes.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from persistence.retention import Span, expired, remove, spans
from persistence.segments import SegmentedJournal, first_seq_of

HOUR = 3600 * 10**9
NOW = 1_000 * HOUR
BASE = Path("/j/commands.wal")


def span(first: int, last: int | None, age_hours: float = 10, name: str | None = None) -> Span:
    return Span(BASE.with_name(name or f"commands.{first:012d}.wal"), first, last,
                NOW - int(age_hours * HOUR))


def journal_of(*sizes: int) -> list[Span]:
    """Segments of the given record counts, the last one active."""
    out, first = [], 1
    for i, n in enumerate(sizes):
        last = None if i == len(sizes) - 1 else first + n - 1
        out.append(span(first, last, name="commands.wal" if first == 1 else None))
        first += n
    return out


def names(segments: list[Span]) -> list[str]:
    return [s.path.name for s in segments]


def test_segments_wholly_at_or_below_the_floor_go() -> None:
    segs = journal_of(10, 10, 10, 10)     # 1-10, 11-20, 21-30, 31- (active)
    assert names(expired(segs, floor=20, keep=(), now_ns=NOW, retention_ns=HOUR)) == \
        ["commands.wal", "commands.000000000011.wal"]


def test_a_segment_holding_a_record_above_the_floor_stays() -> None:
    segs = journal_of(10, 10, 10)
    assert names(expired(segs, floor=19, keep=(), now_ns=NOW, retention_ns=HOUR)) == \
        ["commands.wal"]


def test_the_active_segment_never_goes() -> None:
    segs = journal_of(10, 10)
    assert names(expired(segs, floor=10**9, keep=(), now_ns=NOW, retention_ns=0)) == \
        ["commands.wal"]


def test_a_segment_younger_than_the_retention_stays_and_so_do_all_after_it() -> None:
    segs = [span(1, 10, age_hours=5, name="commands.wal"), span(11, 20, age_hours=1),
            span(21, 30, age_hours=5), span(31, None)]
    assert names(expired(segs, floor=30, keep=(), now_ns=NOW, retention_ns=2 * HOUR)) == \
        ["commands.wal"]


def test_a_segment_a_snapshot_points_into_stays_and_so_do_all_after_it() -> None:
    segs = journal_of(10, 10, 10, 10)
    assert names(expired(segs, floor=30, keep={"commands.000000000011.wal"}, now_ns=NOW,
                         retention_ns=HOUR)) == ["commands.wal"]


def test_with_a_floor_of_zero_nothing_goes() -> None:
    assert expired(journal_of(10, 10, 10), floor=0, keep=(), now_ns=NOW, retention_ns=0) == []


@given(st.lists(st.tuples(st.integers(1, 50), st.floats(0, 20)), min_size=1, max_size=8),
       st.integers(0, 400), st.floats(0, 20))
def test_what_goes_is_the_longest_deletable_run_from_the_first(
        shape: list[tuple[int, float]], floor: int, retention_hours: float) -> None:
    segs, first = [], 1
    for i, (n, age) in enumerate(shape):
        last = None if i == len(shape) - 1 else first + n - 1
        segs.append(span(first, last, age_hours=age))
        first += n
    retention_ns = int(retention_hours * HOUR)
    gone = expired(segs, floor=floor, keep=(), now_ns=NOW, retention_ns=retention_ns)

    def deletable(s: Span) -> bool:
        return (s.last_seq is not None and s.last_seq <= floor
                and NOW - s.modified_ns >= retention_ns)

    assert gone == segs[:len(gone)]
    assert all(map(deletable, gone))
    assert len(gone) < len(segs)
    assert not deletable(segs[len(gone)])


def test_a_segment_starts_with_the_seq_in_its_name_and_the_configured_file_with_1() -> None:
    assert first_seq_of(BASE, BASE) == 1
    assert first_seq_of(BASE.with_name("commands.000000412903.wal"), BASE) == 412903


def test_spans_of_a_journal_end_each_segment_before_the_next_and_leave_the_last_open(
        tmp_path: Path) -> None:
    base = tmp_path / "commands.wal"
    journal = SegmentedJournal(base, kind="commands", schema_version=1, fsync=False,
                               segment_bytes=0)
    seq = 1
    for batch in (3, 2, 4):
        for _ in range(batch):
            journal.append(b"x")
        journal.commit()
        seq += batch
        journal.roll_if_full(seq)
    journal.close()
    assert [(s.path.name, s.first_seq, s.last_seq) for s in spans(base)] == [
        ("commands.wal", 1, 3), ("commands.000000000004.wal", 4, 5),
        ("commands.000000000006.wal", 6, 9), ("commands.000000000010.wal", 10, None)]


def test_remove_deletes_the_files(tmp_path: Path) -> None:
    paths = [tmp_path / "commands.wal", tmp_path / "commands.000000000004.wal"]
    for p in paths:
        p.write_bytes(b"x")
    remove([Span(p, 1, 3, 0) for p in paths])
    assert list(tmp_path.iterdir()) == []
