"""Support for the exchange end-to-end tests: configurations and a simplefix broker.

The server under test runs as a subprocess (``tests.conftest.FixServer``) with
the sessions and exchange configuration below, written into its data directory
(the server reads ``exchange.toml`` next to its sessions file).

:class:`Broker` is a raw FIX client (simplefix, an independent codec) with
order-entry helpers; what it receives is turned into :class:`Msg`, a read-only
view keyed by tag number, so tests can check fields precisely.
"""

from __future__ import annotations

import json
import time
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path

from tests.conftest import REPO, FixServer
from tests.robustness.fixclient import ConnectionClosed, RawFixClient, utc_now

# -- configuration -------------------------------------------------------------------------

SESSIONS_CFG = """\
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=5001
SocketAcceptAddress=127.0.0.1
SenderCompID=EXCH
FileStorePath=store
HeartBtInt=30
Application=exchange

[SESSION]
BeginString=FIX.4.4
TargetCompID=BRK1
CancelOnDisconnect=Y

[SESSION]
BeginString=FIX.4.2
TargetCompID=BRK2

[SESSION]
BeginString=FIX.4.4
TargetCompID=BRK3

[SESSION]
BeginString=FIX.4.4
TargetCompID=DC1
Application=dropcopy

[SESSION]
BeginString=FIX.4.2
TargetCompID=DC2
Application=dropcopy

[SESSION]
BeginString=FIX.4.4
TargetCompID=MD1
Application=marketdata
"""

# As the shipped exchange.toml (AAPL: band 10% around 190.00, max 100000; XOM: lot
# 100), plus a third firm so that two FIX.4.4 sessions can trade with each other, and
# a FIX.4.2 drop copy that sees only BROKER1 (a FIX.4.4 firm). Every account has
# ample cash and positions, so only the limits a test adds (``risk``) bite.
EXCHANGE_TOML = """\
[exchange]
journal = "journal/commands.wal"
{options}market_protection_pct = 5

[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = 1
reference_price = "190.00"
sector = "Technology"
max_order_qty = 100000
price_band_pct = 10

[[instruments]]
symbol = "MSFT"
tick_size = "0.01"
lot_size = 1
reference_price = "420.00"
sector = "Technology"

[[instruments]]
symbol = "XOM"
tick_size = "0.01"
lot_size = 100
reference_price = "115.00"
sector = "Energy"

[[firms]]
name = "BROKER1"
comp_ids = ["BRK1"]
accounts = ["BRK1-MAIN", "BRK1-PROP"]
default_account = "BRK1-MAIN"

[[firms]]
name = "BROKER2"
comp_ids = ["BRK2"]
accounts = ["BRK2-MAIN"]
default_account = "BRK2-MAIN"

[[firms]]
name = "BROKER3"
comp_ids = ["BRK3"]
accounts = ["BRK3-MAIN"]
default_account = "BRK3-MAIN"

[[accounts]]
name = "BRK1-MAIN"
cash = "1000000000.00"
positions = {{ AAPL = 10000000, MSFT = 10000000, XOM = 10000000 }}

[[accounts]]
name = "BRK1-PROP"
cash = "1000000000.00"
positions = {{ AAPL = 10000000, MSFT = 10000000, XOM = 10000000 }}

[[accounts]]
name = "BRK2-MAIN"
cash = "1000000000.00"
positions = {{ AAPL = 10000000, MSFT = 10000000, XOM = 10000000 }}

[[accounts]]
name = "BRK3-MAIN"
cash = "1000000000.00"
positions = {{ AAPL = 10000000, MSFT = 10000000, XOM = 10000000 }}

{risk}
[[dropcopy]]
comp_id = "DC1"
firms = ["*"]

[[dropcopy]]
comp_id = "DC2"
firms = ["BROKER1"]
"""

