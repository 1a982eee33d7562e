"""venue.exchange.Exchange: submit/flush through the journal, and recover()
rebuilding the same state from it after a restart.

The exchange runs with the shipped exchange.toml (fsync off) in a temporary data
directory, assembled by the composition module as the CLI assembles it (the shipped
sessions.cfg's sessions with their stores, the event stream with the
ExecutionReport and drop-copy consumers): what a session sent is read back from its
store. No socket is opened.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixserver.codec import parse
from fixserver.session import Session
from fixserver.settings import load_sessions
from fixserver.store import MemoryStore
from matching.constants import BUY, GTC, IOC, SELL
from persistence.sequencer import replay
from server.compose import build_server
from venue.commands import SCHEMA_VERSION, CancelOnDisconnect, Command
from venue.config import ExchangeConfig, load_exchange_config
from venue.stream import DurableConsumer

from . import support
from .support import (
    SHIPPED_EXCHANGE_TOML,
    SHIPPED_SESSIONS_CFG,
    engine_orders,
    mass_cancel,
    px,
    view_state,
)

B1 = "FIX.4.4:EXCH->BRK1"   # BROKER1, CancelOnDisconnect=Y
B2 = "FIX.4.2:EXCH->BRK2"   # BROKER2
DC = "FIX.4.4:EXCH->DC1"    # drop copy of every firm
T0 = 1_750_000_000_000_000_000


def new(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
    return support.new(*args, symbol=symbol, **kw)  # type: ignore[arg-type]


def cancel(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
    return support.cancel(*args, symbol=symbol, **kw)  # type: ignore[arg-type]


def replace(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
    return support.replace(*args, symbol=symbol, **kw)  # type: ignore[arg-type]


def status(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
    return support.status(*args, symbol=symbol, **kw)  # type: ignore[arg-type]


def relaxed_config() -> ExchangeConfig:
    """fsync off, and no snapshot at close: these tests are about replaying the whole
    journal (recovery from a snapshot: test_snapshot_recovery.py)."""
    return dataclasses.replace(load_exchange_config(SHIPPED_EXCHANGE_TOML), fsync=False,
                               snapshot_on_close=False)


def journaled(path: Path) -> list:
    """Every sequenced command of a journal file."""
    return list(replay(path, Command, schema_version=SCHEMA_VERSION))


class Running:
    """The exchange on ``data_dir`` as the composition module builds it, recovered.
    ``store``, if given, replaces each session's store before any traffic."""

    def __init__(self, data_dir: Path, config: ExchangeConfig | None = None,
                 start_ns: int = T0, store: type[MemoryStore] | None = None,
                 durable: tuple[DurableConsumer, ...] = ()) -> None:
        clock = itertools.count(start_ns, 1_000_000)
        self.server = build_server(load_sessions(SHIPPED_SESSIONS_CFG),
                                   SHIPPED_SESSIONS_CFG.parent, data_dir,
                                   config or relaxed_config(), durable,
                                   clock=lambda: next(clock))
        exchange = self.server.exchange
        assert exchange is not None
        self.exchange = exchange
        self.sessions: dict[str, Session] = {s.session_id: s for s in self.server.sessions}
        if store is not None:
            for session in self.sessions.values():
                session.store = store()
        self.replayed = self.server.replayed

    def run(self, *batches: list[Command]) -> None:
        for batch in batches:
            for command in batch:
                self.exchange.submit(command)
            self.exchange.flush()

    def sent(self, session_id: str) -> list[dict[int, bytes]]:
        """Every application message the session sent, as {tag: value} with 35 kept."""
        store = self.sessions[session_id].store
        return [dict(parse(raw).fields) for _, raw in store.messages(1, store.next_sender_seq)]

    def state(self) -> tuple:
        ex = self.exchange
        oe, engine = ex.order_entry, ex.engine
        cl_ord_ids = sorted((session, sorted(ids.items()))
                            for session, ids in oe.cl_ord_ids.items())
        return (engine_orders(engine), view_state(oe), cl_ord_ids, oe.next_local_id,
                engine.next_oid, engine.next_exec_id, engine.next_trade_id, ex.risk.state())

    def close(self) -> None:
        self.server.close()


