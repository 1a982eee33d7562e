"""Recovery from a snapshot: the newest usable snapshot is loaded and only the journal
after it replayed, with exactly the state a full replay of the journal gives; a
snapshot that cannot be trusted (damaged, truncated, another version, ahead of the
journal, taken under another configuration) is skipped for the one before it.

The exchange runs on the shipped exchange.toml (fsync off) in a temporary data
directory. A "crash" is an exchange dropped without ``close``: its journal is on
disk as a kill -9 leaves it.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.constants import (
    BUY,
    CLOSED,
    CONTINUOUS,
    GTC,
    GTD,
    HALTED,
    IOC,
    OPENING_AUCTION,
    PRE_OPEN,
    SELL,
)
from persistence.segments import segment_files
from persistence.snapshots import SnapshotHeader, snapshot_path, snapshots, write_snapshot
from venue import snapshot as core_state
from venue.commands import (
    CancelOnDisconnect,
    Command,
    EndTradingDay,
    ExpireGTDOrders,
    KillSwitch,
    TradingPhase,
)
from venue.config import ExchangeConfig, load_exchange_config
from venue.exchange import SNAPSHOT_KIND, Exchange

from . import support
from .support import SHIPPED_EXCHANGE_TOML, px

B1 = "FIX.4.4:EXCH->BRK1"
B2 = "FIX.4.2:EXCH->BRK2"
T0 = 1_750_000_000_000_000_000
SECOND = 1_000_000_000


def config(**changes: object) -> ExchangeConfig:
    return dataclasses.replace(load_exchange_config(SHIPPED_EXCHANGE_TOML), fsync=False,
                               **changes)


def exchange(data_dir: Path, cfg: ExchangeConfig | None = None, start_ns: int = T0) -> Exchange:
    """An exchange on ``data_dir`` with the shipped sessions' firms, recovered."""
    clock = itertools.count(start_ns, 1_000_000)
    ex = Exchange(cfg or config(), data_dir, clock=lambda: next(clock))
    ex.add_session(B1, "BRK1")
    ex.add_session(B2, "BRK2")
    ex.recover()
    return ex


def run(ex: Exchange, commands: Sequence[Command], batch: int = 3) -> None:
    for i in range(0, len(commands), batch):
        for command in commands[i:i + batch]:
            ex.submit(command)
        ex.flush()


def crash(ex: Exchange) -> None:
    """Leave the journal as a kill -9 would (no close, no truncation of its tail)."""
    assert ex.journal is not None
    os.close(ex.journal._journal._fd)


def state(ex: Exchange) -> bytes:
    return core_state.encode(core_state.capture(ex, ex.last_seq, ex.last_ts))


def full_replay(data_dir: Path, scratch: Path) -> Exchange:
    """The exchange recovered from the journal alone (a copy without the snapshots)."""
    shutil.copytree(data_dir, scratch)
    shutil.rmtree(scratch / "snapshots", ignore_errors=True)
    return exchange(scratch)


