"""docs/FIX.md, the rules of engagement, is true.

The document's tables are parsed (markdown tables under fixed headings) and
checked against the data dictionaries, the application code and what the
exchange actually sends: a scenario catalogue drives real sessions (the
sans-IO Session with a fake clock) through the exchange application, the
sequencer and journal, the matching engine, the pre-trade risk checks and the
report writer, for FIX 4.2 and FIX 4.4, and every message and report it produces
is compared with the document. The table of risk limits in README.md is checked
against the code's defaults too.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import inspect
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from consumers.audit import SpoolWatch
from consumers.marketdata import MarketData
from fixserver import dictionary
from fixserver.codec import Message, parse
from fixserver.settings import SessionConfig, load_sessions
from fixserver.validation import REJECT_TEXT, SessionRejectReason
from marketdata import requests as md_requests
from marketdata import security_list as md_security_list
from marketdata import status as md_status
from marketdata.book import engine_levels
from matching import reasons as R
from matching.constants import (
    CLOSED,
    CLOSING_AUCTION,
    CONTINUOUS,
    HALTED,
    OPENING_AUCTION,
    PRE_OPEN,
)
from risk import checks as RC
from risk.config import DEFAULT_LIMITS, NO_LIMIT, Limits
from server.compose import connect_consumers, report_consumers
from tests.session.harness import Driver, Out, encode_raw
from venue import orderentry as OE
from venue import positions, requests
from venue.application import DropCopyApplication, ExchangeApplication
from venue.config import (
    LIMIT_KEYS,
    UNLIMITED,
    DropCopyConfig,
    ExchangeConfig,
    load_exchange_config,
)
from venue.exchange import Exchange
from venue.fixedpoint import parse_price
from venue.report_writer import ReportWriter
from venue.reports import ExecutionReport, OrderCancelReject, OrderMassCancelReport, Report
from venue.stream import Entry

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "FIX.md"
README = REPO / "README.md"
VERSIONS = ("FIX.4.2", "FIX.4.4")
COLUMN = {"FIX.4.2": "FIX 4.2", "FIX.4.4": "FIX 4.4"}
INBOUND = ("A", "D", "F", "G", "H", "q", "AN", "V", "e", "g", "x")
OUTBOUND = ("A", "8", "9", "r", "j", "3", "AO", "AP", "W", "X", "Y", "f", "h", "y")
ORDER_ENTRY = ("D", "F", "G", "H", "q")
# Messages the exchange application reads: order entry, RequestForPositions and
# the market-data requests.
APPLICATION = (*ORDER_ENTRY, "AN", "V", "e", "g", "x")
ABSENT = "—"


def dd(version: str) -> dictionary.DataDictionary:
    return dictionary.for_begin_string(version.encode())


# -- the document ------------------------------------------------------------------


class Table:
    """A markdown table: its column names and its rows (column -> cell text)."""

    def __init__(self, lines: list[str]) -> None:
        cells = [self._cells(line) for line in lines]
        self.columns = cells[0]
        self.rows = [dict(zip(self.columns, row, strict=True)) for row in cells[2:]]

    @staticmethod
    def _cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    def by_tag(self) -> dict[int, dict[str, str]]:
        return {int(row["Tag"]): row for row in self.rows}

    def column(self, name: str) -> dict[str, dict[str, str]]:
        return {row[name]: row for row in self.rows}


class Doc:
    """docs/FIX.md split into sections (heading -> text and tables)."""

    def __init__(self, text: str) -> None:
        self.sections: dict[str, tuple[str, list[Table]]] = {}
        heading, body, tables, block = "", [], [], []
        for line in [*text.splitlines(), "# end"]:
            if line.startswith("|"):
                block.append(line)
                body.append(line)
                continue
            if block:
                tables.append(Table(block))
                block = []
            if line.startswith("#"):
                self.sections[heading] = ("\n".join(body), tables)
                heading, body, tables = line.lstrip("#").strip(), [], []
            else:
                body.append(line)

    def table(self, heading: str) -> Table:
        tables = self.sections[heading][1]
        assert tables, f"no table under '{heading}'"
        return tables[0]

    def text(self, heading: str) -> str:
        return self.sections[heading][0]

    def message_headings(self) -> dict[tuple[str, str], str]:
        """(MsgType, direction) -> heading, for headings like 'X (35=D) — inbound'."""
        out = {}
        for heading in self.sections:
            m = re.fullmatch(r".* \(35=(\w+)\) — (inbound|outbound)", heading)
            if m:
                out[(m[1], m[2])] = heading
        return out

    def message(self, msg_type: str, direction: str) -> Table:
        return self.table(self.message_headings()[(msg_type, direction)])

    def header(self, direction: str) -> Table:
        return self.table(f"Standard header — {direction}")


@pytest.fixture(scope="module")
def doc() -> Doc:
    return Doc(DOC.read_text())


def marks(row: dict[str, str], version: str) -> str:
    """The Y / N / C / — mark of a tag row for a version."""
    return row[COLUMN[version]]


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def enumerated(cell: str) -> set[str]:
    """Codes written as `code` = meaning."""
    return set(re.findall(r"`([^`]+)` =", cell))


def pattern(text: str) -> re.Pattern[str]:
    """A documented text with {variable} parts -> a regular expression."""
    parts = re.split(r"\{[^}]*\}", text)
    return re.compile(".*".join(re.escape(p) for p in parts), re.S)


def all_tag_tables(doc: Doc) -> Iterable[tuple[str, str, Table]]:
    """(MsgType or 'header', direction, table) for every tag table of the document."""
    for direction in ("inbound", "outbound"):
        yield "header", direction, doc.header(direction)
    for (msg_type, direction), heading in doc.message_headings().items():
        yield msg_type, direction, doc.table(heading)


# -- a venue: the exchange with sessions driven by the test ------------------------


SHIPPED = {c.target_comp_id: c for c in load_sessions(REPO / "sessions.cfg")}


def now_utc() -> str:
    """A TransactTime (the exchange checks only its format)."""
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())


# A firm that exists only in the tests, on its own session BRK8 (FIX 4.4): one
# account per risk limit, each limit tight enough for one order to reach it, so that
# every risk reject text comes from a real session. Everything else is the shipped
# exchange.toml.
RISK_FIRM = "RISKTEST"
RISK_SESSION = "BRK8"
RISK_FIRM_TOML = f"""
[[firms]]
name = "{RISK_FIRM}"
comp_ids = ["{RISK_SESSION}"]
accounts = ["R-BOOK", "R-QTY", "R-VALUE", "R-DAY", "R-OPEN", "R-LONG", "R-SHORT", "R-CONC",
            "R-SECTOR", "R-CASH"]

[[accounts]]
name = "R-BOOK"
cash = "1000000.00"
positions = {{ AAPL = 100 }}

[[accounts]]
name = "R-QTY"
cash = "1000000.00"
max_order_qty = 50

[[accounts]]
name = "R-VALUE"
cash = "1000000.00"
max_order_value = "5000.00"

[[accounts]]
name = "R-DAY"
cash = "1000000.00"
max_orders_per_day = 1

[[accounts]]
name = "R-OPEN"
cash = "1000000.00"
max_open_orders = 1

[[accounts]]
name = "R-LONG"
cash = "1000000.00"
positions = {{ INTC = 10 }}
max_long = 100

[[accounts]]
name = "R-SHORT"
cash = "1000000.00"
allow_short = true
max_short = 50

[[accounts]]
name = "R-CONC"
cash = "1000000.00"
positions = {{ INTC = 100 }}
max_concentration_pct = 50
concentration_floor = "1000.00"

[[accounts]]
name = "R-SECTOR"
cash = "1000000.00"
sector_limit = "5000.00"

