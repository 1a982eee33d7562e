"""A real server with the multicast feed on, inside a network namespace of its own
(``test_feed_server.py`` runs it under ``unshare -n`` with multicast on loopback):
a broker trades, a receiver joined to the group reads the ticks, asks the
retransmission port for the first one again, and sees the end of the session when
the server stops. Prints one JSON line of what it saw.

``python -m tests.exchange.feed_server_kit DIR``
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
import time
from pathlib import Path

from consumers.feed import multicast_receiver
from marketdata import feed
from tests.conftest import FixServer, free_port
from tests.exchange.exchangeclient import BUY, SELL, SESSIONS_CFG, Broker, write_exchange_toml

GROUP, PORT = "239.255.0.2", 31011


def first_trade(port: int) -> tuple[Broker, Broker]:
    """BRK3 rests S1 (sell 40 at 190.00) and BRK2's B1 buys 15 of it."""
    brk2, brk3 = Broker(port, "BRK2"), Broker(port, "BRK3")
    brk2.logon()
    brk3.logon()
    brk3.rest("S1", SELL, 40, "190.00")
    brk2.new_order("B1", BUY, 15, "190.00")
    brk2.ers(2)
    return brk2, brk3


def main(directory: Path) -> dict:
    write_exchange_toml(directory, risk=f'[marketdata.multicast]\ngroup = "{GROUP}"\n'
                                        f"port = {PORT}\nretransmission_port = {PORT + 1}\n")
    receiver = multicast_receiver(GROUP, PORT)
    receiver.settimeout(5)
    server = FixServer(SESSIONS_CFG, directory, free_port())
    server.start()
    seen: list[feed.Packet] = []
    try:
        brk2, brk3 = first_trade(server.port)
        deadline = time.monotonic() + 5
        while sum(len(p.ticks) for p in seen) < 4 and time.monotonic() < deadline:
            seen.append(feed.decode_packet(receiver.recv(2048)))
        asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        asker.settimeout(5)
        session = seen[0].session
        asker.sendto(feed.HEADER.pack(session, 1, 1), ("127.0.0.1", PORT + 1))
        again = feed.decode_packet(asker.recv(2048))
        heartbeat = None
        while heartbeat is None:
            packet = feed.decode_packet(receiver.recv(2048))
            if not packet.ticks and not packet.end_of_session:
                heartbeat = packet
        brk2.close()
        brk3.close()
    finally:
        server.stop(signal.SIGTERM)
    end = None
    while end is None:
        packet = feed.decode_packet(receiver.recv(2048))
        if packet.end_of_session:
            end = packet
    ticks = [t for p in seen for t in p.ticks]
    trades = [[t.price, t.qty, t.side] for t in ticks if t.kind == feed.TRADE]
    logged = re.search(r"market-data feed: MoldUDP64 session (\S+)", server.log())
    return {
        "kinds": [chr(t.kind) for t in ticks],
        "trade": trades[0] if trades else None,
        "first_sequence": seen[0].sequence,
        "again": [again.sequence, list(again.ticks) == ticks[:1]],
        "heartbeat_next": heartbeat.sequence,
        "end_next": end.sequence,
        "session_logged": logged is not None and logged[1] == session.decode().strip(),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