def new(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
    return support.new(*args, symbol=symbol, **kw)  # type: ignore[arg-type]


def replace(*args: object, symbol: str = "AAPL", **kw: object) -> Command:
    return support.replace(*args, symbol=symbol, **kw)  # type: ignore[arg-type]


DAY: list[Command] = [
    new(B1, "s1", SELL, 100, px("190.00")),
    new(B1, "s2", SELL, 50, px("190.10"), account="BRK1-PROP"),
    new(B2, "b1", BUY, 30, px("189.00")),
    new(B2, "b2", BUY, 120, px("190.10")),
    new(B1, "m1", BUY, 200, px("420.00"), symbol="MSFT", tif=GTC),
    replace(B1, "m1r", "m1", 150, px("419.50"), symbol="MSFT", tif=GTC),
    new(B2, "i1", BUY, 40, px("190.10"), tif=IOC),
    new(B1, "g1", BUY, 10, px("189.00"), tif=GTD, expire_time=T0 + 60 * SECOND),
    new(B2, "k1", SELL, 5, px("22.50"), symbol="INTC"),
    KillSwitch("firm", "BROKER2", True),
    new(B2, "k2", SELL, 5, px("22.50"), symbol="INTC"),
    KillSwitch("firm", "BROKER2", False),
    ExpireGTDOrders(T0 + 61 * SECOND),
    new(B2, "b3", BUY, 60, px("190.00")),
    new(B1, "s3", SELL, 60, px("190.00")),
]


# -- a clean shutdown -----------------------------------------------------------------------


def test_a_clean_shutdown_writes_a_snapshot_of_the_last_command(tmp_path: Path) -> None:
    ex = exchange(tmp_path)
    run(ex, DAY)
    ex.close()
    assert [s.seq for s in snapshots(tmp_path / "snapshots")] == [len(DAY)]


def test_the_start_after_a_clean_shutdown_replays_nothing(tmp_path: Path) -> None:
    ex = exchange(tmp_path)
    run(ex, DAY)
    before = state(ex)
    ex.close()
    again = exchange(tmp_path)
    assert (again.snapshot_seq, again.last_seq, state(again)) == (len(DAY), len(DAY), before)


def test_a_restored_exchange_answers_the_next_commands_as_the_original(tmp_path: Path) -> None:
    original = exchange(tmp_path / "a")
    run(original, DAY)
    original.close()
    restored = exchange(tmp_path / "a")
    reference = full_replay(tmp_path / "a", tmp_path / "b")
    probe = [new(B1, "p1", SELL, 30, px("189.00")), replace(B1, "m1r2", "m1r", 100,
                                                            px("419.00"), symbol="MSFT",
                                                            tif=GTC),
             CancelOnDisconnect(B1), EndTradingDay()]
    got = [restored.order_entry.process(c, T0 + SECOND) for c in probe]
    want = [reference.order_entry.process(c, T0 + SECOND) for c in probe]
    assert got == want


# -- snapshot plus the journal after it == the whole journal ------------------------------

_ids = st.sampled_from([f"c{i}" for i in range(8)])
_sessions = st.sampled_from([B1, B2])
_symbols = st.sampled_from(["AAPL", "MSFT"])
_sides = st.sampled_from([BUY, SELL])
_prices = st.sampled_from([px("189.90"), px("190.00"), px("190.10"), px("419.90"),
                           px("420.00")])
_qtys = st.sampled_from([10, 60, 100, 250])
_commands = st.one_of(
    st.builds(lambda s, c, side, q, p, sym, tif: new(s, c, side, q, p, symbol=sym, tif=tif),
              _sessions, _ids, _sides, _qtys, _prices, _symbols, st.sampled_from([0, 1, 3])),
    st.builds(lambda s, c, o: support.cancel(s, c, orig=o, symbol="AAPL"), _sessions, _ids,
              _ids),
    st.builds(lambda s, c, o, q, p, sym, side: replace(s, c, o, q, p, symbol=sym, side=side),
              _sessions, _ids, _ids, _qtys, _prices, _symbols, _sides),
    st.builds(lambda s, c: support.mass_cancel(s, c, "7"), _sessions, _ids),
    st.builds(CancelOnDisconnect, _sessions),
    st.builds(lambda on: KillSwitch("firm", "BROKER2", on), st.booleans()),
    st.just(EndTradingDay()),
    st.builds(TradingPhase, st.sampled_from(["", "AAPL"]),
              st.sampled_from([PRE_OPEN, OPENING_AUCTION, CONTINUOUS, HALTED, CLOSED])),
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.lists(_commands, min_size=1, max_size=25),
       after=st.lists(_commands, max_size=25))
def test_a_snapshot_and_the_journal_after_it_give_the_state_of_a_full_replay(
        tmp_path_factory: pytest.TempPathFactory, before: list[Command],
        after: list[Command]) -> None:
    directory = tmp_path_factory.mktemp("exchange")
    ex = exchange(directory / "data")
    run(ex, before)
    ex.write_snapshot()
    run(ex, after)
    end = state(ex)
    crash(ex)
    recovered = exchange(directory / "data")
    reference = full_replay(directory / "data", directory / "reference")
    assert recovered.snapshot_seq == len(before)
    assert state(recovered) == state(reference) == end
    probe = [new(B1, "p1", BUY, 100, px("190.10")), new(B2, "p2", SELL, 250, px("189.90")),
             EndTradingDay()]
    assert [recovered.order_entry.process(c, T0) for c in probe] == \
        [reference.order_entry.process(c, T0) for c in probe]


def test_the_newest_of_several_snapshots_is_used(tmp_path: Path) -> None:
    ex = exchange(tmp_path)
    run(ex, DAY[:5])
    ex.write_snapshot()
    run(ex, DAY[5:10])
    ex.write_snapshot()
    run(ex, DAY[10:])
    crash(ex)
    assert exchange(tmp_path).snapshot_seq == 10


# -- snapshots that are not used ----------------------------------------------------------


@pytest.fixture
def two_snapshots(tmp_path: Path) -> tuple[Path, bytes]:
    """Snapshots at seq 5 and 10, the journal at 15, crashed; the state at 15."""
    ex = exchange(tmp_path)
    run(ex, DAY[:5])
    ex.write_snapshot()
    run(ex, DAY[5:10])
    ex.write_snapshot()
    run(ex, DAY[10:])
    end = state(ex)
    crash(ex)
    return tmp_path, end


def test_a_damaged_newest_snapshot_falls_back_to_the_one_before(
        two_snapshots: tuple[Path, bytes], caplog: pytest.LogCaptureFixture) -> None:
    data_dir, end = two_snapshots
    newest = snapshot_path(data_dir / "snapshots", 10)
    raw = bytearray(newest.read_bytes())
    raw[-100] ^= 0xFF
    newest.write_bytes(bytes(raw))
    ex = exchange(data_dir)
    assert (ex.snapshot_seq, state(ex)) == (5, end)
    assert "payload checksum mismatch" in caplog.text


def test_a_truncated_newest_snapshot_falls_back_to_the_one_before(
        two_snapshots: tuple[Path, bytes], caplog: pytest.LogCaptureFixture) -> None:
    data_dir, end = two_snapshots
    newest = snapshot_path(data_dir / "snapshots", 10)
    os.truncate(newest, newest.stat().st_size // 2)
    ex = exchange(data_dir)
    assert (ex.snapshot_seq, state(ex)) == (5, end)
    assert "truncated" in caplog.text


def test_a_snapshot_whose_header_is_damaged_is_skipped(
        two_snapshots: tuple[Path, bytes], caplog: pytest.LogCaptureFixture) -> None:
    data_dir, end = two_snapshots
    newest = snapshot_path(data_dir / "snapshots", 10)
    raw = bytearray(newest.read_bytes())
    raw[20] ^= 0xFF
    newest.write_bytes(bytes(raw))
    ex = exchange(data_dir)
    assert (ex.snapshot_seq, state(ex)) == (5, end)
    assert "header is damaged" in caplog.text


def test_with_every_snapshot_damaged_the_whole_journal_is_replayed(
        two_snapshots: tuple[Path, bytes]) -> None:
    data_dir, end = two_snapshots
    for snap in (data_dir / "snapshots").iterdir():
        snap.write_bytes(b"FIXEXSNP" + b"\0" * 40)
    ex = exchange(data_dir)
    assert (ex.snapshot_seq, state(ex)) == (0, end)


def test_a_snapshot_of_another_state_version_is_skipped(
        two_snapshots: tuple[Path, bytes], caplog: pytest.LogCaptureFixture) -> None:
    data_dir, end = two_snapshots
    snap = next(s for s in snapshots(data_dir / "snapshots") if s.seq == 10)
    write_snapshot(data_dir / "snapshots",
                   msgspec.structs.replace(snap.header, schema_version=99), snap.payload())
    ex = exchange(data_dir)
    assert (ex.snapshot_seq, state(ex)) == (5, end)
    assert "version 99" in caplog.text


def test_a_snapshot_of_another_configuration_is_not_used(
        two_snapshots: tuple[Path, bytes], caplog: pytest.LogCaptureFixture) -> None:
    data_dir, _ = two_snapshots
    cfg = config(market_protection_pct=7)
    ex = exchange(data_dir, cfg)
    assert ex.snapshot_seq == 0 and ex.last_seq == len(DAY)
    assert "configuration" in caplog.text and "changed" in caplog.text


def test_a_snapshot_ahead_of_a_journal_that_lost_its_tail_is_skipped(
        two_snapshots: tuple[Path, bytes], caplog: pytest.LogCaptureFixture) -> None:
    data_dir, _ = two_snapshots
    snap10 = next(s for s in snapshots(data_dir / "snapshots") if s.seq == 10)
    journal = data_dir / "journal" / "commands.wal"
    os.truncate(journal, snap10.header.journal_offset - 1)   # seq 10's record torn
    ex = exchange(data_dir)
    assert (ex.snapshot_seq, ex.last_seq) == (5, 9)
    assert "ends at offset" in caplog.text


def test_a_torn_last_journal_record_after_the_snapshot_is_dropped(
        two_snapshots: tuple[Path, bytes]) -> None:
    data_dir, _ = two_snapshots
    journal = data_dir / "journal" / "commands.wal"
    data = journal.read_bytes().rstrip(b"\0")
    journal.write_bytes(data[:-3])
    ex = exchange(data_dir)
    assert (ex.snapshot_seq, ex.last_seq) == (10, len(DAY) - 1)


def test_a_snapshot_past_the_callers_limit_is_not_used(two_snapshots: tuple[Path, bytes]
                                                       ) -> None:
    data_dir, end = two_snapshots
    clock = itertools.count(T0, 1_000_000)
    ex = Exchange(config(), data_dir, clock=lambda: next(clock))
    ex.add_session(B1, "BRK1")
    ex.add_session(B2, "BRK2")
    ex.recover(snapshot_limit=7)
    assert (ex.snapshot_seq, state(ex)) == (5, end)


def test_a_temporary_file_left_by_a_crash_mid_write_is_not_a_snapshot(
        two_snapshots: tuple[Path, bytes]) -> None:
    data_dir, _ = two_snapshots
    (data_dir / "snapshots" / ".000000000015.snapshot.123.tmp").write_bytes(b"FIXEXSNP")
    assert exchange(data_dir).snapshot_seq == 10


def test_snapshot_files_carry_their_kind_and_journal_position(
        two_snapshots: tuple[Path, bytes]) -> None:
    data_dir, _ = two_snapshots
    headers = [s.header for s in snapshots(data_dir / "snapshots")]
    assert [(h.kind, h.seq, h.journal_file) for h in headers] == \
        [(SNAPSHOT_KIND, 10, "commands.wal"), (SNAPSHOT_KIND, 5, "commands.wal")]
    assert headers[0].journal_offset > headers[1].journal_offset
    assert isinstance(headers[0], SnapshotHeader)


# -- across journal segments -------------------------------------------------------------


def test_recovery_reads_the_journal_across_its_segments(tmp_path: Path) -> None:
    cfg = config(journal_segment_mb=0)     # a new segment after every batch
    ex = exchange(tmp_path / "data", cfg)
    run(ex, DAY[:6])
    ex.write_snapshot()
    run(ex, DAY[6:])
    end = state(ex)
    crash(ex)
    assert len(segment_files(tmp_path / "data" / "journal" / "commands.wal")) >= 5
    recovered = exchange(tmp_path / "data", cfg)
    shutil.copytree(tmp_path / "data", tmp_path / "reference")
    shutil.rmtree(tmp_path / "reference" / "snapshots")
    reference = exchange(tmp_path / "reference", cfg)
    assert recovered.snapshot_seq == 6
    assert state(recovered) == state(reference) == end


def test_a_snapshot_names_the_segment_and_offset_of_the_next_command(tmp_path: Path) -> None:
    cfg = config(journal_segment_mb=0)
    ex = exchange(tmp_path, cfg)
    run(ex, DAY[:6])
    path = ex.write_snapshot()
    assert path is not None
    header = next(iter(snapshots(tmp_path / "snapshots"))).header
    assert (header.journal_file, header.journal_offset) == ("commands.000000000007.wal", 32)