VERSIONS = {"BRK1": "FIX.4.4", "BRK2": "FIX.4.2", "BRK3": "FIX.4.4", "DC1": "FIX.4.4",
            "DC2": "FIX.4.2", "MD1": "FIX.4.4"}

# Fields every ExecutionReport must carry (required in the FIX specification of the
# version; Symbol is required in 4.2 and part of the required Instrument in 4.4).
REQUIRED_ER_44 = (37, 17, 150, 39, 54, 151, 14, 6, 55)
REQUIRED_ER_42 = (37, 17, 20, 150, 39, 55, 54, 151, 14, 6)

BUY, SELL = "1", "2"


def write_exchange_toml(directory: Path, durable: bool = False,
                        end_of_day: str | None = None, risk: str = "",
                        exchange_options: str = "", *,
                        firms: Mapping[str, Mapping[str, object]] | None = None,
                        accounts: Mapping[str, Mapping[str, object]] | None = None,
                        instruments: Mapping[str, Mapping[str, object]] | None = None) -> Path:
    """exchange.toml in ``directory``: with the durable default journal (fsync on
    every batch) when ``durable``, else with ``fsync = false`` (faster tests); DAY
    orders expire at ``end_of_day`` (UTC HH:MM:SS) if given. ``risk`` is TOML text
    added after the accounts (e.g. a ``[risk]`` table), ``exchange_options`` lines
    added to ``[exchange]``.

    ``firms``, ``accounts`` and ``instruments`` map a firm name, account name or symbol
    to keys of its table, as Python values (str, int, bool, list, dict) written as
    TOML: a key replaces the template's (``cash``, ``positions``, a firm's
    ``accounts``) or is added (a limit such as ``max_long``). A name the template
    lacks gets a table of its own: a new account must also be listed in its firm's
    ``accounts``, and starts with what its keys give (no ``cash``: 0)::

        write_exchange_toml(d, firms={"BROKER1": {"accounts": ["BRK1-MAIN", "BRK1-PROP",
                                                               "BRK1-CASH"], "fee_bps": 10}},
                            accounts={"BRK1-CASH": {"cash": "19000.00"}})
    """
    directory.mkdir(parents=True, exist_ok=True)
    options = ("" if durable else "fsync = false\n") + exchange_options
    if end_of_day is not None:
        options += f'end_of_day = "{end_of_day}"\n'
    text = EXCHANGE_TOML.format(options=options, risk=risk)
    for array, tables in (("firms", firms), ("accounts", accounts),
                          ("instruments", instruments)):
        for name, keys in (tables or {}).items():
            text = _set_table_keys(text, array, name, keys)
    tomllib.loads(text)  # a mistake in the arguments fails here, not in the server
    path = directory / "exchange.toml"
    path.write_text(text)
    return path


