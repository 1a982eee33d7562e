"""No acknowledged report lost: a crash between the journal's fsync and the sessions'
stores loses no ExecutionReport and no drop copy, and duplicates none; sessions with
CancelOnDisconnect=Y that a crash left logged on have their orders cancelled at the
next start.

The crash is a real SIGKILL of a process running the exchange as the CLI builds it
(``crash_kit``), at three points of the event stream; the restart is in process, on
the same data directory, and what the sessions' stores hold is compared with a run
of the same commands that did not crash.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from fixserver.codec import parse
from fixserver.session import Session
from fixserver.settings import load_sessions
from matching.constants import BUY, SELL
from server.compose import Server
from venue.application import ExchangeApplication
from venue.commands import CancelOnDisconnect, SessionLogon

from .crash_kit import BATCH
from .stream_kit import B1, B2, REPO_ROOT, run, server, trading_day
from .support import SHIPPED_SESSIONS_CFG, new, px

DC = "FIX.4.4:EXCH->DC1"
KILL_AT_BATCH = 4     # commands 10..12 of the day: a replace, a reject, a cancel


def crash(data_dir: Path, position: int, batch: int = KILL_AT_BATCH) -> None:
    args = [sys.executable, "-m", "tests.venue.crash_kit", str(data_dir), str(position),
            str(batch)]
    assert subprocess.run(args, cwd=REPO_ROOT, timeout=60).returncode == -9


def stored(srv: Server, session_id: str) -> list[tuple[bytes, ...]]:
    """What identifies each application message in a session's store, in order."""
    session = next(s for s in srv.sessions if s.session_id == session_id)
    store = session.store
    out = []
    for _, raw in store.messages(1, store.next_sender_seq):
        fields = dict(parse(raw).fields)
        out.append(tuple(fields.get(tag, b"") for tag in (35, 17, 11, 41, 37, 39, 150, 115)))
    return out


def reference(tmp_path: Path, commands: int) -> Server:
    """The same day without a crash, up to the same command, closed cleanly."""
    srv = server(tmp_path / "reference")
    run(srv, trading_day()[:commands], batch=BATCH)
    srv.close()
    return server(tmp_path / "reference")


@pytest.mark.slow
@pytest.mark.parametrize("position", [0, 1, 2],
                         ids=["before-any-store", "owners-stored", "copies-stored"])
def test_a_crash_after_the_journal_loses_and_repeats_no_report(tmp_path: Path,
                                                              position: int) -> None:
    crash(tmp_path / "data", position)
    journaled = KILL_AT_BATCH * BATCH
    restarted = server(tmp_path / "data")
    assert restarted.exchange is not None and restarted.exchange.last_seq == journaled
    expected = reference(tmp_path, journaled)
    for session_id in (B1, B2, DC):
        assert stored(restarted, session_id) == stored(expected, session_id), session_id
    restarted.close()
    expected.close()


@pytest.mark.slow
def test_after_a_crash_before_the_stores_the_restart_stores_the_lost_reports(
        tmp_path: Path) -> None:
    crash(tmp_path / "data", 0)
    restarted = server(tmp_path / "data")
    assert restarted.redelivered == BATCH
    b1 = stored(restarted, B1)
    assert Counter(m[1] for m in b1 if m[0] == b"8").most_common(1)[0][1] == 1  # ExecIDs
    restarted.close()


@pytest.mark.slow
def test_a_restart_after_a_clean_stop_redelivers_nothing(tmp_path: Path) -> None:
    srv = server(tmp_path / "data")
    run(srv, trading_day(), batch=BATCH)
    before = {s: stored(srv, s) for s in (B1, B2, DC)}
    srv.close()
    again = server(tmp_path / "data")
    assert again.redelivered == 0
    assert {s: stored(again, s) for s in (B1, B2, DC)} == before
    again.close()


# -- cancel on disconnect after a crash ---------------------------------------------------


def abandon(srv: Server) -> None:
    """Drop a running exchange as a crash would: what is journaled and stored stays."""
    srv.sessions.clear()
    srv.stream = None


def test_a_crash_leaves_a_logged_on_cancel_on_disconnect_session_cancelled_at_restart(
        tmp_path: Path) -> None:
    srv = server(tmp_path)
    run(srv, [SessionLogon(B1), new(B1, "s1", SELL, 100, px("190.00"), symbol="AAPL"),
              new(B2, "b1", BUY, 10, px("189.00"), symbol="AAPL")])
    abandon(srv)
    again = server(tmp_path)
    assert again.exchange is not None
    assert sorted(o.session for o in again.exchange.engine.orders.values()) == [B2]
    last = stored(again, B1)[-1]
    assert (last[0], last[2], last[6]) == (b"8", b"s1", b"4")     # ExecType=Canceled
    again.close()


def test_a_session_that_logged_out_before_a_crash_is_not_cancelled_again(tmp_path: Path
                                                                         ) -> None:
    srv = server(tmp_path)
    run(srv, [SessionLogon(B1), new(B1, "s1", SELL, 100, px("190.00"), symbol="AAPL"),
              CancelOnDisconnect(B1)])
    assert srv.exchange is not None
    journaled = srv.exchange.last_seq
    abandon(srv)
    again = server(tmp_path)
    assert again.exchange is not None and again.exchange.last_seq == journaled
    again.close()


def test_a_cancel_on_disconnect_session_journals_its_logon(tmp_path: Path) -> None:
    srv = server(tmp_path)
    assert srv.exchange is not None
    sessions = {s.session_id: s for s in srv.sessions}
    app = ExchangeApplication(srv.exchange)
    app.on_logon(sessions[B1])
    srv.exchange.flush()
    assert list(srv.exchange.order_entry.logged_on) == [B1]
    srv.close()


def test_a_session_without_cancel_on_disconnect_is_not_logged_on_for_the_core(
        tmp_path: Path) -> None:
    # Its logon is journaled (for the audit trail), but a crash will not cancel its orders.
    configs = {c.session_id: c for c in load_sessions(SHIPPED_SESSIONS_CFG)}
    assert not configs[B2].cancel_on_disconnect
    srv = server(tmp_path)
    assert srv.exchange is not None
    session: Session = next(s for s in srv.sessions if s.session_id == B2)
    ExchangeApplication(srv.exchange).on_logon(session)
    assert srv.exchange.pending == 1
    srv.exchange.flush()
    assert list(srv.exchange.order_entry.logged_on) == []
    srv.close()
