"""The matching engine: a deterministic state machine, commands in, events out.

``Engine.process(command, ts)`` applies one command (see ``commands``) at time
``ts`` (ns, stamped by the sequencer) and returns the list of events (see
``events``) it caused. There is no I/O, no clock and no randomness: OrderIDs,
ExecIDs and TradeIDs come from counters in the engine, so the same commands
always give the same events, which is what journal replay, the hot standby and
the tests rely on.

Matching rules, in one place:

* Price-time priority: best price first, then arrival order within a price.
  A trade is at the resting order's price.
* LIMIT orders rest what does not trade (IOC and FOK never rest). MARKET orders
  trade only within the protection band (``market_protection_bps`` around the
  opposite touch at arrival) and the remainder is cancelled. A MARKET order with
  an empty opposite side is cancelled at once.
* FOK executes in full or not at all; ``min_qty`` requires at least that much to
  execute on arrival, else the order is cancelled without trading (after that it
  behaves like an order without min_qty).
* Iceberg orders show ``display_qty``; when the shown slice is filled the next
  slice is shown at the back of the queue. An incoming iceberg trades in full.
* STOP and STOP_LIMIT orders wait, outside the book, for a trade at or through
  the stop price (buy: last >= stop, sell: last <= stop) in continuous trading,
  and then enter the book at that moment as MARKET / LIMIT orders. A stop whose
  condition already holds on arrival triggers at once. Several eligible stops
  trigger one at a time: buy stops first, lowest stop price first; then sell
  stops, highest first; arrival order breaks ties.
* Cancel/replace: a lower quantity at the same price keeps priority; a price
  change or a higher quantity loses it (the order re-enters as if new and may
  trade); a quantity at or below the filled quantity cancels the order.
* Self-trade prevention applies when both orders have the same non-empty account
  and that account has an STP mode; it is not applied in auction uncrosses.
* Phases: orders are accepted but not matched in PRE_OPEN and the auction calls
  (IOC, FOK and min_qty orders are refused there since nothing can execute
  immediately); HALTED and CLOSED accept only cancels. The book is uncrossed with
  the auction algorithm (``auction.py``) when leaving an auction phase (except
  into HALTED) and whenever CONTINUOUS is entered.
* A MARKET order in a call rests at its protection price (the band through the
  opposite touch, else the last trade, else the reference price: the price risk
  reserves at), in price-time priority like a limit there, and takes part in the
  uncross as one. What the call did not execute is cancelled when the call ends
  (any phase but a call or HALTED), before the phase changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from . import reasons as R
from .auction import uncross_price
from .book import Book, BookSide, Level
from .commands import (
    AddInstrument,
    Cancel,
    Command,
    EndOfDay,
    ExpireGTD,
    MassCancel,
    NewOrder,
    Replace,
    SetPhase,
    SetSelfTradePrevention,
)
from .constants import (
    AUCTION_PHASES,
    BUY,
    CALL_PHASES,
    CLOSED,
    CONTINUOUS,
    DAY,
    FOK,
    GTC,
    GTD,
    HALTED,
    IOC,
    LIMIT,
    MARKET,
    PHASE_NAMES,
    PRICE_DECIMALS,
    PRICE_SCALE,
    SELL,
    STOP,
    STOP_LIMIT,
    STP_CANCEL_AGGRESSOR,
    STP_CANCEL_BOTH,
    STP_CANCEL_RESTING,
    STP_DECREMENT_AND_CANCEL,
    STP_NAMES,
    TIF_NAMES,
)
from .events import (
    Accepted,
    BookChanged,
    Cancelled,
    CancelRejected,
    Event,
    Expired,
    MassCancelDone,
    PhaseChanged,
    Rejected,
    Replaced,
    Restated,
    Trade,
    Triggered,
)
from .instruments import Instrument
from .orders import Order
from .protection import protection_limit

# A pre-trade risk check: called with the NewOrder (order None) or the Replace
# (order: the open order it modifies) after the engine's own validation and
# before anything changes. Return None to let it through, or (reason code, text)
# to refuse it. The risk package implements it; it must itself be deterministic.
RiskCheck = Callable[[NewOrder | Replace, Order | None], tuple[str, str] | None]

_TEXT = R.TEXT
_new_order_object = Order.__new__
_CANCEL_REQUESTED_TEXT = _TEXT[R.CANCEL_REQUESTED]
_VALID_TIF = frozenset(TIF_NAMES)
_NOT_RESTING_TIF = (IOC, FOK)


class Engine:
    """All books and open orders of the exchange, and the counters for ids.

    Build it with the instruments (or add them later with ``AddInstrument``),
    then feed it commands::

        engine = Engine([Instrument("AAPL", tick_size=100, reference_price=1_900_000)])
        events = engine.process(NewOrder(symbol="AAPL", side=BUY, order_qty=100,
                                         price=1_900_000, cl_ord_id="c1", session="S1"), ts)

    ``risk`` is an optional pre-trade check (see ``RiskCheck``); it is not part of
    the state and must be passed again to ``restore``.
    """

    __slots__ = ("books", "orders", "stp", "market_protection_bps", "risk", "next_oid",
                 "next_exec_id", "next_trade_id", "next_stop_seq", "_handlers")

    def __init__(self, instruments: Iterable[Instrument] = (), *, phase: int = CONTINUOUS,
                 market_protection_bps: int = 500,
                 self_trade_prevention: dict[str, int] | None = None,
                 risk: RiskCheck | None = None) -> None:
        self.books: dict[str, Book] = {}
        # Every open order (resting or untriggered stop) by oid.
        self.orders: dict[int, Order] = {}
        # Account -> STP mode, only for accounts with a mode other than none.
        self.stp: dict[str, int] = {}
        self.market_protection_bps = market_protection_bps
        self.risk = risk
        self.next_oid = 1
        self.next_exec_id = 1
        self.next_trade_id = 1
        self.next_stop_seq = 1
        # Dispatch by command type: one dict lookup instead of an isinstance chain.
        self._handlers: dict[type, Callable[[Any, int, list], None]] = {
            NewOrder: self._new_order,
            Cancel: self._cancel,
            Replace: self._replace,
            MassCancel: self._mass_cancel,
            SetPhase: self._set_phase,
            EndOfDay: self._end_of_day,
            ExpireGTD: self._expire_gtd,
            AddInstrument: self._add_instrument,
            SetSelfTradePrevention: self._set_stp,
        }
        if phase not in PHASE_NAMES:
            raise ValueError(f"unknown phase {phase!r}")
        for instrument in instruments:
            problem = instrument.problem()
            if problem is not None:
                raise ValueError(f"instrument {instrument!r}: {problem}")
            if instrument.symbol in self.books:
                raise ValueError(f"instrument {instrument.symbol!r} defined twice")
            self.books[instrument.symbol] = Book(instrument, phase)
        for account, mode in (self_trade_prevention or {}).items():
            if mode not in STP_NAMES:
                raise ValueError(f"account {account!r}: unknown STP mode {mode!r}")
            if mode:
                self.stp[account] = mode

    # ------------------------------------------------------------------ API

    def process(self, command: Command, ts: int = 0) -> list[Event]:
        """Apply one command at time ``ts`` and return the events it caused."""
        out: list[Event] = []
        try:
            handler = self._handlers[type(command)]
        except KeyError:
            raise TypeError(f"not a matching command: {command!r:.80}") from None
        handler(command, ts, out)
        return out

    def order(self, oid: int) -> Order | None:
        """The open order ``oid`` (do not modify it), or None."""
        return self.orders.get(oid)

    def book(self, symbol: str) -> Book:
        return self.books[symbol]

    def best_bid(self, symbol: str) -> tuple[int, int] | None:
        """(price, displayed qty) of the best bid, or None."""
        return self.books[symbol].best_bid()

    def best_ask(self, symbol: str) -> tuple[int, int] | None:
        return self.books[symbol].best_ask()

    def touch(self, symbol: str) -> tuple[int | None, int | None]:
        """(best bid price, best ask price), None for an empty side: the risk checks'
        read of the touch on every order, in one call and without (price, qty) pairs."""
        book = self.books[symbol]
        bid, ask = book.bids.best, book.asks.best
        return (bid.price if bid is not None else None,
                ask.price if ask is not None else None)

    def depth(self, symbol: str, side: int, n: int | None = None) -> list[tuple[int, int, int]]:
        """(price, displayed qty, order count) per level, best first."""
        return self.books[symbol].side(side).depth(n)

    def snapshot(self) -> bytes:
        """The whole state as bytes (see ``snapshot.py``)."""
        from .snapshot import dump
        return dump(self)

    @classmethod
    def restore(cls, data: bytes, risk: RiskCheck | None = None) -> Engine:
        """An engine in the state ``snapshot()`` captured."""
        from .snapshot import load
        return load(data, risk)

    # ------------------------------------------------------------ new order

    def _new_order(self, command: NewOrder, ts: int, out: list) -> None:
        symbol = command.symbol
        side = command.side
        qty = command.order_qty
        price = command.price
        ord_type = command.ord_type
        tif = command.time_in_force
        display_qty = command.max_floor
        min_qty = command.min_qty
        expire_time = command.expire_time
        try:
            book = self.books[symbol]
        except KeyError:
            self._reject(command, R.UNKNOWN_SYMBOL, f"unknown symbol {symbol}", out)
            return
        # Fast path: a plain limit order in continuous trading passes these few
        # checks; anything else gets the full validation, which names the problem.
        plain = (ord_type == LIMIT and book.phase == CONTINUOUS and type(qty) is int
                 and type(price) is int and qty > 0 and price > 0 and not qty % book.lot
                 and not price % book.tick and (side == BUY or side == SELL)
                 and (tif == DAY or tif == GTC or tif == IOC) and not display_qty
                 and not min_qty)
        if not plain:
            problem = self._order_problem(book, command, ts)
            if problem is not None:
                self._reject(command, problem[0], problem[1], out)
                return
            if ord_type == MARKET or ord_type == STOP:
                price = 0
            if tif != GTD:
                expire_time = 0
            if display_qty >= qty:
                display_qty = 0
        if self.risk is not None:
            verdict = self.risk(command, None)
            if verdict is not None:
                self._reject(command, *_risk_reason(verdict), out)
                return
        oid = self.next_oid
        self.next_oid = oid + 1
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        out.append(Accepted(exec_id, oid, command))
        # Order(...) inlined: the call and argument passing cost as much as the stores.
        order = _new_order_object(Order)
        order.oid = oid
        order.symbol = symbol
        order.side = side
        order.ord_type = ord_type
        order.price = price
        order.stop_price = command.stop_px
        order.qty = qty
        order.cum = 0
        order.leaves = qty
        order.visible = display_qty if display_qty else qty
        order.display = display_qty
        order.min_qty = min_qty
        order.tif = tif
        order.expire_time = expire_time
        order.cl_ord_id = command.cl_ord_id
        order.session = command.session
        order.account = command.account
        order.level = None
        order.stop_key = None

        if plain:
            # The commonest commands of all, without the general machinery of
            # _execute: a limit order that does not cross rests at once; one that
            # does is matched, then rests or (IOC) is cancelled.
            if side == BUY:
                crosses = book.top_ask <= price
                own_levels = book.bid_levels
            else:
                crosses = book.top_bid >= price
                own_levels = book.ask_levels
            if crosses:
                if side == BUY:
                    opp, own = book.asks, book.bids
                else:
                    opp, own = book.bids, book.asks
                self._match(book, opp, order, opp.sign * price, out)
                if order.leaves:
                    if tif == IOC:
                        self._emit_cancelled(order, R.IOC_REMAINDER, "", out)
                    else:
                        order.visible = order.leaves
                        level = own.add(order)
                        self.orders[oid] = order
                        out.append(BookChanged(symbol, side, price, level.qty, level.count))
                if book.stop_count:
                    self._trigger_stops(book, out)
            elif tif == IOC:
                self._emit_cancelled(order, R.IOC_REMAINDER, "", out)
            else:
                level = own_levels.get(price)
                if level is None:
                    level = (book.bids if side == BUY else book.asks).new_level(price)
                elif not level.count:
                    level.side.empty -= 1   # an empty level kept for reuse (see book.py)
                level.orders.append(order)
                level_qty = level.qty + qty
                level.qty = level_qty
                count = level.count + 1
                level.count = count
                order.level = level
                self.orders[oid] = order
                out.append(BookChanged(symbol, side, price, level_qty, count))
            return
        trades_before = self.next_trade_id
        if ord_type == LIMIT or ord_type == MARKET:
            self._execute(book, order, out)
        else:
            self._add_stop(book, order)
        if book.stop_count and (self.next_trade_id != trades_before or ord_type >= STOP):
            self._trigger_stops(book, out)

    def _order_problem(self, book: Book, command: NewOrder, ts: int) -> tuple[str, str] | None:
        """Full validation of a NewOrder: (reason code, text), or None if it is valid."""
        symbol, side, qty, price = command.symbol, command.side, command.order_qty, command.price
        ord_type, tif, stop_price = command.ord_type, command.time_in_force, command.stop_px
        display_qty, min_qty, expire_time = command.max_floor, command.min_qty, command.expire_time
        phase = book.phase
        if phase == CLOSED:
            return R.MARKET_CLOSED, f"{symbol} is closed"
        if phase == HALTED:
            return R.MARKET_HALTED, f"{symbol} is halted"
        if side != BUY and side != SELL:
            return R.INVALID_SIDE, f"invalid side {side!r}"
        if ord_type not in (LIMIT, MARKET, STOP, STOP_LIMIT):
            return R.INVALID_ORDER_TYPE, f"unsupported order type {ord_type!r}"
        if tif not in _VALID_TIF:
            return R.INVALID_TIME_IN_FORCE, f"unsupported time in force {tif!r}"
        if type(qty) is not int or qty <= 0:
            return R.INVALID_QUANTITY, f"quantity must be a positive integer, got {qty!r}"
        if qty % book.lot:
            return (R.QUANTITY_NOT_LOT_MULTIPLE,
                    f"quantity {qty} is not a multiple of the lot size {book.lot}")
        if ord_type == LIMIT or ord_type == STOP_LIMIT:
            problem = _price_problem(price, book.tick, R.INVALID_PRICE, "price")
            if problem is not None:
                return problem
        if ord_type == STOP or ord_type == STOP_LIMIT:
            problem = _price_problem(stop_price, book.tick, R.INVALID_STOP_PRICE, "stop price")
            if problem is not None:
                return problem
        if type(display_qty) is not int or display_qty < 0 or display_qty % book.lot:
            return (R.INVALID_DISPLAY_QTY, f"display quantity {display_qty!r} must be a "
                    f"non-negative multiple of the lot size {book.lot}")
        if 0 < display_qty < qty:
            if ord_type == MARKET or ord_type == STOP or tif in _NOT_RESTING_TIF:
                return R.INVALID_DISPLAY_QTY, "an iceberg must be a limit order that can rest"
        if type(min_qty) is not int or min_qty < 0 or min_qty > qty:
            return (R.INVALID_MIN_QTY,
                    f"minimum quantity {min_qty!r} must be between 0 and the order quantity")
        if tif == GTD:
            if type(expire_time) is not int or expire_time <= 0:
                return R.INVALID_EXPIRE_TIME, "a GTD order needs an expire time"
            if expire_time <= ts:
                return (R.INVALID_EXPIRE_TIME,
                        f"expire time {_utc(expire_time)} is not in the future")
        if phase != CONTINUOUS:   # a call phase: nothing can execute on arrival
            if tif in _NOT_RESTING_TIF:
                return (R.NOT_ALLOWED_IN_PHASE,
                        f"{TIF_NAMES[tif]} orders are only accepted in continuous trading")
            if min_qty:
                return R.NOT_ALLOWED_IN_PHASE, "minimum quantity is only accepted in " \
                                               "continuous trading"
        return None

    def _execute(self, book: Book, order: Order, out: list) -> None:
        """An order enters the book now (new, triggered, or replaced with loss of
        priority): match what crosses, then rest or cancel the remainder."""
        if book.phase == CONTINUOUS:
            side = order.side
            opp = book.asks if side == BUY else book.bids
            best = opp.best
            if order.ord_type == MARKET:
                if best is None:
                    self._end_incoming(order, R.MARKET_NO_LIQUIDITY, out)
                    return
                # A triggered stop is protected from its stop price, not from the touch
                # (as "stop with protection" on futures venues): the worst price it can
                # trade at is known when it is accepted, so its buying power can be held.
                limit = protection_limit(order.stop_price or best.price, side,
                                         self.market_protection_bps, book.tick)
            else:
                limit = order.price
            limit_key = opp.sign * limit
            if best is not None and best.key <= limit_key:
                needed = order.leaves if order.tif == FOK else order.min_qty
                if needed and not self._can_fill(opp, order, limit_key, needed):
                    self._end_incoming(order, R.FOK_NOT_FILLABLE if order.tif == FOK
                                       else R.MIN_QTY_NOT_AVAILABLE, out)
                    return
                self._match(book, opp, order, limit_key, out)
                if not order.leaves:
                    return   # filled, or cancelled by self-trade prevention
            elif order.tif == FOK or order.min_qty:
                self._end_incoming(order, R.FOK_NOT_FILLABLE if order.tif == FOK
                                   else R.MIN_QTY_NOT_AVAILABLE, out)
                return
            if order.ord_type == MARKET:
                self._end_incoming(order, R.MARKET_NO_LIQUIDITY, out)
                return
            if order.tif == IOC or order.tif == FOK:
                self._end_incoming(order, R.IOC_REMAINDER, out)
                return
        elif order.ord_type == MARKET:
            # A market order in a call waits for the uncross at its protection price,
            # the worst it may trade at (what risk reserved), as a limit would.
            opp = book.asks if order.side == BUY else book.bids
            base = (opp.best.price if opp.best is not None
                    else book.last_price or book.instrument.reference_price)
            order.price = protection_limit(base, order.side, self.market_protection_bps,
                                           book.tick)
        # Rest. min_qty applied to the arrival only; the shown quantity follows what
        # is left after any trades on arrival.
        order.min_qty = 0
        display = order.display
        order.visible = display if display and display < order.leaves else order.leaves
        level = (book.bids if order.side == BUY else book.asks).add(order)
        self.orders[order.oid] = order
        out.append(BookChanged(book.symbol, order.side, level.price, level.qty, level.count))

    def _can_fill(self, opp: BookSide, order: Order, limit_key: int, needed: int) -> bool:
        """Whether at least ``needed`` would execute now (FOK and min_qty). Own
        orders count as nothing; under any STP mode but cancel-resting reaching one
        ends the aggressor's execution, so the answer is then no."""
        account = order.account
        stp = self.stp.get(account, 0) if account else 0
        total = 0
        for level in opp.iter_levels(limit_key):
            for resting in level.orders:
                if resting.level is not level:
                    continue
                if stp and resting.account == account:
                    if stp == STP_CANCEL_RESTING:
                        continue
                    return False
                total += resting.leaves
                if total >= needed:
                    return True
        return False

    def _match(self, book: Book, opp: BookSide, order: Order, limit_key: int,
               out: list) -> None:
        """Trade ``order`` against the opposite side while it crosses ``limit_key``.

        The hot loop: everything it touches is bound to a local, and the
        aggressor's quantities live in locals until the end.
        """
        symbol = book.symbol
        orders = self.orders
        append = out.append
        side = order.side
        opp_side = opp.side
        oid = order.oid
        account = order.account
        stp = self.stp.get(account, 0) if account else 0
        exec_id = self.next_exec_id
        trade_id = self.next_trade_id
        leaves = order.leaves
        cum = order.cum
        last = 0
        while leaves:
            level = opp.best
            if level is None or level.key > limit_key:
                break
            queue = level.orders
            price = level.price
            # The level's totals live in locals while this level trades.
            level_qty = level.qty
            count = level.count
            while leaves and count:
                resting = queue[0]
                if resting.level is None:       # cancelled earlier: lazy deletion
                    queue.popleft()
                    level.dead -= 1
                    continue
                if stp and resting.account == account:
                    order.leaves, order.cum = leaves, cum
                    level.qty, level.count = level_qty, count
                    self.next_exec_id = exec_id
                    self._prevent_self_trade(order, resting, level, stp, out)
                    leaves = order.leaves
                    level_qty, count = level.qty, level.count
                    exec_id = self.next_exec_id
                    continue
                visible = resting.visible
                fill = leaves if leaves < visible else visible
                leaves -= fill
                cum += fill
                r_leaves = resting.leaves - fill
                r_cum = resting.cum + fill
                resting.leaves = r_leaves
                resting.cum = r_cum
                level_qty -= fill
                append(Trade(symbol, trade_id, price, fill, side, oid, exec_id, leaves, cum,
                             resting.oid, exec_id + 1, r_leaves, r_cum, False))
                trade_id += 1
                exec_id += 2
                last = price
                if fill == visible:
                    queue.popleft()
                    if r_leaves:
                        # Iceberg: the next slice is shown at the back of the queue.
                        display = resting.display
                        shown = display if display < r_leaves else r_leaves
                        resting.visible = shown
                        level_qty += shown
                        queue.append(resting)
                    else:
                        resting.level = None
                        count -= 1
                        del orders[resting.oid]
                else:
                    resting.visible = visible - fill
            level.qty = level_qty
            level.count = count
            if count:
                append(BookChanged(symbol, opp_side, price, level_qty, count))
            else:
                opp.emptied(level)
                append(BookChanged(symbol, opp_side, price, 0, 0))
        order.leaves = leaves
        order.cum = cum
        self.next_exec_id = exec_id
        self.next_trade_id = trade_id
        if last:
            book.last_price = last

    def _prevent_self_trade(self, order: Order, resting: Order, level: Level, mode: int,
                            out: list) -> None:
        """Apply ``mode`` to the aggressor ``order`` meeting its own account's order
        ``resting`` at the front of ``level``. The caller deals with an emptied level."""
        if mode == STP_DECREMENT_AND_CANCEL:
            reduce = order.leaves if order.leaves < resting.leaves else resting.leaves
            if resting.leaves == reduce:
                self._unlink_front(level, resting)
                self._emit_cancelled(resting, R.SELF_TRADE, "", out)
            else:
                resting.leaves -= reduce
                resting.qty -= reduce
                if resting.visible > resting.leaves:
                    level.qty -= resting.visible - resting.leaves
                    resting.visible = resting.leaves
                self._emit_restated(resting, reduce, out)
            if order.leaves == reduce:
                self._emit_cancelled(order, R.SELF_TRADE, "", out)
            else:
                order.leaves -= reduce
                order.qty -= reduce
                order.visible = min(order.visible, order.leaves)
                self._emit_restated(order, reduce, out)
            return
        if mode == STP_CANCEL_RESTING or mode == STP_CANCEL_BOTH:
            self._unlink_front(level, resting)
            self._emit_cancelled(resting, R.SELF_TRADE, "", out)
        if mode == STP_CANCEL_AGGRESSOR or mode == STP_CANCEL_BOTH:
            self._emit_cancelled(order, R.SELF_TRADE, "", out)

    def _unlink_front(self, level: Level, resting: Order) -> None:
        """Remove the order at the front of ``level`` (the caller deals with the level
        if it is now empty, as the matching loop does)."""
        level.orders.popleft()
        resting.level = None
        level.qty -= resting.visible
        level.count -= 1
        del self.orders[resting.oid]

    def _end_incoming(self, order: Order, reason: str, out: list) -> None:
        """Cancel what is left of an order that is not resting (never in a level)."""
        self._emit_cancelled(order, reason, "", out)

    def _emit_cancelled(self, order: Order, reason: str, cl_ord_id: str, out: list) -> None:
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        out.append(Cancelled(exec_id, order.oid, reason, _TEXT[reason], order.leaves,
                             order.cum, cl_ord_id))
        order.leaves = 0
        order.visible = 0

    def _emit_restated(self, order: Order, reduced_by: int, out: list) -> None:
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        out.append(Restated(exec_id, order.oid, R.SELF_TRADE, _TEXT[R.SELF_TRADE], reduced_by,
                            order.qty, order.leaves, order.cum))

    # ---------------------------------------------------------------- stops

    def _add_stop(self, book: Book, order: Order) -> None:
        seq = self.next_stop_seq
        self.next_stop_seq = seq + 1
        if order.side == BUY:
            order.stop_key = (order.stop_price, seq, order.oid)
            book.buy_stops.add(order.stop_key)
        else:
            order.stop_key = (-order.stop_price, seq, order.oid)
            book.sell_stops.add(order.stop_key)
        book.stop_count += 1
        self.orders[order.oid] = order

    def _remove_stop(self, book: Book, order: Order) -> None:
        """Take an untriggered stop out of its book's stop list (not out of orders)."""
        book.stops(order.side).remove(order.stop_key)
        book.stop_count -= 1
        order.stop_key = None

    def _trigger_stops(self, book: Book, out: list) -> None:
        """Trigger, one at a time, every stop the last trade price elects; each
        triggered order may trade and so elect more."""
        orders = self.orders
        while book.phase == CONTINUOUS and book.last_price:
            last = book.last_price
            if book.buy_stops and book.buy_stops[0][0] <= last:
                key = book.buy_stops.pop(0)
            elif book.sell_stops and book.sell_stops[0][0] <= -last:
                key = book.sell_stops.pop(0)
            else:
                return
            book.stop_count -= 1
            order = orders.pop(key[2])
            order.stop_key = None
            order.ord_type = MARKET if order.ord_type == STOP else LIMIT
            exec_id = self.next_exec_id
            self.next_exec_id = exec_id + 1
            out.append(Triggered(exec_id, order.oid, book.symbol, last))
            self._execute(book, order, out)

    # ------------------------------------------------------- cancel, replace

    def _open_order(self, command: Cancel | Replace, oid: Any, session: str,
                    out: list) -> Order | None:
        """The open order a Cancel or Replace refers to, or None after emitting the
        CancelRejected that says why not."""
        order = self.orders.get(oid)
        if order is None:
            if type(oid) is int and 0 < oid < self.next_oid:
                self._cancel_reject(command, R.TOO_LATE, _TEXT[R.TOO_LATE], out)
            else:
                self._cancel_reject(command, R.UNKNOWN_ORDER, f"unknown order {oid!r}", out)
            return None
        if session and order.session != session:
            self._cancel_reject(command, R.NOT_OWNER, _TEXT[R.NOT_OWNER], out)
            return None
        return order

    def _cancel(self, command: Cancel, ts: int, out: list) -> None:
        oid, cl_ord_id, session = command.order_id, command.cl_ord_id, command.session
        order = self.orders.get(oid)
        if order is None or (session and order.session != session):
            self._open_order(command, oid, session, out)   # emits the CancelRejected
            return
        level = order.level
        if level is None:       # an untriggered stop
            self._remove_open(order, Cancelled, R.CANCEL_REQUESTED, cl_ord_id, out)
            return
        # _remove_open and BookSide.remove inlined: this is a third of all traffic.
        del self.orders[oid]
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        out.append(Cancelled(exec_id, oid, R.CANCEL_REQUESTED, _CANCEL_REQUESTED_TEXT,
                             order.leaves, order.cum, cl_ord_id))
        order.level = None
        qty = level.qty - order.visible
        level.qty = qty
        count = level.count - 1
        level.count = count
        level.dead += 1
        if not count:
            level.side.emptied(level)
        elif level.dead > count + 16:
            level.compact()
        out.append(BookChanged(order.symbol, order.side, level.price, qty, count))
        order.leaves = 0
        order.visible = 0

    def _remove_open(self, order: Order, kind: type[Cancelled] | type[Expired], reason: str,
                     cl_ord_id: str, out: list) -> None:
        """End an open order: Cancelled or Expired (``kind``)."""
        oid = order.oid
        del self.orders[oid]
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        if kind is Cancelled:
            out.append(Cancelled(exec_id, oid, reason, _TEXT[reason], order.leaves, order.cum,
                                 cl_ord_id))
        else:
            out.append(Expired(exec_id, oid, reason, _TEXT[reason], order.leaves, order.cum))
        level = order.level
        if level is not None:
            # BookSide.remove inlined (the cancel hot path).
            order.level = None
            qty = level.qty - order.visible
            level.qty = qty
            count = level.count - 1
            level.count = count
            level.dead += 1
            if not count:
                level.side.emptied(level)
            elif level.dead > count + 16:
                level.compact()
            out.append(BookChanged(order.symbol, order.side, level.price, qty, count))
        else:
            self._remove_stop(self.books[order.symbol], order)
        order.leaves = 0
        order.visible = 0

    def _replace(self, command: Replace, ts: int, out: list) -> None:
        oid, cl_ord_id, session = command.order_id, command.cl_ord_id, command.session
        qty, price, stop_price = command.order_qty, command.price, command.stop_px
        order = self._open_order(command, oid, session, out)
        if order is None:
            return
        book = self.books[order.symbol]
        problem = self._replace_problem(book, order, qty, price, stop_price)
        if problem is not None:
            self._cancel_reject(command, problem[0], problem[1], out)
            return
        if self.risk is not None:
            verdict = self.risk(command, order)
            if verdict is not None:
                self._cancel_reject(command, *_risk_reason(verdict), out)
                return
        if qty <= order.cum:
            self._remove_open(order, Cancelled, R.REPLACED_TO_FILLED, cl_ord_id, out)
            return
        if order.ord_type == MARKET or order.ord_type == STOP:
            price = 0
        leaves = qty - order.cum
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        trades_before = self.next_trade_id

        if order.stop_key is not None:       # an untriggered stop: no queue to keep
            new_stop = stop_price or order.stop_price
            order.qty, order.leaves, order.price = qty, leaves, price
            order.visible = min(order.display, leaves) if order.display else leaves
            order.cl_ord_id = cl_ord_id
            kept = new_stop == order.stop_price
            if not kept:   # re-file under the new stop price, behind earlier stops
                self._remove_stop(book, order)
                order.stop_price = new_stop
                del self.orders[order.oid]
                self._add_stop(book, order)
            out.append(Replaced(exec_id, order.oid, cl_ord_id, price, qty, leaves, order.cum,
                                order.stop_price, kept))
            if book.stop_count:
                self._trigger_stops(book, out)
            return

        side = book.bids if order.side == BUY else book.asks
        level = order.level
        assert level is not None
        if price == order.price and qty <= order.qty:
            # Same price, not more quantity: keeps its place in the queue.
            old_visible = order.visible
            visible = old_visible if old_visible < leaves else leaves
            order.qty, order.leaves, order.visible = qty, leaves, visible
            order.cl_ord_id = cl_ord_id
            level.qty += visible - old_visible
            out.append(Replaced(exec_id, order.oid, cl_ord_id, price, qty, leaves, order.cum,
                                order.stop_price, True))
            out.append(BookChanged(book.symbol, order.side, price, level.qty, level.count))
            return
        # Loses priority: out of the queue, and back in as if it had just arrived.
        side.remove(order)
        del self.orders[order.oid]
        new = order.clone()
        new.qty, new.leaves, new.price, new.cl_ord_id = qty, leaves, price, cl_ord_id
        new.visible = min(new.display, leaves) if new.display else leaves
        out.append(Replaced(exec_id, new.oid, cl_ord_id, price, qty, leaves, new.cum,
                            new.stop_price, False))
        out.append(BookChanged(book.symbol, order.side, level.price, level.qty, level.count))
        self._execute(book, new, out)
        if book.stop_count and self.next_trade_id != trades_before:
            self._trigger_stops(book, out)

    def _replace_problem(self, book: Book, order: Order, qty: Any, price: Any,
                         stop_price: Any) -> tuple[str, str] | None:
        phase = book.phase
        if phase == CLOSED:
            return R.MARKET_CLOSED, f"{book.symbol} is closed"
        if phase == HALTED:
            return R.MARKET_HALTED, f"{book.symbol} is halted"
        if type(qty) is not int or qty <= 0:
            return R.INVALID_QUANTITY, f"quantity must be a positive integer, got {qty!r}"
        if qty % book.lot:
            return (R.QUANTITY_NOT_LOT_MULTIPLE,
                    f"quantity {qty} is not a multiple of the lot size {book.lot}")
        if order.ord_type == LIMIT or order.ord_type == STOP_LIMIT:
            problem = _price_problem(price, book.tick, R.INVALID_PRICE, "price")
            if problem is not None:
                return problem
        if stop_price and order.stop_key is not None:
            problem = _price_problem(stop_price, book.tick, R.INVALID_STOP_PRICE, "stop price")
            if problem is not None:
                return problem
        return None

    def _mass_cancel(self, command: MassCancel, ts: int, out: list) -> None:
        cl_ord_id, session, account = command.cl_ord_id, command.session, command.account
        symbol, side = command.symbol, command.side
        targets = [o for o in self.orders.values()
                   if (not session or o.session == session)
                   and (not account or o.account == account)
                   and (not symbol or o.symbol == symbol)
                   and (not side or o.side == side)]
        targets.sort(key=_by_oid)    # a documented order, independent of dict history
        for order in targets:
            self._remove_open(order, Cancelled, R.MASS_CANCEL, cl_ord_id, out)
        out.append(MassCancelDone(len(targets), command))

    # ------------------------------------------------------ expiry, phases

    def _end_of_day(self, command: EndOfDay, ts: int, out: list) -> None:
        symbol = command.symbol
        if symbol and symbol not in self.books:
            self._reject(command, R.UNKNOWN_SYMBOL, f"unknown symbol {symbol}", out)
            return
        self._expire([o for o in self.orders.values()
                       if o.tif == DAY and (not symbol or o.symbol == symbol)],
                      R.DAY_EXPIRED, out)

    def _expire_gtd(self, command: ExpireGTD, ts: int, out: list) -> None:
        symbol = command.symbol
        if symbol and symbol not in self.books:
            self._reject(command, R.UNKNOWN_SYMBOL, f"unknown symbol {symbol}", out)
            return
        self._expire([o for o in self.orders.values()
                      if o.tif == GTD and o.expire_time <= ts
                      and (not symbol or o.symbol == symbol)],
                     R.GTD_EXPIRED, out)

    def _expire(self, targets: list[Order], reason: str, out: list) -> None:
        targets.sort(key=_by_oid)
        for order in targets:
            self._remove_open(order, Expired, reason, "", out)

    def _set_phase(self, command: SetPhase, ts: int, out: list) -> None:
        symbol, phase = command.symbol, command.phase
        if phase not in PHASE_NAMES:
            self._reject(command, R.INVALID_PHASE, f"unknown phase {phase!r}", out)
            return
        if symbol:
            book = self.books.get(symbol)
            if book is None:
                self._reject(command, R.UNKNOWN_SYMBOL, f"unknown symbol {symbol}", out)
                return
            books = [book]
        else:
            books = [self.books[s] for s in sorted(self.books)]
        for book in books:
            old = book.phase
            if old == phase:
                continue
            # The call ends: leaving an auction (a halt only suspends it), and
            # whenever continuous trading starts on a book a call may have crossed.
            if (old in AUCTION_PHASES and phase != HALTED) or phase == CONTINUOUS:
                self._uncross(book, out)
            # Only a call (or a halt of one) can hold market orders.
            if (old in CALL_PHASES or old == HALTED) and phase not in CALL_PHASES \
                    and phase != HALTED:
                self._cancel_call_market_orders(book, out)
            book.phase = phase
            out.append(PhaseChanged(book.symbol, old, phase))
            if phase == CONTINUOUS and book.stop_count:
                self._trigger_stops(book, out)

    def _cancel_call_market_orders(self, book: Book, out: list) -> None:
        """The call is over: market orders it did not execute do not carry into
        another phase. They rest in this book's levels, so only its orders are looked
        at (not every open order of the exchange, once per book at a phase change)."""
        left = [o for side in (book.bids, book.asks) for level in side.iter_levels()
                for o in level.live_orders() if o.ord_type == MARKET]
        left.sort(key=_by_oid)
        for order in left:
            self._remove_open(order, Cancelled, R.AUCTION_MARKET_UNFILLED, "", out)

    def _uncross(self, book: Book, out: list) -> None:
        """Run the call auction: execute the uncross volume at the uncross price in
        price-time priority (see ``auction.py``), buy orders in the aggressor fields."""
        if not book.crossed():
            return
        totals = []
        for side in (book.bids, book.asks):
            totals.append([(level.price, sum(o.leaves for o in level.live_orders()))
                           for level in side.iter_levels()])
        result = uncross_price(totals[0], totals[1], book.instrument.reference_price, book.tick)
        if result is None:
            return
        price, remaining = result
        symbol = book.symbol
        touched: dict[tuple[int, int], Level] = {}
        while remaining:
            bid_level, ask_level = book.bids.best, book.asks.best
            assert bid_level is not None and ask_level is not None
            buy, sell = _front(bid_level), _front(ask_level)
            fill = min(buy.visible, sell.visible, remaining)
            remaining -= fill
            self._fill_resting(book.bids, bid_level, buy, fill)
            self._fill_resting(book.asks, ask_level, sell, fill)
            exec_id, trade_id = self.next_exec_id, self.next_trade_id
            self.next_exec_id, self.next_trade_id = exec_id + 2, trade_id + 1
            out.append(Trade(symbol, trade_id, price, fill, BUY, buy.oid, exec_id, buy.leaves,
                             buy.cum, sell.oid, exec_id + 1, sell.leaves, sell.cum, True))
            touched[(BUY, bid_level.price)] = bid_level
            touched[(SELL, ask_level.price)] = ask_level
        for (side_code, level_price), level in touched.items():
            out.append(BookChanged(symbol, side_code, level_price, level.qty, level.count))
        book.last_price = price

    def _fill_resting(self, side: BookSide, level: Level, order: Order, fill: int) -> None:
        """Fill ``fill`` (at most its visible quantity) of the order at the front of
        ``level``, with the same iceberg and removal rules as continuous matching."""
        order.leaves -= fill
        order.cum += fill
        order.visible -= fill
        level.qty -= fill
        if order.visible:
            return
        level.orders.popleft()
        if order.leaves:
            shown = min(order.display, order.leaves)
            order.visible = shown
            level.qty += shown
            level.orders.append(order)
            return
        order.level = None
        level.count -= 1
        del self.orders[order.oid]
        if not level.count:
            side.emptied(level)

    # ------------------------------------------------------ configuration

    def _add_instrument(self, command: AddInstrument, ts: int, out: list) -> None:
        symbol, phase = command.symbol, command.phase
        instrument = Instrument(symbol, command.tick_size, command.lot_size,
                                command.reference_price)
        problem = instrument.problem()
        if problem is not None:
            self._reject(command, R.INVALID_INSTRUMENT, problem, out)
        elif phase not in PHASE_NAMES:
            self._reject(command, R.INVALID_PHASE, f"unknown phase {phase!r}", out)
        elif symbol in self.books:
            self._reject(command, R.DUPLICATE_SYMBOL, f"{symbol!r} is already defined", out)
        else:
            self.books[symbol] = Book(instrument, phase)
            out.append(PhaseChanged(symbol, 0, phase))

    def _set_stp(self, command: SetSelfTradePrevention, ts: int, out: list) -> None:
        account, mode = command.account, command.mode
        if mode not in STP_NAMES:
            self._reject(command, R.INVALID_STP_MODE, f"unknown STP mode {mode!r}", out)
        elif mode:
            self.stp[account] = mode
        else:
            self.stp.pop(account, None)

    # ------------------------------------------------------------- helpers

    def _reject(self, command: Command, reason: str, text: str, out: list) -> None:
        exec_id = self.next_exec_id
        self.next_exec_id = exec_id + 1
        out.append(Rejected(exec_id, reason, text, command))

    def _cancel_reject(self, command: Cancel | Replace, reason: str, text: str,
                       out: list) -> None:
        out.append(CancelRejected(reason, text, command))


