"""Specification of fixserver.validation against the shipped FIX 4.2 and 4.4 dictionaries.

Each SessionRejectReason the validator produces has its own test asserting the
Problem (reason and RefTagID). Valid messages are checked through the fast path
(validate(msg)) and through the exact path (validate(msg, layout)).
"""

from __future__ import annotations

import pytest

from fixserver.codec import Message, encode, parse
from fixserver.dictionary import for_begin_string
from fixserver.validation import (
    REJECT_TEXT,
    Problem,
    SessionRejectReason,
    Validator,
    canonical_body,
)

R = SessionRejectReason
FIX42, FIX44 = b"FIX.4.2", b"FIX.4.4"
NOW = b"20240415-12:00:00.123"
HEADER = [(49, b"TW"), (56, b"ISLD"), (34, b"2"), (52, NOW)]


def message(begin: bytes, msg_type: bytes, body=(), header=HEADER):
    return parse(encode(begin, [(35, msg_type), *header, *body]))


def validator(begin: bytes, **options) -> Validator:
    return Validator(for_begin_string(begin), **options)


def problem(begin: bytes, msg_type: bytes, body=(), header=HEADER, **options):
    return validator(begin, **options).validate(message(begin, msg_type, body, header))


def assert_valid(begin: bytes, msg, **options) -> None:
    v = validator(begin, **options)
    assert v.validate(msg) is None
    assert v.validate(msg, v.layout(msg)) is None


ORDER_42 = [(11, b"ORD-1"), (21, b"1"), (38, b"100"), (40, b"2"), (44, b"10.25"), (54, b"1"),
            (55, b"IBM"), (59, b"0"), (60, b"20240415-12:00:00")]
ORDER_44 = [(11, b"ORD-1"), (21, b"1"), (38, b"100"), (40, b"2"), (44, b"10.25"), (54, b"1"),
            (55, b"IBM"), (59, b"0"), (60, b"20240415-12:00:00.000")]
ORDERS = {FIX42: ORDER_42, FIX44: ORDER_44}
both = pytest.mark.parametrize("begin", [FIX42, FIX44], ids=["4.2", "4.4"])


def replace(fields, tag, value):
    return [(t, value if t == tag else v) for t, v in fields]


# -- valid messages -------------------------------------------------------------------


@both
def test_a_heartbeat_is_valid(begin):
    assert_valid(begin, message(begin, b"0"))
    assert_valid(begin, message(begin, b"0", [(112, b"TEST-1")]))


@both
def test_a_full_new_order_single_is_valid(begin):
    assert_valid(begin, message(begin, b"D", ORDERS[begin]))


@both
def test_a_logon_is_valid(begin):
    assert_valid(begin, message(begin, b"A", [(98, b"0"), (108, b"30"), (141, b"Y")]))


@both
def test_a_new_order_single_with_a_valid_trading_sessions_group_is_valid(begin):
    group = [(386, b"2"), (336, b"MORNING"), (336, b"AFTERNOON")]
    assert_valid(begin, message(begin, b"D", [*ORDERS[begin][:5], *group, *ORDERS[begin][5:]]))


def test_a_group_entry_with_all_its_fields_is_valid():
    group = [(386, b"2"), (336, b"MORNING"), (625, b"A"), (336, b"AFTERNOON"), (625, b"B")]
    assert_valid(FIX44, message(FIX44, b"D", [*ORDER_44, *group]))


def test_a_numingroup_of_zero_without_entries_is_valid():
    body = [(320, b"REQ-1"), (322, b"RSP-1"), (323, b"1"), (55, b"IBM"), (454, b"0")]
    assert_valid(FIX44, message(FIX44, b"d", body))


@both
def test_a_msg_type_of_the_spec_missing_from_the_trimmed_dictionary_is_valid(begin):
    # NewOrderList: not implemented here, answered by the application, not a session Reject.
    assert b"E" not in for_begin_string(begin).messages
    assert_valid(begin, message(begin, b"E", [(66, b"LIST-1"), (68, b"1")]))


@both
def test_a_valid_message_is_valid_through_the_fast_path(begin):
    v = validator(begin)
    assert v.fast_valid(message(begin, b"D", ORDERS[begin]))


