"""Session-level validation of a parsed message against a data dictionary.

The checks and their order follow the FIX specification's SessionRejectReason
list and the defaults QuickFIX users expect: fields out of order, MsgType,
required tags, then each field in ascending tag order (repeated, empty value,
data format, enumerated value, unknown tag, tag not in this message, NumInGroup
count). The first problem found is returned; the session turns it into a Reject.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from .codec import Field, Message
from .dictionary import DataDictionary, FieldSet, Group
from .speedups import accelerator
from .utctime import parse_utc


class SessionRejectReason(IntEnum):
    """SessionRejectReason (373) values."""

    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_MESSAGE_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_SPECIFIED_WITHOUT_A_VALUE = 4
    VALUE_IS_INCORRECT = 5
    INCORRECT_DATA_FORMAT = 6
    DECRYPTION_PROBLEM = 7
    SIGNATURE_PROBLEM = 8
    COMPID_PROBLEM = 9
    SENDINGTIME_ACCURACY_PROBLEM = 10
    INVALID_MSGTYPE = 11
    XML_VALIDATION_ERROR = 12
    TAG_APPEARS_MORE_THAN_ONCE = 13
    TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER = 14
    REPEATING_GROUP_FIELDS_OUT_OF_ORDER = 15
    INCORRECT_NUMINGROUP_COUNT = 16
    NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER = 17
    OTHER = 99


REJECT_TEXT: dict[int, str] = {
    0: "Invalid tag number",
    1: "Required tag missing",
    2: "Tag not defined for this message type",
    3: "Undefined Tag",
    4: "Tag specified without a value",
    5: "Value is incorrect (out of range) for this tag",
    6: "Incorrect data format for value",
    7: "Decryption problem",
    8: "Signature problem",
    9: "CompID problem",
    10: "SendingTime accuracy problem",
    11: "Invalid MsgType",
    12: "XML Validation error",
    13: "Tag appears more than once",
    14: "Tag specified out of required order",
    15: "Repeating group fields out of order",
    16: "Incorrect NumInGroup count for repeating group",
    17: "Non Data value includes field delimiter (SOH character)",
    99: "Other",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a message is rejected: a SessionRejectReason and, when one tag is at
    fault, that tag (RefTagID 371)."""

    reason: int
    tag: int | None = None

    @property
    def text(self) -> str:
        return REJECT_TEXT.get(self.reason, "")


@dataclass(slots=True)
class Block:
    """A field of a message: a plain one (entries is None) or a NumInGroup field with
    its entries, each entry a list of blocks of its own."""

    tag: int
    value: bytes
    entries: list[list[Block]] | None = None


@dataclass(slots=True)
class Layout:
    """A message split into header, body (with repeating groups) and trailer."""

    header: list[Block]
    body: list[Block]
    trailer: list[Block]
    out_of_order_tag: int | None


_INT = re.compile(rb"-?\d+")
_FLOAT = re.compile(rb"-?(?:\d+\.?\d*|\.\d+)")
_TIME_ONLY = re.compile(rb"(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?")
_DATE = re.compile(rb"(\d{4})(\d{2})(\d{2})")


def _timestamp_ok(v: bytes) -> bool:
    return parse_utc(v) is not None


def _time_ok(v: bytes) -> bool:
    m = _TIME_ONLY.fullmatch(v)
    return m is not None and int(m[1]) <= 23 and int(m[2]) <= 59 and int(m[3]) <= 60


def _date_ok(v: bytes) -> bool:
    m = _DATE.fullmatch(v)
    return m is not None and 1 <= int(m[2]) <= 12 and 1 <= int(m[3]) <= 31


def _always(v: bytes) -> bool:
    return True


# Each check returns something truthy for a well-formed value (a match object or True).
FORMAT_CHECKS: dict[str, Callable[[bytes], object]] = {
    "INT": _INT.fullmatch,
    "FLOAT": _FLOAT.fullmatch,
    "CHAR": lambda v: len(v) == 1,
    "BOOLEAN": lambda v: v in (b"Y", b"N"),
    "UTCTIMESTAMP": _timestamp_ok,
    "UTCTIMEONLY": _time_ok,
    "UTCDATE": _date_ok,
    "UTCDATEONLY": _date_ok,
}
for _alias in ("LENGTH", "SEQNUM", "NUMINGROUP", "DAYOFMONTH", "TAGNUM"):
    FORMAT_CHECKS[_alias] = FORMAT_CHECKS["INT"]
