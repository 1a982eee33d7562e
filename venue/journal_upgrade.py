"""``fixserver-journal upgrade PATH [--output NEW]``: convert a command journal written
before journal files had a format header into the current format.

An old journal has no file header; each record's payload is
``marshal.dumps((seq, ts, command_tuple))``, the tuple's first item the command's kind.
:data:`OLD_LAYOUTS` is the one place that knows those tuples: it maps each kind to
its typed record of :mod:`venue.commands` and names, in tuple order, the field each
item becomes. The converter writes a new journal (the same records, the same seq and
ts) with ``SCHEMA_VERSION`` in its header.

By default it writes ``PATH.upgrading``, makes it durable, keeps the old file as
``PATH.v0`` (a hard link, so PATH is at every moment either the old or the new
journal) and renames the new file over PATH. With ``--output NEW`` it writes NEW and
leaves PATH alone. Any failure is one ``fixserver-journal: ...`` line and exit 1;
usage errors exit 2.
"""

from __future__ import annotations

import argparse
import logging
import marshal
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TextIO

import msgspec

from persistence.journal import (
    FILE_HEADER_SIZE,
    Journal,
    JournalCorrupt,
    JournalFormatError,
    LegacyJournalError,
    fsync_path,
    parse_file_header,
    read_legacy_records,
)
from persistence.sequencer import Sequenced

