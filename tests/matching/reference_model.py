"""A slow, obviously-correct reference model of the matching rules.

No levels, no queues, no lazy deletion, no caches: the book is the list of open
orders, and "the best order" is recomputed each time by sorting that list on
(price priority, arrival sequence). Losing priority (an iceberg replenishment,
a replace) just means taking a new sequence number. The auction tries every
price on the tick grid. It supports one instrument and the behaviours the
property tests generate: limit (DAY, GTC, IOC, FOK), market, stop and
stop-limit orders, icebergs, MinQty, self-trade prevention, cancels, replaces,
mass cancels, end of day and phase changes.

It reports the engine's event records (``matching.events``) with the fields it
does not model left blank (``UNMODELLED``: ExecIDs, TradeIDs, texts, ClOrdIDs,
the commands carried back, the symbol), and no market-data events, which the
property test checks separately; ``normalise`` blanks the same fields of an
engine event, so that the two compare with ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import msgspec

from matching import reasons as R
from matching.commands import Cancel, EndOfDay, MassCancel, NewOrder, Replace, SetPhase
from matching.constants import (
    AUCTION_PHASES,
    BUY,
    CALL_PHASES,
    CLOSED,
    CONTINUOUS,
    DAY,
    FOK,
    HALTED,
    IOC,
    LIMIT,
    MARKET,
    STOP,
    STOP_LIMIT,
    STP_CANCEL_AGGRESSOR,
    STP_CANCEL_BOTH,
    STP_CANCEL_RESTING,
    STP_DECREMENT_AND_CANCEL,
)
from matching.events import (
    Accepted,
    BookChanged,
    Cancelled,
    CancelRejected,
    Expired,
    MassCancelDone,
    PhaseChanged,
    Rejected,
    Replaced,
    Restated,
    Trade,
    Triggered,
)

# Per event type, the fields the model does not reproduce: left blank (BLANK) in its
# events, and blanked in the engine's by ``normalise``. Everything else is compared.
BLANK: Final = None
UNMODELLED: Final[dict[type, frozenset[str]]] = {
    Accepted: frozenset(("exec_id", "order")),
    Rejected: frozenset(("exec_id", "text", "command")),
    Trade: frozenset(("symbol", "trade_id", "aggressor_exec_id", "resting_exec_id")),
    Cancelled: frozenset(("exec_id", "text", "cl_ord_id")),
    Replaced: frozenset(("exec_id", "cl_ord_id")),
    CancelRejected: frozenset(("text", "command")),
    Triggered: frozenset(("exec_id", "symbol")),
    Expired: frozenset(("exec_id", "text")),
    PhaseChanged: frozenset(("symbol",)),
    MassCancelDone: frozenset(("command",)),
    Restated: frozenset(("exec_id", "reason", "text")),
}


def normalise(event: Any) -> Any:
    """The comparable part of an engine event: the same record with its unmodelled
    fields blank (None for market data)."""
    if type(event) is BookChanged:
        return None
    return msgspec.structs.replace(event, **dict.fromkeys(UNMODELLED[type(event)], BLANK))


def event(cls: type, **fields: Any) -> Any:
    """An event as the model reports it: every modelled field given, the rest blank."""
    blank = UNMODELLED[cls]
    names = cls.__struct_fields__           # type: ignore[attr-defined]
    assert set(fields) == set(names) - blank, (cls.__name__, sorted(fields))
    return cls(**{name: fields.get(name, BLANK) for name in names})


@dataclass
class MOrder:
    oid: int
    side: int
    ord_type: int
    price: int
    stop_price: int
    qty: int
    display: int
    min_qty: int
    tif: int
    session: str
    account: str
    cum: int = 0
    leaves: int = 0
    visible: int = 0
    seq: int = 0          # time priority while resting
    stop_seq: int = 0     # arrival order among stops
    resting: bool = False


class Model:
    """The reference exchange for one instrument."""

    def __init__(self, symbol: str, tick: int, lot: int, reference: int, phase: int,
                 stp: dict[str, int], band_bps: int) -> None:
        self.symbol, self.tick, self.lot, self.reference = symbol, tick, lot, reference
        self.phase = phase
        self.stp = stp
        self.band_bps = band_bps
        self.orders: dict[int, MOrder] = {}      # open orders: resting and untriggered stops
        self.next_oid = 1
        self.clock = 0                           # source of priority sequence numbers
        self.last = 0
        self.out: list[Any] = []

    # -------------------------------------------------------------- helpers

    def tick_seq(self) -> int:
        self.clock += 1
        return self.clock

    def book(self, side: int) -> list[MOrder]:
        """Resting orders of one side, best first."""
        resting = [o for o in self.orders.values() if o.resting and o.side == side]
        if side == BUY:
            return sorted(resting, key=lambda o: (-o.price, o.seq))
        return sorted(resting, key=lambda o: (o.price, o.seq))

    @staticmethod
    def crosses(side: int, resting_price: int, limit: int) -> bool:
        return resting_price <= limit if side == BUY else resting_price >= limit

    def stp_mode(self, order: MOrder) -> int:
        return self.stp.get(order.account, 0) if order.account else 0

    def cancelled(self, order: MOrder, reason: str) -> None:
        self.out.append(event(Cancelled, order_id=order.oid, reason=reason,
                              cancelled_qty=order.leaves, cum_qty=order.cum))
        order.leaves = 0
        self.orders.pop(order.oid, None)
        order.resting = False

    # -------------------------------------------------------------- commands

    def process(self, command: Any, ts: int) -> list[Any]:
        self.out = []
        kind = type(command)
        if kind is NewOrder:
            self.new_order(command, ts)
        elif kind is Cancel:
            self.cancel(command)
        elif kind is Replace:
            self.replace(command)
        elif kind is MassCancel:
            self.mass_cancel(command)
        elif kind is SetPhase:
            self.set_phase(command.phase)
        elif kind is EndOfDay:
            for order in sorted(self.orders.values(), key=lambda o: o.oid):
                if order.tif == DAY:
                    self.out.append(event(Expired, order_id=order.oid, reason=R.DAY_EXPIRED,
                                          expired_qty=order.leaves, cum_qty=order.cum))
                    del self.orders[order.oid]
        else:
            raise AssertionError(f"model does not support {command!r}")
        self.trigger_stops()
        return self.out

    def problem(self, c: NewOrder, ts: int) -> str | None:
        if c.symbol != self.symbol:
            return R.UNKNOWN_SYMBOL
        if self.phase == CLOSED:
            return R.MARKET_CLOSED
        if self.phase == HALTED:
            return R.MARKET_HALTED
        if c.order_qty <= 0:
            return R.INVALID_QUANTITY
        if c.order_qty % self.lot:
            return R.QUANTITY_NOT_LOT_MULTIPLE
        if c.ord_type in (LIMIT, STOP_LIMIT):
            if c.price <= 0:
                return R.INVALID_PRICE
            if c.price % self.tick:
                return R.PRICE_NOT_ON_TICK
        if c.ord_type in (STOP, STOP_LIMIT) and (c.stop_px <= 0 or c.stop_px % self.tick):
            return R.INVALID_STOP_PRICE
        if c.max_floor < 0 or c.max_floor % self.lot:
            return R.INVALID_DISPLAY_QTY
        if 0 < c.max_floor < c.order_qty and (c.ord_type in (MARKET, STOP)
                                              or c.time_in_force in (IOC, FOK)):
            return R.INVALID_DISPLAY_QTY
        if c.min_qty < 0 or c.min_qty > c.order_qty:
            return R.INVALID_MIN_QTY
        if self.phase != CONTINUOUS and (c.time_in_force in (IOC, FOK) or c.min_qty):
            return R.NOT_ALLOWED_IN_PHASE
        return None

    def new_order(self, c: NewOrder, ts: int) -> None:
        problem = self.problem(c, ts)
        if problem is not None:
            self.out.append(event(Rejected, reason=problem))
            return
        oid = self.next_oid
        self.next_oid += 1
        self.out.append(event(Accepted, order_id=oid))
        order = MOrder(oid, c.side, c.ord_type,
                       0 if c.ord_type in (MARKET, STOP) else c.price, c.stop_px, c.order_qty,
                       c.max_floor if c.max_floor < c.order_qty else 0, c.min_qty,
                       c.time_in_force, c.session, c.account, leaves=c.order_qty)
        if order.ord_type in (STOP, STOP_LIMIT):
            order.stop_seq = self.tick_seq()
            self.orders[oid] = order
        else:
            self.enter(order)

    def enter(self, order: MOrder) -> None:
        """The order arrives in the book now: match, then rest or cancel."""
        if self.phase == CONTINUOUS:
            opposite = self.book(3 - order.side)
            if order.ord_type == MARKET:
                if not opposite:
                    self.cancelled(order, R.MARKET_NO_LIQUIDITY)
                    return
                limit = self.band_limit(order.side, order.stop_price or opposite[0].price)
            else:
                limit = order.price
            crossing = [r for r in opposite if self.crosses(order.side, r.price, limit)]
            needed = order.leaves if order.tif == FOK else order.min_qty
            reason = R.FOK_NOT_FILLABLE if order.tif == FOK else R.MIN_QTY_NOT_AVAILABLE
            if needed and not self.available(order, crossing, needed):
                self.cancelled(order, reason)
                return
            if crossing:
                self.match(order, limit)
                if not order.leaves:
                    return
            if order.ord_type == MARKET:
                self.cancelled(order, R.MARKET_NO_LIQUIDITY)
                return
            if order.tif in (IOC, FOK):
                self.cancelled(order, R.IOC_REMAINDER)
                return
        elif order.ord_type == MARKET:     # waits for the uncross, protected
            opposite = self.book(3 - order.side)
            order.price = self.band_limit(
                order.side, opposite[0].price if opposite else self.last or self.reference)
        order.min_qty = 0
        order.visible = min(order.display, order.leaves) if order.display else order.leaves
        order.seq = self.tick_seq()
        order.resting = True
        self.orders[order.oid] = order

    def band_limit(self, side: int, touch: int) -> int:
        band = touch * self.band_bps // 10_000
        if side == BUY:
            return (touch + band) // self.tick * self.tick
        low = -(-(touch - band) // self.tick) * self.tick
        return max(low, self.tick)

    def available(self, order: MOrder, crossing: list[MOrder], needed: int) -> bool:
        mode = self.stp_mode(order)
        total = 0
        for resting in crossing:
            if mode and resting.account == order.account:
                if mode == STP_CANCEL_RESTING:
                    continue
                return False
            total += resting.leaves
            if total >= needed:
                return True
        return False

    def match(self, order: MOrder, limit: int) -> None:
        while order.leaves:
            opposite = self.book(3 - order.side)
            if not opposite or not self.crosses(order.side, opposite[0].price, limit):
                return
            resting = opposite[0]
            mode = self.stp_mode(order)
            if mode and resting.account == order.account:
                self.prevent_self_trade(order, resting, mode)
                continue
            fill = min(order.leaves, resting.visible)
            order.leaves -= fill
            order.cum += fill
            resting.leaves -= fill
            resting.cum += fill
            resting.visible -= fill
            self.out.append(event(
                Trade, last_px=resting.price, last_qty=fill, aggressor_side=order.side,
                aggressor_order_id=order.oid, aggressor_leaves_qty=order.leaves,
                aggressor_cum_qty=order.cum, resting_order_id=resting.oid,
                resting_leaves_qty=resting.leaves, resting_cum_qty=resting.cum,
                auction=False))
            self.last = resting.price
            self.after_fill(resting)

    def after_fill(self, resting: MOrder) -> None:
        """A resting order whose shown quantity is gone: refill it (to the back of the
        queue) or, when nothing is left, take it out."""
        if resting.visible:
            return
        if resting.leaves:
            resting.visible = min(resting.display, resting.leaves)
            resting.seq = self.tick_seq()
        else:
            del self.orders[resting.oid]
            resting.resting = False

    def prevent_self_trade(self, order: MOrder, resting: MOrder, mode: int) -> None:
        if mode == STP_DECREMENT_AND_CANCEL:
            reduce = min(order.leaves, resting.leaves)
            for o in (resting, order):
                if o.leaves == reduce:
                    self.cancelled(o, R.SELF_TRADE)
                else:
                    o.leaves -= reduce
                    o.qty -= reduce
                    o.visible = min(o.visible, o.leaves)
                    self.out.append(event(Restated, order_id=o.oid, reduced_by=reduce,
                                          order_qty=o.qty, leaves_qty=o.leaves,
                                          cum_qty=o.cum))
            return
        if mode in (STP_CANCEL_RESTING, STP_CANCEL_BOTH):
            self.cancelled(resting, R.SELF_TRADE)
        if mode in (STP_CANCEL_AGGRESSOR, STP_CANCEL_BOTH):
            self.cancelled(order, R.SELF_TRADE)

    def open_order(self, oid: int, session: str) -> MOrder | None:
        order = self.orders.get(oid)
        if order is None:
            self.out.append(event(CancelRejected, reason=R.TOO_LATE if 0 < oid < self.next_oid
                                  else R.UNKNOWN_ORDER))
            return None
        if session and order.session != session:
            self.out.append(event(CancelRejected, reason=R.NOT_OWNER))
            return None
        return order

    def cancel(self, c: Cancel) -> None:
        order = self.open_order(c.order_id, c.session)
        if order is not None:
            self.cancelled(order, R.CANCEL_REQUESTED)

    def replace(self, c: Replace) -> None:
        order = self.open_order(c.order_id, c.session)
        if order is None:
            return
        problem = None
        if self.phase == CLOSED:
            problem = R.MARKET_CLOSED
        elif self.phase == HALTED:
            problem = R.MARKET_HALTED
        elif c.order_qty <= 0:
            problem = R.INVALID_QUANTITY
        elif c.order_qty % self.lot:
            problem = R.QUANTITY_NOT_LOT_MULTIPLE
        elif order.ord_type in (LIMIT, STOP_LIMIT) and c.price <= 0:
            problem = R.INVALID_PRICE
        elif order.ord_type in (LIMIT, STOP_LIMIT) and c.price % self.tick:
            problem = R.PRICE_NOT_ON_TICK
        elif c.stop_px and not order.resting and (c.stop_px < 0 or c.stop_px % self.tick):
            problem = R.INVALID_STOP_PRICE
        if problem is not None:
            self.out.append(event(CancelRejected, reason=problem))
            return
        if c.order_qty <= order.cum:
            self.cancelled(order, R.REPLACED_TO_FILLED)
            return
        price = 0 if order.ord_type in (MARKET, STOP) else c.price
        leaves = c.order_qty - order.cum
        if not order.resting:                       # an untriggered stop
            new_stop = c.stop_px or order.stop_price
            kept = new_stop == order.stop_price
            order.qty, order.leaves, order.price = c.order_qty, leaves, price
            if not kept:
                order.stop_price = new_stop
                order.stop_seq = self.tick_seq()
            self.replaced(order, kept)
            return
        if price == order.price and c.order_qty <= order.qty:
            order.qty, order.leaves = c.order_qty, leaves
            order.visible = min(order.visible, leaves)
            self.replaced(order, True)
            return
        del self.orders[order.oid]
        order.resting = False
        order.qty, order.leaves, order.price = c.order_qty, leaves, price
        self.replaced(order, False)
        self.enter(order)

    def replaced(self, order: MOrder, kept_priority: bool) -> None:
        """The Replaced event of ``order``, already modified."""
        self.out.append(event(Replaced, order_id=order.oid, price=order.price,
                              order_qty=order.qty, leaves_qty=order.leaves, cum_qty=order.cum,
                              stop_px=order.stop_price, kept_priority=kept_priority))

    def mass_cancel(self, c: MassCancel) -> None:
        targets = [o for o in sorted(self.orders.values(), key=lambda o: o.oid)
                   if (not c.session or o.session == c.session)
                   and (not c.account or o.account == c.account)
                   and (not c.symbol or c.symbol == self.symbol)
                   and (not c.side or o.side == c.side)]
        for order in targets:
            self.cancelled(order, R.MASS_CANCEL)
        self.out.append(event(MassCancelDone, total_affected_orders=len(targets)))

    # -------------------------------------------------- phases and auctions

    def set_phase(self, phase: int) -> None:
        old = self.phase
        if old == phase:
            return
        if (old in AUCTION_PHASES and phase != HALTED) or phase == CONTINUOUS:
            self.uncross()
        if phase not in CALL_PHASES and phase != HALTED:
            for order in sorted(self.orders.values(), key=lambda o: o.oid):
                if order.ord_type == MARKET and order.resting:
                    self.cancelled(order, R.AUCTION_MARKET_UNFILLED)
        self.phase = phase
        self.out.append(event(PhaseChanged, old_phase=old, new_phase=phase))

    def uncross(self) -> None:
        bids, asks = self.book(BUY), self.book(3 - BUY)
        if not bids or not asks or bids[0].price < asks[0].price:
            return
        best: tuple[int, int, int, int] | None = None
        for p in range(asks[0].price, bids[0].price + 1, self.tick):   # every grid price
            demand = sum(b.leaves for b in bids if b.price >= p)
            supply = sum(a.leaves for a in asks if a.price <= p)
            key = (-min(demand, supply), abs(demand - supply), abs(p - self.reference), p)
            if best is None or key < best:
                best = key
        assert best is not None
        price, remaining = best[3], -best[0]
        if not remaining:
            return
        while remaining:
            buy = [b for b in self.book(BUY) if b.price >= price][0]
            sell = [a for a in self.book(3 - BUY) if a.price <= price][0]
            fill = min(buy.visible, sell.visible, remaining)
            remaining -= fill
            for o in (buy, sell):
                o.leaves -= fill
                o.cum += fill
                o.visible -= fill
            self.out.append(event(
                Trade, last_px=price, last_qty=fill, aggressor_side=BUY,
                aggressor_order_id=buy.oid, aggressor_leaves_qty=buy.leaves,
                aggressor_cum_qty=buy.cum, resting_order_id=sell.oid,
                resting_leaves_qty=sell.leaves, resting_cum_qty=sell.cum, auction=True))
            self.after_fill(buy)
            self.after_fill(sell)
        self.last = price

    def trigger_stops(self) -> None:
        while self.phase == CONTINUOUS and self.last:
            stops = [o for o in self.orders.values() if not o.resting]
            buys = [o for o in stops if o.side == BUY and o.stop_price <= self.last]
            sells = [o for o in stops if o.side != BUY and o.stop_price >= self.last]
            if buys:
                order = min(buys, key=lambda o: (o.stop_price, o.stop_seq))
            elif sells:
                order = min(sells, key=lambda o: (-o.stop_price, o.stop_seq))
            else:
                return
            del self.orders[order.oid]
            order.ord_type = MARKET if order.ord_type == STOP else LIMIT
            self.out.append(event(Triggered, order_id=order.oid, trigger_price=self.last))
            self.enter(order)