def _toml(value: object) -> str:
    """A Python value as a TOML value (str, int, bool, list, dict: an inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for the text used here
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{k} = {_toml(v)}" for k, v in value.items())
        return f"{{ {pairs} }}" if pairs else "{}"
    raise TypeError(f"no TOML for {value!r}")


def _set_table_keys(text: str, array: str, name: str, keys: Mapping[str, object]) -> str:
    """``text`` with ``keys`` set in the ``[[array]]`` table of that name (firms and
    accounts are named by ``name``, instruments by ``symbol``): an existing key's line
    is replaced, others are added at the end of the table; a table that does not exist
    is added at the end of the file."""
    lines = [f"{k} = {_toml(v)}" for k, v in keys.items()]
    name_key = "symbol" if array == "instruments" else "name"
    header = f'[[{array}]]\n{name_key} = "{name}"\n'
    start = text.find(header)
    if start < 0:
        return f"{text.rstrip()}\n\n{header}" + "".join(f"{line}\n" for line in lines)
    end = text.find("\n\n", start)
    end = len(text) if end < 0 else end + 1
    table = text[start:end].splitlines()
    for key, line in zip(keys, lines, strict=True):
        at = next((i for i, old in enumerate(table) if old.startswith(f"{key} = ")), None)
        if at is None:
            table.append(line)
        else:
            table[at] = line
    return text[:start] + "".join(f"{line}\n" for line in table) + text[end:]


# -- messages ------------------------------------------------------------------------------

class Msg:
    """A received FIX message: ``m[tag]`` is the first value of ``tag`` as text."""

    def __init__(self, pairs: Iterable[tuple[bytes | int, bytes]]) -> None:
        self.pairs = [(int(t), v.decode("latin-1")) for t, v in pairs]
        self._first: dict[int, str] = {}
        for tag, value in self.pairs:
            self._first.setdefault(tag, value)

    def __getitem__(self, tag: int) -> str:
        try:
            return self._first[tag]
        except KeyError:
            raise KeyError(f"tag {tag} missing from {self}") from None

    def get(self, tag: int, default: str | None = None) -> str | None:
        return self._first.get(tag, default)

    def __contains__(self, tag: int) -> bool:
        return tag in self._first

    def dec(self, tag: int) -> Decimal:
        return Decimal(self[tag])

    @property
    def type(self) -> str:
        return self[35]

    def __repr__(self) -> str:
        return "|".join(f"{t}={v}" for t, v in self.pairs)


# -- the broker client ---------------------------------------------------------------------

class Broker(RawFixClient):
    """A FIX session to the exchange as ``sender`` (BRK1, BRK2, ..., DC1), in the
    session's FIX version, with helpers for every order-entry request."""

    def __init__(self, port: int, sender: str, next_seq: int = 1) -> None:
        super().__init__(port, sender, "EXCH", VERSIONS[sender])
        self.next_seq = next_seq
        self.app: list[Msg] = []  # every application message received, in order
        self._unread = 0          # index into app of the next one next() returns
        self.last_seq_in = 0      # highest MsgSeqNum received (without PossDupFlag)

    # -- receiving ---------------------------------------------------------------

    def _pump(self, timeout: float) -> bool:
        """Read one message into ``app`` (application) or drop it (heartbeat); answer
        TestRequests. False when nothing arrived within ``timeout``."""
        raw = self.receive(timeout)
        if raw is None:
            return False
        msg = Msg(raw.pairs)
        self._note_seq(msg)
        if msg.type == "1":
            self.send("0", [(112, msg[112])])
        elif msg.type != "0":
            self.app.append(msg)
        return True

    def _note_seq(self, msg: Msg) -> None:
        if msg.get(43) != "Y":
            self.last_seq_in = max(self.last_seq_in, int(msg[34]))

    def next(self, timeout: float = 5.0) -> Msg:
        """The next message other than a Heartbeat or TestRequest."""
        deadline = time.monotonic() + timeout
        while self._unread >= len(self.app):
            left = deadline - time.monotonic()
            if left <= 0 or not self._pump(left):
                raise AssertionError(f"{self.sender}: nothing within {timeout}s; "
                                     f"received so far: {self.app}")
        msg = self.app[self._unread]
        self._unread += 1
        return msg

    def next_of(self, msg_type: str, timeout: float = 5.0) -> Msg:
        msg = self.next(timeout)
        assert msg.type == msg_type, f"{self.sender}: expected 35={msg_type}, got {msg}"
        return msg

    def er(self, timeout: float = 5.0) -> Msg:
        """The next message, which must be an ExecutionReport."""
        return self.next_of("8", timeout)

    def ers(self, n: int, timeout: float = 5.0) -> list[Msg]:
        return [self.er(timeout) for _ in range(n)]

    def quiet(self, duration: float = 0.3) -> None:
        """No application message arrives for ``duration`` seconds."""
        deadline = time.monotonic() + duration
        while (left := deadline - time.monotonic()) > 0:
            self._pump(left)
        assert self._unread == len(self.app), \
            f"{self.sender}: unexpected {self.app[self._unread:]}"

    # -- session -----------------------------------------------------------------

    def logon(self, heartbeat: int = 30, reset: bool = False,  # type: ignore[override]
              timeout: float = 5.0) -> Msg:
        fields: list[tuple[int, object]] = [(98, 0), (108, heartbeat)]
        if reset:
            fields.append((141, "Y"))
        self.send("A", fields)
        deadline = time.monotonic() + timeout
        while True:
            raw = self.receive(max(0.0, deadline - time.monotonic()))
            if raw is None:
                raise AssertionError(f"{self.sender}: no Logon answer within {timeout}s")
            msg = Msg(raw.pairs)
            self._note_seq(msg)
            if msg.type == "A":
                return msg
            if msg.type == "5":
                raise AssertionError(f"{self.sender}: logon refused: {msg}")

    def resend_request(self, begin: int, end: int = 0) -> None:
        self.send("2", [(7, begin), (16, end)])

    def logout_and_close(self, timeout: float = 5.0) -> None:
        """Log out cleanly (waiting for the Logout answer) and close the socket."""
        self.send("5")
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                raw = self.receive(left)
                if raw is not None and raw.get(35) == b"5":
                    break
        except ConnectionClosed:
            pass
        self.close()

    # -- order entry ---------------------------------------------------------------

    def new_order(self, cl_ord_id: str, side: str, qty: int | str, price: str | None = None,
                  symbol: str = "AAPL", ord_type: str | None = None, tif: str | None = None,
                  account: str | None = None, stop_px: str | None = None,
                  extra: Iterable[tuple[int, object]] = ()) -> None:
        """NewOrderSingle; a limit order when a price is given, else a market order."""
        if ord_type is None:
            ord_type = "2" if price is not None else "1"
        fields: list[tuple[int, object]] = []
        if account is not None:
            fields.append((1, account))
        fields += [(11, cl_ord_id), (21, 1), (38, qty), (40, ord_type)]
        if price is not None:
            fields.append((44, price))
        fields += [(54, side), (55, symbol)]
        if tif is not None:
            fields.append((59, tif))
        fields.append((60, utc_now()))
        if stop_px is not None:
            fields.append((99, stop_px))
        fields += list(extra)
        self.send("D", fields)

    def cancel(self, cl_ord_id: str, orig_cl_ord_id: str, side: str, qty: int = 100,
               symbol: str = "AAPL", order_id: str | None = None) -> None:
        fields: list[tuple[int, object]] = [(11, cl_ord_id)]
        if order_id is not None:
            fields.append((37, order_id))
        fields += [(38, qty), (41, orig_cl_ord_id), (54, side), (55, symbol), (60, utc_now())]
        self.send("F", fields)

    def replace(self, cl_ord_id: str, orig_cl_ord_id: str, side: str, qty: int,
                price: str | None, symbol: str = "AAPL", ord_type: str = "2",
                order_id: str | None = None) -> None:
        fields: list[tuple[int, object]] = [(11, cl_ord_id), (21, 1)]
        if order_id is not None:
            fields.append((37, order_id))
        fields += [(38, qty), (40, ord_type), (41, orig_cl_ord_id)]
        if price is not None:
            fields.append((44, price))
        fields += [(54, side), (55, symbol), (60, utc_now())]
        self.send("G", fields)

    def status(self, cl_ord_id: str, side: str, symbol: str = "AAPL",
               order_id: str | None = None) -> None:
        fields: list[tuple[int, object]] = [(11, cl_ord_id)]
        if order_id is not None:
            fields.append((37, order_id))
        fields += [(54, side), (55, symbol)]
        self.send("H", fields)

    def mass_cancel(self, cl_ord_id: str, request_type: str, symbol: str | None = None) -> None:
        fields: list[tuple[int, object]] = [(11, cl_ord_id)]
        if symbol is not None:
            fields.append((55, symbol))
        fields += [(60, utc_now()), (530, request_type)]
        self.send("q", fields)

    # -- composite ------------------------------------------------------------------

    def rest(self, cl_ord_id: str, side: str, qty: int, price: str | None, **kwargs) -> Msg:
        """A limit order that must be accepted and rest: returns its ExecType 0 report."""
        self.new_order(cl_ord_id, side, qty, price, **kwargs)
        er = self.er()
        assert (er[150], er[39], er[11]) == ("0", "0", cl_ord_id), er
        return er


