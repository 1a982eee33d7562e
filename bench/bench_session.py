"""Session-layer cost per message, in process (no sockets).

Feeds pre-encoded NewOrderSingle messages through a Connection bound to a
FIX.4.4 session with the echo application, and prints the time per message for
framing + parsing + validation + session checks + echo encoding. Also times the
codec alone (our parser and encoder against simplefix).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixserver import dictionary  # noqa: E402
from fixserver.codec import encode, parse  # noqa: E402
from fixserver.connection import Connection, SessionRegistry  # noqa: E402
from fixserver.echo import EchoApplication  # noqa: E402
from fixserver.session import Session, Timestamps  # noqa: E402
from fixserver.settings import load_sessions  # noqa: E402
from fixserver.store import MemoryStore  # noqa: E402
from fixserver.validation import Validator  # noqa: E402

CFG = """
[DEFAULT]
ConnectionType=acceptor
SocketAcceptPort=1
SenderCompID=EXCH
[SESSION]
BeginString=FIX.4.4
TargetCompID=BRK
Application=echo
"""


def order(seq: int, ts: bytes) -> bytes:
    return encode(b"FIX.4.4", [
        (35, b"D"), (34, b"%d" % seq), (49, b"BRK"), (52, ts), (56, b"EXCH"),
        (1, b"ACC1"), (11, b"ORD%08d" % seq), (21, b"1"), (38, b"100"), (40, b"2"),
        (44, b"123.45"), (54, b"1"), (55, b"MSFT"), (59, b"0"), (60, ts),
    ])


def bench_codec(n: int) -> None:
    import simplefix

    ts = Timestamps().format(time.time())
    raw = order(1, ts)
    t0 = time.perf_counter()
    for _ in range(n):
        parse(raw)
    t1 = time.perf_counter()
    fields = parse(raw).fields
    for _ in range(n):
        encode(b"FIX.4.4", fields)
    t2 = time.perf_counter()
    p = simplefix.FixParser()
    for _ in range(n // 10):
        p.append_buffer(raw)
        p.get_message()
    t3 = time.perf_counter()
    print(f"codec: parse {1e6 * (t1 - t0) / n:.2f} us, encode {1e6 * (t2 - t1) / n:.2f} us "
          f"({len(raw)}-byte NewOrderSingle); simplefix parse {1e7 * (t3 - t2) / n:.2f} us")


def bench_session(n: int, batch: int) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as f:
        f.write(CFG)
        f.flush()
        config = load_sessions(f.name)[0]
    session = Session(config, MemoryStore(), EchoApplication(),
                      Validator(dictionary.for_begin_string(b"FIX.4.4")))
    registry = SessionRegistry([session])
    conn = Connection(registry, 1, "bench", time.time())
    ts = Timestamps().format(time.time())
    logon = encode(b"FIX.4.4", [(35, b"A"), (34, b"1"), (49, b"BRK"), (52, ts), (56, b"EXCH"),
                                (98, b"0"), (108, b"30")])
    conn.receive(logon, time.time())
    conn.drain(time.time())
    chunks = [b"".join(order(2 + i * batch + j, ts) for j in range(batch))
              for i in range(n // batch)]
    t0 = time.perf_counter()
    out = 0
    for chunk in chunks:
        # The clock read per read and per write, as the acceptor does.
        conn.receive(chunk, time.time())
        out += len(conn.drain(time.time()))
    t1 = time.perf_counter()
    assert out == n, (out, n, conn.close_reason)
    print(f"session: {1e6 * (t1 - t0) / n:.2f} us per NewOrderSingle in and echo out "
          f"({n} messages, {batch} per read) = {n / (t1 - t0):,.0f} msg/s")


if __name__ == "__main__":
    bench_codec(50_000)
    bench_session(50_000, 1)
    bench_session(64 * 800, 64)
