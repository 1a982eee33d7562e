"""``fixserver replay``: the exchange's state at any point of its journal, offline.

Specified here, against data directories written by a real in-process exchange
(the shipped exchange.toml, fsync off) and read by the command as an operator runs
it (``server.cli.main(["replay", ...])``, and once as a real ``python -m server``
process):

* the summary of a day (orders by status, open orders per symbol, trades, the last
  command, every account's balances and positions) as text and as JSON, equal to
  what the exchange that wrote the journal holds;
* ``--until SEQ``: the state after command SEQ, equal to that of an exchange that
  only ever processed the first SEQ commands; past the journal's end it says so;
  it starts from the newest snapshot at or before SEQ and names it;
* the journal is read across its segments, and beside a running exchange;
* it writes nothing: every file of the data directory keeps its bytes and its
  mtime, a torn last record included (it is skipped, not cut off), and so does the
  preallocated tail of a running exchange's journal;
* a damaged newest snapshot is skipped for the one before it (or the whole
  journal), with the same result;
* exit status 1 and a message on stderr for a journal damaged in the middle; 2 for a
  missing data directory, one without a journal, and an --until that is not a
  sequence number.

Nothing is mocked: real files, the real recovery code, a real subprocess.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from matching.constants import BUY, SELL
from matching.events import Trade
from persistence.journal import FILE_HEADER_SIZE, RECORD_HEADER_SIZE, encode_record
from persistence.snapshots import snapshot_path
from server.cli import main as fixserver
from venue.commands import Command
from venue.config import ExchangeConfig, load_exchange_config
from venue.exchange import Exchange
from venue.stream import Entry

from . import support
from .support import REPO, SHIPPED_EXCHANGE_TOML, px

# The shipped sessions.cfg's two Application=exchange sessions (what replay names to
# the exchange by default).
B1 = "FIX.4.4:EXCH->BRK1"
B2 = "FIX.4.2:EXCH->BRK2"
T0 = 1_750_000_000_000_000_000

# OrdStatus (39) -> the name the summary gives it, written out here.
STATUS_NAMES = {"0": "New", "1": "Partially filled", "2": "Filled", "4": "Canceled",
                "8": "Rejected", "C": "Expired"}


def config() -> ExchangeConfig:
    return dataclasses.replace(load_exchange_config(SHIPPED_EXCHANGE_TOML), fsync=False)


class Writer:
    """An exchange on ``data_dir`` with the shipped sessions, recovered, whose published
    entries are kept (to count trades without the code under test)."""

    def __init__(self, data_dir: Path, cfg: ExchangeConfig | None = None) -> None:
        clock = itertools.count(T0, 1_000_000)
        self.ex = Exchange(cfg or config(), data_dir, clock=lambda: next(clock))
        self.ex.add_session(B1, "BRK1")
        self.ex.add_session(B2, "BRK2")
        self.ex.recover()
        self.entries: list[Entry] = []
        self.ex.publish = self.entries.extend

    def run(self, commands: Sequence[Command], batch: int = 3) -> None:
        for i in range(0, len(commands), batch):
            for command in commands[i:i + batch]:
                self.ex.submit(command)
            self.ex.flush()

    def trades(self) -> int:
        return sum(type(event) is Trade for entry in self.entries for event in entry.events)


def new(session: str, cl_ord_id: str, side: int, qty: int, price: str,
        symbol: str = "AAPL") -> Command:
    return support.new(session, cl_ord_id, side, qty, px(price), symbol=symbol)


def cancel(session: str, cl_ord_id: str, orig: str, side: int, symbol: str = "AAPL"
           ) -> Command:
    return support.cancel(session, cl_ord_id, orig=orig, symbol=symbol, side=side)


# A day: orders that rest, fill partly, fill, are cancelled; four trades.
DAY: list[Command] = [
    new(B1, "s1", SELL, 100, "190.00"),                 # 1  rests
    new(B2, "b1", BUY, 30, "190.00"),                   # 2  trade: b1 filled, s1 partial
    new(B2, "b2", BUY, 50, "189.00"),                   # 3  rests
    new(B1, "m1", SELL, 20, "421.00", symbol="MSFT"),   # 4  rests
    cancel(B1, "m1c", "m1", SELL, symbol="MSFT"),       # 5  m1 cancelled
    new(B2, "i1", BUY, 10, "22.00", symbol="INTC"),     # 6  rests
    new(B1, "s2", SELL, 40, "190.50"),                  # 7  rests
    new(B2, "b3", BUY, 70, "190.00"),                   # 8  trade: s1 and b3 filled
    new(B1, "j1", SELL, 5, "240.00", symbol="JPM"),     # 9  rests
    new(B2, "j2", BUY, 5, "240.00", symbol="JPM"),      # 10 trade: j1 and j2 filled
    cancel(B2, "b2c", "b2", BUY),                       # 11 b2 cancelled
    new(B2, "b4", BUY, 10, "190.50"),                   # 12 trade: b4 filled, s2 partial
]
SNAPSHOTS = (4, 8)      # the day's data directory holds snapshots after these commands


def units(money: str) -> int:
    """ "19994299.43" -> 199942994300 (the core's 4-decimal integers)."""
    value = Decimal(money) * 10_000
    assert value == value.to_integral_value(), money
    return int(value)


def held(writer: Writer) -> dict[str, object]:
    """What the in-process exchange holds, in the shape of the JSON summary's state."""
    ex = writer.ex
    statuses = Counter(view.status for view in ex.order_entry.views.values())
    assert set(statuses) <= set(STATUS_NAMES)
    sides: dict[str, dict[str, int]] = {}
    for order in ex.engine.orders.values():
        counts = sides.setdefault(order.symbol, {"buy": 0, "sell": 0})
        counts["buy" if order.side == BUY else "sell"] += 1
    accounts = []
    for name in sorted(ex.config.accounts):
        view = ex.risk.account(name)
        accounts.append({"account": name, "firm": view.firm, "cash": view.cash,
                         "reserved": view.reserved, "available": view.buying_power,
                         "open_orders": view.open_orders, "positions": dict(view.positions)})
    return {"last_seq": ex.applied_seq, "last_ts": ex.last_ts,
            "orders": {name: statuses.get(code, 0) for code, name in STATUS_NAMES.items()},
            "open_orders": [{"symbol": s, **sides[s]} for s in sorted(sides)],
            "trades": writer.trades(), "accounts": accounts}


def state_of(summary: dict) -> dict[str, object]:
    """The state part of a JSON summary, money in the core's integers."""
    accounts = [{**a, "cash": units(a["cash"]), "reserved": units(a["reserved"]),
                 "available": units(a["available"])} for a in summary["accounts"]]
    return {"last_seq": summary["last_seq"], "last_ts": summary["last_ts"],
            "orders": summary["orders"], "open_orders": summary["open_orders"],
            "trades": summary["trades"], "accounts": accounts}


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``fixserver replay ARGS`` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = fixserver(["replay", *args])
    except SystemExit as e:          # argparse's usage errors
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def replay_json(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> dict:
    code, out, err = replay(capsys, "--data-dir", str(data_dir), "--json", *args)
    assert code == 0, err
    return json.loads(out)


def files_of(data_dir: Path) -> dict[str, tuple[str, int, int]]:
    """Every file and directory under ``data_dir``: (sha256 of its bytes, size, mtime)."""
    out = {}
    for path in sorted(data_dir.rglob("*")):
        st = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(data_dir))] = (digest, st.st_size, st.st_mtime_ns)
    return out


