"""A small driver for the sans-IO Session: a fake clock, client-side message
building and an independent decoder of what the session sends.

Nothing here sleeps or opens a socket: time is a :class:`FakeClock`, and every
call into the session is given its ``now`` (``clock.wall``, wall-clock seconds
since the epoch, the only time a Session knows).

The encoder and decoder are written independently of ``fixserver.codec`` (plain
``bytes.split`` and ``sum()`` for CheckSum), so a codec bug cannot hide a
session bug: every outgoing frame is checked for BodyLength and CheckSum.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable

from fixserver.codec import Message, parse
from fixserver.dictionary import for_begin_string
from fixserver.session import Session
from fixserver.settings import SessionConfig
from fixserver.store import MemoryStore
from fixserver.validation import Validator

SOH = b"\x01"
# An instant whose milliseconds are exact in binary floating point (.250).
WALL_START = 1_700_000_000.25

OUR_ID = "ISLD"
THEIR_ID = "TW44"

FieldIn = tuple[int, str | bytes | int]


def base_config(**overrides: object) -> SessionConfig:
    """A FIX.4.4 acceptor session ISLD <- TW44 with QuickFIX's defaults."""
    config = SessionConfig(
        begin_string="FIX.4.4",
        sender_comp_id=OUR_ID,
        target_comp_id=THEIR_ID,
        port=5001,
        address="127.0.0.1",
        heartbeat_interval=30,
        reset_on_logon=False,
        reset_on_logout=False,
        reset_on_disconnect=False,
        file_store_path="store",
        data_dictionary=None,
        use_data_dictionary=True,
        check_comp_id=True,
        check_latency=True,
        max_latency=120,
        validate_user_defined_fields=True,
        validate_fields_out_of_order=True,
        validate_fields_have_values=True,
        start_time=None,
        end_time=None,
        logon_timeout=10,
        logout_timeout=2,
        persist_messages=True,
        resend_request_chunk_size=0,
        send_redundant_resend_requests=False,
        application="echo",
        cancel_on_disconnect=False,
    )
    return dataclasses.replace(config, **overrides)


def validator_for(begin_string: str) -> Validator:
    return Validator(for_begin_string(begin_string.encode()))


class FakeClock:
    """Wall-clock time (seconds since the epoch) that only moves when a test says so."""

    def __init__(self, wall: float = WALL_START) -> None:
        self.wall = wall

    def advance(self, seconds: float) -> None:
        self.wall += seconds

    def utc(self, offset: float = 0.0) -> str:
        """A UTCTimestamp (with milliseconds) of the wall clock plus ``offset`` seconds."""
        t = self.wall + offset
        second = int(t)
        ms = round((t - second) * 1000)
        return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)) + f".{ms:03d}"


# -- an independent encoder / decoder -----------------------------------------------


def _b(value: str | bytes | int) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def checksum(data: bytes) -> int:
    return sum(data) % 256


def encode_raw(begin_string: str, fields: Iterable[FieldIn]) -> bytes:
    """``8=..|9=..|`` + fields + ``10=..|`` with a correct BodyLength and CheckSum."""
    body = b"".join(b"%d=%b\x01" % (tag, _b(v)) for tag, v in fields)
    head = b"8=%b\x019=%d\x01" % (begin_string.encode(), len(body))
    msg = head + body
    return msg + b"10=%03d\x01" % checksum(msg)


