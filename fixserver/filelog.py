"""QuickFIX-style message and event logs of each session, in its FileLogPath.

Two files per session, named as QuickFIX names them::

    FIX.4.4-EXCH-BRK1.messages.current.log   every message in and out, raw (SOH kept)
    FIX.4.4-EXCH-BRK1.event.current.log      logon, logout, resend, reject, disconnect...

one line each, ``YYYYMMDD-HH:MM:SS.ffffff : <message or text>``, the time in UTC.

The work is split in two so that nothing is written on the order path:

* :class:`SessionLog` is the session's ``MessageLog`` (``fixserver.session``): each call
  appends ``(now, data)`` to a deque, nothing more; the line is formatted later.
* :class:`FileLogWriter` is one background thread for the whole server that writes
  every session's pending lines at least once a second, rotates the files
  (FileLogRotation: ``daily`` at UTC midnight, ``size`` past FileLogMaxSize, ``none``)
  and deletes rotated files older than FileLogRetentionDays. ``close()`` at shutdown
  writes what is left.

A write that fails (a full disk, a directory that cannot be created) never reaches
the session: the lines of that write are dropped, the failure is logged once per
episode with the number of lines dropped, and writing resumes when the disk works.
"""

from __future__ import annotations

import calendar
import contextlib
import errno
import functools
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import SessionConfig

log = logging.getLogger("fixserver.filelog")

DAY = 86_400
MESSAGES, EVENT = "messages", "event"
# Lines formatted and written per write(2): the writer holds the GIL while it formats,
# and a system call lets the event loop's thread run, so it never waits for long.
CHUNK_LINES = 4096


@dataclass(frozen=True)
class Rotation:
    """How a session's log files rotate: FileLogRotation (``daily``, ``size`` or
    ``none``), FileLogMaxSize (bytes, for ``size``) and FileLogRetentionDays (rotated
    files older than that are deleted; 0 keeps them all)."""

    mode: str = "daily"
    max_size: int = 100 << 20
    retention_days: int = 30

    @classmethod
    def of(cls, config: SessionConfig) -> Rotation:
        return cls(config.file_log_rotation, config.file_log_max_size,
                   config.file_log_retention_days)


# -- names and lines (pure) ----------------------------------------------------------


def log_prefix(begin_string: str, sender_comp_id: str, target_comp_id: str) -> str:
    """QuickFIX's file prefix of a session: ``FIX.4.4-EXCH-BRK1``."""
    return f"{begin_string}-{sender_comp_id}-{target_comp_id}"


def current_name(prefix: str, kind: str) -> str:
    return f"{prefix}.{kind}.current.log"


def rotated_name(prefix: str, kind: str, label: str, n: int = 0) -> str:
    """The name of a rotated file: the label is the day it covers (daily, ``20261201``)
    or the time it was rotated (size, ``20261201-153012``); ``n`` tells apart files
    rotated with the same label."""
    return f"{prefix}.{kind}.{label}.log" if n == 0 else f"{prefix}.{kind}.{label}.{n}.log"


def utc_day(t: float) -> int:
    """Days since the epoch of the UTC date of ``t``."""
    return int(t // DAY)


def day_label(day: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(day * DAY))


def time_label(t: float) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(t))


def rotated_at(label: str) -> float:
    """When a file with this label was rotated: the midnight that ended its day (daily)
    or the time in the label (size)."""
    if "-" in label:
        return float(calendar.timegm(time.strptime(label, "%Y%m%d-%H%M%S")))
    return float(calendar.timegm(time.strptime(label, "%Y%m%d")) + DAY)


def expired(prefix: str, kind: str, names: list[str], now: float,
            retention_days: int) -> list[str]:
    """Of ``names``, the rotated files of (prefix, kind) rotated more than
    ``retention_days`` days before ``now`` (none when ``retention_days`` is 0)."""
    if retention_days <= 0:
        return []
    pattern = re.compile(rf"{re.escape(prefix)}\.{kind}\.(\d{{8}}(?:-\d{{6}})?)(?:\.\d+)?\.log")
    limit = now - retention_days * DAY
    out = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is not None:
            try:
                if rotated_at(m.group(1)) < limit:
                    out.append(name)
            except ValueError:  # digits that are no date: not a file we rotated
                pass
    return out


@functools.lru_cache(maxsize=8)
def _second_text(second: int) -> bytes:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()


