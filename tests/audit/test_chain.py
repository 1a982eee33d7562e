"""The hash chain (audit/chain.py): any sequence of records, sealed, verifies; any
edit, deletion, swap or repeat of a record breaks it exactly there, and says how.

"There" is where the verifier stops: it has accepted exactly the records before
that one (``Verifier.records``) and names the record it read (``Break.record``,
``Break.seq``).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from audit.chain import GENESIS, ChainState, Verifier, canonical, digest, parse, seal
from audit.records import EVENT_TYPES, money, timestamp

T0 = 1_750_000_000_000_000_000
CHAIN_FIELDS = ("record", "prev_hash", "hash")
START = ChainState()   # the genesis

leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-10 ** 15, 10 ** 15), st.text(max_size=12),
    st.integers(-10 ** 12, 10 ** 12).map(money),   # prices: exact decimals, as records have
)
field_names = st.sampled_from(["symbol", "side", "price", "quantity", "user_id", "order_id",
                               "cl_ord_id", "text", "auction", "notional", "é/ünïcode"])
value = st.one_of(leaf, st.dictionaries(field_names, leaf, max_size=3))


@st.composite
def bodies(draw: st.DrawFn, min_size: int = 1) -> list[dict[str, Any]]:
    """Records as ``AuditRecords`` makes them: an event type, a seq that never goes
    down, the entry's timestamp, any other fields."""
    n = draw(st.integers(min_size, 12))
    seq, out = 1, []
    for _ in range(n):
        seq += draw(st.integers(0, 2))
        record = draw(st.dictionaries(field_names, value, max_size=5))
        record.update(event_type=draw(st.sampled_from(EVENT_TYPES)), seq=seq,
                      timestamp=timestamp(T0 + seq * 1_000_000))
        out.append(record)
    return out


def sealed(records: list[dict[str, Any]], start: ChainState = START) -> list[bytes]:
    lines, state = [], start
    for record in records:
        line, state = seal(dict(record), state)
        lines.append(line)
    return lines


def as_read(v: Any) -> Any:
    """A record's value as the verifier reads it back: a price's digits as a Decimal."""
    if isinstance(v, msgspec.Raw):
        return Decimal(bytes(v).decode())
    if isinstance(v, dict):
        return {k: as_read(x) for k, x in v.items()}
    return v


def verify(lines: list[bytes], start: ChainState = START) -> Verifier:
    verifier = Verifier(start)
    for line in lines:
        verifier.check(line)
    return verifier


def seq_of(line: bytes) -> int:
    return parse(line)["seq"]


