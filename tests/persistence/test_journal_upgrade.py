"""venue.journal_upgrade: ``fixserver-journal upgrade`` turns a journal of marshal
tuples (no file header) into a journal of typed, versioned records."""

from __future__ import annotations

import marshal
import struct
import zlib
from pathlib import Path

import msgspec
import pytest

from persistence.journal import Journal
from persistence.sequencer import Sequenced, replay
from venue import journal_upgrade
from venue.commands import (
    SCHEMA_VERSION,
    CancelOnDisconnect,
    Command,
    EndTradingDay,
    ExpireGTDOrders,
    KillSwitch,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelRequest,
    OrderStatusRequest,
)
from venue.journal_upgrade import OLD_LAYOUTS, UpgradeError, convert_command, main

# -- old journals, written here as the exchange wrote them before file headers ------------


def old_record(payload: bytes) -> bytes:
    head = struct.pack("<II", len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def old_journal(path: Path, commands: list[tuple]) -> bytes:
    """Commands stamped seq 1, 2, ... and ts 1_000 + seq, as marshal records."""
    data = b"".join(old_record(marshal.dumps((seq, 1_000 + seq, command)))
                    for seq, command in enumerate(commands, 1))
    path.write_bytes(data)
    return data


# One old tuple of every kind and the typed record it becomes.
OLD_AND_NEW: list[tuple[tuple, Command]] = [
    ((1, "BRK1", "c1", "BRK1-MAIN", "AAPL", 1, 2, 1_905_000, 0, 100, 6, 1_700_000_000_000,
      10, 20, "", ""),
     NewOrderSingle(session="BRK1", cl_ord_id="c1", account="BRK1-MAIN", symbol="AAPL",
                    side=1, ord_type=2, price=1_905_000, stop_px=0, order_qty=100,
                    time_in_force=6, expire_time=1_700_000_000_000, min_qty=10,
                    max_floor=20, error_code="", error_text="")),
    ((1, "BRK1", "c2", "", "AAPL", "X", 4, 0, 1_800_000, 0, 0, 0, 0, 0, "INVALID_FIELD",
      "OrderQty (38) is required"),
     NewOrderSingle(session="BRK1", cl_ord_id="c2", account="", symbol="AAPL", side="X",
                    ord_type=4, price=0, stop_px=1_800_000, order_qty=0, time_in_force=0,
                    expire_time=0, min_qty=0, max_floor=0, error_code="INVALID_FIELD",
                    error_text="OrderQty (38) is required")),
    ((2, "BRK1", "c3", "c1", "O-1", "AAPL", 1),
     OrderCancelRequest(session="BRK1", cl_ord_id="c3", orig_cl_ord_id="c1", order_id="O-1",
                        symbol="AAPL", side=1)),
    ((3, "BRK1", "c4", "c1", "O-1", "AAPL", 1, 200, 1_906_000, 0, 2, -1, "", ""),
     OrderCancelReplaceRequest(session="BRK1", cl_ord_id="c4", orig_cl_ord_id="c1",
                               order_id="O-1", symbol="AAPL", side=1, order_qty=200,
                               price=1_906_000, stop_px=0, ord_type=2, time_in_force=-1,
                               error_code="", error_text="")),
    ((4, "BRK1", "c5", "O-1", "AAPL", 1),
     OrderStatusRequest(session="BRK1", cl_ord_id="c5", order_id="O-1", symbol="AAPL",
                        side=1)),
    ((5, "BRK1", "c6", "7", "", 0, "BRK1-MAIN"),
     OrderMassCancelRequest(session="BRK1", cl_ord_id="c6", mass_cancel_request_type="7",
                            symbol="", side=0, account="BRK1-MAIN")),
    ((6, "BRK1"), CancelOnDisconnect(session="BRK1")),
    ((7, 1_700_000_000_000_000_000), ExpireGTDOrders(as_of=1_700_000_000_000_000_000)),
    ((7,), ExpireGTDOrders(as_of=0)),
    ((8,), EndTradingDay()),
    ((9, "account", "BRK1-MAIN", True), KillSwitch(scope="account", name="BRK1-MAIN", on=True)),
    ((9, "firm", "BRK1", False), KillSwitch(scope="firm", name="BRK1", on=False)),
]
OLD = [old for old, _ in OLD_AND_NEW]
EXPECTED = [Sequenced(seq, 1_000 + seq, new) for seq, (_, new) in enumerate(OLD_AND_NEW, 1)]


def replayed(path: Path) -> list[Sequenced[Command]]:
    return list(replay(path, Command, schema_version=SCHEMA_VERSION))


def failure(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


# -- the conversion table ----------------------------------------------------------------


def test_each_old_kind_is_the_tag_of_its_typed_record() -> None:
    assert {kind: layout.command.__struct_config__.tag
            for kind, layout in OLD_LAYOUTS.items()} == {k: k for k in range(1, 10)}


def test_each_old_layout_maps_the_tuple_items_to_the_record_fields_in_order() -> None:
    # Fields added since (at the end, with a default) are not in the old tuples.
    assert {kind: layout.fields for kind, layout in OLD_LAYOUTS.items()} == {
        kind: layout.command.__struct_fields__[:len(layout.fields)]
        for kind, layout in OLD_LAYOUTS.items()}


@pytest.mark.parametrize(("old", "new"), OLD_AND_NEW, ids=lambda v: repr(v)[:24])
def test_an_old_command_tuple_converts_to_its_typed_record(old: tuple, new: Command) -> None:
    assert convert_command(old) == new


def test_an_old_tuple_of_the_wrong_length_is_refused_naming_the_record() -> None:
    with pytest.raises(UpgradeError, match=r"OrderCancelRequest tuple has 6 items .* 5"):
        convert_command((2, "BRK1", "c3", "c1", "O-1", "AAPL"))


def test_an_unknown_old_kind_is_refused() -> None:
    with pytest.raises(UpgradeError, match="unknown command kind 42"):
        convert_command((42, "x"))


# -- upgrade in place ----------------------------------------------------------------------


def test_upgrade_converts_every_old_command_kind_and_the_result_replays(
        tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    old_journal(path, OLD)
    assert (main(["upgrade", str(path)]), replayed(path)) == (0, EXPECTED)


def test_upgrade_keeps_the_old_journal_as_v0(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    data = old_journal(path, OLD)
    main(["upgrade", str(path)])
    assert (tmp_path / "commands.wal.v0").read_bytes() == data


def test_upgrade_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    old_journal(path, OLD)
    main(["upgrade", str(path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["commands.wal", "commands.wal.v0"]


def test_the_exchange_appends_to_an_upgraded_journal(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    old_journal(path, OLD)
    main(["upgrade", str(path)])
    journal = Journal(path, kind="commands", schema_version=SCHEMA_VERSION, fsync=False)
    journal.append(msgspec.msgpack.encode(Sequenced(99, 5, EndTradingDay())))
    journal.close()
    assert replayed(path) == [*EXPECTED, Sequenced(99, 5, EndTradingDay())]


def test_upgrade_prints_the_count_and_the_first_and_last_seq(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    old_journal(path, OLD)
    main(["upgrade", str(path)])
    assert f"converted {len(OLD)} records, seq 1 to {len(OLD)}" in capsys.readouterr().out


def test_upgrade_prints_progress_on_long_journals(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_upgrade, "PROGRESS_EVERY", 5)
    path = tmp_path / "commands.wal"
    old_journal(path, [(8,)] * 12)
    main(["upgrade", str(path)])
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "fixserver-journal: 5 records converted", "fixserver-journal: 10 records converted"]


def test_upgrade_converts_the_intact_records_before_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    data = old_journal(path, OLD)
    path.write_bytes(data[:-3])
    main(["upgrade", str(path)])
    assert replayed(path) == EXPECTED[:-1]


def test_upgrade_of_an_old_journal_with_no_records_gives_a_header_only_journal(
        tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    path.write_bytes(old_record(marshal.dumps((1, 1, (8,))))[:-2])  # one torn record
    assert (main(["upgrade", str(path)]), replayed(path)) == (0, [])


# -- upgrade --output -----------------------------------------------------------------------


def test_upgrade_with_output_writes_the_new_journal_there(tmp_path: Path) -> None:
    path, output = tmp_path / "commands.wal", tmp_path / "new" / "commands.wal"
    old_journal(path, OLD)
    assert (main(["upgrade", str(path), "--output", str(output)]),
            replayed(output)) == (0, EXPECTED)


def test_upgrade_with_output_leaves_the_original_untouched(tmp_path: Path) -> None:
    path, output = tmp_path / "commands.wal", tmp_path / "upgraded.wal"
    data = old_journal(path, OLD)
    main(["upgrade", str(path), "--output", str(output)])
    assert (path.read_bytes(), sorted(p.name for p in tmp_path.iterdir())) == (
        data, ["commands.wal", "upgraded.wal"])


def test_upgrade_refuses_an_existing_output(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path, output = tmp_path / "commands.wal", tmp_path / "upgraded.wal"
    old_journal(path, OLD)
    output.write_bytes(b"keep me")
    code, err = failure(capsys, ["upgrade", str(path), "--output", str(output)])
    assert (code, "already exists" in err, output.read_bytes()) == (1, True, b"keep me")


# -- refusals -------------------------------------------------------------------------------


def test_upgrade_refuses_a_journal_already_in_the_new_format(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    old_journal(path, OLD)
    main(["upgrade", str(path)])
    upgraded = path.read_bytes()
    code, err = failure(capsys, ["upgrade", str(path)])
    assert (code, err.startswith(f"fixserver-journal: {path}: already in the current format"),
            path.read_bytes()) == (1, True, upgraded)


def test_upgrade_refuses_a_missing_file(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = failure(capsys, ["upgrade", str(tmp_path / "absent.wal")])
    assert (code, err) == (1, f"fixserver-journal: {tmp_path / 'absent.wal'}: no such "
                              "journal file\n")


def test_upgrade_refuses_a_file_that_is_not_a_journal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    path.write_bytes(b"hello, this is not a journal at all")
    code, err = failure(capsys, ["upgrade", str(path)])
    assert (code, "not an old-format journal" in err, len(err.splitlines())) == (1, True, 1)


def test_upgrade_refuses_an_empty_file(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    path.write_bytes(b"")
    code, err = failure(capsys, ["upgrade", str(path)])
    assert (code, "nothing to upgrade" in err) == (1, True)


def test_upgrade_refuses_an_undecodable_record_naming_its_offset_and_keeps_the_old_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    good = old_record(marshal.dumps((1, 1, (8,))))
    data = good + old_record(marshal.dumps((2, 2, (42, "no such kind")))) + good
    path.write_bytes(data)
    code, err = failure(capsys, ["upgrade", str(path)])
    assert (code, f"record at offset {len(good)} does not convert" in err,
            "unknown command kind 42" in err, path.read_bytes(),
            sorted(p.name for p in tmp_path.iterdir())) == (
        1, True, True, data, ["commands.wal"])


def test_upgrade_refuses_a_field_of_the_wrong_type(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    old_journal(path, [(9, "account", "BRK1-MAIN", "yes")])  # on must be a bool
    code, err = failure(capsys, ["upgrade", str(path)])
    assert (code, "seq 1: Expected `bool`" in err) == (1, True)


def test_upgrade_refuses_a_record_that_is_not_marshal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    path.write_bytes(old_record(b"\xff\xfe not marshal"))
    code, err = failure(capsys, ["upgrade", str(path)])
    assert (code, "not a marshal record" in err) == (1, True)


def test_upgrade_refuses_to_overwrite_an_earlier_backup(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "commands.wal"
    data = old_journal(path, OLD)
    (tmp_path / "commands.wal.v0").write_bytes(b"older backup")
    code, err = failure(capsys, ["upgrade", str(path)])
    assert (code, "commands.wal.v0: already exists" in err, path.read_bytes(),
            (tmp_path / "commands.wal.v0").read_bytes()) == (1, True, data, b"older backup")


def test_upgrade_redoes_a_temporary_file_left_by_an_interrupted_run(tmp_path: Path) -> None:
    path = tmp_path / "commands.wal"
    old_journal(path, OLD)
    (tmp_path / "commands.wal.upgrading").write_bytes(b"half written")
    assert (main(["upgrade", str(path)]), replayed(path)) == (0, EXPECTED)