def _price_problem(price: Any, tick: int, code: str, what: str) -> tuple[str, str] | None:
    if type(price) is not int or price <= 0:
        return code, f"{what} must be a positive integer, got {price!r}"
    if price % tick:
        return (R.PRICE_NOT_ON_TICK if code == R.INVALID_PRICE else code,
                f"{what} {_decimal(price)} is not a multiple of the tick size {_decimal(tick)}")
    return None


def _decimal(value: int) -> str:
    """A fixed-point price as the decimal a person (and the FIX message) writes."""
    whole, frac = divmod(value, PRICE_SCALE)
    return f"{whole}.{frac:0{PRICE_DECIMALS}d}".rstrip("0").rstrip(".") if frac else str(whole)


def _utc(ns: Any) -> str:
    """Nanoseconds since the epoch as a FIX UTCTimestamp, for texts."""
    if type(ns) is not int:
        return repr(ns)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(ns // 1_000_000_000))


def _risk_reason(verdict: Any) -> tuple[str, str]:
    """A risk hook's answer as (code, text): it may give a bare code."""
    if isinstance(verdict, str):
        return verdict, R.TEXT.get(verdict, R.TEXT[R.RISK_REJECTED])
    code, text = verdict
    return code, text


def _front(level: Level) -> Order:
    """The first live order of a level, dropping cancelled entries on the way."""
    queue = level.orders
    while queue[0].level is not level:
        queue.popleft()
        level.dead -= 1
    return queue[0]


def _by_oid(order: Order) -> int:
    return order.oid
