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
the caller of ``on_event``/``note_reserve_price``), for a STOP buy its stop price
plus the market protection band. The reservation follows the order's leaves
quantity (fills, Restated) and price (Replaced) and goes when it ends (Cancelled,
Expired, or fully filled). ``buying_power = cash - reserved``.

All integers; no I/O, no clock. ``state()`` / ``from_state()`` give plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .config import BPS, Limits

# matching.events kinds and matching.constants values (kept here as ints so that
# this module does not depend on the matching package's internals).
ACCEPTED, TRADE, CANCELLED, REPLACED, EXPIRED, RESTATED = 1, 3, 4, 5, 8, 12
BUY, SELL = 1, 2

# Fields of an open-order record (a list, for cheap updates and plain snapshots).
O_ACCOUNT, O_SYMBOL, O_SIDE, O_RP, O_LEAVES, O_RESERVED = range(6)


class Settlement(NamedTuple):
    """The record of one settled trade (returned by ``Ledger.on_event``)."""

    trade_id: int
    symbol: str
    price: int
    qty: int
    buy_account: str
    sell_account: str
    buyer_fee: int
    seller_fee: int


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


class Ledger:
    """Balances, positions and open orders of every account."""

    def __init__(self, accounts: dict[str, tuple[str, int, dict[str, int], Limits]]) -> None:
        """``accounts``: name -> (firm, starting cash, starting positions, resolved limits)."""
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
        self.pending: tuple[tuple, int] | None = None
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

    # ---------------------------------------------------------------- queries

    def view(self, name: str) -> AccountView:
        cash, reserved = self.cash[name], self.reserved[name]
        return AccountView(name, self.firm[name], cash, reserved, cash - reserved,
                           dict(self.positions[name]), self.open_count[name],
                           self.orders_today[name])

    def new_day(self) -> None:
        """Start a new trading day: the orders-per-day counters restart at 0."""
        for name in self.orders_today:
            self.orders_today[name] = 0

    # ---------------------------------------------------------------- events

    def note_reserve_price(self, command: tuple, price: int) -> None:
        """The reserve price for the order ``command`` will create (set by the check)."""
        self.pending = (command, price)

    def on_event(self, event: tuple, fallback_rp: int = 0) -> Settlement | None:
        """Apply one engine event; a Trade returns its Settlement, others None.
        ``fallback_rp`` is the reserve price of a buy accepted without a check."""
        kind = event[0]
        if kind == TRADE:
            return self._trade(event)
        if kind == ACCEPTED:
            self._accepted(event, fallback_rp)
        elif kind == CANCELLED or kind == EXPIRED:
            rec = self.orders.pop(event[2], None)
            if rec is not None:
                self._set_leaves(rec, 0)
                self.open_count[rec[O_ACCOUNT]] -= 1
        elif kind == REPLACED:
            rec = self.orders.get(event[2])
            if rec is not None:
                _, _, _, _, price, _qty, leaves, *_ = event
                if price and rec[O_SIDE] == BUY:
                    self._set_leaves(rec, 0)
                    rec[O_RP] = price
                self._set_leaves(rec, leaves)
        elif kind == RESTATED:
            rec = self.orders.get(event[2])
            if rec is not None:
                self._set_leaves(rec, event[7])
        return None

    def _accepted(self, event: tuple, fallback_rp: int) -> None:
        _, _, oid, cmd = event
        account = cmd[9]
        if account not in self.cash:
            return   # not a risk-managed account (the check refuses those)
        side, ord_type = cmd[2], cmd[5]
        pending = self.pending
        if pending is not None and pending[0] is cmd:
            rp = pending[1]
        elif ord_type in (2, 4):
            rp = cmd[4]
        else:
            rp = fallback_rp
        self.pending = None
        rec = [account, cmd[1], side, rp, 0, 0]
        self.orders[oid] = rec
        self.open_count[account] += 1
        self.orders_today[account] += 1
        self._set_leaves(rec, cmd[3])

    def _set_leaves(self, rec: list[Any], leaves: int) -> None:
        account, symbol, side = rec[O_ACCOUNT], rec[O_SYMBOL], rec[O_SIDE]
        book = self.open_buys[account] if side == BUY else self.open_sells[account]
        total = book.get(symbol, 0) + leaves - rec[O_LEAVES]
        if total:
            book[symbol] = total
        else:
            book.pop(symbol, None)
        rec[O_LEAVES] = leaves
        if side == BUY:
            new = reservation(rec[O_RP], leaves, self.limits[account]) if leaves else 0
            self.reserved[account] += new - rec[O_RESERVED]
            rec[O_RESERVED] = new

    def _trade(self, event: tuple) -> Settlement | None:
        (_, symbol, trade_id, price, qty, a_side, a_oid, _, a_leaves, _,
         r_oid, _, r_leaves, _, auction) = event
        self.last_price[symbol] = price
        if auction or a_side == BUY:
            buy_oid, buy_leaves, sell_oid, sell_leaves = a_oid, a_leaves, r_oid, r_leaves
        else:
            buy_oid, buy_leaves, sell_oid, sell_leaves = r_oid, r_leaves, a_oid, a_leaves
        buy, sell = self.orders.get(buy_oid), self.orders.get(sell_oid)
        notional = price * qty
        buyer = seller = ""
        buyer_fee = seller_fee = 0
        if buy is not None:
            buyer = buy[O_ACCOUNT]
            buyer_fee = notional * self.limits[buyer].fee_bps // BPS  # type: ignore[operator]
            self.cash[buyer] -= notional + buyer_fee
            self._move(buyer, symbol, qty)
            self._fill(buy_oid, buy, buy_leaves)
        if sell is not None:
            seller = sell[O_ACCOUNT]
            seller_fee = notional * self.limits[seller].fee_bps // BPS  # type: ignore[operator]
            self.cash[seller] += notional - seller_fee
            self._move(seller, symbol, -qty)
            self._fill(sell_oid, sell, sell_leaves)
        if buy is None and sell is None:
            return None
        self.fees_collected += buyer_fee + seller_fee
        self.settled += 1
        return Settlement(trade_id, symbol, price, qty, buyer, seller, buyer_fee, seller_fee)

    def _move(self, account: str, symbol: str, qty: int) -> None:
        positions = self.positions[account]
        total = positions.get(symbol, 0) + qty
        if total:
            positions[symbol] = total
        else:
            positions.pop(symbol, None)

    def _fill(self, oid: int, rec: list[Any], leaves: int) -> None:
        self._set_leaves(rec, leaves)
        if not leaves:
            del self.orders[oid]
            self.open_count[rec[O_ACCOUNT]] -= 1

    # ---------------------------------------------------------------- snapshot

    _STATE = ("cash", "positions", "reserved", "open_buys", "open_sells", "open_count",
              "orders_today", "last_price", "fees_collected", "settled")

    def state(self) -> dict[str, Any]:
        """Plain data (dicts of ints/strs/lists) that ``load_state`` restores."""
        out: dict[str, Any] = {}
        for name in self._STATE:
            value = getattr(self, name)
            if isinstance(value, dict):
                value = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
            out[name] = value
        out["orders"] = {oid: list(rec) for oid, rec in self.orders.items()}
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        for name in self._STATE:
            value = state[name]
            if isinstance(value, dict):
                value = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
            setattr(self, name, value)
        self.orders = {int(oid): list(rec) for oid, rec in state["orders"].items()}
        self.pending = None