# -- 0: Invalid tag number ----------------------------------------------------------


@pytest.mark.parametrize("tag", [999, 0, -1, 5000, 9999])
@both
def test_an_unknown_tag_is_an_invalid_tag_number(begin, tag):
    assert problem(begin, b"0", [(tag, b"X")]) == Problem(R.INVALID_TAG_NUMBER, tag)


def test_a_user_defined_tag_passes_when_user_defined_fields_are_not_checked():
    msg = message(FIX44, b"0", [(5000, b"X")])
    assert_valid(FIX44, msg, check_user_defined_fields=False)


def test_an_unknown_tag_below_5000_is_invalid_even_when_user_defined_fields_are_not_checked():
    assert (problem(FIX44, b"0", [(999, b"X")], check_user_defined_fields=False)
            == Problem(R.INVALID_TAG_NUMBER, 999))


# -- 1: Required tag missing --------------------------------------------------------


@both
def test_a_missing_header_tag_is_a_required_tag_missing(begin):
    header = [(49, b"TW"), (34, b"2"), (52, NOW)]
    assert problem(begin, b"0", header=header) == Problem(R.REQUIRED_TAG_MISSING, 56)


@both
def test_a_missing_sending_time_is_a_required_tag_missing(begin):
    header = [(49, b"TW"), (56, b"ISLD"), (34, b"2")]
    assert problem(begin, b"0", header=header) == Problem(R.REQUIRED_TAG_MISSING, 52)


@both
def test_a_new_order_single_without_cl_ord_id_is_a_required_tag_missing(begin):
    body = [f for f in ORDERS[begin] if f[0] != 11]
    assert problem(begin, b"D", body) == Problem(R.REQUIRED_TAG_MISSING, 11)


def test_a_fix42_new_order_single_without_symbol_is_a_required_tag_missing():
    body = [f for f in ORDER_42 if f[0] != 55]
    assert problem(FIX42, b"D", body) == Problem(R.REQUIRED_TAG_MISSING, 55)


# -- 2: Tag not defined for this message type ---------------------------------------


@both
def test_a_known_tag_outside_its_message_is_not_defined_for_the_message_type(begin):
    assert (problem(begin, b"0", [(55, b"IBM")])
            == Problem(R.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, 55))


def test_a_misplaced_standard_tag_is_rejected_even_when_user_defined_fields_are_not_checked():
    assert (problem(FIX42, b"0", [(55, b"IBM")], check_user_defined_fields=False)
            == Problem(R.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, 55))


# -- 4: Tag specified without a value -----------------------------------------------


@both
def test_an_empty_value_is_a_tag_specified_without_a_value(begin):
    assert (problem(begin, b"0", [(112, b"")])
            == Problem(R.TAG_SPECIFIED_WITHOUT_A_VALUE, 112))


def test_an_empty_header_value_is_a_tag_specified_without_a_value():
    header = [*HEADER, (115, b"")]
    assert (problem(FIX44, b"0", header=header)
            == Problem(R.TAG_SPECIFIED_WITHOUT_A_VALUE, 115))


def test_an_empty_value_passes_when_fields_need_not_have_values():
    assert_valid(FIX44, message(FIX44, b"0", [(112, b"")]), check_fields_have_values=False)


# -- 5: Value is incorrect (out of range) for this tag --------------------------------


@both
def test_a_value_outside_the_enumeration_is_incorrect(begin):
    body = replace(ORDERS[begin], 21, b"4")
    assert problem(begin, b"D", body) == Problem(R.VALUE_IS_INCORRECT, 21)


@both
def test_every_value_of_a_multiple_value_string_is_checked(begin):
    good = [*ORDERS[begin], (18, b"1 2 G")]
    assert_valid(begin, message(begin, b"D", good))
    bad = [*ORDERS[begin], (18, b"1 ~ 2")]
    assert problem(begin, b"D", bad) == Problem(R.VALUE_IS_INCORRECT, 18)


def test_a_multiple_value_string_value_of_another_version_is_incorrect():
    # ExecInst Z (Held to fixed) entered the enumeration in FIX 4.4.
    assert_valid(FIX44, message(FIX44, b"D", [*ORDER_44, (18, b"1 Z")]))
    assert problem(FIX42, b"D", [*ORDER_42, (18, b"1 Z")]) == Problem(R.VALUE_IS_INCORRECT, 18)


