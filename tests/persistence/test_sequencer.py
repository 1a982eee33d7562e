"""persistence.sequencer: sequence numbers, injected clock, batches, the record encoding,
replay of typed commands."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from persistence.journal import Journal, JournalCorrupt, JournalFormatError, read_records
from persistence.sequencer import JournalDecodeError, Sequenced, Sequencer, replay
from venue.commands import (
    SCHEMA_VERSION,
    CancelOnDisconnect,
    Command,
    EndTradingDay,
    ExpireGTDOrders,
    KillSwitch,
    NewOrderSingle,
    OrderCancelRequest,
)


def counting_clock(start: int = 1_000, step: int = 7) -> Callable[[], int]:
    it = itertools.count(start, step)
    return lambda: next(it)


def make(tmp_path: Path, next_seq: int = 1, clock: Callable[[], int] | None = None
         ) -> tuple[Sequencer[Command], Journal, Path]:
    path = tmp_path / "commands.wal"
    journal = Journal(path, kind="commands", schema_version=SCHEMA_VERSION, fsync=False)
    return Sequencer(journal, next_seq, clock or counting_clock()), journal, path


def replayed(path: Path) -> list[Sequenced[Any]]:
    return list(replay(path, Command, schema_version=SCHEMA_VERSION))


def order(cl_ord_id: str = "c1", price: int = 1_905_000) -> NewOrderSingle:
    return NewOrderSingle("BRK1", cl_ord_id, "BRK1-MAIN", "AAPL", 1, 2, price, 0, 100)


def test_sequence_numbers_are_consecutive_from_next_seq(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, next_seq=41)
    stamped = [seq.submit(order(f"c{i}")) for i in range(5)]
    journal.close()
    assert [s.seq for s in stamped] == [41, 42, 43, 44, 45]


def test_next_seq_advances_past_submitted_commands(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, next_seq=10)
    seq.submit(EndTradingDay())
    seq.submit(CancelOnDisconnect("BRK1"))
    journal.close()
    assert seq.next_seq == 12


def test_sequence_numbers_continue_across_commits(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    seq.submit(order("a"))
    first = seq.commit()
    seq.submit(order("b"))
    second = seq.commit()
    journal.close()
    assert [s.seq for s in first + second] == [1, 2]


def test_timestamps_come_from_the_injected_clock(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, clock=counting_clock(5_000, 3))
    stamped = [seq.submit(ExpireGTDOrders(i)) for i in range(3)]
    journal.close()
    assert [s.ts for s in stamped] == [5_000, 5_003, 5_006]


def test_submit_returns_seq_timestamp_and_the_command_itself(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path, next_seq=7, clock=lambda: 123)
    command = order()
    stamped = seq.submit(command)
    journal.close()
    assert (stamped, stamped.command is command) == (Sequenced(7, 123, command), True)


def test_commit_returns_the_batch_in_submission_order(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    stamped = [seq.submit(order(f"c{i}")) for i in range(6)]
    batch = seq.commit()
    journal.close()
    assert batch == stamped


def test_commit_empties_the_batch(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    seq.submit(order())
    seq.commit()
    again = seq.commit()
    journal.close()
    assert (again, seq.pending) == ([], 0)


def test_pending_counts_uncommitted_commands(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    seq.submit(order("a"))
    seq.submit(order("b"))
    pending = seq.pending
    seq.commit()
    journal.close()
    assert pending == 2


def test_commit_is_one_journal_commit_per_batch(tmp_path: Path) -> None:
    seq, journal, _ = make(tmp_path)
    for _ in range(3):
        for i in range(10):
            seq.submit(ExpireGTDOrders(i))
        seq.commit()
    journal.close()
    assert (journal.commits, journal.records) == (3, 30)


def test_a_journal_record_is_the_msgpack_array_of_seq_ts_and_the_tagged_command(
        tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path, next_seq=5, clock=lambda: 99)
    seq.submit(KillSwitch("account", "BRK1-MAIN", True))
    seq.commit()
    journal.close()
    (payload,) = read_records(path, kind="commands", schema_version=SCHEMA_VERSION)
    assert msgspec.msgpack.decode(payload) == [5, 99, [9, "account", "BRK1-MAIN", True]]


def test_nothing_reaches_the_journal_before_commit(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit(order("a"))
    seq.submit(order("b"))
    seen = replayed(path)
    seq.commit()
    journal.close()
    assert seen == []


def test_replay_yields_exactly_what_was_committed(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    committed = []
    for batch in range(4):
        for i in range(batch + 2):
            seq.submit(order(f"c{batch}-{i}", price=10**15 + i))
        committed += seq.commit()
    journal.close()
    assert replayed(path) == committed


def test_replay_excludes_commands_submitted_after_the_last_commit(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit(order("committed"))
    committed = seq.commit()
    seq.submit(order("not committed"))
    seen = replayed(path)
    journal.commit()   # tidy up: only now does the second command reach the file
    journal.close()
    assert seen == committed


def test_replayed_commands_are_the_typed_records_with_their_field_types(
        tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    # Side as the engine's int, OrdType as the unsupported text it was sent as.
    seq.submit(NewOrderSingle("S1", "c1", "", "AAPL", 2, "Z", 1_900_000, error_code="X"))
    seq.commit()
    journal.close()
    (stamped,) = replayed(path)
    command = stamped.command
    assert (type(command), type(command.side), type(command.ord_type),
            type(command.price)) == (NewOrderSingle, int, str, int)


def test_replay_of_a_missing_journal_is_empty(tmp_path: Path) -> None:
    assert replayed(tmp_path / "nothing.wal") == []


def test_replay_of_a_header_only_journal_is_empty(tmp_path: Path) -> None:
    _, journal, path = make(tmp_path)
    journal.close()
    assert replayed(path) == []


def test_replay_drops_a_torn_last_command(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit(order("a"))
    first = seq.commit()
    seq.submit(order("b" * 100))
    seq.commit()
    journal.close()
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    assert replayed(path) == first


def test_sequencer_resumed_after_replay_continues_the_numbering(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    for i in range(3):
        seq.submit(ExpireGTDOrders(i))
    seq.commit()
    journal.close()
    last = max(s.seq for s in replayed(path))
    journal2 = Journal(path, kind="commands", schema_version=SCHEMA_VERSION, fsync=False)
    seq2 = Sequencer(journal2, last + 1, counting_clock())
    seq2.submit(EndTradingDay())
    seq2.commit()
    journal2.close()
    assert [s.seq for s in replayed(path)] == [1, 2, 3, 4]


def test_replay_of_a_journal_with_a_zero_filled_tail_yields_the_committed_commands(
        tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit(order())
    committed = seq.commit()
    journal.close()
    with open(path, "ab") as f:
        f.write(b"\x00" * 4096)
    assert replayed(path) == committed


def test_replay_checks_the_kind_in_the_file_header(tmp_path: Path) -> None:
    _, journal, path = make(tmp_path)
    journal.close()
    with pytest.raises(JournalFormatError, match="'commands' journal, not a 'events'"):
        list(replay(path, Command, kind="events", schema_version=SCHEMA_VERSION))


def test_a_record_that_does_not_decode_raises_naming_its_offset_and_the_seq_before(
        tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit(EndTradingDay())
    seq.commit()
    journal.close()
    offset = path.stat().st_size
    journal = Journal(path, kind="commands", schema_version=SCHEMA_VERSION, fsync=False)
    journal.append(msgspec.msgpack.encode([2, 5, [99, "no such command"]]))
    journal.close()
    with pytest.raises(JournalDecodeError) as info:
        replayed(path)
    message = str(info.value)
    assert (str(path) in message, f"offset {offset}" in message, "after seq 1" in message,
            "99" in message) == (True, True, True, True)


def test_a_record_that_is_not_msgpack_raises_a_decode_error_naming_the_file(
        tmp_path: Path) -> None:
    _, journal, path = make(tmp_path)
    journal.append(b"\xc1 never msgpack")
    journal.close()
    with pytest.raises(JournalDecodeError, match=rf"{path}: the record at offset 32 "
                                                 r"\(the first record\)"):
        replayed(path)


def test_a_decode_error_is_journal_corruption_for_the_start_up_handler() -> None:
    assert issubclass(JournalDecodeError, JournalCorrupt)


def test_replay_stops_at_the_undecodable_record_after_the_good_ones(tmp_path: Path) -> None:
    seq, journal, path = make(tmp_path)
    seq.submit(OrderCancelRequest("BRK1", "c2", "c1"))
    good = seq.commit()
    journal.append(msgspec.msgpack.encode([2, 5, "not a command"]))
    journal.close()
    seen = []
    with pytest.raises(JournalDecodeError):
        for stamped in replay(path, Command, schema_version=SCHEMA_VERSION):
            seen.append(stamped)
    assert seen == good


# -- any valid commands survive the journal ------------------------------------------------

_INT64 = st.integers(-2**63, 2**63 - 1)
_FIELD_VALUES: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=12),
    int: _INT64,
    bool: st.booleans(),
    int | str: st.one_of(_INT64, st.text(max_size=3)),
}


def _command_strategy(command_type: type[Command]) -> st.SearchStrategy[Command]:
    """Any value of each field's declared type."""
    fields = {f.name: _FIELD_VALUES[f.type] for f in msgspec.structs.fields(command_type)}
    return st.builds(command_type, **fields)


assert isinstance(Command, UnionType)
commands = st.one_of(*(_command_strategy(t) for t in get_args(Command)))


@settings(max_examples=40, deadline=None)
@given(batches=st.lists(st.lists(commands, max_size=5), max_size=5),
       uncommitted=st.lists(commands, max_size=3))
def test_replay_equals_the_concatenated_committed_batches(
        tmp_path_factory: pytest.TempPathFactory, batches: list[list[Command]],
        uncommitted: list[Command]) -> None:
    directory = tmp_path_factory.mktemp("seq")
    seq, journal, path = make(directory, next_seq=100)
    committed = []
    for batch in batches:
        for command in batch:
            seq.submit(command)
        committed += seq.commit()
    for command in uncommitted:
        seq.submit(command)
    seen = replayed(path)
    seq.commit()
    journal.close()
    assert seen == committed
