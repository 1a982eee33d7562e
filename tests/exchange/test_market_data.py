"""Market data from a real server: a MarketDataRequest over TCP gets the book and its
updates as brokers trade, on the market-data session MD1 and on an order-entry
session; and the README's subscription example runs as printed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import FixServer
from tests.exchange.exchangeclient import BUY, SELL, Broker, Msg
from tests.marketdata.wire import md_entries

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def subscribe(client: Broker, req_id: str, *, depth: int = 0, update_type: int = 1,
              types: tuple[int, ...] = (0, 1, 2), symbol: str = "AAPL") -> None:
    client.send("V", [(262, req_id), (263, 1), (264, depth), (265, update_type),
                      (267, len(types)), *((269, t) for t in types), (146, 1), (55, symbol)])


def entries(msg: Msg) -> list[dict[int, str]]:
    return md_entries(msg.type, msg.pairs)


def next_md(client: Broker, msg_type: str) -> Msg:
    """The next market-data message, skipping ExecutionReports."""
    while True:
        msg = client.next()
        if msg.type != "8":
            assert msg.type == msg_type, msg
            return msg


def test_a_subscriber_gets_the_book_then_each_change_and_trade(
        server: FixServer, md1: Broker, brk2: Broker, brk3: Broker) -> None:
    brk2.rest("B1", BUY, 100, "189.00")
    subscribe(md1, "s1")
    w = next_md(md1, "W")
    assert [(e[269], e[270], e[271]) for e in entries(w)] == [("0", "189", "100")]
    brk3.rest("S1", SELL, 40, "190.00")
    x = next_md(md1, "X")
    assert [(e[279], e[269], e[270], e[271]) for e in entries(x)] == [("0", "1", "190", "40")]
    assert int(x[369]) > int(w[369])
    brk2.new_order("B2", BUY, 15, "190.00")
    x = next_md(md1, "X")
    assert [(e[279], e[269], e[270], e[271]) for e in entries(x)] == [
        ("1", "1", "190", "25"), ("0", "2", "190", "15")]


def test_an_order_entry_session_can_take_a_snapshot(server: FixServer, brk2: Broker,
                                                    brk3: Broker) -> None:
    brk3.rest("S1", SELL, 40, "190.00")
    brk2.send("V", [(262, "snap"), (263, 0), (264, 1), (267, 2), (269, 0), (269, 1),
                    (146, 1), (55, "AAPL")])
    w = brk2.next_of("W")
    assert (w[262], w[55], [(e[269], e[270]) for e in entries(w)]) == \
        ("snap", "AAPL", [("1", "190")])


def test_an_unknown_symbol_gets_a_market_data_request_reject(server: FixServer,
                                                            md1: Broker) -> None:
    subscribe(md1, "bad", symbol="NOPE")
    y = md1.next_of("Y")
    assert (y[262], y[281]) == ("bad", "0")


def test_the_readme_subscription_example_runs_as_printed(server: FixServer, brk2: Broker,
                                                         tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Market data"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    brk2.rest("B1", BUY, 100, "189.00")
    script = tmp_path / "md.py"
    script.write_text(textwrap.dedent(code[1]).replace("9878", str(server.port))
                      .replace("settimeout(10)", "settimeout(1)"))
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "35=W" in done.stdout and "270=189" in done.stdout, done.stdout
