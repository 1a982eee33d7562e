"""Specification of the sessions' message and event logs (fixserver.filelog): QuickFIX's
file names and line format, written off the order path, rotated, and never a reason
for a session to fail."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixserver.codec import encode
from fixserver.filelog import (
    DAY,
    FileLogWriter,
    Rotation,
    SessionLog,
    expired,
    format_line,
    log_prefix,
)

PREFIX = log_prefix("FIX.4.4", "EXCH", "BRK1")


def at(*when: int) -> float:
    """Seconds since the epoch of a UTC date and time (year, month, day, h, m, s, µs)."""
    return dt.datetime(*when, tzinfo=dt.UTC).timestamp()  # type: ignore[misc]


class Clock:
    """A settable clock for the writer."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def message(seq: int, msg_type: bytes = b"D") -> bytes:
    return encode(b"FIX.4.4", [(35, msg_type), (34, b"%d" % seq), (49, b"BRK1"),
                               (56, b"EXCH"), (11, b"order-%d" % seq)])


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def texts(path: Path) -> list[str]:
    """The lines of a log without their timestamps."""
    return [line.split(b" : ", 1)[1].decode() for line in lines(path)]


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


@pytest.fixture
def clock() -> Clock:
    return Clock(at(2026, 12, 1, 12, 0, 0))


@pytest.fixture
def writer(clock: Clock) -> Iterator[FileLogWriter]:
    w = FileLogWriter(clock=clock, period=3600)  # flushed by the tests, not the thread
    yield w
    w.close()


def open_log(writer: FileLogWriter, directory: Path, **rotation: object) -> SessionLog:
    return writer.open(directory, PREFIX, Rotation(**rotation))  # type: ignore[arg-type]


# -- names and lines -----------------------------------------------------------------


def test_the_files_are_named_as_quickfix_names_them(writer, tmp_path):
    session_log = open_log(writer, tmp_path)
    writer.flush()
    assert session_log.messages_path == tmp_path / "FIX.4.4-EXCH-BRK1.messages.current.log"
    assert session_log.event_path == tmp_path / "FIX.4.4-EXCH-BRK1.event.current.log"
    assert names(tmp_path) == {"FIX.4.4-EXCH-BRK1.messages.current.log",
                               "FIX.4.4-EXCH-BRK1.event.current.log"}


def test_a_message_line_is_the_utc_time_to_the_microsecond_then_the_raw_message():
    raw = message(1)
    assert format_line(at(2026, 12, 1, 9, 5, 7, 42), raw) == \
        b"20261201-09:05:07.000042 : " + raw + b"\n"
    assert b"\x01" in raw  # the SOH bytes are kept, as QuickFIX writes them


def test_an_event_line_is_the_utc_time_then_the_text():
    assert format_line(at(2026, 12, 1, 23, 59, 59, 999999), "logged on (HeartBtInt=30)") == \
        b"20261201-23:59:59.999999 : logged on (HeartBtInt=30)\n"


def test_an_event_is_one_line_even_when_its_text_has_line_breaks():
    assert format_line(at(2026, 12, 1), "counterparty rejected our message 7: bad\r\nprice") \
        == b"20261201-00:00:00.000000 : counterparty rejected our message 7: bad\\r\\nprice\n"


def test_the_event_log_starts_with_created_session(writer, tmp_path, clock):
    session_log = open_log(writer, tmp_path)
    writer.flush()
    assert lines(session_log.event_path) == [b"20261201-12:00:00.000000 : Created session"]


def test_messages_in_and_out_and_events_are_written_in_the_order_they_happened(
        writer, tmp_path, clock):
    session_log = open_log(writer, tmp_path)
    t = clock.t
    session_log.incoming(message(1, b"A"), t + 0.1)
    session_log.event("logged on (HeartBtInt=30)", t + 0.2)
    session_log.outgoing(message(1, b"A"), t + 0.2)
    session_log.incoming(message(2), t + 0.3)
    session_log.outgoing(message(2, b"8"), t + 0.4)
    session_log.event("disconnected: connection lost", t + 0.5)
    writer.flush()
    assert lines(session_log.messages_path) == [
        b"20261201-12:00:00.100000 : " + message(1, b"A"),
        b"20261201-12:00:00.200000 : " + message(1, b"A"),
        b"20261201-12:00:00.300000 : " + message(2),
        b"20261201-12:00:00.400000 : " + message(2, b"8"),
    ]
    assert texts(session_log.event_path) == [
        "Created session", "logged on (HeartBtInt=30)", "disconnected: connection lost"]


