"""A QuickFIX (C++ engine) initiator driven from the tests: the broker side of interop.

QuickFIX calls the application on its own threads; the test thread waits for
what it needs with bounded waits (``wait_for``), never with a bare sleep.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import quickfix as fix

from tests.conftest import REPO

SOH = "\x01"


@dataclass(frozen=True)
class Seen:
    """One message the initiator sent or received, as QuickFIX saw it."""

    direction: str  # "in" or "out"
    admin: bool
    raw: str
    at: float

    def fields(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for item in self.raw.split(SOH):
            tag, sep, value = item.partition("=")
            if sep and tag.isdigit():
                out.setdefault(int(tag), value)
        return out

    @property
    def msg_type(self) -> str:
        return self.fields().get(35, "")

    def get(self, tag: int) -> str | None:
        return self.fields().get(tag)


class _App(fix.Application):
    """Records every callback (QuickFIX's method names); state is kept by the owner."""

    def __init__(self, owner: QuickFixInitiator) -> None:
        super().__init__()
        self.owner = owner

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        self.owner._event("logon")

    def onLogout(self, session_id):
        self.owner._event("logout")

    def toAdmin(self, message, session_id):
        credentials = self.owner.credentials
        if credentials is not None and message.getHeader().getField(35) == "A":
            # Username (553) / Password (554) on every Logon, in FIX 4.2 as in 4.4.
            message.setField(fix.StringField(553, credentials[0]))
            message.setField(fix.StringField(554, credentials[1]))
        self.owner._record("out", True, message)

    def fromAdmin(self, message, session_id):
        self.owner._record("in", True, message)

    def toApp(self, message, session_id):
        self.owner._record("out", False, message)

    def fromApp(self, message, session_id):
        self.owner._record("in", False, message)


class QuickFixInitiator:
    """One QuickFIX SocketInitiator session against our server, restartable.

    Its FileStore lives in ``directory`` and survives stop()/start(), as a
    broker's would; ``set_next_target_seq`` edits it while stopped to make the
    initiator believe it missed messages.
    """

    def __init__(self, directory: Path, port: int, begin_string: str, sender: str,
                 target: str, heartbeat: int = 1, dictionary: Path | None = None,
                 credentials: tuple[str, str] | None = None,
                 ssl: Mapping[str, str] | None = None) -> None:
        """``credentials``: (Username, Password) to put on every Logon it sends.
        ``ssl``: be an SSLSocketInitiator (TLS), with these settings in [DEFAULT],
        named as QuickFIX C++ names them (``SSLProtocol``,
        ``CertificationAuthoritiesFile``, ``ClientCertificateFile``,
        ``ClientCertificateKeyFile``, ...); its quickfix must be built with OpenSSL."""
        self.directory = directory
        self.credentials = credentials
        self.ssl = ssl
        ssl_lines = "".join(f"{key}={value}\n" for key, value in (ssl or {}).items())
        directory.mkdir(parents=True, exist_ok=True)
        self.store_dir = directory / "store"
        self.log_dir = directory / "log"
        self.begin_string = begin_string
        if dictionary is None:
            name = begin_string.replace(".", "") + ".xml"  # FIX.4.4 -> FIX44.xml
            dictionary = REPO / "dictionaries" / name
        self.settings_path = directory / "initiator.cfg"
        self.settings_path.write_text(
            "[DEFAULT]\n"
            "ConnectionType=initiator\n"
            "SocketConnectHost=127.0.0.1\n"
            f"SocketConnectPort={port}\n"
            f"HeartBtInt={heartbeat}\n"
            "ReconnectInterval=1\n"
            "LogonTimeout=5\n"
            "StartTime=00:00:00\n"
            "EndTime=00:00:00\n"
            f"FileStorePath={self.store_dir}\n"
            f"FileLogPath={self.log_dir}\n"
            "UseDataDictionary=Y\n"
            f"DataDictionary={dictionary}\n"
            "ResetOnLogon=N\n"
            "ResetOnLogout=N\n"
            "ResetOnDisconnect=N\n"
            f"{ssl_lines}"
            "[SESSION]\n"
            f"BeginString={begin_string}\n"
            f"SenderCompID={sender}\n"
            f"TargetCompID={target}\n"
        )
        self.session_id = fix.SessionID(begin_string, sender, target)
        self._cond = threading.Condition()
        self.seen: list[Seen] = []
        self.events: list[str] = []
        self._initiator: fix.SocketInitiator | fix.SSLSocketInitiator | None = None
        self._keep: tuple[object, ...] = ()

    # -- callbacks (QuickFIX threads) ---------------------------------------------------

    def _record(self, direction: str, admin: bool, message: fix.Message) -> None:
        seen = Seen(direction, admin, message.toString(), time.monotonic())
        with self._cond:
            self.seen.append(seen)
            self._cond.notify_all()

    def _event(self, name: str) -> None:
        with self._cond:
            self.events.append(name)
            self._cond.notify_all()

    # -- control (test thread) ------------------------------------------------------------

    def start(self) -> None:
        assert self._initiator is None, "already started"
        settings = fix.SessionSettings(str(self.settings_path))
        app = _App(self)
        store = fix.FileStoreFactory(settings)
        logs = fix.FileLogFactory(settings)
        kind = fix.SSLSocketInitiator if self.ssl is not None else fix.SocketInitiator
        self._initiator = kind(app, store, settings, logs)
        self._keep = (settings, app, store, logs)  # QuickFIX holds raw pointers to these
        self._initiator.start()

    def stop(self, force: bool = False) -> None:
        """Log out (unless ``force``) and disconnect; waits for QuickFIX's threads."""
        initiator, self._initiator = self._initiator, None
        if initiator is not None:
            initiator.stop(force)
            del initiator
            self._keep = ()

    def send(self, message: fix.Message) -> None:
        assert fix.Session.sendToTarget(message, self.session_id)

    def logged_on(self) -> bool:
        session = fix.Session.lookupSession(self.session_id)
        return session is not None and session.isLoggedOn()

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` (called under the lock) holds; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"events={self.events}, last messages:\n"
                                         + "\n".join(s.direction + " " + s.raw.replace(SOH, "|")
                                                     for s in self.seen[-15:]))
                self._cond.wait(left)

    def wait_logon(self, count: int = 1, timeout: float = 10.0) -> None:
        self.wait_for(lambda: self.events.count("logon") >= count, timeout,
                      f"logon #{count}")

    def messages(self, direction: str, msg_type: str, since: int = 0) -> list[Seen]:
        with self._cond:
            return [s for s in self.seen[since:]
                    if s.direction == direction and s.msg_type == msg_type]

    def mark(self) -> int:
        """An index into ``seen``: pass it as ``since`` to look only at what follows."""
        with self._cond:
            return len(self.seen)

    # -- the FileStore, while stopped ------------------------------------------------------

    def _seqnums_file(self) -> Path:
        files = list(self.store_dir.glob("*.seqnums"))
        assert len(files) == 1, f"expected one QuickFIX seqnums file, found {files}"
        return files[0]

    def stored_seqnums(self) -> tuple[int, int]:
        """(next sender, next target) MsgSeqNum as the QuickFIX FileStore holds them."""
        m = re.match(r"\s*(\d+)\s*:\s*(\d+)", self._seqnums_file().read_text())
        assert m, "unreadable QuickFIX seqnums file"
        return int(m[1]), int(m[2])

    def set_next_target_seq(self, seq: int) -> None:
        """Roll the expected incoming MsgSeqNum back, as if messages had been missed."""
        assert self._initiator is None, "edit the store only while stopped"
        sender, _ = self.stored_seqnums()
        self._seqnums_file().write_text(f"{sender:010d} : {seq:010d}")


def new_order_single(begin_string: str, cl_ord_id: str, symbol: str = "IBM",
                     qty: int = 100, price: str = "12.5") -> fix.Message:
    """A limit NewOrderSingle valid for our dictionaries (FIX.4.2 needs HandlInst)."""
    msg = fix.Message()
    header = msg.getHeader()
    header.setField(fix.BeginString(begin_string))
    header.setField(fix.MsgType(fix.MsgType_NewOrderSingle))
    msg.setField(fix.ClOrdID(cl_ord_id))
    msg.setField(fix.HandlInst("1"))
    msg.setField(fix.Symbol(symbol))
    msg.setField(fix.Side(fix.Side_BUY))
    msg.setField(fix.TransactTime())
    msg.setField(fix.OrderQty(qty))
    msg.setField(fix.OrdType(fix.OrdType_LIMIT))
    msg.setField(fix.Price(float(price)))
    return msg
