"""A slow, obviously-correct reference model of the matching rules.

No levels, no queues, no lazy deletion, no caches: the book is the list of open
orders, and "the best order" is recomputed each time by sorting that list on
(price priority, arrival sequence). Losing priority (an iceberg replenishment,
a replace) just means taking a new sequence number. The auction tries every
price on the tick grid. It supports one instrument and the behaviours the
property tests generate: limit (DAY, GTC, IOC, FOK), market, stop and
stop-limit orders, icebergs, MinQty, self-trade prevention, cancels, replaces,
mass cancels, end of day and phase changes.

It reports normalised events (see ``normalise``): everything but ExecIDs and
market-data events, which the property test checks separately.
"""

from __future__ import annotations

from dataclasses import dataclass

from matching import commands as C
from matching import events as E
from matching import reasons as R
from matching.constants import (
    AUCTION_PHASES,
    BUY,
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


def normalise(event: tuple) -> tuple | None:
    """The comparable part of an engine event (None for market data)."""
    kind = event[0]
    if kind == E.ACCEPTED:
        return ("acc", event[2])
    if kind == E.REJECTED:
        return ("rej", event[2])
    if kind == E.TRADE:
        (_, _sym, _tid, price, qty, side, a_oid, _ae, a_leaves, a_cum,
         r_oid, _re, r_leaves, r_cum, auction) = event
        return ("trade", a_oid, r_oid, price, qty, side, a_leaves, a_cum, r_leaves, r_cum,
                auction)
    if kind == E.CANCELLED:
        return ("cxl", event[2], event[3], event[5], event[6])
    if kind == E.REPLACED:
        return ("rpl", event[2], event[4], event[5], event[6], event[7], event[8], event[9])
    if kind == E.CANCEL_REJECTED:
        return ("cxlrej", event[1])
    if kind == E.TRIGGERED:
        return ("trig", event[2], event[4])
    if kind == E.EXPIRED:
        return ("exp", event[2], event[3], event[5], event[6])
    if kind == E.PHASE_CHANGED:
        return ("phase", event[2], event[3])
    if kind == E.MASS_CANCEL_DONE:
        return ("mass", event[1])
    if kind == E.RESTATED:
        return ("rst", event[2], event[5], event[6], event[7], event[8])
    return None


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
        self.out: list[tuple] = []

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
        self.out.append(("cxl", order.oid, reason, order.leaves, order.cum))
        order.leaves = 0
        self.orders.pop(order.oid, None)
        order.resting = False

    # -------------------------------------------------------------- commands

    def process(self, command: tuple, ts: int) -> list[tuple]:
        self.out = []
        kind = command[0]
        if kind == C.NEW_ORDER:
            self.new_order(C.NewOrder._make(command), ts)
        elif kind == C.CANCEL:
            self.cancel(C.Cancel._make(command))
        elif kind == C.REPLACE:
            self.replace(C.Replace._make(command))
        elif kind == C.MASS_CANCEL:
            self.mass_cancel(C.MassCancel._make(command))
        elif kind == C.SET_PHASE:
            self.set_phase(command[2])
        elif kind == C.END_OF_DAY:
            for order in sorted(self.orders.values(), key=lambda o: o.oid):
                if order.tif == DAY:
                    self.out.append(("exp", order.oid, R.DAY_EXPIRED, order.leaves, order.cum))
                    del self.orders[order.oid]
        else:
            raise AssertionError(f"model does not support {command!r}")
        self.trigger_stops()
        return self.out

    def problem(self, c: C.NewOrder, ts: int) -> str | None:
        if c.symbol != self.symbol:
            return R.UNKNOWN_SYMBOL
        if self.phase == CLOSED:
            return R.MARKET_CLOSED
        if self.phase == HALTED:
            return R.MARKET_HALTED
        if c.qty <= 0:
            return R.INVALID_QUANTITY
        if c.qty % self.lot:
            return R.QUANTITY_NOT_LOT_MULTIPLE
        if c.ord_type in (LIMIT, STOP_LIMIT):
            if c.price <= 0:
                return R.INVALID_PRICE
            if c.price % self.tick:
                return R.PRICE_NOT_ON_TICK
        if c.ord_type in (STOP, STOP_LIMIT) and (c.stop_price <= 0 or c.stop_price % self.tick):
            return R.INVALID_STOP_PRICE
        if c.display_qty < 0 or c.display_qty % self.lot:
            return R.INVALID_DISPLAY_QTY
        if 0 < c.display_qty < c.qty and (c.ord_type in (MARKET, STOP) or c.tif in (IOC, FOK)):
            return R.INVALID_DISPLAY_QTY
        if c.min_qty < 0 or c.min_qty > c.qty:
            return R.INVALID_MIN_QTY
        if self.phase != CONTINUOUS and (c.ord_type == MARKET or c.tif in (IOC, FOK)
                                         or c.min_qty):
            return R.NOT_ALLOWED_IN_PHASE
        return None

    def new_order(self, c: C.NewOrder, ts: int) -> None:
        problem = self.problem(c, ts)
        if problem is not None:
            self.out.append(("rej", problem))
            return
        oid = self.next_oid
        self.next_oid += 1
        self.out.append(("acc", oid))
        order = MOrder(oid, c.side, c.ord_type,
                       0 if c.ord_type in (MARKET, STOP) else c.price, c.stop_price, c.qty,
                       c.display_qty if c.display_qty < c.qty else 0, c.min_qty, c.tif,
                       c.session, c.account, leaves=c.qty)
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
            self.out.append(("trade", order.oid, resting.oid, resting.price, fill, order.side,
                             order.leaves, order.cum, resting.leaves, resting.cum, False))
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
                    self.out.append(("rst", o.oid, reduce, o.qty, o.leaves, o.cum))
            return
        if mode in (STP_CANCEL_RESTING, STP_CANCEL_BOTH):
            self.cancelled(resting, R.SELF_TRADE)
        if mode in (STP_CANCEL_AGGRESSOR, STP_CANCEL_BOTH):
            self.cancelled(order, R.SELF_TRADE)

    def open_order(self, oid: int, session: str) -> MOrder | None:
        order = self.orders.get(oid)
        if order is None:
            self.out.append(("cxlrej", R.TOO_LATE if 0 < oid < self.next_oid
                             else R.UNKNOWN_ORDER))
            return None
        if session and order.session != session:
            self.out.append(("cxlrej", R.NOT_OWNER))
            return None
        return order

    def cancel(self, c: C.Cancel) -> None:
        order = self.open_order(c.oid, c.session)
        if order is not None:
            self.cancelled(order, R.CANCEL_REQUESTED)

    def replace(self, c: C.Replace) -> None:
        order = self.open_order(c.oid, c.session)
        if order is None:
            return
        problem = None
        if self.phase == CLOSED:
            problem = R.MARKET_CLOSED
        elif self.phase == HALTED:
            problem = R.MARKET_HALTED
        elif c.qty <= 0:
            problem = R.INVALID_QUANTITY
        elif c.qty % self.lot:
            problem = R.QUANTITY_NOT_LOT_MULTIPLE
        elif order.ord_type in (LIMIT, STOP_LIMIT) and c.price <= 0:
            problem = R.INVALID_PRICE
        elif order.ord_type in (LIMIT, STOP_LIMIT) and c.price % self.tick:
            problem = R.PRICE_NOT_ON_TICK
        elif c.stop_price and not order.resting and (c.stop_price < 0
                                                     or c.stop_price % self.tick):
            problem = R.INVALID_STOP_PRICE
        if problem is not None:
            self.out.append(("cxlrej", problem))
            return
        if c.qty <= order.cum:
            self.cancelled(order, R.REPLACED_TO_FILLED)
            return
        price = 0 if order.ord_type in (MARKET, STOP) else c.price
        leaves = c.qty - order.cum
        if not order.resting:                       # an untriggered stop
            new_stop = c.stop_price or order.stop_price
            kept = new_stop == order.stop_price
            order.qty, order.leaves, order.price = c.qty, leaves, price
            if not kept:
                order.stop_price = new_stop
                order.stop_seq = self.tick_seq()
            self.out.append(("rpl", order.oid, price, c.qty, leaves, order.cum,
                             order.stop_price, kept))
            return
        if price == order.price and c.qty <= order.qty:
            order.qty, order.leaves = c.qty, leaves
            order.visible = min(order.visible, leaves)
            self.out.append(("rpl", order.oid, price, c.qty, leaves, order.cum,
                             order.stop_price, True))
            return
        del self.orders[order.oid]
        order.resting = False
        order.qty, order.leaves, order.price = c.qty, leaves, price
        self.out.append(("rpl", order.oid, price, c.qty, leaves, order.cum, order.stop_price,
                         False))
        self.enter(order)

    def mass_cancel(self, c: C.MassCancel) -> None:
        targets = [o for o in sorted(self.orders.values(), key=lambda o: o.oid)
                   if (not c.session or o.session == c.session)
                   and (not c.account or o.account == c.account)
                   and (not c.symbol or c.symbol == self.symbol)
                   and (not c.side or o.side == c.side)]
        for order in targets:
            self.cancelled(order, R.MASS_CANCEL)
        self.out.append(("mass", len(targets)))

    # -------------------------------------------------- phases and auctions

    def set_phase(self, phase: int) -> None:
        old = self.phase
        if old == phase:
            return
        if (old in AUCTION_PHASES and phase != HALTED) or phase == CONTINUOUS:
            self.uncross()
        self.phase = phase
        self.out.append(("phase", old, phase))

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
            self.out.append(("trade", buy.oid, sell.oid, price, fill, BUY, buy.leaves, buy.cum,
                             sell.leaves, sell.cum, True))
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
            self.out.append(("trig", order.oid, self.last))
            self.enter(order)