# A trading session: resting orders on both firms, fills at two prices, a replace
# chain, a cancel, a reject, an IOC remainder and a mass cancel, in several batches.
SCRIPT = [
    [new(B1, "s1", SELL, 100, px("190.00")),
     new(B1, "s2", SELL, 50, px("190.10"), account="BRK1-PROP"),
     new(B2, "b1", BUY, 30, px("189.00"))],
    [new(B2, "b2", BUY, 120, px("190.10")),          # fills s1 100 @190.00, s2 20 @190.10
     new(B1, "m1", BUY, 200, px("420.00"), symbol="MSFT", tif=GTC)],
    [replace(B1, "m1r", "m1", 150, px("419.50"), symbol="MSFT", tif=GTC),
     replace(B1, "m1r2", "m1r", 140, px("419.50"), symbol="MSFT", tif=GTC),
     new(B2, "x1", BUY, 10, px("115.00"), symbol="XOM"),       # lot 100: rejected
     cancel(B2, "b1c", orig="b1"),
     new(B2, "i1", BUY, 40, px("190.10"), tif=IOC)],         # 30 of s2, remainder cancelled
    [new(B1, "j1", BUY, 10, px("240.00"), symbol="JPM"),
     new(B1, "j2", BUY, 10, px("239.00"), symbol="JPM"),
     mass_cancel(B1, "mc", "1", symbol="JPM"),
     new(B2, "k1", SELL, 5, px("22.50"), symbol="INTC"),
     status(B1, "m1r2", symbol="MSFT")],
]


@pytest.fixture
def restarted(tmp_path: Path) -> tuple[Running, Running]:
    """The script run on one exchange, which is closed; a second one recovered."""
    first = Running(tmp_path)
    first.run(*SCRIPT)
    first.close()
    return first, Running(tmp_path)


# -- submit and flush ---------------------------------------------------------------------