def format_line(t: float, data: bytes | str) -> bytes:
    """``YYYYMMDD-HH:MM:SS.ffffff : data`` and a newline; ``t`` in seconds since the
    epoch, written in UTC. A message keeps its SOH bytes, as QuickFIX writes it."""
    if isinstance(data, str):
        # An event's text may quote a counterparty's Text (58): one line per event.
        data = data.replace("\r", "\\r").replace("\n", "\\n").encode("utf-8",
                                                                     "backslashreplace")
    # Rounded on the whole microsecond count: t * 1e6 is exact to a quarter of a
    # microsecond, where (t - int(t)) * 1e6 truncated would often be one off.
    second, micros = divmod(round(t * 1_000_000), 1_000_000)
    return b"%b.%06d : %b\n" % (_second_text(second), micros, data)


# -- one session ---------------------------------------------------------------------


class SessionLog:
    """One session's message and event log (the session's ``MessageLog``).

    Called on the event loop's thread: each call only appends ``(now, data)`` to a
    deque (append and popleft are atomic, so the writer thread takes lines without a
    lock); the :class:`FileLogWriter` formats and writes them."""

    def __init__(self, directory: Path, prefix: str, rotation: Rotation, now: float) -> None:
        self.messages = _LogFile(directory, prefix, MESSAGES, rotation)
        self.events = _LogFile(directory, prefix, EVENT, rotation)
        # Bound once: one attribute lookup per call instead of three.
        self._message = self.messages.pending.append
        self._event = self.events.pending.append
        self.event("Created session", now)

    @property
    def messages_path(self) -> Path:
        return self.messages.path

    @property
    def event_path(self) -> Path:
        return self.events.path

    def incoming(self, raw: bytes, now: float) -> None:
        self._message((now, raw))

    def outgoing(self, raw: bytes, now: float) -> None:
        self._message((now, raw))

    def event(self, text: str, now: float) -> None:
        self._event((now, text))