def record_offsets(segment: Path) -> list[int]:
    """The offset of every record of a journal file, read by hand."""
    data = segment.read_bytes()
    offsets, pos = [], FILE_HEADER_SIZE
    while pos + RECORD_HEADER_SIZE <= len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        offsets.append(pos)
        pos += RECORD_HEADER_SIZE + length
    assert pos == len(data)
    return offsets


# -- data directories ------------------------------------------------------------------------


@dataclasses.dataclass
class Day:
    data_dir: Path
    writer: Writer            # the exchange that wrote it (closed, its state kept)

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.data_dir, to)
        return to


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    """DAY journaled, with snapshots after commands 4 and 8, closed without a final
    snapshot (the journal ends with its last record). Read only: tests that damage
    files work on a copy."""
    data_dir = tmp_path_factory.mktemp("day") / "data"
    writer = Writer(data_dir)
    start = 0
    for seq in SNAPSHOTS:
        writer.run(DAY[start:seq])
        assert writer.ex.write_snapshot() is not None
        start = seq
    writer.run(DAY[start:])
    writer.ex.close(snapshot=False)
    return Day(data_dir, writer)


@pytest.fixture(scope="module")
def journal_only(tmp_path_factory: pytest.TempPathFactory) -> Day:
    """DAY journaled, one command per batch, no snapshot."""
    data_dir = tmp_path_factory.mktemp("journal_only") / "data"
    writer = Writer(data_dir)
    writer.run(DAY, batch=1)
    writer.ex.close(snapshot=False)
    assert not (data_dir / "snapshots").exists()
    return Day(data_dir, writer)