for _alias in ("PRICE", "QTY", "AMT", "PRICEOFFSET", "PERCENTAGE"):
    FORMAT_CHECKS[_alias] = FORMAT_CHECKS["FLOAT"]

# Per message type (Validator._fast_table): tag -> section, tag -> check, the required
# tags, tag -> the check as the accelerator takes it.
FastTable = tuple[dict[int, int], dict[int, Callable], frozenset[int], dict[int, object]]

# The format checks the C accelerator makes itself (fixserver/_speedups.c), by number;
# it calls the others.
C_CHECKS: dict[Callable[[bytes], object], int] = {
    FORMAT_CHECKS["INT"]: 1, FORMAT_CHECKS["FLOAT"]: 2, FORMAT_CHECKS["CHAR"]: 3,
    FORMAT_CHECKS["BOOLEAN"]: 4,
}
# Validator.fast_valid in C when there: 3.5 -> 1.5 us a NewOrderSingle.
_c_fast_valid = accelerator.fast_valid if accelerator is not None else None

USER_DEFINED_MIN = 5000


class Validator:
    """Validates messages of one session against its dictionary and settings."""

    def __init__(
        self,
        dictionary: DataDictionary,
        *,
        check_fields_out_of_order: bool = True,
        check_fields_have_values: bool = True,
        check_user_defined_fields: bool = True,
        allow_unknown_msg_fields: bool = False,
        check_group_field_order: bool = True,
    ) -> None:
        """The switches are QuickFIX's: ValidateFieldsOutOfOrder, ValidateFieldsHaveValues,
        ValidateUserDefinedFields, AllowUnknownMsgFields (a tag below 5000 that the
        dictionary does not know, or that is not in this message, passes) and
        ValidateUnorderedGroupFields (a group entry's fields in the dictionary's order)."""
        self.dd = dictionary
        self.check_fields_out_of_order = check_fields_out_of_order
        self.check_fields_have_values = check_fields_have_values
        self.check_user_defined_fields = check_user_defined_fields
        self.allow_unknown_msg_fields = allow_unknown_msg_fields
        self.check_group_field_order = check_group_field_order
        self._format = {
            tag: FORMAT_CHECKS.get(fd.type, _always) for tag, fd in dictionary.fields.items()
        }
        self._fast = {t: self._fast_table(m) for t, m in dictionary.messages.items()}

    def _fast_table(self, mdef: FieldSet) -> FastTable:
        """Per message type, for the fields a valid message may carry outside repeating
        groups: tag -> section (0 header, 1 body, 2 trailer), tag -> the one check its
        value needs (enumerated values, else the format), the required tags, and the
        checks as the C accelerator takes them (the enumerated values themselves, a
        C_CHECKS number, or the check)."""
        dd = self.dd
        sections: dict[int, int] = {}
        checks: dict[int, Callable] = {}
        c_checks: dict[int, object] = {}
        for section, where in ((0, dd.header), (1, mdef), (2, dd.trailer)):
            for tag in where.tags:
                if tag in where.groups:
                    continue  # groups take the exact path
                fd = dd.fields[tag]
                if fd.type == "MULTIPLEVALUESTRING" and fd.enums:
                    continue
                sections[tag] = section
                if fd.enums is not None and tag != 35:
                    checks[tag] = fd.enums.__contains__
                    c_checks[tag] = frozenset(fd.enums)
                elif fd.type in FORMAT_CHECKS:
                    check = checks[tag] = FORMAT_CHECKS[fd.type]
                    c_checks[tag] = C_CHECKS.get(check, check)
        required = frozenset(dd.header.required | mdef.required | dd.trailer.required) - {
            8, 9, 10}
        return sections, checks, required, c_checks

    def fast_valid(self, msg: Message) -> bool:
        """True when ``msg`` is certainly valid: a single pass over the fields with
        no repeating groups, unknown or misplaced tags. False means "take the exact
        path", which finds the first problem in the order the specification gives."""
        entry = self._fast.get(msg.msg_type)
        if entry is None:
            return False
        sections, checks, required, c_checks = entry
        fields = msg.fields
        if _c_fast_valid is not None:
            valid = _c_fast_valid(fields, sections, c_checks, required)
            if valid is not None:
                return valid
        return self.fast_valid_python(fields, sections, checks, required)

    @staticmethod
    def fast_valid_python(fields: list[Field], sections: dict[int, int],
                          checks: dict[int, Callable], required: frozenset[int]) -> bool:
        """``fast_valid``'s pass in Python: the reference the accelerator agrees with."""
        section = 0
        for tag, value in fields:
            sec = sections.get(tag)
            if sec is None or sec < section or not value:
                return False
            section = sec
            check = checks.get(tag)
            if check is not None and not check(value):
                return False
        tags = {f[0] for f in fields}
        return len(tags) == len(fields) and required.issubset(tags)

    # -- layout ---------------------------------------------------------------

    def layout(self, msg: Message) -> Layout:
        """Split a message into header, body and trailer, grouping repeating groups."""
        dd = self.dd
        header_tags, trailer_tags = dd.header.tags, dd.trailer.tags
        mdef = dd.messages.get(msg.msg_type)
        header: list[Block] = []
        body: list[Block] = []
        trailer: list[Block] = []
        out_of_order: int | None = None
        section = 0  # 0 header, 1 body, 2 trailer
        fields = msg.fields
        i, n = 0, len(fields)
        while i < n:
            tag, value = fields[i]
            i += 1
            if tag in header_tags:
                if section and out_of_order is None:
                    out_of_order = tag
                block = Block(tag, value)
                header.append(block)
                group = dd.header.groups.get(tag)
                if group is not None:
                    block.entries, i = self._group(fields, i, group)
            elif tag in trailer_tags:
                section = 2
                trailer.append(Block(tag, value))
            else:
                if section == 2 and out_of_order is None:
                    out_of_order = tag
                section = max(section, 1)
                block = Block(tag, value)
                body.append(block)
                group = mdef.groups.get(tag) if mdef is not None else None
                if group is not None:
                    block.entries, i = self._group(fields, i, group)
        return Layout(header, body, trailer, out_of_order)

    def _group(self, fields: list[Field], i: int, group: Group) -> tuple[list[list[Block]], int]:
        entries: list[list[Block]] = []
        n = len(fields)
        while i < n:
            tag, value = fields[i]
            if tag == group.delimiter:
                entries.append([])
            elif not entries or tag not in group.tags:
                break
            i += 1
            block = Block(tag, value)
            entries[-1].append(block)
            sub = group.groups.get(tag)
            if sub is not None:
                block.entries, i = self._group(fields, i, sub)
        return entries, i

    # -- validation -------------------------------------------------------------

    def validate(self, msg: Message, layout: Layout | None = None) -> Problem | None:
        """Return the first problem of ``msg``, or None when it is valid.

        A MsgType of the specification that this dictionary does not define
        passes with its header and trailer checked: the application answers it.
        """
        dd = self.dd
        if layout is None:
            if self.fast_valid(msg):
                return None
            layout = self.layout(msg)
        if self.check_fields_out_of_order and layout.out_of_order_tag is not None:
            return Problem(SessionRejectReason.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER,
                           layout.out_of_order_tag)
        msg_type = msg.msg_type
        if msg_type not in dd.valid_msg_types:
            return Problem(SessionRejectReason.INVALID_MSGTYPE)
        mdef = dd.messages.get(msg_type)
        problem = (self._required(layout.header, dd.header)
                   or self._required(layout.trailer, dd.trailer))
        if problem is None and mdef is not None:
            problem = self._required(layout.body, mdef)
        if problem is None:
            problem = (self._fields(layout.header, dd.header, skip_membership=True)
                       or self._fields(layout.trailer, dd.trailer, skip_membership=True)
                       or self._fields(layout.body, mdef, skip_membership=mdef is None))
        return problem

    def _required(self, blocks: list[Block], where: FieldSet) -> Problem | None:
        present = {b.tag for b in blocks}
        for tag in sorted(where.required - present):
            if tag not in (8, 9, 10):  # framing fields are checked by the codec
                return Problem(SessionRejectReason.REQUIRED_TAG_MISSING, tag)
        for b in blocks:
            if b.entries:
                group = where.groups[b.tag]
                for entry in b.entries:
                    problem = self._required(entry, group)
                    if problem is not None:
                        return problem
        return None

    def _fields(self, blocks: list[Block], where: FieldSet | None,
                skip_membership: bool) -> Problem | None:
        dd_fields = self.dd.fields
        header_tags, trailer_tags = self.dd.header.tags, self.dd.trailer.tags
        last = None
        for b in sorted(blocks, key=lambda b: b.tag):
            tag, value = b.tag, b.value
            if tag == last:
                return Problem(SessionRejectReason.TAG_APPEARS_MORE_THAN_ONCE, tag)
            last = tag
            if not value and self.check_fields_have_values:
                return Problem(SessionRejectReason.TAG_SPECIFIED_WITHOUT_A_VALUE, tag)
            fd = dd_fields.get(tag)
            if fd is not None and value:
                if not self._format[tag](value):
                    return Problem(SessionRejectReason.INCORRECT_DATA_FORMAT, tag)
                if fd.enums is not None and tag != 35:
                    values = value.split(b" ") if fd.type == "MULTIPLEVALUESTRING" else (value,)
                    if any(v not in fd.enums for v in values):
                        return Problem(SessionRejectReason.VALUE_IS_INCORRECT, tag)
            if (self.check_user_defined_fields if tag >= USER_DEFINED_MIN
                    else not self.allow_unknown_msg_fields):
                if fd is None:
                    return Problem(SessionRejectReason.INVALID_TAG_NUMBER, tag)
                if (not skip_membership and where is not None and tag not in where.tags
                        and tag not in header_tags and tag not in trailer_tags):
                    return Problem(SessionRejectReason.TAG_NOT_DEFINED_FOR_MESSAGE_TYPE, tag)
            if where is not None and tag in where.groups:
                entries = b.entries or []
                count = int(value) if _INT.fullmatch(value) else -1
                if count != len(entries):
                    return Problem(SessionRejectReason.INCORRECT_NUMINGROUP_COUNT, tag)
                group = where.groups[tag]
                for entry in entries:
                    problem = ((self.check_group_field_order and _order_problem(entry, group))
                               or self._fields(entry, group, skip_membership=False))
                    if problem:
                        return problem
        return None


