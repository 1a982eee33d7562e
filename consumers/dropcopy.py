"""Drop copy: every ExecutionReport of a firm's sessions, copied to its drop-copy sessions.

A drop-copy session (``Application=dropcopy``) is read only; ``exchange.toml``'s
``[[dropcopy]]`` names the firms it follows ("*" for every firm). Each copy carries
the owner session's CompIDs as OnBehalfOfCompID (115) and DeliverToCompID (128),
so the reader knows whose order it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from fixserver.codec import Field
from fixserver.session import Session
from venue.reports import ExecutionReport
from venue.stream import Entry

from .bodies import ReportBodies
from .delivery import StoredReports, sync_stores


class DropCopy:
    """Copies ExecutionReports to the drop-copy sessions of the owner's firm."""

    def __init__(self, copies: Iterable[tuple[Session, tuple[str, ...]]],
                 owners: Iterable[Session], firm_of_session: Mapping[str, str],
                 clock: Callable[[], float] = time.time,
                 bodies: ReportBodies | None = None) -> None:
        """``copies``: each drop-copy session with the firms it follows; ``owners``:
        the order-entry sessions; ``firm_of_session``: session id -> firm name;
        ``clock``: wall-clock seconds since the epoch, the SendingTime of the copies
        (read once per batch); ``bodies``: the encoded bodies, shared with the owners'
        ExecutionReports (consumers/bodies.py: a copy in the owner's FIX version reuses
        the owner's encoding)."""
        self.copies = list(copies)
        self.clock = clock
        self.firm_of_session = dict(firm_of_session)
        self.bodies = bodies if bodies is not None else ReportBodies()
        # The routing fields of each owner's copies, made once.
        self.routing: dict[str, list[Field]] = {
            s.session_id: [(115, s.sender_comp_id), (128, s.target_comp_id)] for s in owners}
        self._stored = StoredReports()    # for redeliver: what the stores held at start

    def on_batch(self, entries: Sequence[Entry]) -> None:
        self._send(entries, None)

    def redeliver(self, entries: Sequence[Entry]) -> None:
        """Replayed entries whose copies may be missing from the stores (after a
        crash): store those that are (see consumers/delivery.py). Called with every
        batch of the start-up's replay after the delivered mark, in order."""
        self._send(entries, self._stored)

    def _send(self, entries: Sequence[Entry], only_missing: StoredReports | None) -> None:
        if not self.copies:
            return
        now = self.clock()
        self.bodies.batch(entries)
        touched: set[Session] = set()
        for entry in entries:
            for report in entry.reports:
                if type(report) is ExecutionReport:
                    self._copy(report, entry.seq, now, only_missing, touched)
        sync_stores(touched)

    def _copy(self, report: ExecutionReport, seq: int, now: float,
              only_missing: StoredReports | None, touched: set[Session]) -> None:
        owner = report.session
        firm = self.firm_of_session.get(owner, "")
        routing = self.routing.get(owner, [])
        for session, firms in self.copies:
            if "*" in firms or firm in firms:
                if only_missing is not None and not only_missing.missing(session, seq):
                    continue
                msg_type, body = self.bodies.of(report, session)
                session.send(msg_type, body, routing, now=now, source=seq)
                touched.add(session)
