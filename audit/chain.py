"""The hash chain that makes the audit trail tamper-evident, and its verification.

Every record carries ``record`` (its number, from 1, with no gap), ``prev_hash``
(the previous record's ``hash``; 64 zeros for the first) and ``hash``: the SHA-256,
in hex, of the record's canonical JSON without ``hash``. Canonical JSON: UTF-8, the
keys sorted, no whitespace, numbers as the record has them (prices are written
from their fixed-point digits and read back as ``Decimal``, so they survive the
round trip exactly). Deleting, reordering, inserting or editing a record breaks
the chain at that record; the position of the last record is kept by the writer
(``files``, ``kafka``), so a truncated tail shows against it.

Pure: ``seal`` makes a record's line (``Chain`` one line after another), ``Verifier``
checks a sequence of lines.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import msgspec

GENESIS: Final = "0" * 64

_encode = msgspec.json.Encoder(decimal_format="number", order="sorted").encode
_decode = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal).decode


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where a chain stands: its last record's number, exchange seq and hash."""

    record: int = 0
    seq: int = 0
    hash: str = GENESIS


class Sealed(msgspec.Struct, frozen=True):
    """One record ready to be written: its line (JSON, no newline) and what the
    writers need to know of it without parsing it again. (A Struct: made for every
    record, a frozen dataclass cost three times as much.)"""

    record: int
    seq: int
    timestamp: str
    key: str      # the Kafka message key (``kafka.key_of``)
    line: bytes


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes the hash is taken over (``record`` without ``hash``)."""
    return _encode(record)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Chain:
    """Seals record after record: a chain's state as it moves (``ChainState`` is
    where it stands, taken when needed)."""

    __slots__ = ("record", "seq", "hash")

    def __init__(self, state: ChainState) -> None:
        self.record, self.seq, self.hash = state.record, state.seq, state.hash

    @property
    def state(self) -> ChainState:
        return ChainState(self.record, self.seq, self.hash)

    def seal(self, record: dict[str, Any]) -> bytes:
        """Number and chain ``record`` after the last one: its line, the canonical
        JSON with ``hash`` appended as the last key."""
        number = self.record + 1
        record["record"] = number
        record["prev_hash"] = self.hash
        body = _encode(record)
        h = digest(body)
        self.record, self.seq, self.hash = number, record["seq"], h
        return body[:-1] + b',"hash":"' + h.encode() + b'"}'


def seal(record: dict[str, Any], state: ChainState) -> tuple[bytes, ChainState]:
    """Number and chain ``record`` after ``state``: its line and the new state."""
    chain = Chain(state)
    return chain.seal(record), chain.state


def parse(line: bytes | str) -> dict[str, Any]:
    """One line as a record (prices as ``Decimal``); raises ``ValueError``."""
    try:
        return _decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise ValueError(f"not a JSON object: {e}") from None


def state_of(line: bytes | str) -> ChainState:
    """The chain state a well-formed record leaves (its number, seq and hash)."""
    record = parse(line)
    return ChainState(record["record"], record["seq"], record["hash"])


@dataclass(slots=True)
class Break:
    """The first place where the chain does not hold."""

    record: int | None   # the record number where it breaks (None: unreadable)
    seq: int | None      # that record's exchange sequence number, if readable
    problem: str


@dataclass(slots=True)
class Verifier:
    """Checks lines one at a time: each parses, its hash is its own, its number
    follows the previous one and its ``prev_hash`` is the previous hash. Stops
    counting at the first break. ``start`` is where the chain is expected to begin
    (the genesis by default)."""

    start: ChainState = ChainState()
    state: ChainState = field(init=False)
    counts: Counter[str] = field(default_factory=Counter)
    broken: Break | None = None
    records: int = 0

    def __post_init__(self) -> None:
        self.state = self.start

    def check(self, line: bytes | str, where: str = "") -> bool:
        """Check one more line; False once the chain is broken (here or before)."""
        if self.broken is not None:
            return False
        at = f" ({where})" if where else ""
        try:
            record = parse(line)
        except ValueError as e:
            self.broken = Break(self.state.record + 1, None, f"unreadable record{at}: {e}")
            return False
        number, seq = record.get("record"), record.get("seq")
        given = record.pop("hash", None)
        expected_number = self.state.record + 1
        problem = None
        if type(number) is not int or type(seq) is not int:   # a bool is no number
            problem = "no record number or seq"
        elif number != expected_number:
            why = ("a record is missing or out of order" if number > expected_number
                   else "a record is repeated or out of order")
            problem = f"record {number} where record {expected_number} was expected ({why})"
        elif record.get("prev_hash") != self.state.hash:
            problem = ("prev_hash does not match the previous record's hash (a record "
                       "before it was removed, edited or reordered)")
        elif given != digest(canonical(record)):
            problem = "hash does not match the record's content (the record was edited)"
        elif seq < self.state.seq:
            problem = f"seq {seq} is lower than the previous record's {self.state.seq}"
        if problem is not None:
            self.broken = Break(number if type(number) is int else expected_number,
                                seq if type(seq) is int else None, problem + at)
            return False
        self.state = ChainState(number, seq, str(given))
        self.counts[str(record.get("event_type"))] += 1
        self.records += 1
        return True
