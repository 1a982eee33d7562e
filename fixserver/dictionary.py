"""FIX data dictionaries in QuickFIX XML format (dictionaries/FIX42.xml, FIX44.xml).

The loader flattens components into the messages that use them, so validation
works on plain sets of tags: which tags a message (or a repeating group) may
hold, which it must hold, and in which order they are written.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

DICTIONARY_DIR = Path(__file__).resolve().parent.parent / "dictionaries"


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of the specification: tag, name, type and its allowed values."""

    tag: int
    name: str
    type: str
    enums: frozenset[bytes] | None


@dataclass(slots=True)
class FieldSet:
    """The tags one message, the header, the trailer or one group entry may hold.

    ``order`` is the dictionary order (used to write fields canonically),
    ``rank`` each tag's position in it,
    ``required`` the tags that must be present, ``groups`` the repeating groups
    that start at this level, keyed by their NumInGroup tag.
    """

    name: str
    order: list[int] = field(default_factory=list)
    rank: dict[int, int] = field(default_factory=dict)
    tags: set[int] = field(default_factory=set)
    required: set[int] = field(default_factory=set)
    groups: dict[int, Group] = field(default_factory=dict)

    def add(self, tag: int, required: bool) -> None:
        if tag not in self.tags:
            self.rank[tag] = len(self.order)
            self.order.append(tag)
            self.tags.add(tag)
        if required:
            self.required.add(tag)


@dataclass(slots=True)
class Group(FieldSet):
    """A repeating group: its NumInGroup tag and the tag that starts each entry."""

    count_tag: int = 0
    delimiter: int = 0


@dataclass(slots=True)
class MessageDef(FieldSet):
    """A message type of the dictionary."""

    msg_type: bytes = b""
    admin: bool = False


class DataDictionary:
    """A loaded dictionary: fields, header, trailer and messages of one FIX version."""

    def __init__(self, root: ET.Element, source: str) -> None:
        self.source = source
        major, minor = root.get("major"), root.get("minor")
        self.begin_string = f"FIX.{major}.{minor}".encode()
        self.fields: dict[int, FieldDef] = {}
        self._by_name: dict[str, int] = {}
        fields_elem = root.find("fields")
        if fields_elem is None:
            raise ValueError(f"{source}: no <fields> section")
        for f in fields_elem:
            tag = int(f.get("number", "0"))
            enums = frozenset(v.get("enum", "").encode() for v in f.findall("value")) or None
            fd = FieldDef(tag, f.get("name", ""), f.get("type", "STRING").upper(), enums)
            self.fields[tag] = fd
            self._by_name[fd.name] = tag
        self._components = {c.get("name", ""): c for c in root.iterfind("components/component")}
        self.header = self._field_set(FieldSet("header"), root.find("header"), True)
        self.trailer = self._field_set(FieldSet("trailer"), root.find("trailer"), True)
        self.messages: dict[bytes, MessageDef] = {}
        for m in root.iterfind("messages/message"):
            msg_type = m.get("msgtype", "").encode()
            md = MessageDef(m.get("name", ""), msg_type=msg_type, admin=m.get("msgcat") == "admin")
            self.messages[msg_type] = self._field_set(md, m, True)
        msg_type_field = self.fields.get(35)
        # Every MsgType of the specification, including those this exchange does not
        # implement: those are answered with a BusinessMessageReject, not a session Reject.
        self.valid_msg_types: frozenset[bytes] = (
            msg_type_field.enums if msg_type_field and msg_type_field.enums else frozenset()
        ) | frozenset(self.messages)
        self.data_tags = frozenset(t for t, f in self.fields.items() if f.type == "DATA")

    def tag(self, name: str) -> int:
        return self._by_name[name]

    def _field_set(self, target: FieldSet, elem: ET.Element | None, required: bool) -> FieldSet:
        if elem is None:
            return target
        for child in elem:
            child_required = required and child.get("required") == "Y"
            if child.tag == "field":
                target.add(self._by_name[child.get("name", "")], child_required)
            elif child.tag == "group":
                count_tag = self._by_name[child.get("name", "")]
                group = self._field_set(Group(child.get("name", ""), count_tag=count_tag),
                                        child, True)
                group.delimiter = group.order[0]
                target.add(count_tag, child_required)
                target.groups[count_tag] = group
            elif child.tag == "component":
                comp = self._components[child.get("name", "")]
                self._field_set(target, comp, child_required)
        return target

    def is_header_tag(self, tag: int) -> bool:
        return tag in self.header.tags

    def is_trailer_tag(self, tag: int) -> bool:
        return tag in self.trailer.tags


@cache
def load(path: str | Path) -> DataDictionary:
    """Load (once) a dictionary file; a bare name like ``FIX44.xml`` is looked up in
    the shipped ``dictionaries/`` folder."""
    p = Path(path)
    if not p.exists() and (DICTIONARY_DIR / p.name).exists():
        p = DICTIONARY_DIR / p.name
    return DataDictionary(ET.parse(p).getroot(), str(p))


def for_begin_string(begin_string: bytes) -> DataDictionary:
    """The shipped dictionary of a FIX version, e.g. ``b"FIX.4.4"`` -> FIX44.xml."""
    return load(DICTIONARY_DIR / ("FIX" + begin_string.decode().replace("FIX.", "").replace(".", "")
                                  + ".xml"))