# -- 6: Incorrect data format for value ---------------------------------------------


@both
def test_a_signed_quantity_is_an_incorrect_data_format(begin):
    body = replace(ORDERS[begin], 38, b"+200.00")
    assert problem(begin, b"D", body) == Problem(R.INCORRECT_DATA_FORMAT, 38)


def test_a_date_in_a_timestamp_field_is_an_incorrect_data_format():
    body = [*ORDER_42, (126, b"20040415")]
    assert problem(FIX42, b"D", body) == Problem(R.INCORRECT_DATA_FORMAT, 126)


@pytest.mark.parametrize("stamp", [b"20241315-12:00:00", b"20240415-24:00:00",
                                   b"20240415-12:60:00", b"20240432-12:00:00",
                                   b"20240415-12:00:00.", b"20240415 12:00:00"])
def test_an_impossible_sending_time_is_an_incorrect_data_format(stamp):
    header = replace(HEADER, 52, stamp)
    assert problem(FIX44, b"0", header=header) == Problem(R.INCORRECT_DATA_FORMAT, 52)


def test_a_bad_timestamp_is_rejected_even_after_a_good_one_of_the_same_second():
    good = b"20240415-12:00:01"
    assert problem(FIX44, b"0", header=replace(HEADER, 52, good)) is None
    for bad in (good + b".", good + b".12x", good + b".1234567890", good + b"0"):
        assert (problem(FIX44, b"0", header=replace(HEADER, 52, bad))
                == Problem(R.INCORRECT_DATA_FORMAT, 52)), bad


@pytest.mark.parametrize("stamp", [b"20240415-12:00:00", b"20240415-12:00:00.5",
                                   b"20240415-12:00:00.123456789", b"20241231-23:59:60"])
def test_a_sending_time_with_zero_to_nine_fraction_digits_is_valid(stamp):
    assert problem(FIX44, b"0", header=replace(HEADER, 52, stamp)) is None


def test_a_boolean_other_than_y_or_n_is_an_incorrect_data_format():
    assert (problem(FIX44, b"0", header=[*HEADER, (43, b"X")])
            == Problem(R.INCORRECT_DATA_FORMAT, 43))


@pytest.mark.parametrize("seq", [b"2a", b"1.0", b"+2", b" 2"])
def test_a_non_integer_msg_seq_num_is_an_incorrect_data_format(seq):
    header = replace(HEADER, 34, seq)
    assert problem(FIX44, b"0", header=header) == Problem(R.INCORRECT_DATA_FORMAT, 34)


@pytest.mark.parametrize("tag,value", [(44, b"1e5"), (44, b"."), (44, b"1,5"), (54, b"12"),
                                       (38, b"")])
def test_a_value_not_of_its_field_type_is_an_incorrect_data_format(tag, value):
    body = replace(ORDER_44, tag, value)
    expected = R.TAG_SPECIFIED_WITHOUT_A_VALUE if not value else R.INCORRECT_DATA_FORMAT
    assert problem(FIX44, b"D", body) == Problem(expected, tag)


@pytest.mark.parametrize("price", [b"10", b"-1.5", b"10.", b".5", b"0.0001"])
def test_a_price_in_decimal_notation_is_valid(price):
    assert_valid(FIX44, message(FIX44, b"D", replace(ORDER_44, 44, price)))


# -- 11: Invalid MsgType ------------------------------------------------------------


@both
def test_a_msg_type_outside_the_specification_is_invalid(begin):
    assert problem(begin, b"*") == Problem(R.INVALID_MSGTYPE)


# -- 13: Tag appears more than once -------------------------------------------------


@both
def test_a_repeated_body_tag_appears_more_than_once(begin):
    body = [*ORDERS[begin], (40, b"1")]
    assert problem(begin, b"D", body) == Problem(R.TAG_APPEARS_MORE_THAN_ONCE, 40)


