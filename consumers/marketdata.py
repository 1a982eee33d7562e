"""FIX market data: the books and trades, to the sessions that ask for them.

A consumer of the event stream: every batch moves its level books
(``marketdata.book``) and then each subscription is sent what changed, in one
message per subscription and batch: a MarketDataIncrementalRefresh (X) with NEW,
CHANGE and DELETE per level of the subscriber's window (MarketDepth) and a NEW per
trade, or, for MDUpdateType=0, a MarketDataSnapshotFullRefresh (W) of each symbol
that changed. A MarketDataRequest (V) reaches it from the session's application
(:meth:`MarketData.request`): a snapshot is answered at once, a subscription with a
snapshot and then its updates, an unsubscription by MDReqID. Subscriptions end
with the session's logon.

Market data is not stored for resends (``Session.send(persist=False)``): a
ResendRequest gap-fills it, and a subscriber that missed some asks again.

A subscriber that does not read as fast as the book moves never holds up the
exchange nor grows its memory without bound. Once more than ``backlog_limit``
messages wait to be written to its session, its updates are held back: for levels
only which (symbol, side) changed is kept, and when it has caught up it is sent
what its window looks like then (the latest state of each level replaces the
older ones); the trades meanwhile are kept, up to ``held_trades_limit``, past
which they are dropped and it is sent fresh snapshots instead. Catching up is
checked at every batch and by the server's timer (:meth:`MarketData.catch_up`).

It also answers SecurityStatusRequest (e) and TradingSessionStatusRequest (g) with
the phase of an instrument (f) or of the market (h), and pushes them to those that
subscribed whenever the phase changes (``marketdata.status``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fixserver.codec import Message
from fixserver.session import BusinessReject, Session
from marketdata import messages, security_list, status
from marketdata.book import (
    CHANGE,
    DELETE,
    NEW,
    Level,
    LevelAction,
    LevelBook,
    indicative_uncross,
    level_diff,
)
from marketdata.messages import INDICATIVE_CLOSE, INDICATIVE_OPEN
from marketdata.messages import Entry as MDEntry
from marketdata.requests import (
    BID,
    DUPLICATE_MD_REQ_ID,
    INCREMENTAL,
    OFFER,
    STATISTICS,
    SUBSCRIBE,
    TRADE,
    UNSUBSCRIBE,
    MarketDataRequest,
    Refused,
    read,
)
from matching.constants import BUY, CALL_PHASES, CLOSED, CLOSING_AUCTION, CONTINUOUS, SELL
from matching.events import BookChanged, PhaseChanged, Trade
from matching.stats import DayStats, closed, new_day, traded
from venue.commands import EndTradingDay
from venue.config import InstrumentConfig
from venue.stream import Entry

log = logging.getLogger("consumers.marketdata")

SIDES = ((BUY, BID), (SELL, OFFER))
STATISTIC_KEYS = (*STATISTICS, INDICATIVE_OPEN, INDICATIVE_CLOSE)


@dataclass
class Subscription:
    """One session's subscription, and what it has been shown of each side (for
    incremental refreshes)."""

    session: Session
    request: MarketDataRequest
    shown: dict[tuple[str, int], dict[int, Level]] = field(default_factory=dict)
    # Changed since the subscriber was last sent an update: sides, and trades.
    dirty: dict[tuple[str, int], dict[int, None]] = field(default_factory=dict)
    trades: list[tuple[str, MDEntry]] = field(default_factory=list)
    stats_dirty: dict[str, None] = field(default_factory=dict)
    shown_stats: dict[tuple[str, bytes], int | tuple[int, int]] = field(default_factory=dict)
    resync: bool = False       # too much was held back: send snapshots instead
    # The MarketData.last_seq its shown state was last complete at (-1: never).
    synced: int = -1

    def wants_statistics(self) -> bool:
        return any(t in STATISTICS for t in self.request.entry_types)

    def wants(self, entry_type: bytes) -> bool:
        return entry_type in self.request.entry_types


class MarketData:
    """The level books of every listed symbol and the subscriptions to them."""

    def __init__(self, instruments: Mapping[str, InstrumentConfig],
                 clock: Callable[[], float] = time.time, *,
                 backlog_limit: int = 1000, held_trades_limit: int = 10_000) -> None:
        """``instruments``: exchange.toml's; ``clock``: wall-clock seconds, the
        SendingTime of updates (read per batch); the limits: see the module
        docstring."""
        self.instruments = instruments
        self.security_lists = 0
        self.books = {symbol: LevelBook(symbol) for symbol in instruments}
        self.clock = clock
        self.backlog_limit = backlog_limit
        self.held_trades_limit = held_trades_limit
        self.last_seq = 0          # the last command whose events the books reflect
        self.subscriptions: dict[tuple[str, bytes], Subscription] = {}
        self.messages_sent = 0
        self.phases = dict.fromkeys(self.books, CONTINUOUS)
        self.stats = {symbol: DayStats() for symbol in self.books}
        # During a call: the (price, volume) the book would uncross at, if any; and
        # the symbols in a call, so that continuous trading does no work for it.
        self.indicative: dict[str, tuple[int, int]] = {}
        self.in_call: frozenset[str] = frozenset()
        self.market_phase = CONTINUOUS
        # (session id, request id) -> (session, symbol; "" for the trading session).
        self.status_subscriptions: dict[tuple[str, bytes], tuple[Session, str]] = {}
        # During a batch: the changes computed for a kind of subscription, which every
        # other subscription of that kind that was up to date before it gets as well
        # (ten identical subscribers: one diff, not ten). None outside a batch.
        self._shared: dict[tuple, tuple[list[tuple[str, bytes, MDEntry]], bytes]] | None = None
        self._batch_start = 0

    # -- the state at start-up ------------------------------------------------------

    def load(self, levels: Iterable[tuple[str, int, Level]], last_seq: int,
             phases: dict[str, int] | None = None,
             stats: dict[str, DayStats] | None = None) -> None:
        """Start from the core's state as recovered: (symbol, side, level) of every
        level, the seq it covers, each instrument's phase and statistics."""
        self.stats.update(stats or {})
        for symbol, side, level in levels:
            self.books[symbol].set_level(side, level)
        self.last_seq = last_seq
        if phases:
            self.phases.update(phases)
            if len(set(self.phases.values())) == 1:
                self.market_phase = next(iter(self.phases.values()))
        self.in_call = frozenset(s for s, p in self.phases.items() if p in CALL_PHASES)
        for symbol in self.in_call:
            self._indicate(symbol)

    # -- requests -------------------------------------------------------------------

    def request(self, session: Session, msg: Message, now: float) -> None:
        """Serve a MarketDataRequest from ``session``; a MarketDataRequestReject if it
        cannot be."""
        try:
            request = read(msg, self.books)
            if request.subscription == UNSUBSCRIBE:
                self._unsubscribe(session, request)
                return
            key = (session.session_id, request.md_req_id)
            if request.subscription == SUBSCRIBE and key in self.subscriptions:
                raise Refused(request.md_req_id, DUPLICATE_MD_REQ_ID,
                              f"MDReqID {request.md_req_id.decode(errors='replace')} is "
                              "already a subscription of this session")
        except Refused as refused:
            self._send(session, b"Y", messages.reject(refused), now, header=False)
            return
        subscription = Subscription(session, request)
        for symbol in request.symbols:
            self._send(session, b"W", self._snapshot(subscription, symbol), now)
        subscription.synced = self.last_seq
        if request.subscription == SUBSCRIBE:
            self.subscriptions[key] = subscription
            log.info("%s: market data subscription %s: %s", session.session_id,
                     request.md_req_id.decode(errors="replace"), ", ".join(request.symbols))

    def _unsubscribe(self, session: Session, request: MarketDataRequest) -> None:
        if self.subscriptions.pop((session.session_id, request.md_req_id), None) is None:
            # MDReqRejReason has no value for it: a Text alone.
            raise Refused(request.md_req_id, None,
                          f"MDReqID {request.md_req_id.decode(errors='replace')} is not a "
                          "subscription of this session")

    def drop(self, session: Session) -> None:
        """End the subscriptions of ``session`` (it logged out or lost its connection)."""
        for key in [k for k in self.subscriptions if k[0] == session.session_id]:
            del self.subscriptions[key]
        for key in [k for k in self.status_subscriptions if k[0] == session.session_id]:
            del self.status_subscriptions[key]

    # -- the instruments --------------------------------------------------------------

    def security_list(self, session: Session, msg: Message, now: float) -> None:
        """Answer a SecurityListRequest."""
        self.security_lists += 1
        body = security_list.answer(security_list.read(msg), b"L%d" % self.security_lists,
                                    self.instruments)
        self._send(session, b"y", body, now, header=False)

    # -- trading status ---------------------------------------------------------------

    def security_status(self, session: Session, msg: Message, now: float) -> None:
        """Answer a SecurityStatusRequest (a BusinessReject if it cannot be)."""
        request = status.read_security_status(msg, self.books)
        if self._status_subscription(session, request, request.symbol):
            return
        self._send(session, b"f", status.security_status(
            session.begin_string, request.req_id, request.symbol,
            self.phases[request.symbol], False), now, header=False)

    def trading_session_status(self, session: Session, msg: Message, now: float) -> None:
        """Answer a TradingSessionStatusRequest (a BusinessReject if it cannot be)."""
        request = status.read_trading_session_status(msg)
        if self._status_subscription(session, request, ""):
            return
        self._send(session, b"h", status.trading_session_status(
            session.begin_string, request.req_id, self.market_phase, False), now, header=False)

    def _status_subscription(self, session: Session, request: status.StatusRequest,
                             symbol: str) -> bool:
        """Subscribe or unsubscribe; True when there is nothing to answer."""
        key = (session.session_id, request.req_id)
        if request.subscription == status.UNSUBSCRIBE:
            if self.status_subscriptions.pop(key, None) is None:
                raise BusinessReject(status.UNKNOWN_ID, f"{request.req_id.decode(errors='replace')}"
                                     " is not a status subscription of this session",
                                     request.req_id)
            return True
        if request.subscription == status.SUBSCRIBE:
            self.status_subscriptions[key] = (session, symbol)
        return False

    def _push_status(self, changed: Iterable[str], market_changed: bool, now: float) -> None:
        for (_, req_id), (session, symbol) in list(self.status_subscriptions.items()):
            if not session.logged_on:
                self.drop(session)
            elif symbol and symbol in changed:
                self._send(session, b"f", status.security_status(
                    session.begin_string, req_id, symbol, self.phases[symbol], True), now,
                    header=False)
            elif not symbol and market_changed:
                self._send(session, b"h", status.trading_session_status(
                    session.begin_string, req_id, self.market_phase, True), now, header=False)

    def _snapshot(self, subscription: Subscription, symbol: str) -> list:
        """The W body of ``symbol`` for ``subscription``, remembering what it shows."""
        book = self.books[symbol]
        depth = subscription.request.depth
        entries: list[MDEntry] = []
        for side, entry_type in SIDES:
            if subscription.wants(entry_type):
                levels = book.top(side, depth)
                entries += messages.level_entries(entry_type, levels)
                subscription.shown[(symbol, side)] = {lv.price: lv for lv in levels}
        if subscription.wants(TRADE) and book.last is not None:
            entries.append(MDEntry(TRADE, trade=book.last))
        if subscription.wants_statistics():
            values = self._statistics(subscription, symbol)
            entries += [messages.statistic_entry(t, v) for t, v in values.items()]
            for t in STATISTIC_KEYS:
                subscription.shown_stats.pop((symbol, t), None)
            subscription.shown_stats.update({(symbol, t): v for t, v in values.items()})
        return messages.snapshot(subscription.request.md_req_id, symbol, entries,
                                 subscription.session.begin_string >= b"FIX.4.4")

    def _statistics(self, subscription: Subscription, symbol: str
                    ) -> dict[bytes, int | tuple[int, int]]:
        """The statistics of ``symbol`` that ``subscription`` asked for, by key: an
        MDEntryType, or during a call the indicative uncross's INDICATIVE_* key (it
        goes with the opening or closing price)."""
        values: dict[bytes, int | tuple[int, int]] = {
            t: v for t, v in messages.statistics(self.stats[symbol]).items()
            if subscription.wants(t)}
        indicative = self.indicative.get(symbol)
        if indicative is not None:
            key = (INDICATIVE_CLOSE if self.phases[symbol] == CLOSING_AUCTION
                   else INDICATIVE_OPEN)
            if subscription.wants(key[:1]):
                values[key] = indicative
        return values

    # -- the event stream -------------------------------------------------------------

    def on_batch(self, entries: Sequence[Entry]) -> None:
        books = self.books
        touched: dict[tuple[str, int], dict[int, None]] = {}   # side -> prices changed
        trades: list[tuple[str, MDEntry]] = []
        phased: dict[str, None] = {}
        stats = self.stats
        counted: dict[str, None] = {}       # symbols whose statistics changed
        for entry in entries:
            for event in entry.events:
                kind = type(event)
                if kind is PhaseChanged:
                    if event.symbol in self.phases:
                        self.phases[event.symbol] = event.new_phase
                        phased[event.symbol] = None
                        if event.new_phase == CLOSED:
                            stats[event.symbol] = closed(stats[event.symbol])
                            counted[event.symbol] = None
                elif kind is BookChanged:
                    book = books.get(event.symbol)
                    if book is not None:
                        book.apply_level(event)
                        touched.setdefault((event.symbol, event.side), {})[event.price] = None
                elif kind is Trade:
                    book = books.get(event.symbol)
                    if book is not None:
                        print_ = book.apply_trade(event, entry.ts)
                        trades.append((event.symbol, MDEntry(TRADE, trade=print_)))
                        stats[event.symbol] = traded(stats[event.symbol], event.last_px,
                                                     event.last_qty)
                        counted[event.symbol] = None
            if type(entry.command) is EndTradingDay:
                # As order entry does, after the command's events (matching.stats).
                for symbol in stats:
                    stats[symbol] = new_day(stats[symbol])
                counted.update(dict.fromkeys(stats))
        if phased:
            self.in_call = frozenset(s for s, p in self.phases.items() if p in CALL_PHASES)
        if self.in_call or phased:
            for symbol in phased.keys() | {s for s, _ in touched if s in self.in_call}:
                if self._indicate(symbol):
                    counted[symbol] = None
        self._batch_start = self.last_seq
        if entries:
            self.last_seq = entries[-1].seq
        if phased:
            phases = set(self.phases.values())
            market = len(phases) == 1 and self.market_phase not in phases
            if market:
                self.market_phase = phases.pop()
            if self.status_subscriptions:
                self._push_status(phased, market, self.clock())
        if (touched or trades or counted) and self.subscriptions:
            now = self.clock()
            self._shared = {}
            try:
                for subscription in list(self.subscriptions.values()):
                    self._update(subscription, touched, trades, counted, now)
            finally:
                self._shared = None

    def _indicate(self, symbol: str) -> bool:
        """Compute ``symbol``'s indicative uncross again; whether it changed."""
        old = self.indicative.get(symbol)
        now = None
        if self.phases[symbol] in CALL_PHASES:
            inst = self.instruments[symbol]
            now = indicative_uncross(self.books[symbol], inst.reference_price, inst.tick_size)
        if now is None:
            self.indicative.pop(symbol, None)
        else:
            self.indicative[symbol] = now
        return now != old

    def _update(self, subscription: Subscription,
                touched: dict[tuple[str, int], dict[int, None]],
                trades: list[tuple[str, MDEntry]], counted: dict[str, None],
                now: float) -> None:
        """Note what changed for ``subscription``, and send it unless its session is
        behind."""
        request = subscription.request
        if not subscription.session.logged_on:
            self.drop(subscription.session)
            return
        symbols = request.symbols
        for (symbol, side), prices in touched.items():
            if symbol in symbols and subscription.wants(BID if side == BUY else OFFER):
                subscription.dirty.setdefault((symbol, side), {}).update(prices)
        if subscription.wants_statistics():
            subscription.stats_dirty.update(dict.fromkeys(s for s in counted if s in symbols))
        if subscription.wants(TRADE):
            held = subscription.trades
            held += [(symbol, e) for symbol, e in trades if symbol in symbols]
            if len(held) > self.held_trades_limit:
                held.clear()
                subscription.resync = True
        self._flush(subscription, now)

    def catch_up(self, now: float | None = None) -> int:
        """Send the subscribers that were behind and are no more what they were held
        back; the number of subscriptions brought up to date."""
        now = self.clock() if now is None else now
        caught = 0
        for subscription in list(self.subscriptions.values()):
            if (subscription.dirty or subscription.trades or subscription.stats_dirty
                    or subscription.resync):
                caught += self._flush(subscription, now)
        return caught

    def _flush(self, subscription: Subscription, now: float) -> bool:
        """Send ``subscription`` what is held for it, unless its session is behind."""
        session = subscription.session
        if session.backlog > self.backlog_limit:
            return False
        request = subscription.request
        if subscription.resync or request.update_type != INCREMENTAL:
            changed = dict.fromkeys([s for s, _ in subscription.dirty]
                                    + [s for s, _ in subscription.trades]
                                    + list(subscription.stats_dirty))
            if subscription.resync:
                changed = dict.fromkeys(request.symbols)
            for symbol in changed:
                self._send(session, b"W", self._snapshot(subscription, symbol), now)
        else:
            kind = (request.symbols, request.entry_types, request.depth, session.begin_string)
            # Shared only by those whose shown state was complete before this batch.
            shared = self._shared if subscription.synced == self._batch_start else None
            known = shared.get(kind) if shared is not None else None
            if known is None:
                changes = self._changes(subscription)
                encoded = (messages.incremental_entries(
                    changes, session.begin_string >= b"FIX.4.4") if changes else b"")
                if shared is not None:
                    shared[kind] = (changes, encoded)
            else:
                changes, encoded = known
                self._follow(subscription, changes)
            if changes:
                self._send(session, b"X", messages.with_md_req_id(request.md_req_id, encoded),
                           now)
        subscription.dirty.clear()
        subscription.trades.clear()
        subscription.stats_dirty.clear()
        subscription.resync = False
        subscription.synced = self.last_seq
        return True

    def _changes(self, subscription: Subscription) -> list[tuple[str, bytes, MDEntry]]:
        """(symbol, MDUpdateAction, entry) of everything held for ``subscription``,
        noting them as shown."""
        request = subscription.request
        changes: list[tuple[str, bytes, MDEntry]] = []
        for (symbol, side), prices in subscription.dirty.items():
            entry_type = BID if side == BUY else OFFER
            if request.depth:
                actions = self._window_changes(subscription, symbol, side)
            else:
                actions = self._level_changes(subscription, symbol, side, prices)
            changes += [(symbol, action, e)
                        for action, e in messages.action_entries(entry_type, actions)]
        changes += [(symbol, b"0", e) for symbol, e in subscription.trades]
        for symbol in subscription.stats_dirty:
            changes += self._statistics_changes(subscription, symbol)
        return changes

    @staticmethod
    def _follow(subscription: Subscription, changes: list[tuple[str, bytes, MDEntry]]
                ) -> None:
        """Note as shown to ``subscription`` the changes another one was sent."""
        for symbol, action, entry in changes:
            if entry.level is not None:
                side = BUY if entry.entry_type == BID else SELL
                shown = subscription.shown.setdefault((symbol, side), {})
                if action == DELETE:
                    shown.pop(entry.level.price, None)
                else:
                    shown[entry.level.price] = entry.level
            elif entry.trade is None:
                key = (symbol, messages.statistic_key(entry))
                if action == DELETE:
                    subscription.shown_stats.pop(key, None)
                else:
                    subscription.shown_stats[key] = (entry.indicative if entry.indicative
                                                     is not None else entry.value)

    def _window_changes(self, subscription: Subscription, symbol: str, side: int
                        ) -> list[LevelAction]:
        """What moves the subscriber's top-N window of a side to the book's."""
        now_levels = self.books[symbol].top(side, subscription.request.depth)
        actions = level_diff(subscription.shown.get((symbol, side), {}), now_levels)
        if actions:
            subscription.shown[(symbol, side)] = {lv.price: lv for lv in now_levels}
        return actions

    def _level_changes(self, subscription: Subscription, symbol: str, side: int,
                       prices: Iterable[int]) -> list[LevelAction]:
        """The whole book: only the levels at ``prices`` can have changed (a diff of
        the side would cost its every level at every change)."""
        book = self.books[symbol]
        levels = book.side(side)
        shown = subscription.shown.setdefault((symbol, side), {})
        actions = []
        for price in prices:
            level, old = levels.get(price), shown.get(price)
            if level is None:
                if old is not None:
                    actions.append(LevelAction(DELETE, 0, old))
                    del shown[price]
            elif level != old:
                actions.append(LevelAction(NEW if old is None else CHANGE,
                                           book.rank(side, price), level))
                shown[price] = level
        return actions

    def _statistics_changes(self, subscription: Subscription, symbol: str
                            ) -> list[tuple[str, bytes, MDEntry]]:
        """NEW, CHANGE and DELETE of the statistics the subscriber was shown."""
        values = self._statistics(subscription, symbol)
        shown = subscription.shown_stats
        out = []
        for t in STATISTIC_KEYS:
            old, value = shown.get((symbol, t)), values.get(t)
            if value is None and old is not None:
                out.append((symbol, b"2", messages.statistic_entry(t, old)))
                del shown[(symbol, t)]
            elif value is not None and value != old:
                out.append((symbol, b"0" if old is None else b"1",
                            messages.statistic_entry(t, value)))
                shown[(symbol, t)] = value
        return out

    def _send(self, session: Session, msg_type: bytes, body: list | bytes, now: float,
              header: bool = True) -> None:
        session.send(msg_type, body, messages.header(self.last_seq) if header else (),
                     now=now, persist=False)
        self.messages_sent += 1