# -- when lines reach the disk -------------------------------------------------------


def test_nothing_is_on_disk_until_a_flush(writer, tmp_path, clock):
    directory = tmp_path / "log"
    session_log = open_log(writer, directory)
    session_log.incoming(message(1), clock.t)
    assert not directory.exists()
    writer.flush()
    assert len(lines(session_log.messages_path)) == 1


def test_close_writes_every_line_left(clock, tmp_path):
    writer = FileLogWriter(clock=clock, period=3600)
    writer.start()
    session_log = open_log(writer, tmp_path)
    for seq in range(1, 101):
        session_log.outgoing(message(seq), clock.t)
    writer.close()
    assert len(lines(session_log.messages_path)) == 100
    assert texts(session_log.event_path) == ["Created session"]


def test_the_writer_thread_writes_within_about_a_second(tmp_path):
    writer = FileLogWriter()  # the server's: the real clock, once a second
    session_log = writer.open(tmp_path, PREFIX)
    writer.start()
    try:
        session_log.incoming(message(1), time.time())
        deadline = time.monotonic() + 3
        while not (session_log.messages_path.exists()
                   and session_log.messages_path.stat().st_size):
            assert time.monotonic() < deadline, "nothing written within 3 s"
            time.sleep(0.02)
        assert lines(session_log.messages_path)[0].endswith(message(1))
    finally:
        writer.close()


def test_each_session_has_its_own_files(writer, tmp_path, clock):
    brk1 = writer.open(tmp_path, PREFIX)
    brk2 = writer.open(tmp_path, log_prefix("FIX.4.2", "EXCH", "BRK2"))
    brk1.incoming(message(1), clock.t)
    brk2.incoming(message(7), clock.t)
    writer.flush()
    assert [line.endswith(message(1)) for line in lines(brk1.messages_path)] == [True]
    assert brk2.messages_path.name == "FIX.4.2-EXCH-BRK2.messages.current.log"
    assert [line.endswith(message(7)) for line in lines(brk2.messages_path)] == [True]


# -- rotation --------------------------------------------------------------------------


def test_daily_rotation_renames_the_files_with_their_date_at_utc_midnight(writer, tmp_path,
                                                                         clock):
    clock.t = at(2026, 12, 1, 23, 59, 59)
    session_log = open_log(writer, tmp_path)
    session_log.incoming(message(1), clock.t)
    writer.flush()
    clock.t = at(2026, 12, 2, 0, 0, 1)
    writer.flush()
    assert texts(tmp_path / f"{PREFIX}.event.20261201.log") == ["Created session"]
    (old,) = lines(tmp_path / f"{PREFIX}.messages.20261201.log")
    assert old.startswith(b"20261201-23:59:59") and old.endswith(message(1))
    # New current files are started, empty until the new day's first line.
    assert session_log.messages_path.read_bytes() == b""
    session_log.incoming(message(2), clock.t)
    writer.flush()
    (new,) = lines(session_log.messages_path)
    assert new.startswith(b"20261202-00:00:01") and new.endswith(message(2))


def test_lines_from_both_sides_of_midnight_go_to_the_file_of_their_day(writer, tmp_path,
                                                                      clock):
    clock.t = at(2026, 12, 1, 23, 59, 59)
    session_log = open_log(writer, tmp_path)
    session_log.incoming(message(1), at(2026, 12, 1, 23, 59, 59, 900000))
    session_log.incoming(message(2), at(2026, 12, 2, 0, 0, 0, 100000))
    clock.t = at(2026, 12, 2, 0, 0, 0, 500000)  # one flush after midnight writes both
    writer.flush()
    assert [line[:8] for line in lines(tmp_path / f"{PREFIX}.messages.20261201.log")] == \
        [b"20261201"]
    assert [line[:8] for line in lines(session_log.messages_path)] == [b"20261202"]