def test_a_repeated_header_tag_appears_more_than_once():
    header = [*HEADER, (49, b"TW")]
    assert problem(FIX44, b"0", header=header) == Problem(R.TAG_APPEARS_MORE_THAN_ONCE, 49)


# -- 14: Tag specified out of required order ----------------------------------------


@both
def test_a_header_tag_after_body_fields_is_out_of_required_order(begin):
    header = [(49, b"TW"), (56, b"ISLD"), (52, NOW)]
    body = [*ORDERS[begin], (34, b"2")]
    assert (problem(begin, b"D", body, header)
            == Problem(R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, 34))


def test_a_header_tag_after_body_fields_passes_when_order_is_not_checked():
    header = [(49, b"TW"), (56, b"ISLD"), (52, NOW)]
    msg = message(FIX44, b"D", [*ORDER_44, (34, b"2")], header)
    assert_valid(FIX44, msg, check_fields_out_of_order=False)


def test_a_body_tag_after_a_trailer_tag_is_out_of_required_order():
    body = [(93, b"3"), (89, b"sig"), (112, b"T")]
    assert (problem(FIX44, b"0", body)
            == Problem(R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, 112))


# -- 16: Incorrect NumInGroup count for repeating group -----------------------------


@both
def test_fewer_entries_than_numingroup_is_an_incorrect_count(begin):
    body = [*ORDERS[begin], (386, b"3"), (336, b"MORNING"), (336, b"AFTERNOON")]
    assert problem(begin, b"D", body) == Problem(R.INCORRECT_NUMINGROUP_COUNT, 386)


@both
def test_more_entries_than_numingroup_is_an_incorrect_count(begin):
    body = [*ORDERS[begin], (386, b"1"), (336, b"MORNING"), (336, b"AFTERNOON")]
    assert problem(begin, b"D", body) == Problem(R.INCORRECT_NUMINGROUP_COUNT, 386)


def test_a_numingroup_with_entries_missing_their_delimiter_is_an_incorrect_count():
    body = [*ORDER_44, (386, b"1"), (625, b"A")]
    assert problem(FIX44, b"D", body) == Problem(R.INCORRECT_NUMINGROUP_COUNT, 386)


def test_a_numingroup_of_zero_followed_by_an_entry_is_an_incorrect_count():
    body = [(320, b"REQ-1"), (322, b"RSP-1"), (323, b"1"), (55, b"IBM"), (454, b"0"),
            (455, b"US4592001014"), (456, b"4")]
    assert problem(FIX44, b"d", body) == Problem(R.INCORRECT_NUMINGROUP_COUNT, 454)


def test_a_required_field_missing_from_a_group_entry_is_a_required_tag_missing():
    # MarketDataSnapshotFullRefresh: each NoMDEntries(268) entry needs MDEntryPx(270).
    body = [(55, b"IBM"), (268, b"2"), (269, b"0"), (270, b"10.5"), (269, b"1")]
    assert problem(FIX42, b"W", body) == Problem(R.REQUIRED_TAG_MISSING, 270)


def test_a_field_of_a_group_entry_is_checked_like_a_body_field():
    body = [(320, b"REQ-1"), (322, b"RSP-1"), (323, b"1"), (55, b"IBM"), (454, b"1"),
            (455, b"US4592001014"), (456, b"")]
    assert (problem(FIX44, b"d", body)
            == Problem(R.TAG_SPECIFIED_WITHOUT_A_VALUE, 456))


# -- reasons and texts --------------------------------------------------------------


@pytest.mark.parametrize("reason,text", [
    (0, "Invalid tag number"), (1, "Required tag missing"),
    (2, "Tag not defined for this message type"), (4, "Tag specified without a value"),
    (5, "Value is incorrect (out of range) for this tag"),
    (6, "Incorrect data format for value"), (9, "CompID problem"),
    (10, "SendingTime accuracy problem"), (11, "Invalid MsgType"),
    (13, "Tag appears more than once"), (14, "Tag specified out of required order"),
    (16, "Incorrect NumInGroup count for repeating group"),
])
def test_each_reject_reason_has_the_quickfix_text(reason, text):
    assert REJECT_TEXT[reason] == text
    assert Problem(reason).text == text


# -- canonical_body -----------------------------------------------------------------