class _LogFile:
    """One current log file: its pending lines (appended by the session's thread,
    taken by the writer's) and, on the writer's side, the UTC day the file covers and
    whether writing it is failing."""

    def __init__(self, directory: Path, prefix: str, kind: str, rotation: Rotation) -> None:
        self.directory = directory
        self.prefix, self.kind, self.rotation = prefix, kind, rotation
        self.path = directory / current_name(prefix, kind)
        self.pending: deque[tuple[float, bytes | str]] = deque()
        self.day: int | None = None  # of the first line in the current file (None: empty)
        self.prepared = False        # the directory exists and old files were looked at
        self.failing = False         # the last write failed: a failure episode is on
        self.dropped = 0             # lines dropped in this episode
        self._unwritten = 0          # lines of the current write() not on disk yet

    # All below runs on the writer's thread (FileLogWriter holds its lock).

    def write(self, now: float) -> None:
        """Write the pending lines, rotating before a line of a new day (daily) or one
        that would take the file past its size (size), then rotate if the clock has
        passed the midnight after the file's day. An OSError drops the lines not yet
        written, is logged once per failure episode, and is not raised."""
        pending = self.pending
        # Only this thread pops, so the count taken here is all there to pop.
        items = [pending.popleft() for _ in range(len(pending))]
        self._unwritten = len(items)
        try:
            if not self.prepared:
                self._prepare(now)
            if items:
                self._append(items, now)
            if (self.rotation.mode == "daily" and self.day is not None
                    and utc_day(now) > self.day):
                # Midnight passed with no line of the new day yet: the file is complete.
                self._rotate(day_label(self.day), now)
                self.day = None
        except OSError as e:
            self._failed(e)
            return
        if self.failing and items:  # lines reached the disk: the episode is over
            log.warning("%s: writing the log again; %d lines were dropped while it failed",
                        self.path, self.dropped)
            self.failing, self.dropped = False, 0

    def _failed(self, e: OSError) -> None:
        if not self.failing:
            log.error("%s: cannot write the log: %s: dropping %d lines (and every line "
                      "until it works again)", self.path, e, self._unwritten)
            self.failing = True
        self.dropped += self._unwritten
        self._unwritten = 0

    def _prepare(self, now: float) -> None:
        """First write: create the directory and both current files (as QuickFIX does),
        take the day of a current file left by an earlier run, delete expired files."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            st = self.path.stat()
            if st.st_size:
                self.day = utc_day(st.st_mtime)
        except FileNotFoundError:
            pass
        os.close(self._open())
        self.prepared = True
        self._delete_expired(now)

    def _open(self) -> int:
        # 0o640: the messages hold accounts and orders; not for every local user.
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def _append(self, items: list[tuple[float, bytes | str]], now: float) -> None:
        fd = self._open()
        try:
            size = os.lseek(fd, 0, os.SEEK_END)
            chunk: list[bytes] = []
            chunk_size = 0
            for t, data in items:
                line = format_line(t, data)
                label = self._rotation_before(t, size + chunk_size, len(line), now)
                if label is not None:
                    _commit(fd, chunk, size)
                    self._unwritten -= len(chunk)
                    os.close(fd)
                    fd = -1
                    self._rotate(label, now)
                    fd = self._open()
                    size, chunk, chunk_size = 0, [], 0
                chunk.append(line)
                chunk_size += len(line)
                if len(chunk) >= CHUNK_LINES:
                    _commit(fd, chunk, size)
                    self._unwritten -= len(chunk)
                    size, chunk, chunk_size = size + chunk_size, [], 0
            _commit(fd, chunk, size)
            self._unwritten -= len(chunk)
        finally:
            if fd >= 0:
                os.close(fd)

    def _rotation_before(self, t: float, size: int, length: int, now: float) -> str | None:
        """The label to rotate the current file with before a line of time ``t`` and
        ``length`` bytes goes into it (``size`` bytes so far), or None."""
        mode = self.rotation.mode
        day = utc_day(t)
        if self.day is None:  # the file's first line
            self.day = day
        if mode == "daily" and day > self.day:
            old, self.day = self.day, day
            return day_label(old) if size else None
        if mode == "size" and size and size + length > self.rotation.max_size:
            self.day = day
            return time_label(now)
        return None

    def _rotate(self, label: str, now: float) -> None:
        """Rename the current file with ``label`` (an empty one stays), start a new
        one, delete expired rotated files."""
        try:
            if self.path.stat().st_size == 0:
                return
        except FileNotFoundError:
            return
        n = 0
        while (target := self.directory / rotated_name(self.prefix, self.kind, label, n)).exists():
            n += 1
        self.path.rename(target)
        os.close(self._open())
        self._delete_expired(now)

    def _delete_expired(self, now: float) -> None:
        # A rotated file that cannot be deleted costs disk, not lines: warned, not fatal.
        try:
            names = os.listdir(self.directory)
            for name in expired(self.prefix, self.kind, names, now,
                                self.rotation.retention_days):
                (self.directory / name).unlink(missing_ok=True)
                log.info("%s: deleted (older than FileLogRetentionDays=%d)",
                         self.directory / name, self.rotation.retention_days)
        except OSError as e:
            log.warning("%s: cannot delete old logs: %s", self.directory, e)


def _commit(fd: int, chunk: list[bytes], size: int) -> None:
    """Write ``chunk`` at the end of the file (``size`` bytes before it); if that fails
    part way, cut the file back to ``size`` so no torn line is left."""
    if not chunk:
        return
    data = memoryview(b"".join(chunk))
    try:
        while data:
            written = os.write(fd, data)
            if written == 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            data = data[written:]
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


# -- the writer ------------------------------------------------------------------------


class FileLogWriter:
    """Writes every session's log off the order path: a daemon thread that flushes
    all of them every ``period`` seconds, plus :meth:`flush` and :meth:`close` for
    shutdown. ``clock`` (seconds since the epoch) decides rotation and retention."""

    def __init__(self, clock: Callable[[], float] = time.time, period: float = 1.0) -> None:
        self._clock = clock
        self._period = period
        self._logs: list[SessionLog] = []
        self._lock = threading.Lock()   # one flush at a time: the thread's or a caller's
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def logs(self) -> list[SessionLog]:
        return list(self._logs)

    def open(self, directory: Path, prefix: str, rotation: Rotation = Rotation()) -> SessionLog:
        """The log of the session whose files are named ``prefix`` in ``directory``;
        it starts with the event "Created session". Nothing is written until a flush."""
        session_log = SessionLog(directory, prefix, rotation, self._clock())
        with self._lock:
            self._logs.append(session_log)
        return session_log

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fixserver-filelog",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._period):
            self.flush()

    def flush(self) -> None:
        """Write every pending line now (from any thread); never raises."""
        with self._lock:
            now = self._clock()
            for session_log in self._logs:
                for f in (session_log.messages, session_log.events):
                    try:
                        f.write(now)
                    except Exception:  # a bug here must not stop every session's log
                        log.exception("%s: writing the log failed", f.path)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