def test_a_current_file_left_from_an_earlier_day_is_rotated_with_that_day(tmp_path, clock):
    clock.t = at(2026, 11, 30, 10, 0, 0)
    first = FileLogWriter(clock=clock, period=3600)
    open_log(first, tmp_path).incoming(message(1), clock.t)
    first.close()
    # The file's day is when it was last written: as the server that wrote it left it.
    yesterday = at(2026, 11, 30, 18, 0, 0)
    os.utime(tmp_path / f"{PREFIX}.messages.current.log", (yesterday, yesterday))
    clock.t = at(2026, 12, 1, 9, 0, 0)
    restarted = FileLogWriter(clock=clock, period=3600)
    session_log = open_log(restarted, tmp_path)
    session_log.incoming(message(2), clock.t)
    restarted.close()
    assert [line.endswith(message(1))
            for line in lines(tmp_path / f"{PREFIX}.messages.20261130.log")] == [True]
    assert [line.endswith(message(2)) for line in lines(session_log.messages_path)] == [True]


def test_size_rotation_starts_a_new_file_before_one_would_exceed_the_maximum(writer,
                                                                             tmp_path, clock):
    line_size = len(format_line(clock.t, message(1)))
    session_log = open_log(writer, tmp_path, mode="size", max_size=3 * line_size)
    for seq in range(1, 8):  # 7 lines of 3 a file: 3 + 3 rotated, 1 current
        session_log.outgoing(message(seq), clock.t)
    writer.flush()
    first = tmp_path / f"{PREFIX}.messages.20261201-120000.log"  # the rotation's time
    second = tmp_path / f"{PREFIX}.messages.20261201-120000.1.log"  # and a sequence number
    assert set(tmp_path.glob(f"{PREFIX}.messages.2026*.log")) == {first, second}
    assert [texts(first), texts(second)] == [
        [message(seq).decode() for seq in (1, 2, 3)],
        [message(seq).decode() for seq in (4, 5, 6)]]
    assert first.stat().st_size <= 3 * line_size
    assert len(lines(session_log.messages_path)) == 1


def test_size_rotation_is_checked_across_flushes(writer, tmp_path, clock):
    line_size = len(format_line(clock.t, message(1)))
    session_log = open_log(writer, tmp_path, mode="size", max_size=2 * line_size)
    for seq in range(1, 4):
        session_log.outgoing(message(seq), clock.t)
        writer.flush()
    (rotated,) = tmp_path.glob(f"{PREFIX}.messages.2026*.log")
    assert len(lines(rotated)) == 2
    assert len(lines(session_log.messages_path)) == 1


def test_rotation_none_keeps_one_file_across_days_and_sizes(writer, tmp_path, clock):
    session_log = open_log(writer, tmp_path, mode="none", max_size=10)
    session_log.outgoing(message(1), clock.t)
    writer.flush()
    clock.t += 3 * DAY
    session_log.outgoing(message(2), clock.t)
    writer.flush()
    assert names(tmp_path) == {session_log.messages_path.name, session_log.event_path.name}
    assert len(lines(session_log.messages_path)) == 2


# -- retention -------------------------------------------------------------------------


def test_retention_keeps_rotated_files_younger_than_the_retention_days():
    files = [f"{PREFIX}.messages.20261101.log",         # rotated at 11-02 00:00: 29.5 days
             f"{PREFIX}.messages.20261031.log",         # rotated at 11-01 00:00: 30.5 days
             f"{PREFIX}.messages.20261031-235959.1.log",  # a size rotation, 30.5 days
             f"{PREFIX}.event.20261001.log",            # another kind
             f"{PREFIX}.messages.current.log",
             "FIX.4.4-EXCH-BRK11.messages.20261001.log"]  # another session
    assert expired(PREFIX, "messages", files, at(2026, 12, 1, 12, 0, 0), 30) == \
        [f"{PREFIX}.messages.20261031.log", f"{PREFIX}.messages.20261031-235959.1.log"]