def test_canonical_body_orders_fields_ascending_and_keeps_group_entries_in_dictionary_order():
    dd = for_begin_string(FIX44)
    body = [
        (60, b"20240415-12:00:00"), (55, b"IBM"), (40, b"2"),
        (453, b"2"),
        (448, b"P1"), (802, b"1"), (523, b"SUB"), (803, b"1"), (452, b"1"), (447, b"D"),
        (448, b"P2"), (452, b"3"), (447, b"D"),
        (38, b"100"), (11, b"ORD-1"), (54, b"1"),
        (386, b"1"), (336, b"T1"), (625, b"S1"),
    ]
    msg = message(FIX44, b"D", body)
    v = Validator(dd, check_group_field_order=False)   # entries written out of order
    assert v.validate(msg) is None
    assert canonical_body(v.layout(msg), dd, b"D") == [
        (11, b"ORD-1"), (38, b"100"), (40, b"2"), (54, b"1"), (55, b"IBM"),
        (60, b"20240415-12:00:00"),
        (386, b"1"), (336, b"T1"), (625, b"S1"),
        (453, b"2"),
        (448, b"P1"), (447, b"D"), (452, b"1"), (802, b"1"), (523, b"SUB"), (803, b"1"),
        (448, b"P2"), (447, b"D"), (452, b"3"),
    ]


def test_canonical_body_leaves_out_the_header_and_trailer():
    dd = for_begin_string(FIX42)
    msg = message(FIX42, b"D", [*reversed(ORDER_42), (93, b"1"), (89, b"s")])
    body = canonical_body(Validator(dd).layout(msg), dd, b"D")
    assert body == sorted(ORDER_42)


PARTIES_IN_ORDER = [(448, b"P1"), (447, b"D"), (452, b"1")]


def _order_with_parties(parties: list[tuple[int, bytes]]) -> Message:
    body = [(11, b"ORD-1"), (38, b"100"), (40, b"2"), (44, b"10"), (54, b"1"), (55, b"IBM"),
            (60, b"20240415-12:00:00"), (453, b"1"), *parties]
    return message(FIX44, b"D", body)


def test_group_fields_in_dictionary_order_pass():
    v = Validator(for_begin_string(FIX44))
    assert v.validate(_order_with_parties(PARTIES_IN_ORDER)) is None


def test_group_fields_out_of_dictionary_order_are_rejected_by_default():
    v = Validator(for_begin_string(FIX44))
    problem = v.validate(_order_with_parties([(448, b"P1"), (452, b"1"), (447, b"D")]))
    assert problem == Problem(SessionRejectReason.REPEATING_GROUP_FIELDS_OUT_OF_ORDER, 447)


def test_group_fields_out_of_order_pass_with_validate_unordered_group_fields_off():
    v = Validator(for_begin_string(FIX44), check_group_field_order=False)
    assert v.validate(_order_with_parties([(448, b"P1"), (452, b"1"), (447, b"D")])) is None


def test_an_unknown_tag_below_5000_is_rejected_by_default():
    v = Validator(for_begin_string(FIX44))
    msg = message(FIX44, b"D", [*ORDER_44, (4999, b"x")])
    assert v.validate(msg) == Problem(SessionRejectReason.INVALID_TAG_NUMBER, 4999)


def test_an_unknown_tag_below_5000_passes_with_allow_unknown_msg_fields():
    v = Validator(for_begin_string(FIX44), allow_unknown_msg_fields=True)
    assert v.validate(message(FIX44, b"D", [*ORDER_44, (4999, b"x")])) is None


def test_a_known_tag_of_another_message_passes_with_allow_unknown_msg_fields():
    v = Validator(for_begin_string(FIX44), allow_unknown_msg_fields=True)
    assert v.validate(message(FIX44, b"D", [*ORDER_44, (108, b"30")])) is None


def test_allow_unknown_msg_fields_leaves_user_defined_fields_to_their_own_switch():
    v = Validator(for_begin_string(FIX44), allow_unknown_msg_fields=True)
    msg = message(FIX44, b"D", [*ORDER_44, (5001, b"x")])
    assert v.validate(msg) == Problem(SessionRejectReason.INVALID_TAG_NUMBER, 5001)
