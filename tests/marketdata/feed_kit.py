"""A trading day on the multicast feed, run inside a network namespace of its own
(``test_feed.py`` starts it with ``unshare -n`` after enabling multicast on its
loopback). Prints one JSON line: what the receiver saw and what the checks found.

``python -m tests.marketdata.feed_kit DATA_DIR``
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

from consumers.feed import (
    MulticastFeed,
    RetransmissionServer,
    multicast_receiver,
    multicast_sender,
)
from marketdata import feed
from marketdata.book import engine_levels
from marketdata.security_list import security_ids
from matching.constants import BUY, CLOSED, SELL
from tests.venue.support import px
from tests.venue.test_snapshot_recovery import B1, B2, exchange, new, run
from venue.commands import TradingPhase

GROUP, PORT = "239.255.0.1", 31001


def main(data_dir: Path) -> dict:
    ex = exchange(data_dir)
    ids = security_ids(ex.config.instruments)
    receiver = multicast_receiver(GROUP, PORT)
    receiver.settimeout(2)
    publisher = MulticastFeed(ids, multicast_sender(GROUP, PORT), feed.session_name("D1"),
                              max_ticks=4)
    publisher.load(engine_levels(ex.engine))
    ex.publish = publisher.on_batch
    run(ex, [new(B1, "s1", SELL, 100, px("190.00")), new(B1, "s2", SELL, 50, px("190.10")),
             new(B2, "b1", BUY, 30, px("189.90")), new(B2, "b2", BUY, 120, px("190.10")),
             new(B2, "b3", BUY, 10, px("189.80")), TradingPhase("AAPL", CLOSED)])
    publisher.heartbeat()
    packets, ticks = [], []
    while True:
        packet = feed.decode_packet(receiver.recv(2048))
        packets.append(packet)
        if not packet.ticks:
            break
        ticks.extend(packet.ticks)
    # The book the ticks build, against the engine's.
    book: dict[tuple[int, int], tuple[int, int]] = {}
    for t in ticks:
        if t.kind == feed.LEVEL_DELETED:
            del book[(t.side, t.price)]
        elif t.kind in (feed.LEVEL_ADDED, feed.LEVEL_MODIFIED):
            assert (t.kind == feed.LEVEL_ADDED) == ((t.side, t.price) not in book), t
            book[(t.side, t.price)] = (t.qty, t.orders)
    engine = {(side, level.price): (level.qty, level.orders)
              for symbol, side, level in engine_levels(ex.engine) if symbol == "AAPL"}
    # A receiver that missed the first packet asks for it.
    server = RetransmissionServer(publisher)
    asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    asker.settimeout(2)
    asker.sendto(feed.HEADER.pack(feed.session_name("D1"), 1, 4), server.address)
    again = feed.decode_packet(asker.recv(2048))
    server.close()
    return {
        "sequences": [p.sequence for p in packets],
        "ticks": len(ticks),
        "contiguous": all(b.sequence == a.sequence + len(a.ticks)
                          for a, b in zip(packets, packets[1:], strict=False)),
        "book_matches": book == engine,
        "trades": sum(t.kind == feed.TRADE for t in ticks),
        "phases": [(t.symbol, t.side) for t in ticks if t.kind == feed.PHASE],
        "retransmitted": [again.sequence, list(again.ticks) == ticks[:4]],
        "closed": CLOSED,
        "aapl": ids["AAPL"],
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
