"""The FIX bodies of a batch's reports, written and encoded once per dictionary.

An ExecutionReport goes to its owner and, as a drop copy, to every drop-copy session
that follows the owner's firm. When a copy's session has the owner's dictionary (the
same FIX version, as a rule) its body is the same bytes: ``ReportBodies`` keeps the
bodies of the batch being published, so the copy reuses the owner's encoding instead
of writing and encoding the report again (each costs ~5 µs; the header, with its
sequence number and the copy's routing fields, is the session's own).
"""

from __future__ import annotations

from collections.abc import Sequence

from fixserver import dictionary
from fixserver.session import Session
from venue.report_writer import ReportWriter
from venue.reports import Report
from venue.stream import Entry


class ReportBodies:
    """Report -> (MsgType, encoded body) for one batch, per data dictionary."""

    def __init__(self) -> None:
        self._writers: dict[int, ReportWriter] = {}       # id(dictionary) -> its writer
        self._of_session: dict[Session, ReportWriter] = {}
        self._bodies: dict[tuple[int, int], tuple[bytes, bytes]] = {}
        self._batch: Sequence[Entry] | None = None

    def batch(self, entries: Sequence[Entry]) -> None:
        """The batch being published: the bodies of the previous one are dropped."""
        if entries is not self._batch:
            self._batch = entries
            self._bodies.clear()

    def writer(self, session: Session) -> ReportWriter:
        """The writer for ``session``'s dictionary (one per dictionary)."""
        writer = self._of_session.get(session)
        if writer is not None:
            return writer
        dd = (session.validator.dd if session.validator is not None
              else dictionary.for_begin_string(session.begin_string))
        writer = self._writers.get(id(dd))
        if writer is None:
            writer = self._writers[id(dd)] = ReportWriter(dd)
        self._of_session[session] = writer
        return writer

    def of(self, report: Report, session: Session) -> tuple[bytes, bytes]:
        """(MsgType, body) of ``report`` for ``session``, encoded once per dictionary."""
        writer = self.writer(session)
        key = (id(report), id(writer))
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = writer.encoded(report)
        return body
