"""Specification of the shipped FIX 4.2 and 4.4 data dictionaries and their loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixserver.dictionary import DICTIONARY_DIR, for_begin_string, load

FIX42, FIX44 = b"FIX.4.2", b"FIX.4.4"
both = pytest.mark.parametrize("begin", [FIX42, FIX44], ids=["4.2", "4.4"])
SESSION_AND_EXCHANGE_TYPES = [b"0", b"1", b"2", b"3", b"4", b"5", b"A", b"D", b"F", b"G", b"H",
                              b"8", b"9", b"j", b"d"]


@pytest.mark.parametrize("name,begin", [("FIX42.xml", FIX42), ("FIX44.xml", FIX44)])
def test_the_shipped_dictionary_loads_with_its_version(name, begin):
    dd = load(DICTIONARY_DIR / name)
    assert dd.begin_string == begin
    assert for_begin_string(begin) is dd


def test_a_bare_file_name_is_looked_up_in_the_shipped_folder():
    assert load("FIX44.xml").begin_string == FIX44


@both
@pytest.mark.parametrize("msg_type", SESSION_AND_EXCHANGE_TYPES)
def test_every_message_type_the_suite_and_the_exchange_use_is_defined(begin, msg_type):
    assert msg_type in for_begin_string(begin).messages


@pytest.mark.parametrize("msg_type", [b"q", b"r"])
def test_fix44_defines_order_mass_cancel_request_and_report(msg_type):
    assert msg_type in for_begin_string(FIX44).messages


@pytest.mark.parametrize("begin,minimum", [(FIX42, 400), (FIX44, 900)])
def test_every_standard_field_of_the_version_is_defined(begin, minimum):
    dd = for_begin_string(begin)
    assert len(dd.fields) >= minimum
    assert {1, 11, 35, 38, 44, 55, 336, 386} <= set(dd.fields)


@both
def test_admin_messages_are_marked_admin(begin):
    messages = for_begin_string(begin).messages
    assert all(messages[t].admin for t in [b"0", b"1", b"2", b"3", b"4", b"5", b"A"])
    assert not any(messages[t].admin for t in [b"D", b"F", b"G", b"H", b"8", b"9", b"j", b"d"])


@both
def test_new_order_single_requires_cl_ord_id(begin):
    assert 11 in for_begin_string(begin).messages[b"D"].required


def test_fix42_new_order_single_requires_symbol_and_handl_inst():
    assert {11, 21, 55} <= for_begin_string(FIX42).messages[b"D"].required


@both
def test_header_requires_the_session_fields(begin):
    dd = for_begin_string(begin)
    assert {8, 9, 35, 34, 49, 52, 56} <= dd.header.required
    assert dd.header.order[:3] == [8, 9, 35]
    assert 10 in dd.trailer.required


@both
def test_no_trading_sessions_is_a_group_of_new_order_single_delimited_by_trading_session_id(
        begin):
    group = for_begin_string(begin).messages[b"D"].groups[386]
    assert group.count_tag == 386
    assert group.delimiter == 336
    assert 386 in for_begin_string(begin).messages[b"D"].tags


def test_components_are_flattened_into_their_messages():
    order = for_begin_string(FIX44).messages[b"D"]
    assert 55 in order.tags  # Symbol, from the Instrument component
    assert 38 in order.tags  # OrderQty, from the OrderQtyData component
    assert order.groups[453].delimiter == 448  # NoPartyIDs, from the Parties component
    assert order.groups[453].groups[802].delimiter == 523  # nested NoPartySubIDs


MINI = """<fix type="FIX" major="4" minor="4" servicepack="0">
 <header><field name="BeginString" required="Y"/><field name="MsgType" required="Y"/></header>
 <trailer><field name="CheckSum" required="Y"/></trailer>
 <messages>
  <message name="Order" msgtype="D" msgcat="app">
   <field name="ClOrdID" required="Y"/>
   <component name="Needed" required="Y"/>
   <component name="Optional" required="N"/>
  </message>
 </messages>
 <components>
  <component name="Needed"><field name="Symbol" required="Y"/>
   <field name="SecurityID" required="N"/></component>
  <component name="Optional"><field name="Side" required="Y"/>
   <group name="NoPartyIDs" required="N"><field name="PartyID" required="Y"/>
    <field name="PartyRole" required="Y"/></group></component>
 </components>
 <fields>
  <field number="8" name="BeginString" type="STRING"/>
  <field number="35" name="MsgType" type="STRING"/>
  <field number="10" name="CheckSum" type="STRING"/>
  <field number="11" name="ClOrdID" type="STRING"/>
  <field number="55" name="Symbol" type="STRING"/>
  <field number="48" name="SecurityID" type="STRING"/>
  <field number="54" name="Side" type="CHAR"/>
  <field number="453" name="NoPartyIDs" type="NUMINGROUP"/>
  <field number="448" name="PartyID" type="STRING"/>
  <field number="452" name="PartyRole" type="INT"/>
 </fields>
</fix>
"""


def test_a_component_field_is_required_only_when_its_component_is(tmp_path):
    path = tmp_path / "MINI.xml"
    path.write_text(MINI)
    order = load(path).messages[b"D"]
    assert order.order == [11, 55, 48, 54, 453]
    assert order.required == {11, 55}
    assert order.groups[453].required == {448, 452}


@both
def test_field_types_and_enumerations_are_loaded(begin):
    dd = for_begin_string(begin)
    assert dd.fields[21].type == "CHAR"
    assert dd.fields[21].enums == {b"1", b"2", b"3"}
    assert dd.fields[18].type == "MULTIPLEVALUESTRING"
    assert dd.fields[52].type == "UTCTIMESTAMP"
    assert dd.fields[55].enums is None
    assert dd.tag("ClOrdID") == 11


@both
def test_every_msg_type_of_the_specification_is_a_valid_msg_type(begin):
    dd = for_begin_string(begin)
    assert {b"E", b"R", b"V"} <= dd.valid_msg_types
    assert set(dd.messages) <= dd.valid_msg_types
    assert b"*" not in dd.valid_msg_types


@both
def test_data_fields_are_known_as_data(begin):
    assert {91, 96, 213} <= for_begin_string(begin).data_tags


@pytest.mark.parametrize("name", ["FIX42.xml", "FIX44.xml"])
def test_the_generated_dictionary_carries_the_quickfix_attribution(name):
    text = Path(DICTIONARY_DIR / name).read_text()
    assert "This product includes software developed by quickfixengine.org" in text
