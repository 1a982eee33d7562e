"""persistence.sequencer: sequence numbers, injected clock, batches, replay."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from persistence.journal import Journal
from persistence.sequencer import Sequencer, replay


def counting_clock(start: int = 1_000, step: int = 7) -> Callable[[], int]:
    it = itertools.count(start, step)
    return lambda: next(it)


def make(tmp_path: Path, next_seq: int = 1, clock: Callable[[], int] | None = None
         ) -> tuple[Sequencer, Journal, Path]:
    path = tmp_path / "commands.wal"
    journal = Journal(path, fsync=False)
    return Sequencer(journal, next_seq, clock or counting_clock()), journal, path


def test_sequence_numbers_are_consecutive_from_next_seq(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, next_seq=41)
    stamped = [seq.submit((1, f"c{i}")) for i in range(5)]
    journal.close()
    assert [s[0] for s in stamped] == [41, 42, 43, 44, 45]


def test_next_seq_advances_past_submitted_commands(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, next_seq=10)
    seq.submit((1,))
    seq.submit((2,))
    journal.close()
    assert seq.next_seq == 12


def test_sequence_numbers_continue_across_commits(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    seq.submit((1,))
    first = seq.commit()
    seq.submit((2,))
    second = seq.commit()
    journal.close()
    assert [s[0] for s in first + second] == [1, 2]


def test_timestamps_come_from_the_injected_clock(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, clock=counting_clock(5_000, 3))
    stamped = [seq.submit((1, i)) for i in range(3)]
    journal.close()
    assert [s[1] for s in stamped] == [5_000, 5_003, 5_006]


def test_submit_returns_seq_timestamp_and_the_command_itself(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, next_seq=7, clock=lambda: 123)
    command = (1, "S1", "c1", b"raw", -5)
    stamped = seq.submit(command)
    journal.close()
    assert stamped == (7, 123, command)


def test_commit_returns_the_batch_in_submission_order(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    stamped = [seq.submit((1, f"c{i}")) for i in range(6)]
    batch = seq.commit()
    journal.close()
    assert batch == stamped


def test_commit_empties_the_batch(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    seq.submit((1,))
    seq.commit()
    again = seq.commit()
    journal.close()
    assert (again, seq.pending) == ([], 0)


def test_pending_counts_uncommitted_commands(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    seq.submit((1,))
    seq.submit((2,))
    pending = seq.pending
    seq.commit()
    journal.close()
    assert pending == 2


def test_commit_is_one_journal_commit_per_batch(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    for _ in range(3):
        for i in range(10):
            seq.submit((1, i))
        seq.commit()
    journal.close()
    assert (journal.commits, journal.records) == (3, 30)


def test_nothing_reaches_the_journal_before_commit(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit((1, "a"))
    seq.submit((1, "b"))
    seen = list(replay(path))
    seq.commit()
    journal.close()
    assert seen == []


def test_replay_yields_exactly_what_was_committed(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    committed = []
    for batch in range(4):
        for i in range(batch + 2):
            seq.submit((batch, "S", f"c{batch}-{i}", b"\x00\x01", -i, 10**20))
        committed += seq.commit()
    journal.close()
    assert list(replay(path)) == committed


def test_replay_excludes_commands_submitted_after_the_last_commit(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit((1, "committed"))
    committed = seq.commit()
    seq.submit((1, "not committed"))
    replayed = list(replay(path))
    journal.commit()   # tidy up: only now does the second command reach the file
    journal.close()
    assert replayed == committed


def test_replayed_commands_are_tuples_of_the_same_types(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit((1, "S1", "c1", "", 2, 1_900_000, 0, b"bytes", 2**70))
    seq.commit()
    journal.close()
    (_, _, command), = replay(path)
    assert [type(x) for x in command] == [int, str, str, str, int, int, int, bytes, int]


def test_replay_of_a_missing_journal_is_empty(tmp_path: Path) -> None:
    assert list(replay(tmp_path / "nothing.wal")) == []


def test_replay_drops_a_torn_last_command(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit((1, "a"))
    first = seq.commit()
    seq.submit((1, "b" * 100))
    seq.commit()
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    assert list(replay(path)) == first


def test_sequencer_resumed_after_replay_continues_the_numbering(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    for i in range(3):
        seq.submit((1, i))
    seq.commit()
    journal.close()
    last = max(s for s, _, _ in replay(path))
    journal2 = Journal(path, fsync=False)
    seq2 = Sequencer(journal2, last + 1, counting_clock())
    seq2.submit((2, "after restart"))
    seq2.commit()
    journal2.close()
    assert [s for s, _, _ in replay(path)] == [1, 2, 3, 4]


def test_replay_of_a_journal_with_a_zero_filled_tail_yields_the_committed_commands(
        tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit((1, "a"))
    committed = seq.commit()
    journal.close()
    with open(path, "ab") as f:
        f.write(b"\x00" * 4096)
    assert list(replay(path)) == committed


commands = st.tuples(st.integers(1, 6), st.text(max_size=8), st.integers(-2**63, 2**63),
                     st.binary(max_size=8))


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(commands, max_size=5), max_size=5),
       uncommitted=st.lists(commands, max_size=3))
def test_replay_equals_the_concatenated_committed_batches(
        tmp_path_factory, batches: list[list[tuple]], uncommitted: list[tuple]) -> None:
    directory = tmp_path_factory.mktemp("seq")
    seq, journal, path = make(directory, next_seq=100)
    committed = []
    for batch in batches:
        for command in batch:
            seq.submit(command)
        committed += seq.commit()
    for command in uncommitted:
        seq.submit(command)
    replayed = list(replay(path))
    seq.commit()
    journal.close()
    assert replayed == committed