from .commands import (
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

KIND = "commands"
PROGRESS_EVERY = 100_000  # records between two progress lines
BATCH = 10_000  # records per write of the new journal


class UpgradeError(Exception):
    """The journal cannot be converted; the message says why."""


class OldLayout(NamedTuple):
    """How one old command tuple becomes a typed command."""

    command: type[Command]
    fields: tuple[str, ...]  # the field each tuple item after the kind becomes, in order
    required: int  # how many of them every tuple has (older tuples may lack the rest)


def _layout(command: type[Command], *fields: str, required: int | None = None) -> OldLayout:
    return OldLayout(command, fields, len(fields) if required is None else required)


# Old kind -> layout. Renamed on the way: stop_price -> stop_px, qty -> order_qty,
# tif -> time_in_force, display_qty -> max_floor, request_type -> mass_cancel_request_type,
# as_of_ns -> as_of.
OLD_LAYOUTS: dict[int, OldLayout] = {
    1: _layout(NewOrderSingle, "session", "cl_ord_id", "account", "symbol", "side",
               "ord_type", "price", "stop_px", "order_qty", "time_in_force", "expire_time",
               "min_qty", "max_floor", "error_code", "error_text"),
    2: _layout(OrderCancelRequest, "session", "cl_ord_id", "orig_cl_ord_id", "order_id",
               "symbol", "side"),
    3: _layout(OrderCancelReplaceRequest, "session", "cl_ord_id", "orig_cl_ord_id",
               "order_id", "symbol", "side", "order_qty", "price", "stop_px", "ord_type",
               "time_in_force", "error_code", "error_text"),
    4: _layout(OrderStatusRequest, "session", "cl_ord_id", "order_id", "symbol", "side"),
    5: _layout(OrderMassCancelRequest, "session", "cl_ord_id", "mass_cancel_request_type",
               "symbol", "side", "account"),
    6: _layout(CancelOnDisconnect, "session"),
    # The oldest journals wrote (EXPIRE_GTD,): as of 0.
    7: _layout(ExpireGTDOrders, "as_of", required=0),
    8: _layout(EndTradingDay),
    9: _layout(KillSwitch, "scope", "name", "on"),
}

# Checks each converted command's field types: a Struct does not check them when built.
_check = msgspec.msgpack.Decoder(Sequenced[Command]).decode
_encode = msgspec.msgpack.Encoder().encode


def convert_command(old: tuple) -> Command:
    """The typed command an old command tuple stands for (types not checked here)."""
    if not isinstance(old, tuple) or not old:
        raise UpgradeError(f"the command is {old!r}, not a command tuple")
    layout = OLD_LAYOUTS.get(old[0])
    if layout is None:
        raise UpgradeError(f"unknown command kind {old[0]!r} in {old!r}")
    items = old[1:]
    if not layout.required <= len(items) <= len(layout.fields):
        expected = (str(len(layout.fields)) if layout.required == len(layout.fields)
                    else f"{layout.required} to {len(layout.fields)}")
        raise UpgradeError(f"a {layout.command.__name__} tuple has {expected} items after "
                           f"its kind, this one {len(items)}: {old!r}")
    return layout.command(**dict(zip(layout.fields, items, strict=False)))


def convert_record(payload: bytes) -> Sequenced[Command]:
    """One old record's payload as a sequenced typed command, its types checked."""
    try:
        stamped = marshal.loads(payload)
    except (ValueError, EOFError, TypeError) as e:
        raise UpgradeError(f"not a marshal record ({e})") from None
    if not (isinstance(stamped, tuple) and len(stamped) == 3
            and isinstance(stamped[0], int) and isinstance(stamped[1], int)):
        raise UpgradeError(f"{stamped!r} is not (seq, ts, command)")
    seq, ts, old = stamped
    record = Sequenced(seq, ts, convert_command(old))
    try:
        _check(_encode(record))
    except msgspec.ValidationError as e:
        raise UpgradeError(f"seq {seq}: {e} in {old!r}") from None
    return record


class Summary(NamedTuple):
    """What an upgrade converted."""

    records: int
    first_seq: int | None
    last_seq: int | None


def _old_records(path: Path) -> Iterator[tuple[int, Sequenced[Command]]]:
    """The converted records of the old journal ``path`` with their file offsets."""
    for offset, payload in read_legacy_records(path):
        try:
            yield offset, convert_record(payload)
        except UpgradeError as e:
            raise UpgradeError(f"{path}: the record at offset {offset} does not convert: "
                               f"{e}") from None


def _require_old_format(path: Path) -> None:
    if not path.is_file():
        raise UpgradeError(f"{path}: no such journal file")
    with open(path, "rb") as f:
        head = f.read(FILE_HEADER_SIZE)
    try:
        header = parse_file_header(path, head)
    except LegacyJournalError:
        return
    except JournalFormatError as e:
        raise UpgradeError(f"not an old-format journal: {e}") from None
    if header is None:
        raise UpgradeError(f"{path}: the file is empty: there is nothing to upgrade")
    raise UpgradeError(f"{path}: already in the current format (a {header.kind!r} journal, "
                       f"schema version {header.schema_version}): nothing to upgrade")


def write_upgraded(source: Path, target: Path,
                   progress: Callable[[int, int], None] = lambda n, offset: None) -> Summary:
    """Convert the old journal ``source`` into a new one at ``target`` (which must not
    exist) and make it durable. ``progress(records, offset)`` is called every
    PROGRESS_EVERY records."""
    _require_old_format(source)
    if target.exists():
        raise UpgradeError(f"{target}: already exists; remove it or choose another output")
    journal = Journal(target, kind=KIND, schema_version=SCHEMA_VERSION, fsync=False)
    first = last = None
    n = 0
    try:
        try:
            for offset, record in _old_records(source):
                journal.append(_encode(record))
                if first is None:
                    first = record.seq
                last = record.seq
                n += 1
                if n % BATCH == 0:
                    journal.commit()
                if n % PROGRESS_EVERY == 0:
                    progress(n, offset)
        finally:
            journal.close()
        # One sync at the end: nothing reads the new file before it is complete.
        fsync_path(target)
        fsync_path(target.parent)
    except BaseException:
        target.unlink(missing_ok=True)  # half a journal must never be mistaken for one
        raise
    return Summary(n, first, last)


def upgrade(path: Path, output: Path | None = None,
            progress: Callable[[int, int], None] = lambda n, offset: None) -> Summary:
    """Convert the old journal ``path``: into ``output`` when given (PATH untouched),
    else in place, the old file kept as PATH.v0."""
    _require_old_format(path)
    if output is not None:
        return write_upgraded(path, output, progress)
    backup = path.with_name(path.name + ".v0")
    if backup.exists():
        raise UpgradeError(f"{backup}: already exists (an earlier upgrade?); move it away "
                           "first")
    temporary = path.with_name(path.name + ".upgrading")
    temporary.unlink(missing_ok=True)  # left by an interrupted run: ours to redo
    summary = write_upgraded(path, temporary, progress)
    try:
        os.link(path, backup)
    except OSError:  # no hard links on this file system: a copy does as well
        shutil.copy2(path, backup)
        fsync_path(backup)
    os.replace(temporary, path)
    fsync_path(path.parent)
    return summary


def _progress_printer(size: int, out: TextIO) -> Callable[[int, int], None]:
    def show(records: int, offset: int) -> None:
        percent = 100 * offset // size if size else 100
        print(f"fixserver-journal: {records} records converted ({percent}%)", file=out,
              flush=True)
    return show


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fixserver-journal",
                                     description="Journal maintenance for fixserver.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "upgrade", help="convert a journal written before format headers (marshal records)",
        description="Convert an old-format command journal (no file header, marshal "
                    "records) into the current format. Stop the exchange first.")
    up.add_argument("path", type=Path, help="the old journal")
    up.add_argument("--output", type=Path, default=None,
                    help="write the new journal here and leave PATH alone (default: "
                         "replace PATH, keeping the old file as PATH.v0)")
    args = parser.parse_args(argv)
    # The journal reader's warnings (a torn last record dropped) in this command's voice.
    logging.basicConfig(format="fixserver-journal: %(message)s", level=logging.WARNING)
    path: Path = args.path
    try:
        size = path.stat().st_size if path.is_file() else 0
        summary = upgrade(path, args.output, _progress_printer(size, sys.stderr))
    except (UpgradeError, JournalCorrupt, JournalFormatError) as e:
        print(f"fixserver-journal: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"fixserver-journal: {e.filename or path}: {e.strerror or e}", file=sys.stderr)
        return 1
    where = (f"{args.output} ({path} left as it was)" if args.output is not None
             else f"{path} (the old journal is kept as {path.name}.v0)")
    seqs = ("" if summary.first_seq is None
            else f", seq {summary.first_seq} to {summary.last_seq}")
    print(f"fixserver-journal: converted {summary.records} records{seqs} into {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