def _order_problem(entry: list[Block], group: Group) -> Problem | None:
    """The first field of a group entry that comes before one the dictionary puts
    ahead of it (ValidateUnorderedGroupFields)."""
    rank = group.rank
    last = -1
    for block in entry:
        position = rank.get(block.tag)
        if position is None:
            continue
        if position < last:
            return Problem(SessionRejectReason.REPEATING_GROUP_FIELDS_OUT_OF_ORDER, block.tag)
        last = position
    return None


def canonical_body(layout: Layout, dictionary: DataDictionary, msg_type: bytes) -> list[Field]:
    """The body in canonical order: ascending tags, each repeating group's entries
    right after its NumInGroup field with their fields in dictionary order."""
    mdef = dictionary.messages.get(msg_type)
    out: list[Field] = []
    for b in sorted(layout.body, key=lambda b: b.tag):
        _write_block(b, mdef.groups.get(b.tag) if mdef else None, out)
    return out


def _write_block(block: Block, group: Group | None, out: list[Field]) -> None:
    out.append((block.tag, block.value))
    if block.entries and group is not None:
        rank = group.rank
        for entry in block.entries:
            for b in sorted(entry, key=lambda b: rank.get(b.tag, 1 << 30)):
                _write_block(b, group.groups.get(b.tag), out)
