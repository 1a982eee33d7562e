"""``fixserver feed`` against a real server, inside a network namespace of its own
(``test_feed_client.py`` runs it under ``unshare -n`` with multicast on loopback).

A broker trades before the subscriber starts (it joins late: the snapshot service
gives it the book); the subscriber is then stopped (SIGSTOP) while a burst of
orders overflows the tiny receive buffer it was given, so that the kernel drops
packets as it does for any slow receiver; once it runs again it must recover them
(by retransmission, or by a new snapshot when the server keeps too few ticks).
Its last table must be the book the snapshot service gives at the end. Prints one
JSON line of what it saw.

``python -m tests.exchange.feed_client_kit DIR RETAIN``
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FixServer, free_port
from tests.exchange.exchangeclient import BUY, SELL, SESSIONS_CFG, write_exchange_toml
from tests.exchange.feed_server_kit import first_trade

GROUP, PORT = "239.255.0.3", 31021
BURST = 60


def feed_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "server", "feed", "--group", GROUP, "--port", str(PORT),
            *args]


def wait_for_line(stream, text: str, timeout: float = 10.0) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} in {lines}")


def main(directory: Path, retain: int) -> dict:
    write_exchange_toml(directory, risk=f'[marketdata.multicast]\ngroup = "{GROUP}"\n'
                                        f"port = {PORT}\nretain = {retain}\n")
    server = FixServer(SESSIONS_CFG, directory, free_port())
    server.start()
    try:
        brk2, brk3 = first_trade(server.port)
        late = subprocess.Popen(feed_cli("--top", "--json", "--depth", "0", "--interval", "0.1",
                                         "--receive-buffer", "1"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        joined = wait_for_line(late.stderr, "snapshot of session")
        first_table = json.loads(late.stdout.readline())
        late.send_signal(signal.SIGSTOP)
        for n in range(BURST):
            brk3.new_order(f"S{n + 2}", SELL, 10, f"{191 + n * 0.05:.2f}")
        brk3.ers(BURST)
        time.sleep(0.3)                   # the packets are in (or past) its buffer
        late.send_signal(signal.SIGCONT)
        brk2.new_order("B2", BUY, 5, "190.00")     # a trade after the burst
        brk2.ers(2)
        time.sleep(1.5)
        at_end = subprocess.run(feed_cli("--once", "--json", "--depth", "0"),
                                capture_output=True, text=True, timeout=20)
        brk2.close()
        brk3.close()
    finally:
        server.stop(signal.SIGTERM)
    out, err = late.communicate(timeout=20)
    tables = [json.loads(line) for line in out.splitlines()]
    notes = "".join(joined) + err
    return {
        "first_table": first_table,
        "last_table": tables[-1] if tables else None,
        "server_book": json.loads(at_end.stdout) if at_end.returncode == 0 else at_end.stderr,
        "gap_seen": "missing; asking" in notes,
        "recovered": "recovered" in notes,
        "snapshots": notes.count("snapshot of session"),
        "no_longer_held": "no longer holds" in notes,
        "ended": "ended at sequence" in notes,
        "returncode": late.returncode,
        "notes": notes,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]))))