def changed(v: Any) -> Any:
    """Another value of the same kind."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int | Decimal):
        return v + 1
    if isinstance(v, str):
        return v + "x"
    if isinstance(v, dict):
        return {**v, "x": 1}
    return "x"   # None


# -- sealed, it verifies ----------------------------------------------------------------------


@given(bodies())
def test_any_sequence_of_records_sealed_then_verified_checks_out(
        records: list[dict[str, Any]]) -> None:
    lines = sealed(records)
    verifier = verify(lines)
    assert verifier.broken is None
    assert verifier.records == len(records)
    assert verifier.counts == Counter(r["event_type"] for r in records)
    last = parse(lines[-1])
    assert verifier.state == ChainState(len(records), records[-1]["seq"], last["hash"])


@given(bodies())
def test_a_sealed_record_reads_back_as_it_was_with_its_chain_fields(
        records: list[dict[str, Any]]) -> None:
    previous = GENESIS
    for number, (record, line) in enumerate(zip(records, sealed(records), strict=True), 1):
        back = parse(line)
        assert {k: v for k, v in back.items() if k not in CHAIN_FIELDS} == as_read(record)
        assert (back["record"], back["prev_hash"]) == (number, previous)
        assert back["hash"] == digest(canonical({k: v for k, v in back.items()
                                                 if k != "hash"}))
        assert line.endswith(b',"hash":"' + back["hash"].encode() + b'"}')
        previous = back["hash"]


@given(bodies(min_size=2), st.data())
def test_a_chain_goes_on_from_the_state_its_first_part_left(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    cut = data.draw(st.integers(1, len(records) - 1))
    first = verify(sealed(records[:cut]))
    second = sealed(records[cut:], first.state)
    assert sealed(records)[cut:] == second
    assert verify(second, first.state).broken is None


@given(bodies(), st.data())
def test_every_prefix_verifies_so_the_tail_is_checked_against_the_writers_position(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = sealed(records)
    keep = data.draw(st.integers(0, len(lines)))
    assert verify(lines[:keep]).broken is None


# -- tampered, it breaks there ------------------------------------------------------------------


@given(bodies(), st.data())
def test_editing_any_field_of_any_record_breaks_the_chain_at_that_record(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = sealed(records)
    k = data.draw(st.integers(0, len(lines) - 1))
    record = parse(lines[k])
    name = data.draw(st.sampled_from(sorted(record)))
    old = canonical({name: record[name]})
    record[name] = data.draw(st.one_of(leaf, st.just(changed(record[name])))
                             .filter(lambda v: canonical({name: v}) != old))
    lines[k] = canonical(record)
    verifier = verify(lines)
    broken = verifier.broken
    assert broken is not None and verifier.records == k
    written = parse(lines[k])   # as the verifier reads it: a Decimal 0 is written as 0, an int
    number, seq = written["record"], written["seq"]
    if type(number) is not int or type(seq) is not int:   # None, a text, a bool, ...
        assert broken.problem == "no record number or seq"
        assert broken.record == (number if type(number) is int else k + 1)
        return
    assert (broken.record, broken.seq) == (number, seq)
    if name == "record":
        assert broken.problem.startswith(f"record {number} where record {k + 1} was expected")
    elif name == "prev_hash":
        assert broken.problem.startswith("prev_hash does not match the previous record's")
    else:
        assert broken.problem.startswith("hash does not match the record's content")


@given(bodies(), st.data())
def test_an_edited_record_whose_hash_is_made_again_breaks_the_chain_at_the_next(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = sealed(records)
    k = data.draw(st.integers(0, len(lines) - 1))
    record = parse(lines[k])
    del record["hash"]
    record["text"] = changed(record.get("text"))
    lines[k], _ = seal(record, ChainState(k, 0, record["prev_hash"]))
    verifier = verify(lines)
    if k == len(lines) - 1:   # the last record: only the writer's position can tell
        assert verifier.broken is None
        return
    assert verifier.broken is not None and verifier.records == k + 1
    assert verifier.broken.record == k + 2
    assert verifier.broken.problem.startswith("prev_hash does not match")


@given(bodies(min_size=2), st.data())
def test_deleting_a_record_breaks_the_chain_at_the_one_after_it(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = sealed(records)
    k = data.draw(st.integers(0, len(lines) - 2))
    after = lines[k + 1]
    del lines[k]
    verifier = verify(lines)
    assert verifier.broken is not None and verifier.records == k
    assert (verifier.broken.record, verifier.broken.seq) == (k + 2, seq_of(after))
    assert verifier.broken.problem == (f"record {k + 2} where record {k + 1} was expected "
                                       "(a record is missing or out of order)")


@given(bodies(min_size=2), st.data())
def test_swapping_two_records_breaks_the_chain_at_the_first_of_them(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = sealed(records)
    i = data.draw(st.integers(0, len(lines) - 2))
    j = data.draw(st.integers(i + 1, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    verifier = verify(lines)
    assert verifier.broken is not None and verifier.records == i
    assert (verifier.broken.record, verifier.broken.seq) == (j + 1, seq_of(lines[i]))
    assert verifier.broken.problem == (f"record {j + 1} where record {i + 1} was expected "
                                       "(a record is missing or out of order)")


@given(bodies(), st.data())
def test_a_duplicate_inserted_after_a_record_breaks_the_chain_where_it_stands(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = sealed(records)
    k = data.draw(st.integers(0, len(lines) - 1))
    at = data.draw(st.integers(k + 1, len(lines)))
    lines.insert(at, lines[k])
    verifier = verify(lines)
    assert verifier.broken is not None and verifier.records == at
    assert (verifier.broken.record, verifier.broken.seq) == (k + 1, seq_of(lines[k]))
    assert verifier.broken.problem == (f"record {k + 1} where record {at + 1} was expected "
                                       "(a record is repeated or out of order)")


def test_an_unreadable_line_breaks_the_chain_there() -> None:
    lines = sealed([{"event_type": "TRADING_DAY_ENDED", "seq": 1, "timestamp": "x"}] * 2)
    lines[1] = lines[1][:20]
    verifier = verify(lines)
    assert verifier.broken is not None and verifier.records == 1
    assert (verifier.broken.record, verifier.broken.seq) == (2, None)
    assert verifier.broken.problem.startswith("unreadable record: not a JSON object")


def test_the_first_record_follows_the_genesis() -> None:
    line = sealed([{"event_type": "TRADING_DAY_ENDED", "seq": 1, "timestamp": "x"}])[0]
    assert parse(line)["prev_hash"] == GENESIS == "0" * 64
    assert parse(line)["record"] == 1


def test_a_seq_that_goes_down_breaks_the_chain() -> None:
    lines = sealed([{"event_type": "TRADING_DAY_ENDED", "seq": s, "timestamp": "x"}
                    for s in (1, 3, 2)])
    verifier = verify(lines)
    assert verifier.broken is not None and verifier.records == 2
    assert verifier.broken.problem == "seq 2 is lower than the previous record's 3"