def test_recover_of_an_empty_data_dir_replays_nothing(tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.close()
    assert running.replayed == 0


def test_exchange_journal_follows_the_configured_fsync_policy(tmp_path: Path) -> None:
    relaxed = Running(tmp_path / "relaxed")
    durable = Running(tmp_path / "durable", load_exchange_config(SHIPPED_EXCHANGE_TOML))
    flags = (relaxed.exchange.journal.fsync, durable.exchange.journal.fsync)
    relaxed.close()
    durable.close()
    assert flags == (False, True)


def test_journal_lives_under_the_data_dir(tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.close()
    assert running.exchange.journal_path == tmp_path / "journal" / "commands.wal"


def test_submitted_command_takes_effect_only_at_flush(tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.exchange.submit(new(B1, "o1", BUY, 10, px("189.00")))
    before = (len(running.exchange.engine.orders), running.sent(B1))
    running.exchange.flush()
    after = len(running.exchange.engine.orders)
    running.close()
    assert (before, after) == ((0, []), 1)


def test_flushed_commands_are_in_the_journal_in_order(tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.run(*SCRIPT)
    commands = [s.command for s in journaled(running.exchange.journal_path)]
    running.close()
    assert commands == [c for batch in SCRIPT for c in batch]


class JournalWatchingStore(MemoryStore):
    """A MemoryStore that notes, as each message is stored for sending, how many
    commands the journal file holds at that moment."""

    journal_path: Path | None = None
    seen: list[int] = []

    def save(self, seq: int, raw: bytes, source: int = 0) -> None:
        assert self.journal_path is not None
        self.seen.append(len(journaled(self.journal_path)))
        super().save(seq, raw, source)


def test_no_report_is_sent_before_its_command_is_in_the_journal(tmp_path: Path) -> None:
    JournalWatchingStore.journal_path = tmp_path / "journal" / "commands.wal"
    JournalWatchingStore.seen = seen = []
    running = Running(tmp_path, store=JournalWatchingStore)
    running.run([new(B1, "o1", SELL, 10, px("190.00"))])
    first_batch = len(seen)
    running.run([new(B2, "o2", BUY, 10, px("190.00")), status(B1, "o1")])
    running.close()
    # Every report of batch 1 left with 1 command journaled, of batch 2 with all 3.
    assert (seen[:first_batch], set(seen[first_batch:])) == ([1, 1], {3})


def test_flush_is_one_journal_commit_per_batch(tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.run(*SCRIPT)
    commits = running.exchange.journal.commits
    running.close()
    assert commits == len(SCRIPT)


def test_flush_without_pending_commands_does_nothing(tmp_path: Path) -> None:
    running = Running(tmp_path)
    n = running.exchange.flush()
    running.close()
    assert (n, running.exchange.journal.commits) == (0, 0)


def test_reports_go_to_the_owner_session(tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.run([new(B2, "o1", BUY, 10, px("189.00"))])
    sent = running.sent(B2), running.sent(B1)
    running.close()
    assert ([(m[35], m[11], m[150]) for m in sent[0]], sent[1]) == ([(b"8", b"o1", b"0")], [])


def test_drop_copy_gets_each_execution_report_with_the_owners_comp_ids(
        tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.run([new(B2, "o1", BUY, 10, px("189.00"))])
    copies = running.sent(DC)
    running.close()
    assert [(m[35], m[11], m[115], m[128]) for m in copies] == [(b"8", b"o1", b"EXCH", b"BRK2")]


def test_cancel_on_disconnect_session_logout_cancels_its_orders(tmp_path: Path) -> None:
    running = Running(tmp_path)
    running.run([new(B1, "o1", BUY, 10, px("189.00")), new(B2, "o2", BUY, 10, px("189.00"))])
    for sid in (B1, B2):
        running.sessions[sid].app.on_logout(running.sessions[sid])
    running.exchange.flush()
    left = sorted(o.cl_ord_id for o in running.exchange.engine.orders.values())
    running.close()
    assert left == ["o2"]   # BRK2 has no CancelOnDisconnect


# -- recovery -------------------------------------------------------------------------------


def test_recover_replays_every_journaled_command(restarted: tuple[Running, Running]) -> None:
    _, second = restarted
    second.close()
    assert second.replayed == sum(len(b) for b in SCRIPT)


def test_recovered_engine_has_the_same_open_orders(restarted: tuple[Running, Running]) -> None:
    first, second = restarted
    second.close()
    assert engine_orders(second.exchange.engine) == engine_orders(first.exchange.engine)


def test_recovered_order_views_are_identical(restarted: tuple[Running, Running]) -> None:
    first, second = restarted
    second.close()
    assert view_state(second.exchange.order_entry) == view_state(first.exchange.order_entry)


def test_recovered_views_keep_cum_leaves_cl_ord_id_and_status(
        restarted: tuple[Running, Running]) -> None:
    first, second = restarted
    second.close()

    def summary(running: Running) -> dict[int, tuple]:
        return {oid: (v.cl_ord_id, v.cum, v.leaves, v.status, v.avg_px)
                for oid, v in running.exchange.order_entry.views.items()}

    assert summary(second) == summary(first) and len(summary(first)) == 9


def test_recovered_state_includes_ids_counters_and_last_prices(
        restarted: tuple[Running, Running]) -> None:
    first, second = restarted
    second.close()
    assert second.state() == first.state()


def test_status_after_restart_gives_the_same_report(tmp_path: Path) -> None:
    first = Running(tmp_path)
    first.run(*SCRIPT, [status(B2, "b2")])
    before = first.sent(B2)[-1]
    first.close()
    second = Running(tmp_path)
    second.run([status(B2, "b2")])
    after = second.sent(B2)[-1]
    second.close()
    same = (1, 6, 11, 14, 20, 37, 38, 39, 40, 44, 54, 55, 150, 151)
    assert {t: after.get(t) for t in same} == {t: before.get(t) for t in same} \
        and before[39] == b"2" and before[14] == b"120"


def test_order_id_and_cum_after_restart_are_those_before(tmp_path: Path) -> None:
    first = Running(tmp_path)
    first.run(*SCRIPT)
    first.close()
    second = Running(tmp_path)
    second.run([status(B1, "s2", symbol="AAPL", side=SELL)])
    report = second.sent(B1)[-1]
    view = first.exchange.order_entry.view(B1, "s2")
    second.close()
    assert (report[37], report[14], report[151]) == \
        (str(view.oid).encode(), b"%d" % view.cum, b"%d" % view.leaves)


def test_duplicate_cl_ord_id_is_still_detected_after_restart(
        restarted: tuple[Running, Running]) -> None:
    _, second = restarted
    second.run([new(B1, "s1", SELL, 1, px("191.00"))])
    last = second.sent(B1)[-1]
    second.close()
    assert (last[150], last[39], last[103]) == (b"8", b"8", b"6")


def test_commands_after_restart_continue_the_sequence(restarted: tuple[Running, Running]) -> None:
    _, second = restarted
    second.run([new(B1, "after", BUY, 1, px("189.00"))])
    seqs = [s.seq for s in journaled(second.exchange.journal_path)]
    second.close()
    assert seqs == list(range(1, sum(len(b) for b in SCRIPT) + 2))


def test_new_order_after_restart_gets_a_fresh_order_id(
        restarted: tuple[Running, Running]) -> None:
    first, second = restarted
    second.run([new(B1, "after", BUY, 1, px("189.00"))])
    order_id = second.sent(B1)[-1][37]
    second.close()
    assert order_id == b"%d" % first.exchange.engine.next_oid


def test_second_restart_rebuilds_the_state_of_the_first(tmp_path: Path) -> None:
    first = Running(tmp_path)
    first.run(*SCRIPT[:2])
    first.close()
    second = Running(tmp_path, start_ns=T0 + 10**12)
    second.run(*SCRIPT[2:])
    second.close()
    third = Running(tmp_path)
    third.close()
    assert third.state() == second.state()


def test_restart_after_a_torn_last_record_recovers_all_but_that_command(
        tmp_path: Path) -> None:
    torn = Running(tmp_path / "torn")
    torn.run(*SCRIPT)
    torn.close()
    path = torn.exchange.journal_path
    path.write_bytes(path.read_bytes()[:-5])
    reference = Running(tmp_path / "reference")
    commands = [c for batch in SCRIPT for c in batch]
    reference.run(commands[:-1])
    reference.close()
    recovered = Running(tmp_path / "torn")
    recovered.close()
    assert (recovered.replayed, recovered.state()[:2]) == \
        (len(commands) - 1, reference.state()[:2])


# -- random sessions survive a restart ----------------------------------------------------

_ids = st.sampled_from([f"c{i}" for i in range(10)])
_sessions = st.sampled_from([B1, B2])
_symbols = st.sampled_from(["AAPL", "XOM"])
_sides = st.sampled_from([BUY, SELL])
_prices = st.sampled_from([px("189.90"), px("190.00"), px("190.10"), px("115.00"),
                           px("114.95"), px("300.00")])
_qtys = st.sampled_from([10, 100, 200, 150_000])
_commands = st.one_of(
    st.builds(lambda s, c, side, q, p, sym, tif: new(s, c, side, q, p, symbol=sym, tif=tif),
              _sessions, _ids, _sides, _qtys, _prices, _symbols, st.sampled_from([0, 1, 3])),
    st.builds(lambda s, c, o: cancel(s, c, orig=o), _sessions, _ids, _ids),
    st.builds(lambda s, c, o, q, p, sym, side: replace(s, c, o, q, p, symbol=sym, side=side),
              _sessions, _ids, _ids, _qtys, _prices, _symbols, _sides),
    st.builds(lambda s, c: mass_cancel(s, c, "7"), _sessions, _ids),
    st.builds(CancelOnDisconnect, _sessions),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(_commands, min_size=1, max_size=6), max_size=6))
def test_random_order_flow_is_rebuilt_identically_by_recover(
        tmp_path_factory, batches: list[list[Command]]) -> None:
    directory = tmp_path_factory.mktemp("exchange")
    first = Running(directory)
    first.run(*batches)
    first.close()
    second = Running(directory)
    second.close()
    assert second.state() == first.state()
