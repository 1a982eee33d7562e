"""``fixserver feed`` without a network: what it prints of ticks and books, and the
clear errors of a missing snapshot service or a malformed address."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from consumers.feed import MulticastFeed
from marketdata import feed, feed_snapshot
from marketdata.receiver import FeedReceiver
from matching.constants import BUY, SELL
from matching.events import BookChanged, Trade
from server.feed_client import Printer
from tests.conftest import free_port
from venue.stream import Entry

REPO = Path(__file__).resolve().parents[2]
TS = 1_764_684_000_123_456_789          # 2025-12-02 14:00:00.123456789 UTC


def receiver_after_a_trade() -> tuple[FeedReceiver, list[feed.Packet]]:
    sent: list[bytes] = []
    pub = MulticastFeed({"AAPL": 1, "MSFT": 2}, sent.append, feed.session_name("D"))
    rx = FeedReceiver()
    rx.on_snapshot(feed_snapshot.decode(pub.snapshot()))
    pub.on_batch([Entry(1, TS, None, [  # type: ignore[arg-type]
        BookChanged("AAPL", BUY, 1_899_000, 25, 2), BookChanged("AAPL", SELL, 1_900_000, 40, 1),
        Trade("AAPL", 7, 1_900_000, 15, BUY, 1, 1, 0, 15, 2, 2, 0, 15, False)], [])])
    return rx, [feed.decode_packet(p) for p in sent]


def test_ticks_print_as_a_table_with_the_symbols_name() -> None:
    rx, packets = receiver_after_a_trade()
    out = io.StringIO()
    Printer(rx, out, as_json=False).ticks(rx.on_packet(packets[0]))
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["SEQ", "TIME", "(UTC)", "SYMBOL", "EVENT", "SIDE", "PRICE",
                                "QTY", "ORDERS/ID"]
    assert lines[1].split() == ["1", "14:00:00.123456", "AAPL", "ADD", "BUY", "189.9", "25", "2"]
    assert lines[3].split() == ["3", "14:00:00.123456", "AAPL", "TRADE", "BUY", "190", "15", "7"]


def test_ticks_in_json_carry_prices_as_decimal_strings() -> None:
    rx, packets = receiver_after_a_trade()
    out = io.StringIO()
    Printer(rx, out, as_json=True).ticks(rx.on_packet(packets[0]))
    trade = json.loads(out.getvalue().splitlines()[2])
    assert trade == {"seq": 3, "ts": TS, "symbol": "AAPL", "event": "TRADE", "side": "BUY",
                     "price": "190", "qty": 15, "trade_id": 7}


def test_the_top_of_book_table_shows_both_sides_and_the_last_trade() -> None:
    rx, packets = receiver_after_a_trade()
    rx.on_packet(packets[0])
    out = io.StringIO()
    Printer(rx, out, as_json=False).top()
    lines = out.getvalue().splitlines()
    assert lines[1].split() == ["AAPL", "CONTINUOUS", "25", "189.9", "190", "40", "190", "15"]
    assert lines[2].split() == ["MSFT", "CONTINUOUS"]
    assert lines[3] == "(feed session D, sequence 3)"


def test_without_a_snapshot_service_it_says_where_it_looked_and_fails() -> None:
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "server", "feed", "--group", "239.255.0.9", "--port", "31001",
         "--once", "--snapshot", f"127.0.0.1:{port}", "--timeout", "0.5"],
        cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"no snapshot from 127.0.0.1:{port}" in done.stderr


def test_a_malformed_service_address_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "feed", "--group", "239.255.0.9", "--port", "31001",
         "--snapshot", "nowhere"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "is not HOST:PORT" in done.stderr
