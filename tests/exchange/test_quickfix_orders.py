"""Order lifecycles with a real QuickFIX initiator (the C++ engine a broker runs) as
the broker, validating every message it receives from the exchange against a data
dictionary: the exchange's own ``dictionaries/FIX4x.xml`` (what we publish for
brokers) and the FIX specification dictionaries that ship with QuickFIX (what a
broker uses out of the box). QuickFIX answers anything invalid with a session
Reject (35=3) and does not hand it to the application: the tests require that it
never does. The counterparty is a simplefix client (BRK3, FIX.4.4).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import quickfix as fix

from tests.conftest import REPO, FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, utc_now
from tests.interop.qfinitiator import QuickFixInitiator, Seen

pytestmark = pytest.mark.slow

APP_TYPES = ("8", "9", "r", "j")
SPEC_DIR = Path(sys.prefix) / "share" / "quickfix"


@pytest.fixture(params=["exchange", "specification"])
def dictionary_dir(request) -> Path:
    """Where the initiator's FIX42.xml / FIX44.xml come from."""
    if request.param == "exchange":
        return REPO / "dictionaries"
    if not (SPEC_DIR / "FIX44.xml").exists():
        pytest.skip(f"QuickFIX's specification dictionaries not found in {SPEC_DIR}")
    return SPEC_DIR


@pytest.fixture
def initiator(server: FixServer, tmp_path: Path,
              dictionary_dir: Path) -> Iterator:
    """initiator("BRK1") -> a logged-on QuickFIX session as that broker."""
    made: list[QuickFixInitiator] = []

    def make(sender: str) -> QuickFixInitiator:
        begin_string = {"BRK1": "FIX.4.4", "BRK2": "FIX.4.2"}[sender]
        dictionary = dictionary_dir / (begin_string.replace(".", "") + ".xml")
        qf = QuickFixInitiator(tmp_path / f"qf-{sender}", server.port, begin_string, sender,
                               "EXCH", heartbeat=30, dictionary=dictionary)
        made.append(qf)
        qf.start()
        qf.wait_logon()
        return qf

    yield make
    for qf in made:
        qf.stop(force=True)


def message(qf: QuickFixInitiator, msg_type: str, fields: list[tuple[int, object]]) -> None:
    msg = fix.Message()
    msg.getHeader().setField(fix.BeginString(qf.begin_string))
    msg.getHeader().setField(fix.MsgType(msg_type))
    for tag, value in fields:
        msg.setField(fix.StringField(tag, str(value)))
    qf.send(msg)


def new_order(qf: QuickFixInitiator, cl: str, side: str, qty: int, price: str,
              symbol: str = "AAPL") -> None:
    message(qf, "D", [(11, cl), (21, 1), (38, qty), (40, 2), (44, price), (54, side),
                      (55, symbol), (60, utc_now())])


def cancel(qf: QuickFixInitiator, cl: str, orig: str, side: str) -> None:
    message(qf, "F", [(11, cl), (38, 100), (41, orig), (54, side), (55, "AAPL"),
                      (60, utc_now())])


def replace(qf: QuickFixInitiator, cl: str, orig: str, side: str, qty: int,
            price: str) -> None:
    message(qf, "G", [(11, cl), (21, 1), (38, qty), (40, 2), (41, orig), (44, price),
                      (54, side), (55, "AAPL"), (60, utc_now())])


def status(qf: QuickFixInitiator, cl: str, side: str) -> None:
    message(qf, "H", [(11, cl), (54, side), (55, "AAPL")])


def received(qf: QuickFixInitiator) -> list[Seen]:
    """Application messages QuickFIX accepted and handed to the application."""
    with qf._cond:
        return [s for s in qf.seen if s.direction == "in" and not s.admin
                and s.msg_type in APP_TYPES]


def rejected(qf: QuickFixInitiator) -> list[str]:
    """Session Rejects QuickFIX sent about our messages."""
    return [s.raw.replace("\x01", "|") for s in qf.messages("out", "3")]


def expect(qf: QuickFixInitiator, n: int) -> list[Seen]:
    """Wait until QuickFIX has accepted ``n`` application messages in all (or has
    rejected one); none may be rejected. Returns all it has accepted."""
    qf.wait_for(lambda: len(received(qf)) >= n or qf.messages("out", "3"), 5,
                f"{n} application messages")
    assert rejected(qf) == []
    return received(qf)