def connect(server: FixServer, sender: str, next_seq: int = 1) -> Broker:
    return Broker(server.port, sender, next_seq)


# -- checks --------------------------------------------------------------------------------

@cache
def dictionary_enums(begin_string: str) -> dict[int, frozenset[str]]:
    """Tag -> allowed values, from the exchange's own dictionary of that version."""
    name = begin_string.replace(".", "") + ".xml"
    root = ET.parse(REPO / "dictionaries" / name).getroot()
    fields = root.find("fields")
    assert fields is not None
    return {int(f.get("number", "0")): frozenset(v.get("enum", "") for v in f.findall("value"))
            for f in fields if f.findall("value")}


@cache
def message_tags(begin_string: str, msg_type: str) -> frozenset[int]:
    """Every tag the version's dictionary allows in ``msg_type``: header, trailer and
    body, with components and repeating groups flattened."""
    name = begin_string.replace(".", "") + ".xml"
    root = ET.parse(REPO / "dictionaries" / name).getroot()
    numbers = {f.get("name"): int(f.get("number", "0")) for f in root.iter("field")
               if f.get("number")}
    components = {c.get("name"): c for c in root.findall("components/component")}

    def walk(node: ET.Element) -> set[int]:
        tags: set[int] = set()
        for child in node:
            if child.tag in ("field", "group"):
                tags.add(numbers[child.get("name")])
            if child.tag == "group":
                tags |= walk(child)
            elif child.tag == "component":
                tags |= walk(components[child.get("name")])
        return tags

    message = root.find(f"messages/message[@msgtype='{msg_type}']")
    assert message is not None, f"{begin_string} dictionary has no MsgType {msg_type}"
    parts = [root.find("header"), root.find("trailer"), message]
    return frozenset().union(*(walk(p) for p in parts if p is not None))


