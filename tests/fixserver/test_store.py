"""Specification of the per-session message stores (fixserver.store)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

from fixserver.codec import encode
from fixserver.store import FileStore, MemoryStore

NAME = "FIX.4.4:ISLD->TW44"


def raw(seq: int, text: bytes = b"fill") -> bytes:
    return encode(b"FIX.4.4", [(35, b"8"), (34, b"%d" % seq), (58, text)])


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):
    s = MemoryStore() if request.param == "memory" else FileStore(tmp_path, NAME)
    yield s
    s.close()


def reopen(store: FileStore, tmp_path: Path) -> FileStore:
    store.close()
    return FileStore(tmp_path, NAME)


def body_file(tmp_path: Path) -> Path:
    (path,) = tmp_path.glob("*.body")
    return path


# -- behaviour common to both stores ---------------------------------------------------


def test_a_new_store_expects_sequence_number_one_both_ways(store):
    assert (store.next_sender_seq, store.next_target_seq) == (1, 1)
    assert list(store.messages(1, 100)) == []


def test_sequence_numbers_are_set_independently(store):
    store.set_next_sender(7)
    store.set_next_target(42)
    assert (store.next_sender_seq, store.next_target_seq) == (7, 42)


def test_messages_returns_the_saved_messages_of_the_range_in_order(store):
    for seq in (5, 2, 3, 9):
        store.save(seq, raw(seq))
    assert list(store.messages(1, 10)) == [(2, raw(2)), (3, raw(3)), (5, raw(5)), (9, raw(9))]
    assert list(store.messages(3, 5)) == [(3, raw(3)), (5, raw(5))]
    assert list(store.messages(6, 8)) == []
    assert list(store.messages(9, 9)) == [(9, raw(9))]


def test_messages_over_a_range_far_wider_than_the_store_returns_only_stored_ones(store):
    for seq in (1, 2, 4):
        store.save(seq, raw(seq))
    assert list(store.messages(2, 1_000_000)) == [(2, raw(2)), (4, raw(4))]


def test_messages_over_an_empty_range_is_empty(store):
    store.save(3, raw(3))
    assert list(store.messages(4, 3)) == []


def test_messages_is_a_lazy_generator(store):
    for seq in range(1, 4):
        store.save(seq, raw(seq))
    it = store.messages(1, 3)
    assert inspect.isgenerator(it)
    assert next(it) == (1, raw(1))
    assert list(it) == [(2, raw(2)), (3, raw(3))]


def test_saving_a_sequence_number_again_replaces_the_message(store):
    store.save(1, raw(1, b"old"))
    store.save(1, raw(1, b"new"))
    assert list(store.messages(1, 1)) == [(1, raw(1, b"new"))]


def test_reset_clears_messages_and_sets_both_sequence_numbers_to_one(store):
    store.set_next_sender(10)
    store.set_next_target(20)
    store.save(9, raw(9))
    store.reset()
    assert (store.next_sender_seq, store.next_target_seq) == (1, 1)
    assert list(store.messages(1, 100)) == []
    store.save(1, raw(1))
    assert list(store.messages(1, 100)) == [(1, raw(1))]


def test_a_message_holding_newlines_and_soh_is_returned_byte_for_byte(store):
    message = raw(1, b"line1\nline2\r\n\n10=000\x01x")
    store.save(1, message)
    assert list(store.messages(1, 1)) == [(1, message)]


# -- durability of the FileStore ------------------------------------------------------


def test_sequence_numbers_survive_a_reopen(tmp_path):
    store = FileStore(tmp_path, NAME)
    store.set_next_sender(1234)
    store.set_next_target(98765)
    store = reopen(store, tmp_path)
    assert (store.next_sender_seq, store.next_target_seq) == (1234, 98765)
    store.close()


def test_saved_messages_survive_a_reopen(tmp_path):
    store = FileStore(tmp_path, NAME, fsync=True)
    for seq in (1, 2, 5):
        store.save(seq, raw(seq))
    store = reopen(store, tmp_path)
    assert list(store.messages(1, 10)) == [(1, raw(1)), (2, raw(2)), (5, raw(5))]
    store.save(6, raw(6))
    assert list(store.messages(5, 6)) == [(5, raw(5)), (6, raw(6))]
    store.close()


def test_a_message_saved_again_before_a_reopen_is_the_latest_one_after_it(tmp_path):
    store = FileStore(tmp_path, NAME)
    store.save(1, raw(1, b"old"))
    store.save(1, raw(1, b"new"))
    store = reopen(store, tmp_path)
    assert list(store.messages(1, 1)) == [(1, raw(1, b"new"))]
    store.close()


def test_two_sessions_in_one_directory_keep_separate_files(tmp_path):
    a = FileStore(tmp_path, "FIX.4.2:ISLD->TW42")
    b = FileStore(tmp_path, "FIX.4.4:ISLD->TW44")
    a.save(1, raw(1, b"a"))
    a.set_next_sender(2)
    b.save(1, raw(1, b"b"))
    b.set_next_sender(5)
    a.close()
    b.close()
    a = FileStore(tmp_path, "FIX.4.2:ISLD->TW42")
    assert list(a.messages(1, 1)) == [(1, raw(1, b"a"))]
    assert a.next_sender_seq == 2
    a.close()


def test_reset_is_durable(tmp_path):
    store = FileStore(tmp_path, NAME)
    store.set_next_sender(10)
    store.set_next_target(20)
    store.save(9, raw(9))
    store.reset()
    store = reopen(store, tmp_path)
    assert (store.next_sender_seq, store.next_target_seq) == (1, 1)
    assert list(store.messages(1, 100)) == []
    store.close()


def test_messages_saved_after_a_reset_survive_a_reopen(tmp_path):
    store = FileStore(tmp_path, NAME)
    for seq in (1, 2, 3):
        store.save(seq, raw(seq, b"before"))
    store.reset()
    store.save(1, raw(1, b"after"))
    store = reopen(store, tmp_path)
    assert list(store.messages(1, 10)) == [(1, raw(1, b"after"))]
    store.close()


def test_messages_are_read_from_disk_as_they_are_iterated(tmp_path):
    store = FileStore(tmp_path, NAME)
    for seq in (1, 2):
        store.save(seq, raw(seq))
    it = store.messages(1, 2)
    assert next(it) == (1, raw(1))
    # Rewrite the second record in place: a lazy reader sees the bytes on disk now.
    path = body_file(tmp_path)
    data = path.read_bytes()
    at = data.rindex(raw(2))
    with open(path, "r+b") as f:
        f.seek(at + len(raw(2)) - 8)
        f.write(b"X")
    assert next(it)[1][-8:-7] == b"X"
    store.close()


# -- torn records ----------------------------------------------------------------------


def write_two_records(tmp_path: Path) -> tuple[int, int]:
    """Save messages 1 and 2; return the file size after each."""
    store = FileStore(tmp_path, NAME)
    store.save(1, raw(1))
    store.sync()
    size1 = body_file(tmp_path).stat().st_size
    store.save(2, raw(2))
    store.sync()
    size2 = body_file(tmp_path).stat().st_size
    store.close()
    return size1, size2


def test_saved_messages_reach_the_file_only_at_sync(tmp_path):
    store = FileStore(tmp_path, NAME)
    store.save(1, raw(1))
    assert body_file(tmp_path).stat().st_size == 0
    store.sync()
    assert body_file(tmp_path).stat().st_size > len(raw(1))
    store.close()


def test_a_torn_last_record_is_dropped_at_every_cut_and_the_file_truncated(tmp_path):
    size1, size2 = write_two_records(tmp_path)
    path = body_file(tmp_path)
    full = path.read_bytes()
    for cut in range(size1 + 1, size2):
        path.write_bytes(full[:cut])
        store = FileStore(tmp_path, NAME)
        assert list(store.messages(1, 10)) == [(1, raw(1))], cut
        assert path.stat().st_size == size1, cut
        store.close()


def test_a_save_after_a_torn_record_is_readable_after_another_reopen(tmp_path):
    size1, size2 = write_two_records(tmp_path)
    path = body_file(tmp_path)
    os.truncate(path, (size1 + size2) // 2)
    store = FileStore(tmp_path, NAME)
    store.save(2, raw(2, b"again"))
    store.save(3, raw(3))
    assert list(store.messages(1, 3)) == [(1, raw(1)), (2, raw(2, b"again")), (3, raw(3))]
    store = reopen(store, tmp_path)
    assert list(store.messages(1, 3)) == [(1, raw(1)), (2, raw(2, b"again")), (3, raw(3))]
    store.close()


@pytest.mark.parametrize("garbage", [b"\x00\x00\x00\x00", b"garbage", b"12 9999\nabc",
                                     b"\n", b"3 5\nabcdeX", b"7\n"])
def test_garbage_after_the_last_record_is_dropped_on_reopen(tmp_path, garbage):
    size1, size2 = write_two_records(tmp_path)
    path = body_file(tmp_path)
    with open(path, "ab") as f:
        f.write(garbage)
    store = FileStore(tmp_path, NAME)
    assert list(store.messages(1, 10)) == [(1, raw(1)), (2, raw(2))]
    assert path.stat().st_size == size2
    store.save(3, raw(3))
    store = reopen(store, tmp_path)
    assert list(store.messages(1, 10)) == [(1, raw(1)), (2, raw(2)), (3, raw(3))]
    store.close()


@pytest.mark.parametrize("garbage", [b"hello world\n", b"2 -99\n"])
def test_a_garbage_record_head_is_dropped_on_reopen(tmp_path, garbage):
    size1, size2 = write_two_records(tmp_path)
    path = body_file(tmp_path)
    with open(path, "ab") as f:
        f.write(garbage)
    store = FileStore(tmp_path, NAME)
    assert list(store.messages(1, 10)) == [(1, raw(1)), (2, raw(2))]
    assert path.stat().st_size == size2
    store.close()


# -- the source of each message (what the exchange's crash recovery reads) ------------


def test_a_store_knows_the_last_source_and_how_many_messages_carry_it(store):
    store.save(1, raw(1), source=7)
    store.save(2, raw(2), source=9)
    store.save(3, raw(3))
    store.save(4, raw(4), source=9)
    assert store.last_source == (9, 2)


def test_a_store_without_sourced_messages_has_last_source_zero(store):
    store.save(1, raw(1))
    assert store.last_source == (0, 0)


def test_reset_forgets_the_last_source(store):
    store.save(1, raw(1), source=7)
    store.reset()
    assert store.last_source == (0, 0)


def test_the_last_source_survives_a_reopen(tmp_path):
    store = FileStore(tmp_path, NAME)
    for seq, source in ((1, 3), (2, 4), (3, 4), (4, 0)):
        store.save(seq, raw(seq), source=source)
    store = reopen(store, tmp_path)
    assert store.last_source == (4, 2)
    assert list(store.messages(1, 4)) == [(s, raw(s)) for s in (1, 2, 3, 4)]
    store.close()


def test_a_message_with_a_source_is_recorded_with_it_in_the_body_file(tmp_path):
    store = FileStore(tmp_path, NAME)
    store.save(1, raw(1), source=42)
    store.close()
    assert body_file(tmp_path).read_bytes().startswith(b"1 %d 42\n" % len(raw(1)))


def test_records_written_before_sources_existed_are_read(tmp_path):
    body = b"".join(b"%d %d\n%b\n" % (seq, len(raw(seq)), raw(seq)) for seq in (1, 2))
    (tmp_path / "FIX.4.4_ISLD-_TW44.body").write_bytes(body)
    store = FileStore(tmp_path, NAME)
    assert list(store.messages(1, 2)) == [(1, raw(1)), (2, raw(2))]
    assert store.last_source == (0, 0)
    store.close()


def test_a_torn_record_does_not_count_towards_the_last_source(tmp_path):
    store = FileStore(tmp_path, NAME)
    store.save(1, raw(1), source=5)
    store.save(2, raw(2), source=6)
    store.close()
    path = body_file(tmp_path)
    os.truncate(path, path.stat().st_size - 4)
    store = FileStore(tmp_path, NAME)
    assert store.last_source == (5, 1)
    store.close()
