"""ExecutionReports, OrderCancelRejects and OrderMassCancelReports to their sessions.

The first consumer of the event stream: every report of a batch goes to the
session it names, written for that session's FIX version. A session that is not
logged on still stores the message (its sequence number is taken), so a
ResendRequest after the next Logon brings it back. Each message is stored with its
command's sequence number, and the stores are written at the end of every batch, so
that none is lost in a crash (consumers/delivery.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter_ns
from typing import TYPE_CHECKING

from fixserver.session import Session
from venue.reports import ExecutionReport, OrderCancelReject, Report
from venue.stream import Entry

from .bodies import ReportBodies
from .delivery import StoredReports, sync_stores

if TYPE_CHECKING:
    from metrics.latency import Stages

log = logging.getLogger("consumers.executions")


class ExecutionReports:
    """Sends each report of the stream to the order-entry session it is for."""

    def __init__(self, sessions: Iterable[Session],
                 clock: Callable[[], float] = time.time,
                 bodies: ReportBodies | None = None) -> None:
        """``clock``: wall-clock seconds since the epoch, the SendingTime of the reports
        (read once per batch: a batch goes out at one time); ``bodies``: the encoded
        bodies, shared with the drop copies (consumers/bodies.py)."""
        self.sessions = {s.session_id: s for s in sessions}
        self.stages: Stages | None = None   # times each report's encode when set (metrics)
        self.clock = clock
        self.bodies = bodies if bodies is not None else ReportBodies()
        self.dropped = 0
        self._stored = StoredReports()    # for redeliver: what the stores held at start

    def on_batch(self, entries: Sequence[Entry]) -> None:
        self._send(entries, None)

    def redeliver(self, entries: Sequence[Entry]) -> None:
        """Replayed entries whose reports may be missing from the stores (after a
        crash): store those that are (see consumers/delivery.py). Called with every
        batch of the start-up's replay after the delivered mark, in order."""
        self._send(entries, self._stored)

    def _send(self, entries: Sequence[Entry], only_missing: StoredReports | None) -> None:
        sessions = self.sessions
        bodies = self.bodies
        bodies.batch(entries)
        body_of = bodies.of
        now = self.clock()
        stages = self.stages if only_missing is None else None
        touched: set[Session] = set()
        for entry in entries:
            seq = entry.seq
            for report in entry.reports:
                session = sessions.get(report.session)
                if session is None:
                    self.dropped += 1
                    log.error("report for unknown session %s dropped", report.session,
                              extra={"seq": seq, "session": report.session,
                                     "cl_ord_id": report.cl_ord_id})
                    continue
                if only_missing is not None and not only_missing.missing(session, seq):
                    continue
                started = perf_counter_ns() if stages is not None else 0
                msg_type, body = body_of(report, session)
                session.send(msg_type, body, now=now, source=seq)
                if stages is not None:
                    stages.encode.observe(perf_counter_ns() - started)
                touched.add(session)
                # Cheap for the common report (an ER that is not a reject).
                if type(report) is not ExecutionReport or report.exec_type == "8":
                    log_reject(seq, report)
        sync_stores(touched)


def log_reject(seq: int, report: Report) -> None:
    """An INFO line for ``report`` (of the command ``seq``) if it refuses a request: the
    reject of a NewOrderSingle, an OrderCancelReject, a refused mass cancel. Rejects
    are rare; the other reports are not logged."""
    if isinstance(report, ExecutionReport):
        if report.exec_type != "8":
            return
        what, reason = "order", report.reject_code
    elif isinstance(report, OrderCancelReject):
        what = "replace" if report.cxl_rej_response_to == "2" else "cancel"
        reason = report.reject_code
    elif report.mass_cancel_response == "0":
        what, reason = "mass cancel", ""
    else:
        return
    log.info("%s: %s %s rejected: %s%s", report.session, what, report.cl_ord_id, report.text,
             f" ({reason})" if reason else "",
             extra={"seq": seq, "session": report.session, "cl_ord_id": report.cl_ord_id,
                    "event": "reject", "reason": reason})
