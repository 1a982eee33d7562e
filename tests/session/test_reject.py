"""Session-level Reject (3) of a message that fails validation: layout per FIX
version and routing tags reversed (QuickFIX suite 14*, 2q, ReverseRoute*)."""

from __future__ import annotations

import pytest

from .harness import Driver, base_config, encode_raw, logged_on, types


def fix42() -> Driver:
    d = Driver(config=base_config(begin_string="FIX.4.2", target_comp_id="TW42"))
    assert types(d.logon()) == ["A"]
    return d


def bad_enum_order(d: Driver, **kwargs: object) -> list:
    """A NewOrderSingle with HandlInst 21=4 (not a valid value)."""
    return d.send("D", (11, "ID"), (21, 4), (40, 1), (54, 1), (38, "002000.00"), (55, "INTC"),
                  (60, d.clock.utc()), **kwargs)  # type: ignore[arg-type]


def repeated_tag_order(d: Driver) -> list:
    """A NewOrderSingle with OrdType (40) twice."""
    return d.send("D", (11, "ID"), (21, 1), (40, 1), (40, 2), (54, 1), (38, "200.00"),
                  (55, "INTC"), (60, d.clock.utc()))


def test_fix44_reject_layout_is_45_58_371_372_373():
    d = logged_on()

    out = bad_enum_order(d)

    assert types(out) == ["3"]
    assert out[0].body() == [(45, "2"), (58, "Value is incorrect (out of range) for this tag"),
                             (371, "21"), (372, "D"), (373, "5")]


def test_fix44_reject_carries_373_for_reasons_above_11():
    d = logged_on()

    out = repeated_tag_order(d)

    assert out[0].body() == [(45, "2"), (58, "Tag appears more than once"), (371, "40"),
                             (372, "D"), (373, "13")]


def test_fix42_reject_has_no_373_for_reasons_above_11():
    d = fix42()

    out = repeated_tag_order(d)

    assert types(out) == ["3"]
    assert out[0].body() == [(45, "2"), (58, "Tag appears more than once"), (371, "40"),
                             (372, "D")]


def test_fix42_reject_carries_373_for_reasons_up_to_11():
    d = fix42()

    out = bad_enum_order(d)

    assert out[0].body() == [(45, "2"), (58, "Value is incorrect (out of range) for this tag"),
                             (371, "21"), (372, "D"), (373, "5")]


def test_reject_for_a_missing_header_tag_names_it():
    d = logged_on()
    raw = d.build("0")
    raw_without_56 = _drop_field(raw, b"56=ISLD\x01")

    out = d.deliver(raw_without_56)

    assert out[0].body() == [(45, "2"), (58, "Required tag missing"), (371, "56"), (372, "0"),
                             (373, "1")]


def test_reject_of_an_invalid_msg_type_has_no_371():
    d = logged_on()

    out = d.send("*")

    assert out[0].body() == [(45, "2"), (58, "Invalid MsgType"), (372, "*"), (373, "11")]


def test_rejected_message_consumes_its_sequence_number():
    d = logged_on()
    bad_enum_order(d)

    out = d.send("1", (112, "NEXT"))

    assert types(out) == ["0"]
    assert d.session.next_target_seq == 4
    assert not d.disconnected


def test_rejected_application_message_does_not_reach_the_application():
    d = logged_on()

    bad_enum_order(d)

    assert d.app.messages == []


@pytest.mark.parametrize(("theirs", "ours"), [
    ([(115, "JCD")], [(128, "JCD")]),
    ([(128, "JCD")], [(115, "JCD")]),
    ([(115, "JCD"), (116, "CS")], [(128, "JCD"), (129, "CS")]),
    ([(128, "JCD"), (129, "CS")], [(115, "JCD"), (116, "CS")]),
    ([(115, "JCD"), (116, "CS"), (144, "CHI")], [(128, "JCD"), (129, "CS"), (145, "CHI")]),
    ([(128, "JCD"), (129, "CS"), (145, "CHI")], [(115, "JCD"), (116, "CS"), (144, "CHI")]),
], ids=["115", "128", "115+116", "128+129", "115+116+144", "128+129+145"])
def test_reject_reverses_the_routing_tags(theirs, ours):
    """ReverseRoute.def: an order with a bad OrdType (40=w) and routing tags."""
    d = logged_on()

    out = d.send("D", (11, "ID"), (21, 3), (38, 100), (40, "w"), (54, 1), (55, "INTC"),
                 (60, d.clock.utc()), header=theirs)

    rej = out[0]
    assert rej.get(373) == "5" and rej.get(371) == "40"
    routing = [(t, v) for t, v in rej.pairs if t in (115, 116, 128, 129, 144, 145)]
    assert routing == ours
    # Routing fields are header fields: after 56 and before the Reject's body.
    tags = rej.tags()
    assert tags.index(56) < tags.index(ours[0][0]) < tags.index(45)


def test_empty_routing_tag_is_rejected_and_not_reversed():
    """ReverseRouteWithEmptyRoutingTags.def"""
    d = logged_on()

    out = d.order("ID", header=[(115, "JCD"), (116, "")])

    rej = out[0]
    assert rej.get(58) == "Tag specified without a value"
    assert rej.get(371) == "116"
    assert rej.get(373) == "4"
    assert rej.get(128) == "JCD"
    assert 129 not in rej


def _drop_field(raw: bytes, field: bytes) -> bytes:
    inner = raw[raw.index(b"35="):raw.rindex(b"10=")].replace(field, b"")
    pairs = [item.split(b"=", 1) for item in inner.rstrip(b"\x01").split(b"\x01")]
    return encode_raw("FIX.4.4", [(int(t), v) for t, v in pairs])
