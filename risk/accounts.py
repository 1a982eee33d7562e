"""Accounts: cash, positions, reservations of open orders, and T+0 settlement.

``Ledger.on_event(event)`` is fed every matching-engine event, in order, after
each command; it keeps the open orders it needs (from ``Accepted``), their
reservations, and settles every ``Trade`` at once:

* buyer:  cash -= price * qty + buyer fee,  position[symbol] += qty
* seller: cash += price * qty - seller fee, position[symbol] -= qty
* fees (``fee_bps`` of the notional, rounded down, per side) go to ``fees_collected``.

So ``sum(cash) + fees_collected`` and ``sum(position[symbol])`` never change.

An open buy order reserves ``ceil(rp * leaves * margin_pct / 100) + rp * leaves *
fee_bps // 10000`` of buying power, where ``rp`` is its reserve price: the limit
price, or for a market order the protection price it can trade at worst (given by
the check, in ``pending``, or by the caller of ``on_event``), for a STOP buy its stop price
plus the market protection band. The reservation follows the order's leaves
quantity (fills, Restated) and price (Replaced) and goes when it ends (Cancelled,
Expired, or fully filled). ``buying_power = cash - reserved``.

Exposure totals, for the concentration and sector checks of ``risk.checks``: for
each account whose limits have either (``tracks_exposure``), an ``Exposure``
holds its exposure units per symbol, max(position + open buys, open sells -
position, 0), nonzero ones only, and their values, units x mark (the last trade
price, else the reference price: ``mark``): in total (``gross``) and per sector.
They change with every event that changes a position or open leaves, by the
difference of one (account, symbol) only, so a check costs O(1), not O(symbols
held). A trade that moves a symbol's price leaves its holders valued at the old
mark (``moved``: one symbol at most) until a trade moves another symbol's price:
then they are revalued, once however many levels a sweep went through, and in
the event processing of the order that trades, not in the check of the next
one. A check adds the drift of ``moved`` for its own account (O(1)); the
totals are exact with it. The totals are derived data: not in ``state()``,
rebuilt by ``load_state``.

All integers; no I/O, no clock. ``state()`` / ``load_state()`` give plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec

from matching.commands import NewOrder
from matching.constants import BUY, LIMIT, STOP_LIMIT
from matching.events import (
    Accepted,
    Cancelled,
    Event,
    Expired,
    Replaced,
    Restated,
    Settlement,
    Trade,
)
from matching.snapshot import Names

from .config import BPS, NO_LIMIT, Limits

# Fields of an open-order record (a list, for cheap updates and plain snapshots).
O_ACCOUNT, O_SYMBOL, O_SIDE, O_RP, O_LEAVES, O_RESERVED = range(6)


@dataclass(frozen=True, slots=True)
class AccountView:
    """What a query returns: balances of one account."""

    name: str
    firm: str
    cash: int
    reserved: int
    buying_power: int
    positions: dict[str, int]
    open_orders: int
    orders_today: int


def reservation(rp: int, leaves: int, limits: Limits) -> int:
    """Buying power an open buy of ``leaves`` at reserve price ``rp`` holds."""
    value = rp * leaves
    return -(-value * limits.margin_pct // 100) + value * limits.fee_bps // BPS  # type: ignore[operator]


def tracks_exposure(limits: Limits) -> bool:
    """Whether the concentration or sector check applies to an account with
    ``limits`` (resolved): only those accounts pay for exposure totals."""
    return (limits.max_concentration_pct < 100  # type: ignore[operator]
            or limits.sector_limit != NO_LIMIT)


# Fields of an exposure cell: [units, the Exposure it belongs to, the symbol's
# sector]. A list, updated in place, shared by Exposure.held and Ledger.holders.
H_UNITS, H_EXPOSURE, H_SECTOR = range(3)


class Exposure:
    """Exposure totals of one account (see the module docstring); limits it serves."""

    __slots__ = ("held", "gross", "sectors", "max_pct", "floor", "sector_limit")

    def __init__(self, limits: Limits) -> None:
        self.held: dict[str, list[Any]] = {}    # symbol -> cell (units nonzero)
        self.gross = 0                          # sum of units x valued mark
        self.sectors: dict[str, int] = {}       # sector -> sum of units x valued mark
        self.max_pct: int = limits.max_concentration_pct  # type: ignore[assignment]
        self.floor: int = limits.concentration_floor      # type: ignore[assignment]
        self.sector_limit: int = limits.sector_limit      # type: ignore[assignment]


class AccountTerms(NamedTuple):
    """What settlement and reservations read of an account's limits on every event
    (read once: limits do not change after construction). ``Ledger.terms`` keeps it
    as a plain tuple in this layout: CPython specializes the unpacking of an exact
    tuple, not of a NamedTuple, and this is unpacked on every event."""

    margin_pct: int
    fee_bps: int
    exposure: Exposure | None     # None: the account tracks no exposure totals


class LedgerState(msgspec.Struct, array_like=True, gc=False):
    """The ledger's state: balances, positions, open-order totals and counters per
    account, and every open order's record by column (account and symbol as indexes
    into ``names``)."""

    cash: dict[str, int]
    positions: dict[str, dict[str, int]]
    reserved: dict[str, int]
    open_buys: dict[str, dict[str, int]]
    open_sells: dict[str, dict[str, int]]
    open_count: dict[str, int]
    orders_today: dict[str, int]
    last_price: dict[str, int]
    fees_collected: int
    settled: int
    names: list[str]
    order_oid: list[int]
    order_account: list[int]
    order_symbol: list[int]
    order_side: list[int]
    order_reserve_price: list[int]
    order_leaves: list[int]
    order_reserved: list[int]


class Ledger:
    """Balances, positions and open orders of every account."""

    def __init__(self, accounts: dict[str, tuple[str, int, dict[str, int], Limits]],
                 instruments: Mapping[str, tuple[int, str]] | None = None) -> None:
        """``accounts``: name -> (firm, starting cash, starting positions, resolved limits);
        ``instruments``: symbol -> (reference price, sector), for the exposure totals
        (a symbol not given has mark 0 before its first trade, and sector "")."""
        self.firm: dict[str, str] = {}
        self.limits: dict[str, Limits] = {}
        self.cash: dict[str, int] = {}
        self.positions: dict[str, dict[str, int]] = {}
        self.reserved: dict[str, int] = {}
        self.open_buys: dict[str, dict[str, int]] = {}    # account -> symbol -> open buy leaves
        self.open_sells: dict[str, dict[str, int]] = {}
        self.open_count: dict[str, int] = {}
        self.orders_today: dict[str, int] = {}
        self.orders: dict[int, list[Any]] = {}             # oid -> record (O_* fields)
        self.last_price: dict[str, int] = {}
        self.fees_collected = 0
        self.settled = 0
        # The reserve price decided by the pre-trade check for the command being
        # processed: (command, price); used by the Accepted event of that command.
        self.pending: tuple[NewOrder, int] | None = None
        # account -> its AccountTerms (as a plain tuple), read once: the settlement
        # path would otherwise read them from Limits on every fill.
        self.terms: dict[str, tuple[int, int, Exposure | None]] = {}
        self.reference: dict[str, int] = {}                # symbol -> reference price
        self.sector: dict[str, str] = {}                   # symbol -> sector
        for symbol, (reference_price, sector) in (instruments or {}).items():
            self.reference[symbol] = reference_price
            self.sector[symbol] = sector
        # symbol -> account -> cell, of the accounts with exposure in the symbol; the
        # mark their values are taken at; the symbol whose mark moved since, if any.
        self.holders: dict[str, dict[str, list[Any]]] = {}
        self.valued_at: dict[str, int] = {}
        self.moved: str | None = None
        for name, (firm, cash, positions, limits) in accounts.items():
            self.firm[name] = firm
            self.limits[name] = limits
            self.cash[name] = cash
            self.positions[name] = {s: q for s, q in positions.items() if q}
            self.reserved[name] = 0
            self.open_buys[name] = {}
            self.open_sells[name] = {}
            self.open_count[name] = 0
            self.orders_today[name] = 0
            exposure = Exposure(limits) if tracks_exposure(limits) else None
            self.terms[name] = tuple(AccountTerms(  # type: ignore[assignment]
                limits.margin_pct, limits.fee_bps, exposure))  # type: ignore[arg-type]
        self._rebuild_exposure()

    # ---------------------------------------------------------------- queries

    def view(self, name: str) -> AccountView:
        cash, reserved = self.cash[name], self.reserved[name]
        return AccountView(name, self.firm[name], cash, reserved, cash - reserved,
                           dict(self.positions[name]), self.open_count[name],
                           self.orders_today[name])

    def mark(self, symbol: str) -> int:
        """Last trade price, else the reference price, else 0."""
        last = self.last_price.get(symbol)
        if last is not None:
            return last
        return self.reference.get(symbol, 0)

    def exposure(self, account: str) -> tuple[int, dict[str, int], dict[str, int]]:
        """(gross exposure value, sector -> value, symbol -> units) of an account that
        tracks exposure (KeyError for others), at the current marks; zeros left out."""
        _, _, exposure = self.terms[account]
        if exposure is None:
            raise KeyError(f"account {account!r} does not track exposure")
        drift, drift_sector = self.drift(exposure)
        sectors = dict(exposure.sectors)
        if drift:
            sectors[drift_sector] += drift
        return (exposure.gross + drift, {k: v for k, v in sectors.items() if v},
                {s: cell[H_UNITS] for s, cell in exposure.held.items()})

    def new_day(self) -> None:
        """Start a new trading day: the orders-per-day counters restart at 0."""
        for name in self.orders_today:
            self.orders_today[name] = 0

    # ---------------------------------------------------------------- instruments

    def set_instrument(self, symbol: str, reference_price: int, sector: str) -> None:
        """Reference price and sector of ``symbol`` (one added at run time, or changed)."""
        self.reference[symbol] = reference_price
        self.sector[symbol] = sector
        if self.holders.get(symbol):
            # Rare (an instrument is normally added before anyone holds it): the
            # simple way to move its values to the new mark and sector.
            self._rebuild_exposure()

    # ---------------------------------------------------------------- events

    def on_event(self, event: Event, fallback_rp: int = 0) -> Settlement | None:
        """Apply one engine event; a Trade returns its Settlement, others None.
        ``fallback_rp`` is the reserve price of a buy accepted without a check."""
        kind = type(event)
        if kind is Trade:
            return self._trade(event)
        if kind is Accepted:
            self._accepted(event, fallback_rp)
        elif kind is Cancelled or kind is Expired:
            rec = self.orders.pop(event.order_id, None)
            if rec is not None:
                self._set_leaves(rec, 0)
                self.open_count[rec[O_ACCOUNT]] -= 1
        elif kind is Replaced:
            self._replaced(event, fallback_rp)
        elif kind is Restated:
            rec = self.orders.get(event.order_id)
            if rec is not None:
                self._set_leaves(rec, event.leaves_qty)
        return None

    def _replaced(self, event: Replaced, fallback_rp: int) -> None:
        rec = self.orders.get(event.order_id)
        if rec is not None:
            # A priced buy reserves at its new price; a stop buy at the valuation of
            # its new stop price, which the caller passes as ``fallback_rp``.
            rp = event.price or fallback_rp
            if rp and rec[O_SIDE] == BUY and rp != rec[O_RP]:
                self._set_leaves(rec, 0)
                rec[O_RP] = rp
            self._set_leaves(rec, event.leaves_qty)

    def _accepted(self, event: Accepted, fallback_rp: int) -> None:
        cmd = event.order
        account = cmd.account
        terms = self.terms.get(account)
        if terms is None:
            return   # not a risk-managed account (the check refuses those)
        pending = self.pending
        if pending is not None and pending[0] is cmd:
            rp = pending[1]
        elif cmd.ord_type == LIMIT or cmd.ord_type == STOP_LIMIT:   # the limit price
            rp = cmd.price
        else:
            rp = fallback_rp
        self.pending = None
        rec = [account, cmd.symbol, cmd.side, rp, 0, 0]
        self.orders[event.order_id] = rec
        self.open_count[account] += 1
        self.orders_today[account] += 1
        self._set_leaves(rec, cmd.order_qty)

    def _set_leaves(self, rec: list[Any], leaves: int, held_moved: bool = False) -> None:
        """The order's leaves become ``leaves``: its open leaves, its reservation, and
        the account's exposure (also when only its position moved: ``held_moved``)."""
        account, symbol, side, rp, old, reserved = rec
        margin, fee, exposure = self.terms[account]
        if side == BUY:
            book = self.open_buys[account]
            # reservation(rp, leaves, limits), with the account's terms at hand
            value = rp * leaves
            new = -(-value * margin // 100) + value * fee // BPS
            if new != reserved:
                self.reserved[account] += new - reserved
                rec[O_RESERVED] = new
        else:
            book = self.open_sells[account]
        if leaves != old:
            total = book.get(symbol, 0) + leaves - old
            if total:
                book[symbol] = total
            else:
                book.pop(symbol, None)
            rec[O_LEAVES] = leaves
        elif not held_moved:
            return
        else:
            total = book.get(symbol, 0)
        if exposure is not None:
            held = self.positions[account].get(symbol, 0)
            if side == BUY:
                self._expose(exposure, account, symbol, held, total,
                             self.open_sells[account].get(symbol, 0))
            else:
                self._expose(exposure, account, symbol, held,
                             self.open_buys[account].get(symbol, 0), total)

    def _trade(self, event: Trade) -> Settlement | None:
        symbol, price, qty = event.symbol, event.last_px, event.last_qty
        last = self.last_price
        if last.get(symbol) != price:
            last[symbol] = price
            moved = self.moved
            if moved != symbol:
                if moved is not None:
                    self._revalue(moved)
                # Its holders stay valued at the old mark until another symbol
                # moves (or revalue()): once for all the levels of a sweep.
                self.moved = symbol if self.holders.get(symbol) else None
        if event.auction or event.aggressor_side == BUY:
            buy_oid, buy_leaves = event.aggressor_order_id, event.aggressor_leaves_qty
            sell_oid, sell_leaves = event.resting_order_id, event.resting_leaves_qty
        else:
            buy_oid, buy_leaves = event.resting_order_id, event.resting_leaves_qty
            sell_oid, sell_leaves = event.aggressor_order_id, event.aggressor_leaves_qty
        orders = self.orders
        buy, sell = orders.get(buy_oid), orders.get(sell_oid)
        if buy is None and sell is None:
            return None
        notional = price * qty
        buyer = seller = ""
        buyer_fee = seller_fee = 0
        if buy is not None:
            buyer = buy[O_ACCOUNT]
            buyer_fee = self._fill(buy_oid, buy, qty, buy_leaves, notional)
        if sell is not None:
            seller = sell[O_ACCOUNT]
            seller_fee = self._fill(sell_oid, sell, -qty, sell_leaves, notional)
        self.fees_collected += buyer_fee + seller_fee
        self.settled += 1
        return Settlement(event.trade_id, symbol, price, qty, buyer, seller, buyer_fee,
                          seller_fee)

    def _fill(self, oid: int, rec: list[Any], moved: int, leaves: int, notional: int) -> int:
        """One side of a trade, returns its fee: cash pays or gets ``notional`` and
        the fee, the position moves by ``moved``, the order's leaves become ``leaves``
        (its reservation with them), and it goes when done."""
        account, symbol, side = rec[O_ACCOUNT], rec[O_SYMBOL], rec[O_SIDE]
        _, fee_bps, _ = self.terms[account]
        paid = notional * fee_bps // BPS
        if side == BUY:
            self.cash[account] -= notional + paid
        else:
            self.cash[account] += notional - paid
        positions = self.positions[account]
        held = positions.get(symbol, 0) + moved
        if held:
            positions[symbol] = held
        else:
            positions.pop(symbol, None)
        self._set_leaves(rec, leaves, held_moved=True)
        if not leaves:
            del self.orders[oid]
            self.open_count[account] -= 1
        return paid

    # ---------------------------------------------------------------- exposure

    def _expose(self, exposure: Exposure, account: str, symbol: str, held: int, buys: int,
                sells: int) -> None:
        """(account, symbol) now has position ``held``, open buys ``buys`` and open sells
        ``sells`` (the caller has most of them at hand): its exposure units become
        max(held + buys, sells - held, 0), and the totals move by the difference, at
        the symbol's valued mark."""
        units = held + buys
        if sells - held > units:
            units = sells - held
        if units < 0:
            units = 0
        cell = exposure.held.get(symbol)
        if cell is None:
            if not units:
                return
            holders = self.holders.get(symbol)
            if holders is None:
                holders = self.holders[symbol] = {}
            if not holders:
                # Nobody holds a value at an older mark: value the symbol afresh.
                self.valued_at[symbol] = self.mark(symbol)
            sector = self.sector.get(symbol, "")
            holders[account] = exposure.held[symbol] = [units, exposure, sector]
            change = units * self.valued_at[symbol]
            sectors = exposure.sectors
            sectors[sector] = sectors.get(sector, 0) + change
        else:
            old = cell[H_UNITS]
            if units == old:
                return
            if units:
                cell[H_UNITS] = units
            else:
                del exposure.held[symbol], self.holders[symbol][account]
            change = (units - old) * self.valued_at[symbol]
            exposure.sectors[cell[H_SECTOR]] += change
        exposure.gross += change

    def revalue(self) -> None:
        """Bring every exposure total to the current marks."""
        if self.moved is not None:
            self._revalue(self.moved)
            self.moved = None

    def drift(self, exposure: Exposure) -> tuple[int, str]:
        """What revalue() would add to the totals of ``exposure``: (value, its sector)."""
        moved = self.moved
        if moved is not None:
            cell = exposure.held.get(moved)
            if cell is not None:
                return cell[H_UNITS] * (self.mark(moved) - self.valued_at[moved]), cell[H_SECTOR]
        return 0, ""

    def _revalue(self, symbol: str) -> None:
        """Revalue the holders of ``symbol`` at its current mark."""
        holders = self.holders.get(symbol)
        if not holders:
            return
        mark = self.mark(symbol)
        delta = mark - self.valued_at[symbol]
        if delta:
            for units, exposure, sector in holders.values():
                change = units * delta
                exposure.gross += change
                exposure.sectors[sector] += change
        self.valued_at[symbol] = mark

    def _rebuild_exposure(self) -> None:
        """Exposure totals from scratch (at start, after load_state and set_instrument)."""
        self.holders, self.valued_at, self.moved = {}, {}, None
        for account, (_, _, exposure) in self.terms.items():
            if exposure is not None:
                exposure.held, exposure.sectors, exposure.gross = {}, {}, 0
                positions = self.positions[account]
                buys, sells = self.open_buys[account], self.open_sells[account]
                for symbol in positions.keys() | buys.keys() | sells.keys():
                    self._expose(exposure, account, symbol, positions.get(symbol, 0),
                                 buys.get(symbol, 0), sells.get(symbol, 0))

    # ---------------------------------------------------------------- snapshot

    def state(self) -> LedgerState:
        """Everything that changes with orders and fills (the accounts' limits and
        terms come from the configuration; exposure totals are derived)."""
        orders = list(self.orders.values())
        names = Names()
        return LedgerState(
            dict(self.cash), {a: dict(p) for a, p in self.positions.items()},
            dict(self.reserved), {a: dict(b) for a, b in self.open_buys.items()},
            {a: dict(b) for a, b in self.open_sells.items()}, dict(self.open_count),
            dict(self.orders_today), dict(self.last_price), self.fees_collected, self.settled,
            names.table, list(self.orders),
            list(map(names.__getitem__, map(itemgetter(O_ACCOUNT), orders))),
            list(map(names.__getitem__, map(itemgetter(O_SYMBOL), orders))),
            list(map(itemgetter(O_SIDE), orders)), list(map(itemgetter(O_RP), orders)),
            list(map(itemgetter(O_LEAVES), orders)), list(map(itemgetter(O_RESERVED), orders)))

    def load_state(self, state: LedgerState) -> None:
        self.cash = dict(state.cash)
        self.positions = {a: dict(p) for a, p in state.positions.items()}
        self.reserved = dict(state.reserved)
        self.open_buys = {a: dict(b) for a, b in state.open_buys.items()}
        self.open_sells = {a: dict(b) for a, b in state.open_sells.items()}
        self.open_count = dict(state.open_count)
        self.orders_today = dict(state.orders_today)
        self.last_price = dict(state.last_price)
        self.fees_collected, self.settled = state.fees_collected, state.settled
        name = state.names.__getitem__
        self.orders = dict(zip(state.order_oid, map(list, zip(
            map(name, state.order_account), map(name, state.order_symbol), state.order_side,
            state.order_reserve_price, state.order_leaves, state.order_reserved,
            strict=True)), strict=True))
        self.pending = None
        self._rebuild_exposure()     # derived from what was just loaded