def journal_of(data_dir: Path) -> Path:
    return data_dir / "journal" / "commands.wal"


# -- the summary of a day ---------------------------------------------------------------------


def test_the_json_summary_counts_the_days_orders_by_status_open_orders_and_trades(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    summary = replay_json(capsys, day.data_dir)
    # Worked out by hand from DAY's comments.
    assert summary["orders"] == {"New": 1, "Partially filled": 1, "Filled": 6,
                                 "Canceled": 2, "Rejected": 0, "Expired": 0}
    assert summary["open_orders"] == [{"symbol": "AAPL", "buy": 0, "sell": 1},
                                      {"symbol": "INTC", "buy": 1, "sell": 0}]
    assert summary["trades"] == 4
    assert summary["last_seq"] == 12


def test_the_json_summary_is_the_state_the_exchange_that_wrote_the_journal_holds(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    summary = replay_json(capsys, day.data_dir)
    assert state_of(summary) == held(day.writer)
    assert summary["last_seq"] == len(DAY)
    assert summary["until"] is None and summary["past_end"] is False
    assert summary["data_dir"] == str(day.data_dir.resolve())


def test_the_json_summary_gives_the_last_commands_time_in_utc(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    summary = replay_json(capsys, day.data_dir)
    # T0 + 11 ms: the clock ticks 1 ms per command.
    assert summary["last_ts"] == T0 + (len(DAY) - 1) * 1_000_000
    assert summary["last_time"] == "2025-06-15T15:06:40.011000+00:00"


def test_the_text_summary_shows_the_counts_the_open_orders_and_the_balances(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = replay(capsys, "--data-dir", str(day.data_dir))
    assert code == 0
    assert re.search(r"^last seq\s+12 at 2025-06-15T15:06:40\.011000\+00:00$", out, re.M)
    assert re.search(r"^trades\s+4$", out, re.M)
    for status, count in [("New", 1), ("Partially filled", 1), ("Filled", 6),
                          ("Canceled", 2), ("Rejected", 0), ("Expired", 0)]:
        assert re.search(rf"^\s+{status}\s+{count}$", out, re.M), (status, out)
    assert re.search(r"^\s+AAPL\s+0\s+1$", out, re.M)
    assert re.search(r"^\s+INTC\s+1\s+0$", out, re.M)
    for account in held(day.writer)["accounts"]:
        cash = Decimal(account["cash"]) / 10_000
        row = re.search(rf"^\s+{account['account']}\s+{account['firm']}\s+(\S+)\s+(\S+)"
                        rf"\s+(\S+)\s+(\d+)$", out, re.M)
        assert row is not None, (account["account"], out)
        assert Decimal(row[1]) == cash
        assert Decimal(row[2]) == Decimal(account["reserved"]) / 10_000
        assert int(row[4]) == account["open_orders"]


def test_the_text_summary_shows_every_nonzero_position(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = replay(capsys, "--data-dir", str(day.data_dir))
    positions = out.split("\npositions\n", 1)[1]
    for account in held(day.writer)["accounts"]:
        for symbol, qty in account["positions"].items():
            if qty:
                assert re.search(rf"^\s+{account['account']}\s+{symbol}\s+{qty}$", positions,
                                 re.M), (account["account"], symbol, positions)
    assert re.search(r"^\s+BRK2-MAIN\s+AAPL\s+50110$", positions, re.M)   # 50000 + 110 bought


def test_a_journal_without_snapshots_is_replayed_whole_to_the_same_state(
        journal_only: Day, capsys: pytest.CaptureFixture[str]) -> None:
    summary = replay_json(capsys, journal_only.data_dir)
    assert summary["snapshot"] is None
    assert summary["replayed"] == len(DAY)
    assert state_of(summary) == held(journal_only.writer)


def test_the_subprocess_prints_the_summary_on_stdout_and_its_log_on_stderr(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "server", "replay", "--data-dir",
                           str(day.data_dir), "--json"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert state_of(summary) == held(day.writer)
    assert summary["snapshot"] == {"file": "000000000008.snapshot", "seq": 8}
    assert "replayed 4 commands after seq 8" in done.stderr


def test_the_console_script_exits_2_for_an_until_that_is_not_a_number(day: Day) -> None:
    fixserver_script = Path(sys.executable).with_name("fixserver")
    assert fixserver_script.exists()
    done = subprocess.run([str(fixserver_script), "replay", "--data-dir", str(day.data_dir),
                           "--until", "abc"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert "not a sequence number: 'abc'" in done.stderr
    assert done.stdout == ""


# -- --until ---------------------------------------------------------------------------------


@pytest.mark.parametrize("until", [1, 3, 5, 8, 11])
def test_until_gives_the_state_of_an_exchange_that_processed_only_that_many_commands(
        day: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str], until: int) -> None:
    reference = Writer(tmp_path / "reference")
    reference.run(DAY[:until])
    summary = replay_json(capsys, day.data_dir, "--until", str(until))
    assert state_of(summary) == held(reference)
    assert summary["until"] == until and summary["past_end"] is False


@pytest.mark.parametrize(("until", "snapshot", "replayed"),
                         [(3, None, 3), (4, 4, 0), (7, 4, 3), (8, 8, 0), (12, 8, 4)])
def test_until_starts_from_the_newest_snapshot_at_or_before_it(
        day: Day, capsys: pytest.CaptureFixture[str], until: int, snapshot: int | None,
        replayed: int) -> None:
    summary = replay_json(capsys, day.data_dir, "--until", str(until))
    assert summary["snapshot"] == (None if snapshot is None else
                                   {"file": f"{snapshot:012d}.snapshot", "seq": snapshot})
    assert summary["replayed"] == replayed
    assert summary["last_seq"] == until


def test_the_text_summary_names_the_snapshot_it_started_from(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = replay(capsys, "--data-dir", str(day.data_dir), "--until", "7")
    assert re.search(r"^snapshot\s+000000000004\.snapshot \(seq 4\)$", out, re.M)
    assert re.search(r"^replayed\s+3 commands in \d+\.\d{3} s, up to --until 7$", out, re.M)
    _, out, _ = replay(capsys, "--data-dir", str(day.data_dir), "--until", "2")
    assert re.search(r"^snapshot\s+none: the whole journal$", out, re.M)


def test_until_beyond_the_end_gives_the_end_and_says_so(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    summary = replay_json(capsys, day.data_dir, "--until", "1000")
    assert summary["past_end"] is True and summary["until"] == 1000
    assert summary["last_seq"] == len(DAY)
    assert state_of(summary) == held(day.writer)
    _, out, _ = replay(capsys, "--data-dir", str(day.data_dir), "--until", "1000")
    assert "to the end of the journal: it ends before --until 1000" in out


def test_until_the_last_command_is_not_past_the_end(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    summary = replay_json(capsys, day.data_dir, "--until", str(len(DAY)))
    assert summary["past_end"] is False and summary["last_seq"] == len(DAY)


# -- it writes nothing ------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["day", "journal_only"])
def test_it_writes_nothing_and_leaves_a_torn_last_record_in_place(
        request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        fixture: str) -> None:
    source: Day = request.getfixturevalue(fixture)
    data_dir = source.copy(tmp_path / "data")
    journal = journal_of(data_dir)
    torn = encode_record(b"\x93\x0d\x01\x02")[:-2]     # a 13th record, cut short
    with open(journal, "ab") as f:
        f.write(torn)
    before = files_of(data_dir)
    summaries = [replay_json(capsys, data_dir), replay_json(capsys, data_dir, "--until", "6"),
                 replay_json(capsys, data_dir, "--until", "99")]
    code, _, err = replay(capsys, "--data-dir", str(data_dir))
    assert code == 0, err
    assert files_of(data_dir) == before
    assert journal.read_bytes().endswith(torn)
    assert [s["last_seq"] for s in summaries] == [len(DAY), 6, len(DAY)]
    assert state_of(summaries[0]) == held(source.writer)


def test_beside_a_running_exchange_it_reads_every_flushed_command_and_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    writer = Writer(tmp_path / "data")       # stays open: its journal has a preallocated tail
    writer.run(DAY[:7])
    writer.ex.write_snapshot()
    writer.run(DAY[7:])
    before = files_of(tmp_path / "data")
    summary = replay_json(capsys, tmp_path / "data")
    assert state_of(summary) == held(writer)
    assert files_of(tmp_path / "data") == before
    writer.run([new(B1, "late", SELL, 1, "191.00")])     # the exchange trades on
    assert replay_json(capsys, tmp_path / "data")["last_seq"] == len(DAY) + 1
    writer.ex.close(snapshot=False)


def test_a_journal_in_segments_is_read_across_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    writer = Writer(tmp_path / "data", dataclasses.replace(config(), journal_segment_mb=0))
    writer.run(DAY[:5])
    writer.ex.write_snapshot()
    writer.run(DAY[5:])
    writer.ex.close(snapshot=False)
    assert len(list((tmp_path / "data" / "journal").iterdir())) >= 4
    whole = replay_json(capsys, tmp_path / "data")
    assert whole["snapshot"] == {"file": "000000000005.snapshot", "seq": 5}
    assert state_of(whole) == held(writer)
    reference = Writer(tmp_path / "reference")
    reference.run(DAY[:4])
    assert state_of(replay_json(capsys, tmp_path / "data", "--until", "4")) == held(reference)


# -- damaged snapshots -----------------------------------------------------------------------


def damage_payload(snapshot: Path) -> None:
    raw = bytearray(snapshot.read_bytes())
    raw[-10] ^= 0xFF
    snapshot.write_bytes(bytes(raw))


def test_a_damaged_newest_snapshot_is_skipped_for_the_one_before_with_the_same_result(
        day: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = day.copy(tmp_path / "data")
    damage_payload(snapshot_path(data_dir / "snapshots", 8))
    summary = replay_json(capsys, data_dir)
    assert summary["snapshot"] == {"file": "000000000004.snapshot", "seq": 4}
    assert summary["replayed"] == len(DAY) - 4
    assert state_of(summary) == held(day.writer)


def test_with_every_snapshot_damaged_the_whole_journal_is_replayed_with_the_same_result(
        day: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = day.copy(tmp_path / "data")
    for seq in SNAPSHOTS:
        damage_payload(snapshot_path(data_dir / "snapshots", seq))
    (data_dir / "snapshots" / "000000000010.snapshot").write_bytes(b"not a snapshot")
    summary = replay_json(capsys, data_dir)
    assert summary["snapshot"] is None
    assert summary["replayed"] == len(DAY)
    assert state_of(summary) == held(day.writer)


# -- errors ------------------------------------------------------------------------------------


def test_a_record_damaged_in_the_middle_of_the_journal_exits_1_naming_it(
        journal_only: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = journal_only.copy(tmp_path / "data")
    journal = journal_of(data_dir)
    offset = record_offsets(journal)[5]                # seq 6's record
    raw = bytearray(journal.read_bytes())
    raw[offset + RECORD_HEADER_SIZE + 3] ^= 0xFF       # in its payload
    journal.write_bytes(bytes(raw))
    code, out, err = replay(capsys, "--data-dir", str(data_dir))
    assert code == 1
    assert out == ""
    assert err.startswith("fixserver replay: the journal cannot be read (JournalCorrupt): ")
    assert f"{journal}: record at offset {offset} fails its checksum" in err


def test_a_missing_data_directory_exits_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = replay(capsys, "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and out == ""
    assert f"data directory {tmp_path / 'nowhere'} does not exist" in err


def test_a_data_directory_without_a_journal_exits_2(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "snapshots").mkdir()
    code, out, err = replay(capsys, "--data-dir", str(tmp_path))
    assert code == 2 and out == ""
    assert f"no journal at {tmp_path / 'journal' / 'commands.wal'}" in err


def test_until_0_exits_2_as_sequence_numbers_start_at_1(
        day: Day, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = replay(capsys, "--data-dir", str(day.data_dir), "--until", "0")
    assert code == 2 and out == ""
    assert "sequence numbers start at 1, so 0 is not one" in err


def test_until_that_is_not_a_number_exits_2(day: Day,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = replay(capsys, "--data-dir", str(day.data_dir), "--until", "abc")
    assert code == 2 and out == ""
    assert "--until: not a sequence number: 'abc'" in err


def test_a_data_directory_that_is_a_file_exits_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    code, _, err = replay(capsys, "--data-dir", str(tmp_path / "file"))
    assert code == 2
    assert "is not a directory" in err


def test_the_data_directory_is_not_created_when_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay(capsys, "--data-dir", str(tmp_path / "nowhere"))
    assert os.listdir(tmp_path) == []
