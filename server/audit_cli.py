"""``fixserver audit``: verify and read the audit trail.

    fixserver audit verify (--file PATH | --kafka BOOTSTRAP --topic T)
    fixserver audit tail   (--file PATH | --kafka BOOTSTRAP --topic T)
                           [--follow] [--from SEQ] [--json]

``verify`` re-reads the whole trail, checks its hash chain (``audit.chain``) and
prints the counts per event type and either that every record checks out (exit
0) or the first break: the record, its seq and what is wrong (exit 1). ``tail``
prints records as a table, or as JSON lines with ``--json`` (the starting point of
a drop-copy consumer); ``--follow`` keeps printing new records as they come.

``--file`` is an audit directory (``<data-dir>/audit``) or one of its files;
without ``--file`` or ``--kafka`` the trail of ``--data-dir`` (default ./var).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from audit.chain import Verifier, parse
from audit.files import audit_files, follow_lines, read_lines
from audit.kafka import (
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    KafkaSettings,
    follow_topic,
    read_topic,
)
from audit.records import EVENT_TYPES

PROGRESS_EVERY = 100_000   # records between two progress lines of a long verify
POLL_SECONDS = 0.5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixserver audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("verify", "check the hash chain of the whole trail"),
                       ("tail", "print records (a table, or JSON lines)")):
        p = sub.add_parser(name, help=text, description=text)
        where = p.add_mutually_exclusive_group()
        where.add_argument("--file", type=Path, help="an audit directory or file")
        where.add_argument("--kafka", metavar="BOOTSTRAP",
                           help="host:port[,host:port] of the Kafka cluster")
        p.add_argument("--topic", default="fix-exchange-audit",
                       help="the audit topic (default: fix-exchange-audit)")
        p.add_argument("--data-dir", type=Path, default=Path("var"),
                       help="without --file/--kafka: the trail of this data directory")
        p.add_argument("--security-protocol", choices=SECURITY_PROTOCOLS, default="PLAINTEXT")
        p.add_argument("--ssl-cafile", default="")
        p.add_argument("--sasl-mechanism", choices=SASL_MECHANISMS, default=None)
        p.add_argument("--sasl-username", default="",
                       help="the password is read from FIXSERVER_AUDIT_SASL_PASSWORD")
        if name == "tail":
            p.add_argument("--follow", action="store_true", help="keep printing new records")
            p.add_argument("--from", dest="from_seq", type=int, default=0, metavar="SEQ",
                           help="start at this exchange sequence number")
            p.add_argument("--json", action="store_true", help="JSON lines, as stored")
    return parser


def _settings(args: argparse.Namespace) -> KafkaSettings:
    return KafkaSettings(args.kafka, args.topic, "fixserver-audit-cli",
                         security_protocol=args.security_protocol,
                         ssl_cafile=args.ssl_cafile, sasl_mechanism=args.sasl_mechanism or "",
                         sasl_username=args.sasl_username,
                         sasl_password=os.environ.get("FIXSERVER_AUDIT_SASL_PASSWORD", ""))


def _path(args: argparse.Namespace) -> Path:
    path: Path = args.file if args.file is not None else args.data_dir / "audit"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    return path


def _source(args: argparse.Namespace) -> tuple[str, Iterator[tuple[str, bytes]]]:
    """What is read (for the messages) and its lines with where each one is."""
    if args.kafka:
        settings = _settings(args)
        return (f"Kafka {args.kafka} topic {args.topic}",
                ((f"topic {args.topic}", line) for line in read_topic(settings)))
    path = _path(args)
    if not audit_files(path):
        raise FileNotFoundError(f"{path}: no audit files (audit-YYYY-MM-DD.jsonl) there")
    return (str(path), ((f"{file.name} line {number}", line)
                        for file, number, line in read_lines(path)))


def verify(args: argparse.Namespace, out: TextIO) -> int:
    what, lines = _source(args)
    verifier = Verifier()
    first_seq = None
    for where, line in lines:
        if not verifier.check(line, where):
            break
        if first_seq is None:
            first_seq = verifier.state.seq
        if verifier.records % PROGRESS_EVERY == 0:
            print(f"verified {verifier.records:,} records...", file=sys.stderr)
    print(f"audit trail {what}: {verifier.records:,} records checked", file=out)
    if verifier.counts:
        print(f"  {'event type':<20} {'records':>9}", file=out)
        order = {t: i for i, t in enumerate(EVENT_TYPES)}
        for event, count in sorted(verifier.counts.items(),
                                   key=lambda kv: order.get(kv[0], len(order))):
            print(f"  {event:<20} {count:>9,}", file=out)
    broken = verifier.broken
    if broken is not None:
        seq = f"seq {broken.seq}" if broken.seq is not None else "seq unknown"
        print(f"BROKEN at record {broken.record} ({seq}): {broken.problem}", file=out)
        return 1
    if verifier.records == 0:
        print("the trail is empty", file=out)
        return 0
    print(f"OK: every record checks out; the chain is unbroken from record 1 to "
          f"{verifier.state.record} (seq {first_seq} to {verifier.state.seq}), last hash "
          f"{verifier.state.hash}", file=out)
    return 0


COLUMNS = (("record", 7), ("seq", 7), ("timestamp", 27), ("event_type", 17),
           ("symbol", 6), ("side", 4), ("quantity", 8), ("price", 10), ("user_id", 10),
           ("order_id", 8), ("detail", 0))


def _detail(r: dict[str, Any]) -> str:
    kind = r.get("event_type")
    if kind == "TRADE_EXECUTED":
        buy, sell = r.get("buy") or {}, r.get("sell") or {}
        return (f"trade {r.get('trade_id')}: buy {buy.get('user_id')} {buy.get('cl_ord_id')}"
                f" / sell {sell.get('user_id')} {sell.get('cl_ord_id')}")
    if kind == "SETTLEMENT":
        return (f"trade {r.get('trade_id')}: notional {r.get('notional')}, fees "
                f"{r.get('buyer_fee')} / {r.get('seller_fee')}")
    if kind in ("SESSION_LOGON", "SESSION_LOGOUT"):
        return f"{r.get('session')} {r.get('reason') or ''}".rstrip()
    if kind == "KILL_SWITCH":
        return f"{r.get('scope')} {r.get('name')} {'on' if r.get('on') else 'off'}"
    if kind == "PHASE_CHANGED":
        return f"{r.get('old_phase')} -> {r.get('new_phase')}"
    parts = [str(r[k]) for k in ("cl_ord_id", "reason", "text") if r.get(k)]
    return " ".join(parts)


def _row(r: dict[str, Any]) -> str:
    cells = []
    for name, width in COLUMNS:
        value = _detail(r) if name == "detail" else r.get(name)
        text = "" if value is None else str(value)
        cells.append(text if not width else f"{text[:width]:<{width}}")
    return " ".join(cells).rstrip()


def tail(args: argparse.Namespace, out: TextIO) -> int:
    if not args.json:
        print(" ".join(f"{n:<{w}}" if w else n for n, w in COLUMNS), file=out)
    if args.follow:
        lines: Iterator[bytes] = (
            follow_topic(_settings(args)) if args.kafka
            else follow_lines(_path(args), POLL_SECONDS))
    else:
        lines = (line for _, line in _source(args)[1])
    for line in lines:
        record = parse(line)
        if record.get("seq", 0) < args.from_seq:
            continue
        if args.json:
            out.write(line.decode() + "\n")
        else:
            print(_row(record), file=out)
        if args.follow:
            out.flush()
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return verify(args, sys.stdout) if args.command == "verify" else tail(args, sys.stdout)
    except FileNotFoundError as e:
        print(f"fixserver audit: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except Exception as e:   # Kafka unreachable, an unknown topic, ...
        print(f"fixserver audit: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