class Out:
    """One message the session sent, decoded into (tag, value) pairs in wire order."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        assert raw.endswith(SOH), raw
        items = raw[:-1].split(SOH)
        pairs = []
        for item in items:
            tag, sep, value = item.partition(b"=")
            assert sep, f"field without '=' in {raw!r}"
            pairs.append((int(tag), value.decode("latin-1")))
        assert [t for t, _ in pairs[:3]] == [8, 9, 35], f"header does not start 8, 9, 35: {raw!r}"
        assert pairs[-1][0] == 10, f"CheckSum is not last: {raw!r}"
        body_start = raw.index(SOH, raw.index(b"\x019=") + 1) + 1
        cs_at = raw.rindex(b"10=")
        assert int(pairs[1][1]) == cs_at - body_start, f"wrong BodyLength in {raw!r}"
        assert int(pairs[-1][1]) == checksum(raw[:cs_at]), f"wrong CheckSum in {raw!r}"
        assert len(pairs[-1][1]) == 3, f"CheckSum not three digits in {raw!r}"
        self.pairs: list[tuple[int, str]] = pairs

    @property
    def msg_type(self) -> str:
        return self.pairs[2][1]

    @property
    def seq(self) -> int:
        return int(self.get(34))

    def get(self, tag: int, default: str | None = None) -> str | None:
        for t, v in self.pairs:
            if t == tag:
                return v
        return default

    def __contains__(self, tag: int) -> bool:
        return any(t == tag for t, _ in self.pairs)

    def tags(self) -> list[int]:
        return [t for t, _ in self.pairs]

    def body(self, header_tags: Iterable[int] = (8, 9, 35, 34, 43, 49, 52, 56, 97, 122,
                                                  115, 128, 116, 129, 144, 145, 10)) -> list:
        """The fields that are not header or trailer fields, in wire order."""
        skip = set(header_tags)
        return [(t, v) for t, v in self.pairs if t not in skip]

    def __repr__(self) -> str:
        return "Out(" + "|".join(f"{t}={v}" for t, v in self.pairs) + ")"


def decode_all(raws: Iterable[bytes]) -> list[Out]:
    return [Out(r) for r in raws]


# -- applications -----------------------------------------------------------------


class RecordingApp:
    """An application that records what it is given; ``handler`` may answer or raise."""

    def __init__(self, handler=None) -> None:  # noqa: ANN001 - callable(session, msg)
        self.logons = 0
        self.logouts = 0
        self.messages: list[Message] = []
        self.times: list[float] = []  # the ``now`` given with each message
        self.handler = handler

    def on_logon(self, session: Session) -> None:
        self.logons += 1

    def on_logout(self, session: Session) -> None:
        self.logouts += 1

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self.messages.append(msg)
        self.times.append(now)
        if self.handler is not None:
            self.handler(session, msg)

    def received(self, tag: int = 11) -> list[str]:
        """The value of ``tag`` (ClOrdID by default) of each message received, in order."""
        return [(m.get(tag) or b"").decode() for m in self.messages]


# -- the driver -------------------------------------------------------------------


class Driver:
    """Plays the counterparty of one Session, with a fake clock.

    ``send`` builds a message as the client would (header 35, 34, 49, 52, 56 with
    a fresh SendingTime from the fake wall clock), hands it to the session and
    returns what the session sent in answer, decoded.
    """

    def __init__(self, config: SessionConfig | None = None, store: MemoryStore | None = None,
                 app: object | None = None, clock: FakeClock | None = None,
                 validator: Validator | None | bool = True) -> None:
        self.config = config or base_config()
        self.clock = clock or FakeClock()
        self.store = store if store is not None else MemoryStore()
        self.app = app if app is not None else RecordingApp()
        if validator is True:
            validator = validator_for(self.config.begin_string)
        self.session = Session(self.config, self.store, self.app, validator or None)
        self.next_seq = 1  # the client's next MsgSeqNum
        self.begin_string = self.config.begin_string
        self.sender = self.config.target_comp_id  # the client's CompID
        self.target = self.config.sender_comp_id

    # -- building -----------------------------------------------------------------

    def build(self, msg_type: str, *fields: FieldIn, seq: int | None = None,
              header: Iterable[FieldIn] = (), sending_time: str | None = None,
              begin_string: str | None = None, sender: str | None = None,
              target: str | None = None) -> bytes:
        """Encode a client message. ``seq`` defaults to the next client MsgSeqNum
        (which then advances); ``header`` fields go after 56 (e.g. 43, 97, 122, 115)."""
        if seq is None:
            seq = self.next_seq
            self.next_seq += 1
        head: list[FieldIn] = [(35, msg_type), (34, seq), (49, sender or self.sender),
                               (52, sending_time or self.clock.utc()), (56, target or self.target)]
        head.extend(header)
        return encode_raw(begin_string or self.begin_string, [*head, *fields])

    def message(self, *args: object, **kwargs: object) -> Message:
        return parse(self.build(*args, **kwargs))  # type: ignore[arg-type]

    # -- driving ----------------------------------------------------------------------

    def connect(self) -> None:
        self.session.on_connect(self.clock.wall)

    def deliver(self, raw: bytes) -> list[Out]:
        self.session.on_message(parse(raw), self.clock.wall)
        return self.drain()

    def send(self, msg_type: str, *fields: FieldIn, **kwargs: object) -> list[Out]:
        return self.deliver(self.build(msg_type, *fields, **kwargs))  # type: ignore[arg-type]

    def drain(self) -> list[Out]:
        """Everything the session has to write, as the acceptor would take it: in
        batches until nothing is left (a large resend comes out in several)."""
        raw: list[bytes] = []
        while batch := self.session.drain(self.clock.wall):
            raw.extend(batch)
        return decode_all(raw)

    def logon(self, heartbeat: int = 30, *, reset: bool = False, connect: bool = True,
              **kwargs: object) -> list[Out]:
        if connect:
            self.connect()
        fields: list[FieldIn] = [(98, 0), (108, heartbeat)]
        if reset:
            fields.append((141, "Y"))
        return self.send("A", *fields, **kwargs)  # type: ignore[arg-type]

    def order(self, cl_ord_id: str = "ID", *, symbol: str = "INTC", **kwargs: object) -> list[Out]:
        """A NewOrderSingle as the QuickFIX suite sends it."""
        return self.send("D", *order_fields(cl_ord_id, self.clock.utc(), symbol),
                         **kwargs)  # type: ignore[arg-type]

    def advance(self, seconds: float) -> list[Out]:
        """Let ``seconds`` pass, waking the session at each of its deadlines on the way
        (as the acceptor does), and return what it sent."""
        clock = self.clock
        target = clock.wall + seconds
        for _ in range(100_000):
            if self.session.disconnect_reason is not None:
                break
            deadline = self.session.next_deadline()
            if deadline is None or deadline > target:
                break
            clock.advance(max(deadline, clock.wall) - clock.wall)
            before = (self.session.next_deadline(), len(self.session.outbox))
            self.session.on_timer(clock.wall)
            if (self.session.next_deadline(), len(self.session.outbox)) == before \
                    and self.session.disconnect_reason is None:
                # Nothing happened at the deadline (float rounding): step past it.
                clock.advance(min(1e-3, target - clock.wall))
                self.session.on_timer(clock.wall)
        else:
            raise AssertionError("the session's deadline never moved forward")
        clock.advance(target - clock.wall)
        return self.drain()

    @property
    def disconnected(self) -> bool:
        return self.session.disconnect_reason is not None


def order_fields(cl_ord_id: str, transact_time: str, symbol: str = "INTC") -> list[FieldIn]:
    """The body of the suite's NewOrderSingle: 11, 21, 40, 54, 55, 60."""
    return [(11, cl_ord_id), (21, 3), (40, 1), (54, 1), (55, symbol), (60, transact_time)]


def logged_on(**kwargs: object) -> Driver:
    """A Driver whose session has received and answered a Logon (HeartBtInt 30)."""
    d = Driver(**kwargs)  # type: ignore[arg-type]
    out = d.logon()
    assert [m.msg_type for m in out] == ["A"], out
    return d


def types(out: Iterable[Out]) -> list[str]:
    return [m.msg_type for m in out]