def tags_outside_message(msg: Msg, begin_string: str) -> list[tuple[int, str]]:
    """(tag, value) pairs the version's dictionary does not define for the message."""
    allowed = message_tags(begin_string, msg.type) | {8, 9, 35, 10}
    return [(t, v) for t, v in msg.pairs if t not in allowed]


def values_outside_dictionary(msg: Msg, begin_string: str) -> list[tuple[int, str]]:
    """(tag, value) pairs whose value the version's dictionary does not allow."""
    enums = dictionary_enums(begin_string)
    return [(t, v) for t, v in msg.pairs if t in enums and v not in enums[t]]


def assert_required_er_fields(er: Msg, fix42: bool) -> None:
    required = REQUIRED_ER_42 if fix42 else REQUIRED_ER_44
    missing = [t for t in required if t not in er]
    assert not missing, f"ExecutionReport lacks required {missing}: {er}"
    if fix42:
        assert er[20] in ("0", "3"), er
    else:
        assert 20 not in er, f"FIX.4.4 has no ExecTransType: {er}"


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def one_trade(server: FixServer, clients: list[Broker]) -> tuple[Broker, Broker]:
    """BRK3 rests S1 (sell 100 at 190), BRK2's B1 buys 40 of it; both sessions, logged
    on, after their ExecutionReports."""
    brk2, brk3 = connect(server, "BRK2"), connect(server, "BRK3")
    clients += [brk2, brk3]
    brk2.logon()
    brk3.logon()
    brk3.rest("S1", SELL, 100, "190.00")
    brk2.new_order("B1", BUY, 40, "190.00")
    brk2.ers(2)
    brk3.er()
    return brk2, brk3