def summary(seen: list[Seen]) -> list[tuple[str | None, ...]]:
    return [(s.msg_type, s.get(11), s.get(150), s.get(39)) for s in seen]


def test_quickfix_fix42_broker_accepts_every_report_of_a_full_lifecycle(
        initiator, login) -> None:
    qf = initiator("BRK2")
    other: Broker = login("BRK3")
    new_order(qf, "Q1", BUY, 100, "190.00")
    expect(qf, 1)
    other.new_order("C1", SELL, 30, "190.00")          # partial fill
    expect(qf, 2)
    replace(qf, "Q2", "Q1", BUY, 80, "190.00")         # keeps priority
    expect(qf, 3)
    status(qf, "Q2", BUY)
    expect(qf, 4)
    other.new_order("C2", SELL, 50, "190.00")          # fill
    expect(qf, 5)
    new_order(qf, "Q3", BUY, 10, "189.00")
    cancel(qf, "Q4", "Q3", BUY)
    cancel(qf, "Q5", "Q3", BUY)                        # too late
    new_order(qf, "Q6", BUY, 10, "10.00", symbol="NOPE")
    seen = expect(qf, 9)
    assert summary(seen) == [
        ("8", "Q1", "0", "0"), ("8", "Q1", "1", "1"), ("8", "Q2", "5", "5"),
        ("8", "Q2", "1", "1"), ("8", "Q2", "2", "2"), ("8", "Q3", "0", "0"),
        ("8", "Q4", "4", "4"), ("9", "Q5", None, "4"), ("8", "Q6", "8", "8")]
    assert [s.get(20) for s in seen if s.msg_type == "8"] == \
        ["0", "0", "0", "3", "0", "0", "0", "0"]
    assert (seen[4].get(32), seen[4].get(14), seen[4].get(151)) == ("50", "80", "0")
    assert qf.logged_on()


def test_quickfix_fix44_broker_accepts_every_report_of_a_full_lifecycle(
        initiator, login) -> None:
    qf = initiator("BRK1")
    other: Broker = login("BRK3")
    new_order(qf, "Q1", BUY, 100, "190.00")
    expect(qf, 1)
    other.new_order("C1", SELL, 30, "190.00")          # partial fill
    expect(qf, 2)
    replace(qf, "Q2", "Q1", BUY, 80, "190.00")         # keeps priority
    expect(qf, 3)
    status(qf, "Q2", BUY)
    expect(qf, 4)
    other.new_order("C2", SELL, 50, "190.00")          # fill
    expect(qf, 5)
    message(qf, "D", [(11, "Q3"), (21, 1), (38, 10), (40, 3), (54, BUY), (55, "AAPL"),
                      (60, utc_now()), (99, "190.50")])  # buy stop
    expect(qf, 6)
    other.new_order("C3", SELL, 20, "190.50")
    other.new_order("C4", BUY, 10, "190.50")           # trades at 190.50: elects Q3
    expect(qf, 8)
    cancel(qf, "Q4", "Q2", BUY)                        # too late: filled
    new_order(qf, "Q5", BUY, 10, "10.00", symbol="NOPE")
    new_order(qf, "Q6", SELL, 10, "191.00")
    expect(qf, 11)
    message(qf, "q", [(11, "Q7"), (60, utc_now()), (530, 7)])   # mass cancel
    seen = expect(qf, 13)
    assert summary(seen) == [
        ("8", "Q1", "0", "0"), ("8", "Q1", "F", "1"), ("8", "Q2", "5", "1"),
        ("8", "Q2", "I", "1"), ("8", "Q2", "F", "2"), ("8", "Q3", "0", "0"),
        ("8", "Q3", "D", "0"), ("8", "Q3", "F", "2"), ("9", "Q4", None, "2"),
        ("8", "Q5", "8", "8"), ("8", "Q6", "0", "0"), ("8", "Q6", "4", "4"),
        ("r", "Q7", None, None)]
    assert [(s.get(31), s.get(32), s.get(14), s.get(151)) for s in seen
            if s.get(150) == "F"] == \
        [("190", "30", "30", "70"), ("190", "50", "80", "0"), ("190.5", "10", "10", "0")]
    assert seen[-1].get(533) == "1"
    assert qf.logged_on()