def test_retention_zero_keeps_every_rotated_file():
    assert expired(PREFIX, "messages", [f"{PREFIX}.messages.20000101.log"],
                   at(2026, 12, 1), 0) == []


def test_old_rotated_files_are_deleted_at_start_and_recent_ones_kept(writer, tmp_path, clock):
    old = tmp_path / f"{PREFIX}.messages.20261020.log"
    recent = tmp_path / f"{PREFIX}.event.20261125.log"
    other = tmp_path / "notes.txt"
    for p in (old, recent, other):
        p.write_text("x\n")
    open_log(writer, tmp_path, retention_days=30)
    writer.flush()
    assert not old.exists()
    assert recent.exists() and other.exists()


def test_old_rotated_files_are_deleted_at_rotation(writer, tmp_path, clock):
    clock.t = at(2026, 12, 1, 23, 0, 0)
    session_log = open_log(writer, tmp_path, retention_days=2)
    session_log.incoming(message(1), clock.t)
    writer.flush()
    expiring = tmp_path / f"{PREFIX}.messages.20261129.log"  # rotated 11-30 00:00
    expiring.write_text("x\n")
    writer.flush()
    assert expiring.exists()  # 2 days minus an hour
    clock.t = at(2026, 12, 2, 0, 0, 1)
    writer.flush()
    assert not expiring.exists()
    assert (tmp_path / f"{PREFIX}.messages.20261201.log").exists()


# -- failures ----------------------------------------------------------------------------


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "fixserver.filelog"]


def test_an_unwritable_directory_is_logged_once_and_writing_resumes_when_it_works(
        writer, tmp_path, clock, caplog):
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the directory should be")
    session_log = open_log(writer, blocker / "FIX")
    for seq in (1, 2, 3):
        session_log.incoming(message(seq), clock.t)
        writer.flush()  # never raises
    reported = errors(caplog)
    assert len(reported) == 2  # once per file, not once per flush or per line
    assert any("messages.current.log" in m and "dropping 1 lines" in m for m in reported)
    assert any("event.current.log" in m and "dropping 1 lines" in m for m in reported)
    caplog.clear()
    blocker.unlink()
    session_log.incoming(message(4), clock.t)
    writer.flush()
    assert [line.endswith(message(4)) for line in lines(session_log.messages_path)] == [True]
    assert any("writing the log again; 3 lines were dropped" in m for m in errors(caplog))


def test_a_full_disk_drops_the_lines_of_that_flush_and_writing_resumes(writer, tmp_path,
                                                                       clock, caplog):
    session_log = open_log(writer, tmp_path)
    writer.flush()
    session_log.messages_path.unlink()
    session_log.messages_path.symlink_to("/dev/full")  # every write: ENOSPC
    for seq in range(1, 6):
        session_log.outgoing(message(seq), clock.t)
    writer.flush()
    writer.flush()  # nothing to write proves nothing: still the same episode
    session_log.outgoing(message(6), clock.t)
    writer.flush()
    (reported,) = errors(caplog)
    assert "No space left on device" in reported and "dropping 5 lines" in reported
    caplog.clear()
    session_log.messages_path.unlink()  # space again
    session_log.outgoing(message(7), clock.t)
    writer.flush()
    assert [line.endswith(message(7)) for line in lines(session_log.messages_path)] == [True]
    assert any("6 lines were dropped" in m for m in errors(caplog))


def test_one_failing_session_does_not_stop_the_others(writer, tmp_path, clock):
    (tmp_path / "blocked").write_text("")
    failing = writer.open(tmp_path / "blocked" / "x", PREFIX)
    working = writer.open(tmp_path / "ok", log_prefix("FIX.4.2", "EXCH", "BRK2"))
    failing.incoming(message(1), clock.t)
    working.incoming(message(2), clock.t)
    writer.flush()
    assert [line.endswith(message(2)) for line in lines(working.messages_path)] == [True]