[[accounts]]
name = "R-CASH"
cash = "1000.00"
allow_short = true
"""


def venue_config(tmp: Path) -> ExchangeConfig:
    """The shipped exchange.toml plus the risk test firm."""
    path = tmp / "exchange.toml"
    path.write_text((REPO / "exchange.toml").read_text() + RISK_FIRM_TOML)
    return load_exchange_config(path)


class Venue:
    """The exchange of the shipped exchange.toml (journal in a temporary folder)
    with order-entry and drop-copy sessions played by Drivers, and the risk test
    firm on session BRK8."""

    def __init__(self, tmp: Path, extra_sessions: Iterable[SessionConfig] = ()) -> None:
        cfg = venue_config(tmp)
        cfg.fsync = False
        cfg.journal_path = str(tmp / "journal.wal")
        cfg.dropcopy.setdefault("DC2", DropCopyConfig("DC2", ("*",)))
        self.exchange = Exchange(cfg, tmp)
        self.reports: list[Report] = []
        self.drivers: dict[str, Driver] = {}
        self.received: list[tuple[str, Out]] = []
        configs = [SHIPPED[c] for c in ("BRK1", "BRK2", "DC1")]
        configs.append(dataclasses.replace(SHIPPED["DC1"], begin_string="FIX.4.2",
                                           target_comp_id="DC2"))
        configs.append(dataclasses.replace(SHIPPED["BRK1"], target_comp_id=RISK_SESSION,
                                           cancel_on_disconnect=False))
        configs.extend(extra_sessions)
        self.market_data = MarketData(cfg.instruments)
        for config in configs:
            app = (DropCopyApplication() if config.application == "dropcopy"
                   else ExchangeApplication(self.exchange, self.market_data))
            driver = Driver(config=config, app=app)
            if config.application == "exchange":
                self.exchange.add_session(driver.session.session_id, config.target_comp_id)
            self.drivers[config.target_comp_id] = driver
        self.exchange.recover()
        self.market_data.load(engine_levels(self.exchange.engine), self.exchange.last_seq)
        stream = connect_consumers(
            self.exchange, None,
            report_consumers(self.exchange, [d.session for d in self.drivers.values()]), None,
            market_data=self.market_data)
        stream.subscribe(self)

    def on_batch(self, entries: Sequence[Entry]) -> None:
        """The event stream: every report the exchange makes is recorded."""
        for entry in entries:
            self.reports.extend(entry.reports)

    @property
    def executions(self) -> list[ExecutionReport]:
        return [r for r in self.reports if type(r) is ExecutionReport]

    def logon(self, comp_id: str, reset: bool = False) -> list[Out]:
        out = self.drivers[comp_id].logon(reset=reset)
        self.received.extend((comp_id, m) for m in out)
        return out

    def send(self, comp_id: str, msg_type: str, *fields: tuple[int, object],
             header: Iterable[tuple[int, object]] = ()) -> list[Out]:
        """Send a message from a counterparty; return what that counterparty got back
        (session replies and, after the exchange's flush, its reports)."""
        out = self.drivers[comp_id].send(msg_type, *fields, header=header)
        self.received.extend((comp_id, m) for m in out)
        self.exchange.flush()
        for cid, driver in self.drivers.items():
            more = driver.drain()
            self.received.extend((cid, m) for m in more)
            if cid == comp_id:
                out += more
        return out

    def collect(self) -> None:
        """Flush the exchange and collect what every counterparty got."""
        self.exchange.flush()
        for cid, driver in self.drivers.items():
            self.received.extend((cid, m) for m in driver.drain())

    def kill(self, scope: str, name: str, on: bool = True) -> None:
        """The operator turns a kill switch on or off."""
        self.exchange.kill(scope, name, on)
        self.collect()

    def end_of_day(self) -> None:
        """Let the exchange's timer pass its end of day (ten days from now)."""
        far = time.time_ns() + 10 * 86400 * 10**9
        self.exchange.on_timer(far)
        self.collect()
        eod = self.exchange.config.end_of_day
        assert eod is not None
        day = dt.datetime.fromtimestamp(far / 1e9, dt.UTC).replace(
            hour=eod.hour, minute=eod.minute, second=eod.second) + dt.timedelta(days=1)
        self.exchange.on_timer(int(day.timestamp() * 1e9) + 10**9)
        self.collect()

    def close(self) -> None:
        self.exchange.close()


def new_order(cl_ord_id: str, *, side: int = 1, qty: object = 100, price: object = "190",
              symbol: str | None = "AAPL", ord_type: object = 2,
              extra: Iterable[tuple[int, object]] = (), omit: Iterable[int] = ()
              ) -> list[tuple[int, object]]:
    fields: list[tuple[int, object]] = [(11, cl_ord_id), (21, 1), (38, qty), (40, ord_type),
                                        (44, price), (54, side), (55, symbol),
                                        (60, now_utc()), *extra]
    skip = set(omit)
    if price is None:
        skip.add(44)
    if qty is None:
        skip.add(38)
    if symbol is None:
        skip.add(55)
    return [(t, v) for t, v in fields if t not in skip]


def md_request(req_id: str, *, subscription: object = 1, depth: object = 0,
               update_type: object = 1, aggregated: object = "Y",
               entry_types: Iterable[object] = (0, 1, 2),
               symbols: Iterable[str] = ("AAPL",), extra: Iterable[tuple[int, object]] = (),
               omit: Iterable[int] = ()) -> list[tuple[int, object]]:
    """A MarketDataRequest (V) with every field the dictionaries know of that the
    exchange reads."""
    types, syms = list(entry_types), list(symbols)
    fields: list[tuple[int, object]] = [
        (262, req_id), (263, subscription), (264, depth), (265, update_type), (266, aggregated),
        *extra, (267, len(types)), *((269, t) for t in types), (146, len(syms)),
        *((55, sym) for sym in syms)]
    skip = set(omit)
    if update_type is None:
        skip.add(265)
    return [(t, v) for t, v in fields if t not in skip]


def status_request(msg_type: str, req_id: str, *, subscription: object = 0,
                   symbol: str = "AAPL", extra: Iterable[tuple[int, object]] = ()
                   ) -> list[tuple[int, object]]:
    """A SecurityStatusRequest (e) or TradingSessionStatusRequest (g)."""
    if msg_type == "e":
        return [(324, req_id), (55, symbol), (263, subscription), *extra]
    return [(335, req_id), *extra, (263, subscription)]


def position_request(req_id: str, account: str, *, symbol: str | None = None,
                     pos_req_type: object = 0, extra: Iterable[tuple[int, object]] = (),
                     omit: Iterable[int] = ()) -> list[tuple[int, object]]:
    """A RequestForPositions (AN) with every field the FIX 4.4 dictionary requires."""
    fields: list[tuple[int, object]] = [(1, account), (55, symbol), (60, now_utc()), (581, 1),
                                        (710, req_id), (715, now_utc()[:8]),
                                        (724, pos_req_type), *extra]
    skip = set(omit)
    if symbol is None:
        skip.add(55)
    return [(t, v) for t, v in fields if t not in skip]


def reports_of(out: list[Out], msg_type: str = "8") -> list[Out]:
    return [m for m in out if m.msg_type == msg_type]


# -- the scenario catalogue ----------------------------------------------------------


class Corpus:
    """Everything the exchange sent and every report it made in the scenarios."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.received = venue.received
        self.reports = venue.reports

    @property
    def executions(self) -> list[ExecutionReport]:
        return [r for r in self.reports if type(r) is ExecutionReport]

    def messages(self, version: str, msg_type: str) -> list[Out]:
        """Messages of that type the exchange sent on sessions of that version."""
        return [m for cid, m in self.received
                if m.msg_type == msg_type and m.get(8) == version]


def run_scenarios(v: Venue) -> None:
    for comp_id in ("BRK1", "DC1", "DC2", RISK_SESSION):
        v.logon(comp_id)
    v.logon("BRK2", reset=True)
    v.logon("BRK9", reset=True)
    a = "BRK1"
    b = "BRK2"
    # Market data: subscriptions on both versions that see the trading below, a
    # snapshot, and every reject.
    for comp_id in (a, b):
        v.send(comp_id, "V", *md_request("inc", depth=2))
        v.send(comp_id, "V", *md_request("full", update_type=0, entry_types=(0, 1),
                                         symbols=("AAPL", "MSFT")))
        v.send(comp_id, "V", *md_request("top", depth=1, entry_types=(2,),
                                         symbols=("MSFT",)))
        v.send(comp_id, "V", *md_request("day", entry_types=(4, 5, 7, 8) + (
            ("B",) if comp_id == a else ())))
        v.send(comp_id, "V", *md_request("inc", depth=2))                    # duplicate
        v.send(comp_id, "V", *md_request("bad1", symbols=("FOO",)))
        v.send(comp_id, "V", *md_request("bad2", entry_types=(0, 6)))
        v.send(comp_id, "V", *md_request("bad3", aggregated="N"))
        v.send(comp_id, "V", *md_request("bad4", update_type=None))
        v.send(comp_id, "V", *md_request("bad5", depth=-1))
        v.send(comp_id, "V", *md_request("gone", subscription=2))
        # Trading status: answers, subscriptions (pushed at the phase changes below).
        v.send(comp_id, "e", *status_request("e", "st1"))
        v.send(comp_id, "e", *status_request("e", "st2", subscription=1, symbol="MSFT"))
        v.send(comp_id, "g", *status_request("g", "ts1", extra=[(336, "DAY")]))
        v.send(comp_id, "g", *status_request("g", "ts2", subscription=1))
        v.send(comp_id, "e", *status_request("e", "st3", symbol="NOPE"))
        v.send(comp_id, "g", *status_request("g", "ts3", extra=[(336, "NIGHT")]))
    v.send(a, "e", (324, "st4"), (263, 0))           # FIX 4.4: Symbol is in a component
    # The security list (FIX 4.4 only): all, one, an unknown one, an unsupported type.
    v.send(a, "x", (320, "sl1"), (559, 4))
    v.send(a, "x", (320, "sl2"), (559, 0), (55, "MSFT"))
    v.send(a, "x", (320, "sl3"), (559, 0), (55, "NOPE"))
    v.send(a, "x", (320, "sl4"), (559, 2))
    v.send(b, "x", (320, "sl5"), (559, 4))           # FIX 4.2: no such message
    for symbol, phase in (("MSFT", HALTED), ("MSFT", CONTINUOUS), ("", CLOSING_AUCTION),
                          ("", CLOSED), ("", PRE_OPEN), ("", OPENING_AUCTION),
                          ("", CONTINUOUS)):
        v.exchange.set_phase(symbol, phase)
        v.collect()
    # A call's indicative uncross on both versions, and a market order in the call
    # that the uncross half fills.
    v.exchange.set_phase("INTC", PRE_OPEN)
    for comp_id in (a, b):
        v.send(comp_id, "V", *md_request("open", entry_types=(4,), symbols=("INTC",)))
    v.send(a, "D", *new_order("m1", symbol="INTC", price=None, ord_type=1, qty=10))
    v.send(b, "D", *new_order("m2", side=2, symbol="INTC", price="22.5", qty=5))
    for comp_id in (a, b):
        v.send(comp_id, "V", *md_request("open-now", subscription=0, entry_types=(4,),
                                         symbols=("INTC",)))
    v.exchange.set_phase("INTC", CONTINUOUS)
    v.collect()
    # Orders, fills, status, replace, cancel.
    v.send(a, "D", *new_order("a1", price="189"))
    v.send(b, "D", *new_order("b1", side=2, qty=40, price="189"))
    v.send(a, "H", (11, "a1"), (54, 1), (55, "AAPL"))
    v.send(b, "H", (11, "b1"), (54, 2), (55, "AAPL"))
    v.send(a, "G", (11, "a2"), (38, 120), (40, 2), (41, "a1"), (44, "189"), (54, 1),
           (55, "AAPL"), (60, now_utc()))
    v.send(a, "D", *new_order("a3", symbol="MSFT", qty=10, price="420"))
    v.send(a, "G", (11, "a4"), (38, 20), (40, 2), (41, "a3"), (44, "420"), (54, 1),
           (55, "MSFT"), (60, now_utc()))
    v.send(b, "D", *new_order("b2", symbol="MSFT", qty=10, price="419"))
    v.send(b, "G", (11, "b3"), (21, 1), (38, 10), (40, 2), (41, "b2"), (44, "419.5"),
           (54, 1), (55, "MSFT"), (60, now_utc()))
    v.send(a, "F", (11, "a5"), (41, "a4"), (54, 1), (55, "MSFT"), (60, now_utc()))
    v.send(a, "H", (11, "a4"), (54, 1), (55, "MSFT"))
    v.send(a, "H", (11, "nope"), (54, 1), (55, "AAPL"))
    v.send(b, "H", (11, "nope"), (54, 1), (55, "AAPL"))
    # Cancel rejects.
    v.send(a, "F", (11, "a6"), (41, "a4"), (54, 1), (55, "MSFT"), (60, now_utc()))
    v.send(a, "F", (11, "a6"), (41, "a4"), (54, 1), (55, "MSFT"), (60, now_utc()))
    v.send(b, "F", (11, "b4"), (41, "nope"), (54, 1), (55, "MSFT"), (60, now_utc()))
    v.send(b, "F", (11, "b4"), (41, "nope"), (54, 1), (55, "MSFT"), (60, now_utc()))
    v.send(a, "G", (11, "a7"), (38, 10), (40, 2), (41, "nope"), (44, "190"), (54, 1),
           (55, "AAPL"), (60, now_utc()))
    v.send(a, "G", (11, "a8"), (38, 120), (40, 2), (41, "a2"), (44, "189"), (54, 2),
           (55, "AAPL"), (60, now_utc()))
    v.send(a, "G", (11, "a9"), (38, 0), (40, 2), (41, "a2"), (44, "189"), (54, 1),
           (55, "AAPL"), (60, now_utc()))
    v.send(a, "G", (11, "a10"), (38, 120), (40, 2), (41, "a2"), (54, 1), (55, "AAPL"),
           (60, now_utc()))
    v.send(a, "G", (11, "a11"), (38, 120), (40, 2), (41, "a2"), (44, "189.001"), (54, 1),
           (55, "AAPL"), (60, now_utc()))
    v.send(a, "G", (11, "a12"), (38, 120), (40, 2), (41, "a2"), (44, "300"), (54, 1),
           (55, "AAPL"), (60, now_utc()))
    # Rejected new orders.
    future = (126, "20991231-00:00:00")
    v.send(a, "D", *new_order("a1"))
    v.send(b, "D", *new_order("b1"))
    v.send(a, "D", *new_order("r1", qty=None))
    v.send(a, "D", *new_order("r2", price=None))
    v.send(a, "D", *new_order("r3", price=None, ord_type=3, symbol="JPM"))
    v.send(a, "D", *new_order("r4", price="190.00001"))
    v.send(a, "D", *new_order("r5", price=None, ord_type=3, symbol="JPM",
                              extra=[(99, "1.123456")]))
    v.send(a, "D", *new_order("r6", qty="10.5"))
    v.send(a, "D", *new_order("r7", extra=[(110, "1.5")]))
    v.send(a, "D", *new_order("r8", extra=[(111, "2.5")]))
    v.send(a, "D", *new_order("r9", extra=[(59, 6)]))
    v.send(a, "D", *new_order("r10", side=3))
    v.send(a, "D", *new_order("r11", ord_type="P"))
    v.send(b, "D", *new_order("r11", ord_type=5))
    v.send(a, "D", *new_order("r12", extra=[(59, 2)]))
    v.send(a, "D", *new_order("r13", extra=[(1, "BRK2-MAIN")]))
    v.send(a, "D", *new_order("r14", symbol="FOO"))
    v.send(a, "D", *new_order("r15", symbol=None))
    v.send(a, "D", *new_order("r16", qty=0))
    v.send(a, "D", *new_order("r17", symbol="XOM", qty=50, price="115"))
    v.send(b, "D", *new_order("r18", price="190.005"))
    v.send(a, "D", *new_order("r19", price=None, ord_type=3, symbol="JPM",
                              extra=[(99, "241.005")]))
    v.send(a, "D", *new_order("r20", symbol="XOM", price="115", extra=[(111, 50)]))
    v.send(a, "D", *new_order("r21", extra=[(59, 3), (111, 10)]))
    v.send(a, "D", *new_order("r22", extra=[(110, 200)]))
    v.send(a, "D", *new_order("r23", extra=[(59, 6), (126, "20200101-00:00:00")]))
    v.send(a, "D", *new_order("r24", qty=100001))
    v.send(b, "D", *new_order("r25", price="250"))
    v.send("BRK9", "D", *new_order("n1"))
    # Orders that end on arrival, and a replace below the filled quantity.
    v.send(a, "D", *new_order("e1", side=2, symbol="MSFT", qty=10, price="440",
                              extra=[(59, 3)]))
    v.send(a, "D", *new_order("e2", symbol="INTC", price="22.5", extra=[(59, 4)]))
    v.send(a, "D", *new_order("e3", symbol="INTC", price="22.5", extra=[(110, 50)]))
    v.send(a, "D", *new_order("e4", symbol="INTC", price=None, ord_type=1, qty=10))
    v.send(a, "G", (11, "e5"), (38, 40), (40, 2), (41, "a2"), (44, "189"), (54, 1),
           (55, "AAPL"), (60, now_utc()))
    # GTD, stop, stop limit, iceberg; a stop triggered by a trade.
    v.send(a, "D", *new_order("g1", price="185", qty=10, extra=[(59, 6), future]))
    v.send(a, "H", (11, "g1"), (54, 1), (55, "AAPL"))
    v.send(b, "D", *new_order("s1", symbol="JPM", qty=10, price=None, ord_type=3,
                              extra=[(99, "241")]))
    v.send(a, "D", *new_order("s2", side=2, symbol="JPM", qty=10, price="230", ord_type=4,
                              extra=[(99, "235")]))
    v.send(a, "D", *new_order("i1", symbol="JPM", qty=100, price="239", extra=[(111, 10)]))
    v.send(a, "D", *new_order("t1", side=2, symbol="JPM", qty=5, price="241"))
    v.send(a, "D", *new_order("t2", symbol="JPM", qty=5, price="241"))
    # Expiry: GTD past its ExpireTime, DAY orders at the end of day.
    soon = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(time.time() + 3600))
    v.send(b, "D", *new_order("x2", symbol="INTC", qty=10, price="21",
                              extra=[(59, 6), (126, soon)]))
    v.send(b, "D", *new_order("x3", symbol="INTC", qty=10, price="21"))
    v.end_of_day()
    # Mass cancel.
    v.send(a, "q", (11, "m1"), (530, 1), (55, "JPM"), (54, 1), (60, now_utc()))
    v.send(a, "q", (11, "m2"), (530, 7), (60, now_utc()))
    v.send(a, "q", (11, "m3"), (530, 3), (60, now_utc()))
    v.send(a, "q", (11, "m4"), (530, 1), (60, now_utc()))
    v.send(a, "q", (11, "m5"), (530, 1), (55, "ZZZ"), (60, now_utc()))
    v.send(b, "q", (11, "m6"), (530, 7), (60, now_utc()))
    # Business and session rejects.
    quote_request = [(131, "qr1"), (146, 1), (55, "AAPL")]     # not served: BMR
    v.send(a, "R", *quote_request)
    v.send(b, "R", *quote_request)
    v.send("DC1", "D", *new_order("d1"))
    v.send("DC2", "D", *new_order("d2"))
    v.send(b, "D", *new_order("x1"), (38, 100))
    v.send(a, "D", *new_order("x2"), (38, 100))
    v.send(a, "D", *new_order("x3", ord_type="Z"), header=[(115, "FIRMX"), (128, "DESKY")])
    v.send(b, "D", *new_order("x4", ord_type="Z"), header=[(115, "FIRMX"), (128, "DESKY")])
    v.send(a, "ZZ", (11, "x5"))
    run_risk_scenarios(v)
    # RequestForPositions: FIX 4.4 only.
    v.send(a, "AN", *position_request("p1", "BRK1-MAIN"))
    v.send(a, "AN", *position_request("p2", "BRK1-MAIN", symbol="AAPL"))
    v.send(a, "AN", *position_request("p3", "BRK1-PROP"))
    v.send(a, "AN", *position_request("p4", "BRK2-MAIN"))
    v.send(a, "AN", *position_request("p5", "BRK1-MAIN", pos_req_type=1))
    v.send(a, "AN", *position_request("p6", "BRK1-MAIN", extra=[(263, 1)]))
    v.send(b, "AN", *position_request("p7", "BRK2-MAIN"))
    # The message throttle: one more message than allowed within one second (the
    # exchange's clock stands still meanwhile).
    clock = v.exchange.clock
    frozen = time.time_ns() + 5 * 10**9
    v.exchange.clock = lambda: frozen
    for _ in range(v.exchange.config.max_messages_per_second + 1):
        v.send(RISK_SESSION, "H", (11, "burst"), (54, 1), (55, "AAPL"))
    v.exchange.clock = lambda: clock() + 10 * 10**9
    # A snapshot of the trades so far.
    v.send(a, "V", *md_request("last", subscription=0, update_type=None, entry_types=(2,)))
    v.send(b, "V", *md_request("last", subscription=0, update_type=None, entry_types=(2,)))
    # Resend of everything sent so far.
    v.send(a, "2", (7, 1), (16, 0))
    v.send(b, "2", (7, 1), (16, 0))


def run_risk_scenarios(v: Venue) -> None:
    """Orders of the risk test firm, each stopped by one check (after the end of
    day and the mass cancels: the book is empty, AAPL last traded at 189)."""
    r = RISK_SESSION

    def order(cl_ord_id: str, account: str, **kwargs: object) -> None:
        extra = [(1, account), *kwargs.pop("extra", [])]  # type: ignore[misc]
        v.send(r, "D", *new_order(cl_ord_id, extra=extra, **kwargs))  # type: ignore[arg-type]

    # A touch to measure fat fingers against: bid 185, ask 190.
    order("k1", "R-BOOK", side=2, qty=10, price="190")
    order("k2", "R-BOOK", qty=10, price="185")
    order("f1", "R-BOOK", qty=10, price="200")
    order("f2", "R-BOOK", side=2, qty=10, price="175")
    order("q1", "R-QTY", qty=60, price="185")
    order("v1", "R-VALUE", qty=40, price="185")
    order("d1", "R-DAY", symbol="INTC", qty=1, price="21")
    order("d2", "R-DAY", symbol="INTC", qty=1, price="21")
    order("o1", "R-OPEN", symbol="INTC", qty=1, price="21")
    order("o2", "R-OPEN", symbol="INTC", qty=1, price="21")
    order("l1", "R-LONG", symbol="INTC", qty=91, price="21")
    order("l2", "R-LONG", side=2, symbol="INTC", qty=11, price="22.5")
    order("h1", "R-SHORT", side=2, symbol="INTC", qty=51, price="22.5")
    order("c1", "R-CONC", qty=20, price="185")
    order("s1", "R-SECTOR", qty=30, price="185")
    order("b1", "R-CASH", qty=10, price="185")
    order("b2", "R-CASH", side=2, symbol="INTC", qty=100, price="22.5")
    # Kill switches: of an account, of the session, of the firm.
    order("k3", "R-QTY", qty=10, price="180")
    v.kill("account", "R-QTY")
    order("k4", "R-QTY", qty=10, price="180")
    v.kill("account", "R-QTY", on=False)
    session = v.drivers[r].session.session_id
    v.kill("session", session)
    order("k5", "R-BOOK", qty=10, price="180")
    v.kill("session", session, on=False)
    order("k6", "R-BOOK", qty=10, price="180")
    v.kill("firm", RISK_FIRM)
    order("k7", "R-BOOK", qty=10, price="180")
    v.kill("firm", RISK_FIRM, on=False)
    # The audit trail's spool is full and the policy is to refuse new orders.
    watch = SpoolWatch(limit=1, policy="reject_orders")
    watch.update(1, 0.0, 0.0)
    app = v.drivers[r].session.app
    assert isinstance(app, ExchangeApplication)
    app.order_gate = watch.refusal
    order("a1", "R-BOOK", qty=10, price="180")
    app.order_gate = None


def synthetic_reports() -> list[Report]:
    """Reports for events no FIX request can cause today (expired, restated), built
    the way OrderEntry builds them."""
    out = []
    for status, cum, exec_type in ((OE.ST_EXPIRED, 0, "C"), (OE.ST_EXPIRED, 10, "C"),
                                   (OE.ST_NEW, 0, "D"), (OE.ST_PARTIAL, 10, "D")):
        view = OE.OrderView(1, "S", "c1", "ACC", "AAPL", 1, 2, 1_900_000, 0, 100, 6,
                            4_102_444_800_000_000_000)
        view.status, view.cum = status, cum
        view.leaves = 0 if exec_type == "C" else 100 - cum
        text = R.TEXT[R.GTD_EXPIRED if exec_type == "C" else R.SELF_TRADE]
        out.append(view.report(time.time_ns(), exec_type, "99", text))
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterable[Corpus]:
    nofirm = dataclasses.replace(SHIPPED["BRK1"], target_comp_id="BRK9",
                                 cancel_on_disconnect=False)
    venue = Venue(tmp_path_factory.mktemp("corpus"), [nofirm])
    try:
        run_scenarios(venue)
        yield Corpus(venue)
    finally:
        venue.close()


@pytest.fixture
def venue(tmp_path: Path) -> Iterable[Venue]:
    v = Venue(tmp_path)
    for comp_id in ("BRK1", "BRK2", "DC1", "DC2", RISK_SESSION):
        v.logon(comp_id)
    try:
        yield v
    finally:
        v.close()


def written_bodies(corpus: Corpus, version: str, msg_type: str) -> list[set[int]]:
    """Body tags of every message of that type the exchange wrote for that version:
    the messages it sent, and for reports every report of the catalogue (plus the
    synthetic ones) through that version's ReportWriter."""
    d = dd(version)
    skip = d.header.tags | d.trailer.tags
    bodies = [{t for t in m.tags() if t not in skip}
              for m in corpus.messages(version, msg_type) if m.get(43) != "Y"]
    if msg_type in ("8", "9", "r"):
        writer = ReportWriter(d)
        kind = {"8": ExecutionReport, "9": OrderCancelReject, "r": OrderMassCancelReport}
        for rep in [*corpus.reports, *synthetic_reports()]:
            if type(rep) is kind[msg_type] and (msg_type != "r" or version == "FIX.4.4"):
                bodies.append({t for t, _ in writer.write(rep)[1]})
    return bodies


# -- the tables of tags ---------------------------------------------------------------


def test_every_supported_message_has_a_tag_table(doc: Doc) -> None:
    headings = doc.message_headings()
    missing = [(t, "inbound") for t in INBOUND if (t, "inbound") not in headings]
    missing += [(t, "outbound") for t in OUTBOUND if (t, "outbound") not in headings]
    assert not missing
    for msg_type, direction, table in all_tag_tables(doc):
        assert table.columns[:4] == ["Tag", "Name", "FIX 4.2", "FIX 4.4"], (msg_type, direction)
        assert table.rows, (msg_type, direction)
        for row in table.rows:
            for version in VERSIONS:
                assert re.fullmatch(r"[YNC]|—", marks(row, version)), (msg_type, row)


def tags_of(fields: dictionary.FieldSet) -> set[int]:
    """The tags of a message definition, those of its repeating groups included."""
    out = set(fields.tags)
    for group in fields.groups.values():
        out |= tags_of(group)
    return out


def test_documented_tags_are_fields_of_the_message_in_the_dictionary(doc: Doc) -> None:
    for msg_type, _direction, table in all_tag_tables(doc):
        for tag, row in table.by_tag().items():
            for version in VERSIONS:
                if marks(row, version) == ABSENT:
                    continue
                d = dd(version)
                assert tag in d.fields, (version, msg_type, tag)
                place = d.header.tags | d.trailer.tags
                if msg_type != "header":
                    assert msg_type.encode() in d.messages, (version, msg_type, tag)
                    place = place | tags_of(d.messages[msg_type.encode()])
                assert tag in place, f"{version}: {tag} is not a field of {msg_type}"


def test_documented_names_are_the_dictionary_names(doc: Doc) -> None:
    for msg_type, _direction, table in all_tag_tables(doc):
        for tag, row in table.by_tag().items():
            versions = [v for v in VERSIONS if marks(row, v) != ABSENT] or [
                v for v in VERSIONS if tag in dd(v).fields]
            for version in versions:
                name = dd(version).fields[tag].name
                assert name in row["Name"], (msg_type, tag, version, name)


def test_inbound_tags_marked_absent_are_refused_by_the_dictionary(doc: Doc) -> None:
    for msg_type in INBOUND:
        for tag, row in doc.message(msg_type, "inbound").by_tag().items():
            for version in VERSIONS:
                mdef = dd(version).messages.get(msg_type.encode())
                if marks(row, version) == ABSENT and mdef is not None:
                    assert tag not in mdef.tags, (version, msg_type, tag)


def test_dictionary_required_fields_are_documented_as_required(doc: Doc) -> None:
    for version in VERSIONS:
        d = dd(version)
        header = doc.header("inbound").by_tag()
        for tag in d.header.required | d.trailer.required:
            assert marks(header[tag], version) == "Y", (version, tag)
        for msg_type in INBOUND:
            mdef = d.messages.get(msg_type.encode())
            rows = doc.message(msg_type, "inbound").by_tag()
            if mdef is None:
                assert all(marks(r, version) == ABSENT for r in rows.values()), msg_type
                continue
            for tag in mdef.required:
                assert tag in rows and marks(rows[tag], version) == "Y", (version, msg_type, tag)


def recorded_reads(msg_type: str) -> set[int]:
    """The tags the exchange application reads from a message of a MsgType: the
    order-entry handler, or for AN the position query (taken down its longest path)."""

    class Recording(Message):
        __slots__ = ("seen",)

        def get(self, tag: int, default: bytes | None = None) -> bytes | None:
            self.seen.add(tag)
            return super().get(tag, default)

        def values(self, tag: int) -> list[bytes]:
            self.seen.add(tag)
            return super().values(tag)

    if msg_type == "V":
        # The longest path: a subscription that is served.
        msg = Recording(b"FIX.4.4", [(35, b"V"), *((t, str(v).encode())
                                                   for t, v in md_request("m1"))])
        msg.seen = set()
        md_requests.read(msg, ("AAPL",))
        return msg.seen
    if msg_type == "x":
        msg = Recording(b"FIX.4.4", [(35, b"x"), (320, b"l1"), (559, b"0"), (55, b"AAPL")])
        msg.seen = set()
        md_security_list.read(msg)
        return msg.seen
    if msg_type in ("e", "g"):
        fields = status_request(msg_type, "s1", extra=[(336, "DAY")])
        msg = Recording(b"FIX.4.4", [(35, msg_type.encode()),
                                     *((t, str(v).encode()) for t, v in fields)])
        msg.seen = set()
        if msg_type == "e":
            md_status.read_security_status(msg, ("AAPL",))
        else:
            md_status.read_trading_session_status(msg)
        return msg.seen
    if msg_type == "AN":
        msg = Recording(b"FIX.4.4", [(35, b"AN"), (724, b"0")])
        msg.seen = set()
        positions.answer(msg, "P1", ("ACC",), lambda account: None, lambda symbol: 0,
                         lambda symbol: 0, b"20260101")
        return msg.seen
    msg = Recording(b"FIX.4.4", [(35, msg_type.encode())])
    msg.seen = set()
    ExchangeApplication.HANDLERS[msg_type.encode()](msg, "S")
    return msg.seen


def test_every_field_the_application_reads_is_documented(doc: Doc) -> None:
    assert {t.decode() for t in ExchangeApplication.MSG_TYPES} == set(APPLICATION)
    for msg_type in APPLICATION:
        read = recorded_reads(msg_type)
        assert read
        documented = set(doc.message(msg_type, "inbound").by_tag())
        assert read <= documented, (msg_type, read - documented)


def test_fields_documented_as_ignored_are_the_ones_not_read(doc: Doc) -> None:
    for msg_type in APPLICATION:
        read = recorded_reads(msg_type)
        for tag, row in doc.message(msg_type, "inbound").by_tag().items():
            ignored = row["Values and format"].startswith("Ignored")
            assert ignored == (tag not in read), (msg_type, tag)


# -- what an inbound field may hold ---------------------------------------------------


def command_error(msg_type: str, fields: list[tuple[int, object]]) -> tuple[str, str]:
    """(error code, text) the request parser gives a message."""
    msg = parse(encode_raw("FIX.4.4", [(35, msg_type), *fields]))
    command = ExchangeApplication.HANDLERS[msg_type.encode()](msg, "S")
    return command.error_code, command.error_text


def base_request(msg_type: str) -> dict[int, object]:
    base: dict[int, object] = {11: "c1", 38: 100, 40: 2, 44: "190", 54: 1, 55: "AAPL", 59: 0,
                               60: now_utc(), 99: "190", 126: "20991231-00:00:00"}
    if msg_type == "G":
        base[41] = "c0"
    return base


@pytest.mark.parametrize("msg_type", ["D", "G"])
@pytest.mark.parametrize("tag", [54, 40, 59])
def test_enumerated_values_are_the_ones_the_exchange_accepts(doc: Doc, msg_type: str,
                                                             tag: int) -> None:
    documented = enumerated(doc.message(msg_type, "inbound").by_tag()[tag]["Values and format"])
    candidates = set().union(*(dd(v).fields[tag].enums for v in VERSIONS))
    accepted = set()
    for value in sorted(candidates):
        fields = base_request(msg_type)
        fields[tag] = value.decode()
        if tag == 59 and value == b"6":
            fields[126] = "20991231-00:00:00"
        code, _text = command_error(msg_type, list(fields.items()))
        if code != OE.UNSUPPORTED:
            accepted.add(value.decode())
    assert documented == accepted


def test_price_decimals_are_as_documented(doc: Doc) -> None:
    cell = doc.message("D", "inbound").by_tag()[44]["Values and format"]
    n = int(re.search(r"at most (\d+) decimals", cell)[1])
    fields = base_request("D")
    fields[44] = "190." + "1" * n
    assert command_error("D", list(fields.items())) == ("", "")
    fields[44] = "190." + "1" * (n + 1)
    assert command_error("D", list(fields.items()))[0] == OE.INVALID_FIELD


def test_quantities_are_whole_numbers_as_documented(doc: Doc) -> None:
    assert "whole number" in doc.message("D", "inbound").by_tag()[38]["Values and format"]
    assert "`100.00` is read as 100, `10.5` is refused" in doc.text("2. Conventions")
    fields = base_request("D")
    fields[38] = "100.00"
    msg = parse(encode_raw("FIX.4.4", [(35, "D"), *fields.items()]))
    command = requests.new_order(msg, "S")
    assert command.order_qty == 100 and command.error_code == ""
    fields[38] = "10.5"
    assert command_error("D", list(fields.items()))[0] == OE.INVALID_FIELD


def refused(out: list[Out]) -> bool:
    for m in out:
        if m.msg_type in ("3", "9") or (m.msg_type == "r" and m.get(531) == "0"):
            return True
        if m.msg_type == "8" and m.get(39) == "8":
            return True
        if m.msg_type == "AO" and m.get(729) != "0":
            return True
        if m.msg_type in ("Y", "j") or (m.msg_type == "y" and m.get(560) != "0"):
            return True
    return False


def answered(out: list[Out]) -> bool:
    return any(m.msg_type in ("8", "r", "AO", "W", "f", "h", "y") for m in out)


def request_without(v: Venue, comp_id: str, msg_type: str, tag: int, n: int) -> list[Out]:
    """A valid request of that type with every documented non-conditional field,
    less ``tag``; orders it refers to are placed first."""
    cl = f"{msg_type}{tag}-{n}"
    if msg_type == "D":
        fields = new_order(cl, extra=[(1, "BRK1-MAIN" if comp_id == "BRK1" else "BRK2-MAIN"),
                                      (59, 0), (110, 1), (111, 10)], omit=[tag])
        return v.send(comp_id, "D", *fields)
    if msg_type == "q":
        fields = [(11, cl), (530, 7), (54, 1), (60, now_utc())]
        return v.send(comp_id, "q", *[(t, x) for t, x in fields if t != tag])
    if msg_type == "AN":
        fields = position_request(cl, "BRK1-MAIN", symbol="AAPL", extra=[(263, 0)],
                                  omit=[tag])
        return v.send(comp_id, "AN", *fields)
    if msg_type == "V":
        fields = md_request(cl, subscription=0, update_type=None)
        return v.send(comp_id, "V", *[(t, x) for t, x in fields if t != tag])
    if msg_type in ("e", "g"):
        fields = status_request(msg_type, cl, extra=[(336, "DAY")])
        return v.send(comp_id, msg_type, *[(t, x) for t, x in fields if t != tag])
    if msg_type == "x":
        fields = [(320, cl), (559, 0), (55, "AAPL")]
        return v.send(comp_id, "x", *[(t, x) for t, x in fields if t != tag])
    placed = reports_of(v.send(comp_id, "D", *new_order("o" + cl, price="180")))
    order_id = placed[0].get(37)
    common = [(11, cl), (37, order_id), (41, "o" + cl), (54, 1), (55, "AAPL")]
    if msg_type == "F":
        fields = [*common, (60, now_utc())]
    elif msg_type == "G":
        fields = [*common, (21, 1), (38, 50), (40, 2), (44, "180"), (59, 0), (60, now_utc())]
    else:
        fields = [(11, "o" + cl), (37, order_id), (54, 1), (55, "AAPL")]
    return v.send(comp_id, msg_type, *[(t, x) for t, x in fields if t != tag])


def test_fields_documented_as_required_are_refused_when_missing(doc: Doc, venue: Venue) -> None:
    n = 0
    for comp_id in ("BRK1", "BRK2"):
        version = venue.drivers[comp_id].config.begin_string
        for msg_type in APPLICATION:
            for tag, row in doc.message(msg_type, "inbound").by_tag().items():
                if marks(row, version) == "Y":
                    n += 1
                    out = request_without(venue, comp_id, msg_type, tag, n)
                    assert refused(out), (version, msg_type, tag, out)
    assert n


def test_fields_documented_as_optional_can_be_left_out(doc: Doc, venue: Venue) -> None:
    n = 0
    for comp_id in ("BRK1", "BRK2"):
        version = venue.drivers[comp_id].config.begin_string
        for msg_type in APPLICATION:
            for tag, row in doc.message(msg_type, "inbound").by_tag().items():
                if marks(row, version) == "N":
                    n += 1
                    out = request_without(venue, comp_id, msg_type, tag, n)
                    assert answered(out) and not refused(out), (version, msg_type, tag, out)
    assert n


def test_mass_cancel_request_types_are_the_ones_accepted(doc: Doc, venue: Venue) -> None:
    cell = doc.message("q", "inbound").by_tag()[530]["Values and format"]
    accepted = set()
    for value in sorted(dd("FIX.4.4").fields[530].enums):
        out = venue.send("BRK1", "q", (11, f"m{value.decode()}"), (530, value.decode()),
                         (55, "AAPL"), (60, now_utc()))
        (report,) = reports_of(out, "r")
        if report.get(531) != "0":
            accepted.add(value.decode())
    assert enumerated(cell) == accepted


def test_mass_cancel_is_refused_on_fix42_as_documented(doc: Doc, corpus: Corpus) -> None:
    rows = doc.message("q", "inbound").by_tag().values()
    assert all(marks(row, "FIX.4.2") == ABSENT for row in rows)
    assert b"q" not in dd("FIX.4.2").valid_msg_types
    rejects = [m for m in corpus.messages("FIX.4.2", "3") if m.get(372) == "q"]
    assert rejects and all(m.get(373) == "11" for m in rejects)
    assert "(373=11 `Invalid MsgType`)" in doc.text("OrderMassCancelRequest (35=q) — inbound")


def test_positions_request_is_refused_on_fix42_as_documented(doc: Doc, corpus: Corpus) -> None:
    rows = doc.message("AN", "inbound").by_tag().values()
    assert all(marks(row, "FIX.4.2") == ABSENT for row in rows)
    assert b"AN" not in dd("FIX.4.2").valid_msg_types
    rejects = [m for m in corpus.messages("FIX.4.2", "3") if m.get(372) == "AN"]
    assert rejects and all(m.get(373) == "11" for m in rejects)
    assert "(373=11 `Invalid MsgType`)" in doc.text("RequestForPositions (35=AN) — inbound")


# -- outbound messages ------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", OUTBOUND)
def test_tags_written_are_documented(doc: Doc, corpus: Corpus, msg_type: str) -> None:
    rows = doc.message(msg_type, "outbound").by_tag()
    for version in VERSIONS:
        documented = {t for t, row in rows.items() if marks(row, version) != ABSENT}
        for body in written_bodies(corpus, version, msg_type):
            assert body <= documented, (version, msg_type, body - documented)


@pytest.mark.parametrize("msg_type", OUTBOUND)
def test_tags_documented_as_always_sent_are_in_every_message(doc: Doc, corpus: Corpus,
                                                             msg_type: str) -> None:
    rows = doc.message(msg_type, "outbound").by_tag()
    for version in VERSIONS:
        always = {t for t, row in rows.items() if marks(row, version).startswith("Y")}
        bodies = written_bodies(corpus, version, msg_type)
        for body in bodies:
            assert always <= body, (version, msg_type, always - body)


@pytest.mark.parametrize("msg_type", OUTBOUND)
def test_documented_outbound_tags_are_sent(doc: Doc, corpus: Corpus, msg_type: str) -> None:
    rows = doc.message(msg_type, "outbound").by_tag()
    for version in VERSIONS:
        documented = {t for t, row in rows.items() if marks(row, version) != ABSENT}
        bodies = written_bodies(corpus, version, msg_type)
        sent = set().union(*bodies) if bodies else set()
        assert documented <= sent, (version, msg_type, documented - sent)


def test_header_tags_written_are_documented(doc: Doc, corpus: Corpus) -> None:
    rows = doc.header("outbound").by_tag()
    for version in VERSIONS:
        d = dd(version)
        place = d.header.tags | d.trailer.tags
        documented = {t for t, row in rows.items() if marks(row, version) != ABSENT}
        always = {t for t, row in rows.items() if marks(row, version) == "Y"}
        sent: set[int] = set()
        for _cid, m in corpus.received:
            if m.get(8) == version:
                tags = {t for t in m.tags() if t in place}
                assert always <= tags, (version, m)
                sent |= tags
        assert sent == documented, version


EVENTS = {"0": "accepted", "4": "canceled", "5": "replaced", "8": "rejected", "C": "expired",
          "D": "restated", "L": "stop triggered", "I": "status"}


def event_of(r: ExecutionReport) -> str:
    if r.exec_type == "F":
        return "fill" if r.leaves_qty == 0 else "partial fill"
    return EVENTS[r.exec_type]


def event_values(corpus: Corpus) -> list[tuple[str, str, str, str]]:
    """(event, column, value) for every ExecutionReport of the catalogue and the
    synthetic ones, written for both versions."""
    out = []
    reports = [r for r in [*corpus.reports, *synthetic_reports()]
               if type(r) is ExecutionReport]
    for version, cols in (("FIX.4.4", {150: "ExecType 4.4", 39: "OrdStatus 4.4"}),
                          ("FIX.4.2", {150: "ExecType 4.2", 39: "OrdStatus 4.2",
                                       20: "ExecTransType 4.2"})):
        writer = ReportWriter(dd(version))
        for r in reports:
            body = dict(writer.write(r)[1])
            for tag, column in cols.items():
                out.append((event_of(r), column, body[tag].decode(), r.text))
    return out


def test_exec_type_and_ord_status_sent_are_the_documented_ones(doc: Doc,
                                                               corpus: Corpus) -> None:
    table = doc.table("ExecType and OrdStatus by event").column("Event")
    for event, column, value, _text in event_values(corpus):
        assert value in backticked(table[event][column]), (event, column, value)


def test_every_documented_exec_type_and_ord_status_is_sent(doc: Doc, corpus: Corpus) -> None:
    table = doc.table("ExecType and OrdStatus by event").column("Event")
    sent = {(e, c, value) for e, c, value, _ in event_values(corpus)}
    for event, row in table.items():
        for column, cell in row.items():
            if column in ("Event", "Text"):
                continue
            for value in backticked(cell):
                assert (event, column, value) in sent, (event, column, value)


def test_stop_trigger_text_is_documented(doc: Doc, corpus: Corpus) -> None:
    texts = {r.text for r in corpus.executions if r.exec_type == "L"}
    assert texts
    cell = doc.table("ExecType and OrdStatus by event").column("Event")["stop triggered"]["Text"]
    assert texts == set(backticked(cell))


# -- reject reasons and texts -------------------------------------------------------------


REJECTS = "Business reject reasons"
RISK_REJECTS = "Pre-trade risk rejects"
ENDED = "Why an order ended"


def all_codes() -> set[str]:
    return set(R.REASONS) | set(OE.LOCAL_REASONS)


def reject_rows(doc: Doc) -> list[dict[str, str]]:
    """Rows of both reject tables (a code both the order entry and the risk checks
    use has a row in each)."""
    return [*doc.table(REJECTS).rows, *doc.table(RISK_REJECTS).rows]


def reject_patterns(doc: Doc) -> dict[str, list[re.Pattern[str]]]:
    out: dict[str, list[re.Pattern[str]]] = {}
    for row in reject_rows(doc):
        out.setdefault(row["Code"], []).extend(pattern(t) for t in backticked(row["Text"]))
    return out


# Checks that only one side of an order reaches (a buy: max long; a sell: short
# selling, max short) and the exposure checks both sides share: their order in the
# source says nothing about the order for one order, so they are compared as a block.
POSITION_CHECKS = {"MAX_LONG_POSITION", "SHORT_SELLING", "MAX_SHORT_POSITION", "CONCENTRATION",
                   "SECTOR_EXPOSURE"}


def risk_check_order() -> list[str]:
    """The codes of risk.checks in the order RiskEngine.check tries them: their first
    appearance in its source, the methods it calls read where it calls them."""
    tree = ast.parse(inspect.getsource(RC))
    (engine,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RiskEngine"]
    methods = {n.name: n for n in engine.body if isinstance(n, ast.FunctionDef)}
    codes = set(RC.ORD_REJ_REASON)

    def names(method: str, seen: frozenset[str]) -> list[str]:
        out = []
        nodes = [n for n in ast.walk(methods[method]) if isinstance(n, ast.Name | ast.Attribute)]
        for n in sorted(nodes, key=lambda n: (n.lineno, n.col_offset)):
            if isinstance(n, ast.Name) and n.id in codes:
                out.append(n.id)
            elif (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                  and n.value.id == "self" and n.attr in methods and n.attr not in seen):
                out.extend(names(n.attr, seen | {n.attr}))
        return out

    return list(dict.fromkeys(names("check", frozenset({"check"}))))


def blocked(codes: list[str]) -> list[str]:
    """``codes`` with the position checks as one block, where the first of them is."""
    out = []
    for code in codes:
        name = "positions" if code in POSITION_CHECKS else code
        if name not in out:
            out.append(name)
    return out


def test_every_reason_code_is_documented(doc: Doc) -> None:
    rejects = set(doc.table(REJECTS).column("Code"))
    risk = [row["Code"] for row in doc.table(RISK_REJECTS).rows]
    ended = set(doc.table(ENDED).column("Code"))
    assert not (rejects | set(risk)) & ended
    assert rejects | set(risk) | ended == all_codes()
    # The risk table: exactly the codes of risk.checks, in the order they are checked;
    # only a code the order entry also uses for itself is in both tables.
    assert set(risk) == set(RC.ORD_REJ_REASON)
    assert blocked(risk) == blocked(risk_check_order())
    block = [i for i, code in enumerate(risk) if code in POSITION_CHECKS]
    assert block == list(range(block[0], block[0] + len(POSITION_CHECKS)))
    assert rejects & set(risk) == {OE.UNKNOWN_ACCOUNT}


def test_risk_reject_reasons_are_the_ones_of_the_risk_checks(doc: Doc) -> None:
    for row in doc.table(RISK_REJECTS).rows:
        code = row["Code"]
        if code == OE.UNKNOWN_ACCOUNT:
            continue  # the order entry's own mapping wins (see the business table)
        assert int(row["OrdRejReason 4.4"]) == RC.ORD_REJ_REASON[code], code
        assert row["CxlRejReason 4.4"] == "99", code


def test_reject_reason_values_are_the_ones_sent(doc: Doc) -> None:
    for row in reject_rows(doc):
        code = row["Code"]
        for version, short in (("FIX.4.4", "4.4"), ("FIX.4.2", "4.2")):
            writer = ReportWriter(dd(version))
            er = ExecutionReport("S", 0, "8", "8", "X1", reject_code=code, text="t")
            assert dict(writer.write(er)[1])[103].decode() == row[f"OrdRejReason {short}"], (
                code, version)
            cxl = OrderCancelReject("S", 0, "", "", "NONE", "0", "1", code, "")
            assert dict(writer.write(cxl)[1])[102].decode() == row[f"CxlRejReason {short}"], (
                code, version)


def test_order_end_texts_are_the_engine_texts(doc: Doc) -> None:
    for code, row in doc.table(ENDED).column("Code").items():
        assert backticked(row["Text"]) == [R.TEXT[code]], code


def rejected_reports(corpus: Corpus) -> list[ExecutionReport | OrderCancelReject]:
    return [r for r in corpus.reports
            if type(r) is not OrderMassCancelReport and r.reject_code]


def test_reject_codes_documented_as_sent_are_the_ones_sent(doc: Doc, corpus: Corpus) -> None:
    rows = reject_rows(doc)
    documented = {row["Code"] for row in rows if row["Sent"] == "yes"}
    assert {row["Sent"] for row in rows} <= {"yes", "no"}
    assert {r.reject_code for r in rejected_reports(corpus)} == documented


def test_reject_texts_match_the_documented_texts(doc: Doc, corpus: Corpus) -> None:
    patterns = reject_patterns(doc)
    for r in rejected_reports(corpus):
        assert any(p.fullmatch(r.text) for p in patterns[r.reject_code]), (r.reject_code, r.text)


def test_every_documented_reject_text_is_sent(doc: Doc, corpus: Corpus) -> None:
    sent = [(r.reject_code, r.text) for r in rejected_reports(corpus)]
    for row in reject_rows(doc):
        code = row["Code"]
        for text in backticked(row["Text"]):
            p = pattern(text)
            was_sent = any(c == code and p.fullmatch(t) for c, t in sent)
            assert was_sent == (row["Sent"] == "yes"), (code, text)


def test_texts_of_ended_orders_are_the_documented_ones(doc: Doc, corpus: Corpus) -> None:
    table = doc.table(ENDED).column("Code")
    documented = {backticked(row["Text"])[0]: row for row in table.values()
                  if row["Sent"] == "yes"}
    ended = [r for r in corpus.executions if r.exec_type in ("4", "C", "D")]
    kill = [r for r in ended if kill_cancel_pattern(doc).fullmatch(r.text)]
    assert kill and all(r.exec_type == "4" for r in kill)
    ended = [r for r in ended if r not in kill]
    assert {r.text for r in ended} == set(documented)
    for r in ended:
        assert r.exec_type in documented[r.text]["ExecType"], (r.text, r.exec_type)


def kill_cancel_pattern(doc: Doc) -> re.Pattern[str]:
    """The Text of a cancel by a kill switch, as 'Why an order ended' gives it."""
    (text,) = [t for t in backticked(doc.text(ENDED)) if t.startswith("cancelled by the kill")]
    return pattern(text)


def test_mass_cancel_rejection_texts_are_the_documented_ones(doc: Doc, corpus: Corpus) -> None:
    rows = doc.table("OrderMassCancelReport rejections").rows
    patterns = [pattern(backticked(row["Text"])[0]) for row in rows]
    rejected = [m for m in corpus.messages("FIX.4.4", "r") if m.get(531) == "0"]
    assert rejected and all(m.get(532) == "99" for m in rejected)
    for m in rejected:
        assert any(p.fullmatch(m.get(58)) for p in patterns), m.get(58)
    for p in patterns:
        assert any(p.fullmatch(m.get(58)) for m in rejected), p.pattern


def test_business_message_reject_reasons_are_the_documented_ones(doc: Doc,
                                                                 corpus: Corpus) -> None:
    documented = [(row["BusinessRejectReason"], pattern(backticked(row["Text"])[0]))
                  for row in doc.table("BusinessMessageReject reasons").rows]
    sent = {(m.get(380), m.get(58)) for v in VERSIONS for m in corpus.messages(v, "j")}
    for reason, text in sent:
        assert any(r == reason and p.fullmatch(text) for r, p in documented), (reason, text)
    for r, p in documented:
        assert any(reason == r and p.fullmatch(text) for reason, text in sent), (r, p.pattern)


def session_reject_reasons_sent() -> set[int]:
    """SessionRejectReason members the validator and the session pass to a reject
    (Problem(...), _reject(...), _bad(...))."""
    found = set()
    for name in ("validation.py", "session.py"):
        tree = ast.parse((REPO / "fixserver" / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for arg in node.args:
                    if (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
                            and arg.value.id == "SessionRejectReason"):
                        found.add(int(SessionRejectReason[arg.attr]))
    return found


def test_session_reject_texts_are_documented_verbatim(doc: Doc) -> None:
    rows = doc.table("Session-level Reject reasons").column("SessionRejectReason")
    sent = session_reject_reasons_sent()
    assert {int(n) for n in rows} == sent
    for number, row in rows.items():
        assert row["Text"] == REJECT_TEXT[int(number)], number


def test_session_rejects_sent_carry_the_documented_texts(doc: Doc, corpus: Corpus) -> None:
    rows = doc.table("Session-level Reject reasons").column("SessionRejectReason")
    texts = {row["Text"]: n for n, row in rows.items()}
    rejects = [m for v in VERSIONS for m in corpus.messages(v, "3")]
    assert rejects
    for m in rejects:
        assert m.get(58) in texts, m
        if 373 in m:
            assert texts[m.get(58)] == m.get(373), m


# -- connectivity -------------------------------------------------------------------------


def test_sessions_table_matches_sessions_cfg(doc: Doc) -> None:
    table = doc.table("1.1 Getting a session")
    documented = {tuple(row.values()) for row in table.rows}
    shipped = {(c.target_comp_id, c.sender_comp_id, c.begin_string, str(c.port),
                c.application, "Y" if c.cancel_on_disconnect else "N")
               for c in load_sessions(REPO / "sessions.cfg")
               if c.application in ("exchange", "dropcopy")}
    assert table.columns == ["TargetCompID", "SenderCompID", "BeginString", "Port",
                             "Application", "CancelOnDisconnect"]
    assert documented == shipped


def test_required_fields_summary_matches_the_dictionaries(doc: Doc) -> None:
    rows = doc.table("11. Differences between FIX 4.2 and FIX 4.4").column("Subject")
    summary = {m[1]: row for subject, row in rows.items()
               if (m := re.fullmatch(r"Required (?:by the dictionary )?on (\w+)", subject))}
    assert set(summary) == {"D", "F", "G", "H"}
    for msg_type, row in summary.items():
        for version in VERSIONS:
            documented = {int(t) for t in row[COLUMN[version]].split(", ")}
            assert documented == dd(version).messages[msg_type.encode()].required, (
                msg_type, version)


def test_low_sequence_number_logout_text_is_documented(doc: Doc) -> None:
    d = Driver(config=SHIPPED["BRK1"])
    d.logon()
    d.send("0")
    out = d.send("0", seq=2)
    (logout,) = [m for m in out if m.msg_type == "5"]
    assert d.disconnected
    documented = [t for t in backticked(doc.text("1.5 Logout")) if t.startswith("MsgSeqNum")]
    assert any(pattern(t).fullmatch(logout.get(58)) for t in documented), logout.get(58)


def test_timers_table_matches_the_session_settings(doc: Doc) -> None:
    rows = doc.table("1.3 Heartbeats and timers").column("Timer")

    def seconds(name: str) -> int:
        return int(re.match(r"(\d+) s\b", rows[name]["Value"])[1])

    for config in SHIPPED.values():
        if config.application in ("exchange", "dropcopy"):
            assert seconds("LogonTimeout") == config.logon_timeout
            assert seconds("MaxLatency") == config.max_latency
            assert seconds("LogoutTimeout") == config.logout_timeout


def silence_factor(doc: Doc, timer: str) -> float:
    cell = doc.table("1.3 Heartbeats and timers").column("Timer")[timer]["Value"]
    return float(re.search(r"([\d.]+) × HeartBtInt", cell)[1])


def test_test_request_is_sent_after_the_documented_silence(doc: Doc) -> None:
    factor = silence_factor(doc, "TestRequest from the exchange")
    d = Driver(config=SHIPPED["BRK1"])
    d.logon(heartbeat=10)
    before = d.advance(10 * factor - 0.01)
    assert all(m.msg_type != "1" for m in before)
    (test_request,) = [m for m in d.advance(0.02) if m.msg_type == "1"]
    assert test_request.get(112) == "TEST"


def test_session_is_dropped_after_the_documented_silence(doc: Doc) -> None:
    factor = silence_factor(doc, "Disconnect")
    d = Driver(config=SHIPPED["BRK1"])
    d.logon(heartbeat=10)
    d.advance(10 * factor - 0.01)
    assert not d.disconnected
    out = d.advance(0.02)
    assert d.disconnected and all(m.msg_type != "5" for m in out)


# -- drop copy, cancel on disconnect, accounts, instruments --------------------------------


def copies(corpus: Corpus) -> list[Out]:
    return [m for cid, m in corpus.received
            if cid in ("DC1", "DC2") and 128 in m and m.get(43) != "Y"]


def test_drop_copy_receives_a_copy_of_every_execution_report(corpus: Corpus) -> None:
    originals = [m for cid, m in corpus.received
                 if cid not in ("DC1", "DC2") and m.msg_type == "8" and m.get(43) != "Y"]
    assert {m.msg_type for m in copies(corpus)} == {"8"}
    for dc in ("DC1", "DC2"):
        got = sorted(m.get(17) for cid, m in corpus.received
                     if cid == dc and 128 in m and m.get(43) != "Y")
        assert got == sorted(m.get(17) for m in originals), dc


def test_drop_copy_routing_fields_are_as_documented(doc: Doc, corpus: Corpus) -> None:
    rows = doc.table("6. Drop copy").by_tag()
    owner = {m.get(17): (m.get(49), m.get(56)) for cid, m in corpus.received
             if cid not in ("DC1", "DC2") and m.msg_type == "8"}
    assert backticked(rows[115]["Value"]) == ["EXCH"]
    (example,) = backticked(rows[128]["Value"])
    seen_example = False
    for m in copies(corpus):
        sender, target = owner[m.get(17)]
        assert (m.get(115), m.get(128)) == (sender, target)
        assert m.get(115) == "EXCH"
        seen_example |= m.get(128) == example
    assert seen_example


def test_cancel_on_disconnect_cancels_with_the_documented_text(doc: Doc, venue: Venue) -> None:
    assert SHIPPED["BRK1"].cancel_on_disconnect
    (accepted,) = reports_of(venue.send("BRK1", "D", *new_order("c1", price="180")))
    venue.send("BRK1", "5")
    driver = venue.drivers["BRK1"]
    assert driver.disconnected
    driver.session.on_disconnect(driver.clock.wall)
    venue.exchange.flush()
    cancels = [r for r in venue.executions if r.exec_type == "4"]
    assert [r.order_id for r in cancels] == [accepted.get(37)]
    assert f"`{cancels[0].text}`" in doc.text("7. Cancel on disconnect")


def test_sessions_without_cancel_on_disconnect_keep_their_orders(doc: Doc, venue: Venue) -> None:
    assert not SHIPPED["BRK2"].cancel_on_disconnect
    assert "(BRK2) stay in the book" in doc.text("7. Cancel on disconnect")
    venue.send("BRK2", "D", *new_order("k1", price="180"))
    driver = venue.drivers["BRK2"]
    driver.session.on_disconnect(driver.clock.wall)
    venue.exchange.flush()
    assert not [r for r in venue.executions if r.exec_type == "4"]
    assert len(venue.exchange.engine.orders) == 1


def accounts_table(doc: Doc) -> dict[str, dict[str, str]]:
    return doc.table("8. Accounts").column("Firm")


def test_accounts_table_matches_exchange_toml(doc: Doc) -> None:
    cfg = load_exchange_config(REPO / "exchange.toml")
    table = accounts_table(doc)
    assert set(table) == set(cfg.firms)
    for name, firm in cfg.firms.items():
        row = table[name]
        assert tuple(row["CompIDs"].split(", ")) == firm.comp_ids
        assert tuple(row["Accounts"].split(", ")) == firm.accounts
        assert row["Default account"] == firm.default_account


def test_order_without_account_is_booked_to_the_default_account(doc: Doc,
                                                                corpus: Corpus) -> None:
    defaults = {comp: row["Default account"] for row in accounts_table(doc).values()
                for comp in row["CompIDs"].split(", ")}
    for comp_id, cl_ord_id in (("BRK1", "a1"), ("BRK2", "b1")):
        (first, *_rest) = [m for cid, m in corpus.received
                           if cid == comp_id and m.msg_type == "8" and m.get(11) == cl_ord_id]
        assert first.get(150) == "0"
        assert first.get(1) == defaults[comp_id]


def test_instruments_table_matches_exchange_toml(doc: Doc) -> None:
    cfg = load_exchange_config(REPO / "exchange.toml")
    table = doc.table("9.2 Shipped instruments").column("Symbol")
    assert set(table) == set(cfg.instruments)
    for symbol, inst in cfg.instruments.items():
        row = table[symbol]
        assert parse_price(row["Tick size"].encode()) == inst.tick_size
        assert int(row["Lot size"]) == inst.lot_size
        assert parse_price(row["Reference price"].encode()) == inst.reference_price
        assert int(row["Max order qty"]) == inst.max_order_qty
        assert int(row["Price collar %"]) == inst.price_band_pct
        assert int(row["Fat finger %"]) == inst.fat_finger_pct
        assert row["Sector"] == inst.sector


def test_instrument_limit_defaults_are_the_documented_ones(doc: Doc, tmp_path: Path) -> None:
    path = tmp_path / "exchange.toml"
    path.write_text('[[instruments]]\nsymbol = "X"\ntick_size = "0.01"\n'
                    'reference_price = "1.00"\n')
    cfg = load_exchange_config(path)
    inst = cfg.instruments["X"]
    actual = {"max_order_qty": inst.max_order_qty, "price_band_pct": inst.price_band_pct,
              "fat_finger_pct": inst.fat_finger_pct,
              "market_protection_pct": cfg.market_protection_pct}
    rows = doc.table("9.1 Instrument limits").rows
    documented = {backticked(row["exchange.toml key"])[0]: int(row["Default"]) for row in rows}
    assert documented == actual


# -- pre-trade risk, settlement, throttle, kill switch, positions ---------------------------


def shipped_accounts(cfg: ExchangeConfig) -> dict[str, str]:
    """account -> its firm, for every account of a firm."""
    return {a: f.name for f in cfg.firms.values() for a in f.accounts}


def test_cash_and_positions_table_matches_exchange_toml(doc: Doc) -> None:
    cfg = load_exchange_config(REPO / "exchange.toml")
    table = doc.table("8.1 Cash and positions").column("Account")
    accounts = shipped_accounts(cfg)
    assert set(table) == set(accounts)
    for account, firm in accounts.items():
        row = table[account]
        settings = cfg.accounts.get(account)
        assert row["Firm"] == firm
        assert parse_price(row["Cash"].encode()) == (settings.cash if settings else 0)
        held = {} if row["Positions"] == "none" else {
            symbol: int(qty) for symbol, qty in (p.split() for p in row["Positions"].split(", "))}
        assert held == (settings.positions if settings else {}), account


def limit_value(key: str, cell: str) -> object:
    """A cell of the limits table as the risk engine holds it."""
    kind = LIMIT_KEYS[key]
    if kind == "bool":
        assert cell in ("yes", "no"), (key, cell)
        return cell == "yes"
    if cell == "no limit":
        assert kind in ("count", "money"), key
        return NO_LIMIT
    if kind == "money":
        return parse_price(cell.encode())
    return int(cell)


def limits_table(doc: Doc) -> dict[str, dict[str, str]]:
    """limit key -> account -> cell."""
    table = doc.table("8.2 Limits in force")
    out = {}
    for row in table.rows:
        (key,) = backticked(row["Limit"])
        out[key] = {a: cell for a, cell in row.items() if a not in ("Limit", "Meaning")}
    return out


def test_limits_table_is_what_the_risk_checks_apply(doc: Doc) -> None:
    cfg = load_exchange_config(REPO / "exchange.toml")
    risk = RC.RiskEngine(cfg.risk_config())
    table = limits_table(doc)
    assert set(table) == set(LIMIT_KEYS)
    for key, cells in table.items():
        assert set(cells) == set(shipped_accounts(cfg)), key
        for account, cell in cells.items():
            assert limit_value(key, cell) == getattr(risk.limits(account), key), (key, account)


def test_readme_lists_every_limit_with_its_default() -> None:
    table = Doc(README.read_text()).table("Risk limits").column("key")
    assert {backticked(k)[0] for k in table} == set(LIMIT_KEYS)
    for cell, row in table.items():
        (key,) = backticked(cell)
        (default,) = backticked(row["default"])
        if default == UNLIMITED:
            value: object = NO_LIMIT
        elif LIMIT_KEYS[key] == "bool":
            value = {"true": True, "false": False}[default]
        elif LIMIT_KEYS[key] == "money":
            value = parse_price(default.strip('"').encode())
        else:
            value = int(default)
        assert value == getattr(DEFAULT_LIMITS, key), key
        assert getattr(Limits(), key) is None  # absent everywhere: the default applies


def test_commission_on_fills_is_the_fee_of_the_account(corpus: Corpus) -> None:
    risk = corpus.venue.exchange.risk
    fills = [r for r in corpus.executions if r.exec_type == "F"]
    charged = 0
    for r in fills:
        fee = r.last_px * r.last_qty * risk.limits(r.account).fee_bps // 10_000
        assert r.commission == fee, (r.account, r.exec_id)
        charged += fee > 0
    assert charged


def test_a_fill_settles_at_once_with_the_documented_fees(doc: Doc, venue: Venue) -> None:
    fees = {account: int(cell) for account, cell in limits_table(doc)["fee_bps"].items()}
    risk = venue.exchange.risk
    before = {a: risk.account(a) for a in ("BRK1-MAIN", "BRK2-MAIN")}
    venue.send("BRK2", "D", *new_order("s1", side=2, qty=10, price="190"))
    venue.send("BRK1", "D", *new_order("b1", qty=10, price="190"))
    notional = parse_price(b"190") * 10
    for comp_id, account, sign in (("BRK1", "BRK1-MAIN", 1), ("BRK2", "BRK2-MAIN", -1)):
        fee = notional * fees[account] // 10_000
        after = risk.account(account)
        assert after.cash == before[account].cash - sign * notional - fee, account
        assert after.positions["AAPL"] == before[account].positions["AAPL"] + sign * 10
        (fill,) = [m for cid, m in venue.received if cid == comp_id and m.msg_type == "8"
                   and m.get(150) in ("F", "1", "2")]
        if fee:
            assert (parse_price(fill.get(12).encode()), fill.get(13)) == (fee, "3")
        else:
            assert 12 not in fill and 13 not in fill
    assert any(fees.values())


def test_end_of_day_restarts_the_orders_per_day_count(doc: Doc, venue: Venue) -> None:
    assert "orders per day start again from 0" in doc.text("10. Pre-trade risk")

    def status(cl_ord_id: str) -> str:
        out = venue.send(RISK_SESSION, "D", *new_order(cl_ord_id, symbol="INTC", qty=1,
                                                       price="21", extra=[(1, "R-DAY")]))
        return reports_of(out)[0].get(39)

    assert (status("d1"), status("d2")) == ("0", "8")
    venue.end_of_day()
    assert status("d3") == "0"


THROTTLE = "10.2 Message throttle"


def test_throttle_is_as_documented(doc: Doc, corpus: Corpus) -> None:
    cfg = load_exchange_config(REPO / "exchange.toml")
    text = doc.text(THROTTLE)
    limit = int(re.search(r"shipped: (\d+)", text)[1])
    assert limit == cfg.max_messages_per_second
    assert int(re.search(r"default (\d+)", text)[1]) == ExchangeConfig().max_messages_per_second
    mine = [m for cid, m in corpus.received if cid == RISK_SESSION and m.get(43) != "Y"]
    answered = [m for m in mine if m.msg_type == "8" and m.get(11) == "burst"]
    (reject,) = [m for m in mine if m.msg_type == "j"]
    assert len(answered) == limit
    assert (reject.get(380), reject.get(372), reject.get(379)) == ("0", "H", "burst")
    assert f"more than {limit} messages" in reject.get(58)
    assert not corpus.venue.drivers[RISK_SESSION].disconnected


KILL = "10.3 Kill switch"


def test_kill_switch_cancels_and_refuses_as_documented(doc: Doc, corpus: Corpus) -> None:
    text = doc.text(KILL)
    assert f"`{SHIPPED['BRK1'].session_id}`" in text  # how a session is named
    p = kill_cancel_pattern(doc)
    session = corpus.venue.drivers[RISK_SESSION].session.session_id
    cancels = {r.cl_ord_id: r for r in corpus.executions
               if r.exec_type == "4" and p.fullmatch(r.text)}
    assert cancels["k3"].text == "cancelled by the kill switch of account R-QTY"
    assert cancels["k2"].text == f"cancelled by the kill switch of session {session}"
    assert cancels["k6"].text == f"cancelled by the kill switch of firm {RISK_FIRM}"
    assert all(not r.orig_cl_ord_id for r in cancels.values())
    # Lifted: orders are accepted again (k6 was, until the firm's switch cancelled it).
    k6 = [r.exec_type for r in corpus.executions if r.cl_ord_id == "k6"]
    assert k6 == ["0", "4"]


def test_position_request_results_are_the_documented_ones(doc: Doc, corpus: Corpus) -> None:
    rows = doc.table("RequestForPositionsAck results").rows
    documented = [(row["PosReqResult"], row["PosReqStatus"], pattern(backticked(row["Text"])[0]))
                  for row in rows]
    acks = [m for m in corpus.messages("FIX.4.4", "AO") if m.get(43) != "Y"]
    sent = {(m.get(728), m.get(729), m.get(58)) for m in acks}
    for result, status, text in sent:
        assert any((r, s) == (result, status) and p.fullmatch(text)
                   for r, s, p in documented), (result, status, text)
    for r, s, p in documented:
        assert any((r, s) == (result, status) and p.fullmatch(text)
                   for result, status, text in sent), (r, s, p.pattern)
    reports = [m for m in corpus.messages("FIX.4.4", "AP") if m.get(43) != "Y"]
    for m in acks:
        assert int(m.get(727)) == sum(ap.get(721) == m.get(721) for ap in reports), m


def test_fixed_values_of_position_messages_are_the_ones_sent(doc: Doc, corpus: Corpus) -> None:
    for msg_type in ("AO", "AP"):
        sent = corpus.messages("FIX.4.4", msg_type)
        assert sent, msg_type
        for tag, row in doc.message(msg_type, "outbound").by_tag().items():
            fixed = re.match(r"always `([^`]+)`", row["Values and format"])
            if fixed:
                assert {m.get(tag) for m in sent} == {fixed[1]}, (msg_type, tag)


def signed_price(text: str) -> int:
    return -parse_price(text[1:].encode()) if text.startswith("-") else parse_price(text.encode())


def test_position_reports_value_the_position_at_the_mark(corpus: Corpus) -> None:
    cfg = load_exchange_config(REPO / "exchange.toml")
    risk = corpus.venue.exchange.risk
    reports = corpus.messages("FIX.4.4", "AP")
    assert reports
    for m in reports:
        long, short = int(m.get(704)), int(m.get(705))
        assert min(long, short) == 0
        mark = parse_price(m.get(730).encode())
        assert mark == risk.mark(m.get(55))
        assert signed_price(m.get(708)) == (long - short) * mark
        assert parse_price(m.get(734).encode()) == cfg.instruments[m.get(55)].reference_price


def test_position_reports_show_the_documented_starting_balances(doc: Doc, venue: Venue) -> None:
    row = doc.table("8.1 Cash and positions").column("Account")["BRK1-MAIN"]
    held = {symbol: int(qty) for symbol, qty in (p.split() for p in row["Positions"].split(", "))}
    out = venue.send("BRK1", "AN", *position_request("P1", "BRK1-MAIN"))
    (ack,) = reports_of(out, "AO")
    reports = reports_of(out, "AP")
    assert int(ack.get(727)) == len(reports)
    assert {m.get(55): int(m.get(704)) - int(m.get(705)) for m in reports} == held
    cash = re.match(r"cash (\S+), reserved 0, buying power (\S+)$", ack.get(58))
    assert cash and parse_price(cash[1].encode()) == parse_price(row["Cash"].encode())
    assert cash[1] == cash[2]


# -- market data ---------------------------------------------------------------------


def test_market_data_rejects_are_the_documented_ones(doc: Doc, corpus: Corpus) -> None:
    rows = []
    for row in doc.table("MarketDataRequestReject reasons").rows:
        codes = backticked(row["MDReqRejReason"])
        rows.append((codes[0] if codes else None, pattern(backticked(row["Text"])[0])))
    seen = set()
    for version in VERSIONS:
        for m in corpus.messages(version, "Y"):
            match = [i for i, (code, text) in enumerate(rows)
                     if code == m.get(281) and text.fullmatch(m.get(58) or "")]
            assert match, (version, m.get(281), m.get(58))
            seen.update(match)
    assert seen == set(range(len(rows)))
