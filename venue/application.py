"""The venue's applications behind FIX sessions (``Application=`` in sessions.cfg).

``ExchangeApplication`` (order entry): each order-entry message becomes a journaled
command (``requests.py``) submitted to the exchange, which sequences it at once and
runs it at the next group commit; its reports reach the session through the event
stream. A RequestForPositions is a query, answered at once from the risk ledger.
``DropCopyApplication``: a drop-copy session only receives. ``MarketDataApplication``
(Application=marketdata): market data only. On both order-entry and market-data
sessions a MarketDataRequest is served by the market-data consumer
(``consumers/marketdata.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Protocol

import msgspec

from fixserver.codec import Message
from fixserver.session import BusinessReject, Session, UnsupportedMessageType
from risk.accounts import AccountView
from risk.throttle import Throttle

from . import positions, requests
from .commands import CancelOnDisconnect, SessionLogon, SessionLogout
from .exchange import Exchange
from .orderentry import AUDIT_UNAVAILABLE

log = logging.getLogger("venue.application")


class MarketDataService(Protocol):
    """What serves MarketDataRequests and the status requests
    (consumers.marketdata.MarketData)."""

    def request(self, session: Session, msg: Message, now: float) -> None: ...

    def security_status(self, session: Session, msg: Message, now: float) -> None: ...

    def trading_session_status(self, session: Session, msg: Message, now: float) -> None: ...

    def security_list(self, session: Session, msg: Message, now: float) -> None: ...

    def drop(self, session: Session) -> None: ...


# The market-data requests: MarketDataRequest, SecurityStatusRequest,
# TradingSessionStatusRequest and SecurityListRequest.
MARKET_DATA = frozenset((b"V", b"e", b"g", b"x"))


class ExchangeApplication:
    """Order entry on sessions with Application=exchange."""

    HANDLERS = {b"D": requests.new_order, b"F": requests.cancel, b"G": requests.replace,
                b"H": requests.status, b"q": requests.mass_cancel}
    # Every application message accepted: the orders above, and RequestForPositions
    # and the market-data requests, queries answered at once rather than sequenced.
    MSG_TYPES = frozenset((*HANDLERS, b"AN", *MARKET_DATA))

    def __init__(self, exchange: Exchange, market_data: MarketDataService | None = None
                 ) -> None:
        self.exchange = exchange
        self.market_data = market_data
        # At the edge, before sequencing: a throttled message is never journaled, so the
        # wall clock here does not make replay differ.
        self.throttle = Throttle(exchange.config.max_messages_per_second, 1_000_000_000)
        self.position_reports = 0
        self.throttled = 0        # messages refused by the throttle (metrics)
        # Set by the composition module: the reason new orders are refused now (the
        # audit trail's spool is full), or None. Such an order is journaled with the
        # reason as its error and rejected by order entry, so it is audited as well.
        self.order_gate: Callable[[], str | None] | None = None

    # Logons and logouts are journaled for every session: the audit trail records
    # them, and those of CancelOnDisconnect=Y sessions drive the core.
    def on_logon(self, session: Session) -> None:
        self.exchange.submit(SessionLogon(session.session_id,
                                          session.config.cancel_on_disconnect))

    def on_logout(self, session: Session) -> None:
        if self.market_data is not None:
            self.market_data.drop(session)
        reason = session.disconnect_reason or "connection lost"
        if session.config.cancel_on_disconnect:
            log.info("%s: cancel on disconnect", session.session_id,
                     extra={"session": session.session_id})
            self.exchange.submit(CancelOnDisconnect(session.session_id, reason))
        else:
            self.exchange.submit(SessionLogout(session.session_id, reason))

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        if msg.msg_type not in self.MSG_TYPES:
            raise UnsupportedMessageType(msg.msg_type)
        if self.throttle.check(session.session_id, self.exchange.clock()) is not None:
            self.throttled += 1
            raise BusinessReject(0, f"throttled: more than {self.throttle.max_messages} "
                                 "messages in one second on this session",
                                 msg.get(11) or msg.get(710))   # ClOrdID, else PosReqID
        handler = self.HANDLERS.get(msg.msg_type)
        if handler is None:
            if msg.msg_type in MARKET_DATA:
                if self.market_data is None:
                    raise UnsupportedMessageType(msg.msg_type)
                market_data(self.exchange, self.market_data, session, msg, now)
            else:
                self._positions(session, msg, now)
            return
        command = handler(msg, session.session_id)
        if self.order_gate is not None and msg.msg_type == b"D" and not command.error_code:
            refusal = self.order_gate()
            if refusal is not None:
                command = msgspec.structs.replace(command, error_code=AUDIT_UNAVAILABLE,
                                                  error_text=refusal)
        self.exchange.submit(command)

    def _positions(self, session: Session, msg: Message, now: float) -> None:
        if session.begin_string < b"FIX.4.4":
            raise UnsupportedMessageType(msg.msg_type)   # AN/AO/AP are FIX 4.4
        exchange = self.exchange
        exchange.flush()   # the answer reflects every order received before it
        risk = exchange.risk
        self.position_reports += 1

        def view_of(account: str) -> AccountView | None:
            return risk.account(account) if account in risk.ledger.firm else None

        def reference(symbol: str) -> int:
            inst = risk.instruments.get(symbol)
            return inst.reference_price if inst is not None else 0

        today = dt.datetime.fromtimestamp(exchange.clock() / 1e9, dt.UTC).strftime("%Y%m%d")
        for msg_type, body in positions.answer(
                msg, f"P{self.position_reports}", exchange.accounts_of(session.session_id),
                view_of, risk.mark, reference, today.encode()):
            session.send(msg_type, body, now=now)


class DropCopyApplication:
    """Drop-copy sessions only receive: any application message is refused."""

    def on_logon(self, session: Session) -> None:
        pass        # it has no orders, so nothing to cancel on disconnect either

    def on_logout(self, session: Session) -> None:
        pass

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        # BusinessRejectReason 6 (Not authorized) exists from FIX 4.3; 4.2 has 0 (Other).
        reason = 6 if session.begin_string >= b"FIX.4.3" else 0
        raise BusinessReject(reason, "Not authorized: a drop-copy session is read only",
                             msg.get(11))


class MarketDataApplication:
    """Sessions with Application=marketdata: MarketDataRequests only."""

    def __init__(self, exchange: Exchange, market_data: MarketDataService) -> None:
        self.exchange = exchange
        self.market_data = market_data

    def on_logon(self, session: Session) -> None:
        pass

    def on_logout(self, session: Session) -> None:
        self.market_data.drop(session)

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        if msg.msg_type not in MARKET_DATA:
            raise UnsupportedMessageType(msg.msg_type)
        market_data(self.exchange, self.market_data, session, msg, now)



def market_data(exchange: Exchange, service: MarketDataService, session: Session,
                msg: Message, now: float) -> None:
    """Hand a market-data request to ``service``, after every order received
    before it has run (a snapshot shows them)."""
    exchange.flush()
    if msg.msg_type == b"V":
        service.request(session, msg, now)
    elif msg.msg_type == b"e":
        service.security_status(session, msg, now)
    elif msg.msg_type == b"g":
        service.trading_session_status(session, msg, now)
    else:
        service.security_list(session, msg, now)
