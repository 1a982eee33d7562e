"""The pre-trade risk engine: checks, kill switches, and the account ledger.

``RiskEngine`` is the matching engine's risk hook and the consumer of its
events::

    risk = RiskEngine(config)                    # config: risk.config.RiskConfig
    engine = Engine(instruments, market_protection_bps=config.market_protection_bps,
                    risk=risk.check)
    risk.touch = touch_of(engine)                # best bid/ask prices, for fat finger
    for event in engine.process(command, ts):    # every event, in order
        risk.on_event(event)

``check(command, order_or_None)`` returns None or ``(code, text)``; the text
names the limit, its value and the order's value. Checks, in this order (the
first failure is the answer):

=====================  ============================================================
code                   refuses
=====================  ============================================================
UNKNOWN_ACCOUNT        an order for an account not in the configuration
KILL_SWITCH            new orders and replaces of a killed firm, account or session
UNKNOWN_INSTRUMENT     a symbol without InstrumentRisk (one added to the engine later
                       needs ``add_instrument`` here too)
MAX_ORDER_QTY          qty > the account's or the instrument's max order quantity
PRICE_COLLAR           a limit price outside last trade (else reference) +/- collar
FAT_FINGER             a LIMIT buy above ask + fat_finger_bps (sell: below bid - ...)
MAX_ORDER_VALUE        order value (valuation price x qty) > max order value
MAX_ORDERS_PER_DAY     the account already had that many orders accepted today
MAX_OPEN_ORDERS        the account already has that many open orders
SHORT_SELLING          a sell beyond position - open sells, short selling not allowed
MAX_LONG_POSITION      position + open buys + qty > max long
MAX_SHORT_POSITION     open sells + qty - position > max short
CONCENTRATION          the symbol's share of gross exposure value > max %
SECTOR_EXPOSURE        the sector's gross exposure value > sector limit
BUYING_POWER           the buy's reservation (or short sale margin) > buying power
=====================  ============================================================

Valuation price of an order: its limit price (LIMIT, STOP_LIMIT); for a MARKET
order the protection price (opposite touch +/- ``market_protection_bps``, on the
tick grid, as the engine computes it; with no opposite touch the last trade or
reference price +/- the band); for a STOP order its stop price +/- the band.
Exposure of a symbol: max(position + open buys, open sells - position, 0) after
the order, valued at the last trade price (the reference price before the first).
A replace is checked for its new quantity and price; price checks apply only
when the price changes, and position/buying-power checks only on the increase.

Suggested FIX OrdRejReason (103) for every code: 3 "Order exceeds limit", but
UNKNOWN_ACCOUNT -> 15 (Unknown account), UNKNOWN_INSTRUMENT and KILL_SWITCH -> 99
(Other) with the text; CxlRejReason (102) for a refused replace: 99 (Other).
An instrument's ``collar_bps`` or ``fat_finger_bps`` of 0 turns that check off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

import msgspec

from matching.commands import MassCancel, NewOrder, Replace
from matching.constants import BUY, LIMIT, MARKET, STOP, STOP_LIMIT
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
from matching.protection import protection_limit

from .accounts import (
    H_SECTOR,
    H_UNITS,
    O_RESERVED,
    O_RP,
    O_SIDE,
    O_SYMBOL,
    AccountTerms,
    AccountView,
    Exposure,
    Ledger,
    LedgerState,
)
from .config import BPS, NO_LIMIT, InstrumentRisk, Limits, RiskConfig, resolve

UNKNOWN_ACCOUNT: Final = "UNKNOWN_ACCOUNT"
UNKNOWN_INSTRUMENT: Final = "UNKNOWN_INSTRUMENT"
KILL_SWITCH: Final = "KILL_SWITCH"
MAX_ORDER_QTY: Final = "MAX_ORDER_QTY"
PRICE_COLLAR: Final = "PRICE_COLLAR"
FAT_FINGER: Final = "FAT_FINGER"
MAX_ORDER_VALUE: Final = "MAX_ORDER_VALUE"
MAX_ORDERS_PER_DAY: Final = "MAX_ORDERS_PER_DAY"
MAX_OPEN_ORDERS: Final = "MAX_OPEN_ORDERS"
SHORT_SELLING: Final = "SHORT_SELLING"
MAX_LONG_POSITION: Final = "MAX_LONG_POSITION"
MAX_SHORT_POSITION: Final = "MAX_SHORT_POSITION"
CONCENTRATION: Final = "CONCENTRATION"
SECTOR_EXPOSURE: Final = "SECTOR_EXPOSURE"
BUYING_POWER: Final = "BUYING_POWER"

# FIX OrdRejReason (103) to send for each code.
ORD_REJ_REASON: Final[dict[str, int]] = {
    UNKNOWN_ACCOUNT: 15, UNKNOWN_INSTRUMENT: 99, KILL_SWITCH: 99, MAX_ORDER_QTY: 3,
    PRICE_COLLAR: 3, FAT_FINGER: 3,
    MAX_ORDER_VALUE: 3, MAX_ORDERS_PER_DAY: 3, MAX_OPEN_ORDERS: 3, SHORT_SELLING: 3,
    MAX_LONG_POSITION: 3, MAX_SHORT_POSITION: 3, CONCENTRATION: 3, SECTOR_EXPOSURE: 3,
    BUYING_POWER: 3,
}

# The other events Ledger.on_event applies (besides Accepted and Trade).
_LEDGER_EVENTS: Final = frozenset((Cancelled, Replaced, Expired, Restated))

Touch = Callable[[str], tuple[int | None, int | None]]
Verdict = tuple[str, str] | None

class Rules(NamedTuple):
    """What check() needs of an account's resolved limits, read once (limits do not
    change after construction): check() unpacks it in one go instead of a dozen
    attribute reads per order; the two flags skip the position lookups when no limit
    needs them. Kept as a plain tuple in this layout (``_rules``): CPython specializes
    the unpacking of an exact tuple, not of a NamedTuple (0.2 µs of a 2 µs check)."""

    firm: str
    max_order_qty: int
    max_order_value: int
    max_orders_per_day: int
    max_open_orders: int
    max_long: int
    max_short: int
    allow_short: bool
    margin_pct: int
    fee_bps: int
    short_margin_pct: int
    exposure: Exposure | None     # the ledger's exposure totals of the account, or None
    buy_positions: bool           # a buy needs the position checks
    sell_positions: bool          # a sell needs them


def _rules(firm: str, limits: Limits, exposure: Exposure | None) -> tuple:
    """The account's Rules, as a plain tuple (see Rules)."""
    return tuple(Rules(firm, limits.max_order_qty, limits.max_order_value,  # type: ignore[arg-type]
                 limits.max_orders_per_day, limits.max_open_orders, limits.max_long,
                 limits.max_short, limits.allow_short, limits.margin_pct, limits.fee_bps,
                 limits.short_margin_pct, exposure,
                 limits.max_long != NO_LIMIT or exposure is not None,
                 not limits.allow_short or limits.max_short != NO_LIMIT
                 or exposure is not None))


def touch_of(engine: Any) -> Touch:
    """A touch reader over a matching Engine: symbol -> (best bid, best ask) prices."""
    touch = getattr(engine, "touch", None)
    if touch is not None:
        return touch     # Engine.touch: the same prices, without the (price, qty) pairs
    def touch_pairs(symbol: str) -> tuple[int | None, int | None]:
        bid, ask = engine.best_bid(symbol), engine.best_ask(symbol)
        return (bid[0] if bid else None, ask[0] if ask else None)
    return touch_pairs


def _no_touch(symbol: str) -> tuple[int | None, int | None]:
    return None, None


def px(value: int) -> str:
    """A fixed-point (4 decimals) value as a decimal string."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), BPS)
    return f"{sign}{whole}.{frac:04d}".rstrip("0").rstrip(".")


class RiskState(msgspec.Struct, array_like=True, gc=False):
    """The risk engine's state: the ledger and who is killed."""

    ledger: LedgerState
    killed_firms: list[str]
    killed_accounts: list[str]
    killed_sessions: list[str]


class RiskEngine:
    """Pre-trade checks over a ``Ledger``; deterministic, no I/O, no clock."""

    def __init__(self, config: RiskConfig, touch: Touch | None = None) -> None:
        self.config = config
        self.instruments: dict[str, InstrumentRisk] = dict(config.instruments)
        self.protection_bps = config.market_protection_bps
        self.touch: Touch = touch or _no_touch
        accounts = {}
        for name, acc in config.accounts.items():
            firm = config.firms.get(acc.firm)
            limits = resolve(acc.limits, firm.limits if firm is not None else None)
            accounts[name] = (acc.firm, acc.cash, dict(acc.positions), limits)
        self.ledger = Ledger(accounts, {s: (i.reference_price, i.sector)
                                        for s, i in self.instruments.items()})
        # (The ledger keeps each Exposure object for good: load_state refills it.)
        self._rules: dict[str, tuple] = {
            name: _rules(firm, limits, AccountTerms(*self.ledger.terms[name]).exposure)
            for name, (firm, _, _, limits) in accounts.items()}
        self.killed_firms: set[str] = set()
        self.killed_accounts: set[str] = set()
        self.killed_sessions: set[str] = set()

    # ---------------------------------------------------------------- queries

    def account(self, name: str) -> AccountView:
        """Cash, reserved, buying power and positions of ``name`` (KeyError if unknown)."""
        return self.ledger.view(name)

    def accounts(self) -> list[str]:
        return sorted(self.ledger.cash)

    def limits(self, name: str) -> Limits:
        """The resolved limits in force for account ``name``."""
        return self.ledger.limits[name]

    def mark(self, symbol: str) -> int:
        """Last trade price, else the instrument's reference price."""
        last = self.ledger.last_price.get(symbol)
        if last is not None:
            return last
        inst = self.instruments.get(symbol)
        return inst.reference_price if inst is not None else 0

    def add_instrument(self, instrument: InstrumentRisk) -> None:
        """Risk parameters of an instrument added at run time (AddInstrument)."""
        self.instruments[instrument.symbol] = instrument
        # The ledger values exposure at the same marks and sectors as mark() here.
        self.ledger.set_instrument(instrument.symbol, instrument.reference_price,
                                   instrument.sector)

    def self_trade_prevention(self) -> dict[str, int]:
        """account -> STP mode for the accounts that have one: pass it as the matching
        Engine's ``self_trade_prevention`` (or send SetSelfTradePrevention commands)."""
        return {n: a.self_trade_prevention for n, a in sorted(self.config.accounts.items())
                if a.self_trade_prevention}

    def new_day(self) -> None:
        """Restart the orders-per-day counters (call with the EndOfDay of all symbols)."""
        self.ledger.new_day()

    # ---------------------------------------------------------------- kill switch

    def kill(self, *, firm: str = "", account: str = "", session: str = ""
             ) -> list[MassCancel]:
        """Block new orders and replaces of a firm, account and/or session until
        ``lift``; returns the MassCancel commands that cancel their open orders, for
        the caller to process."""
        cancels: list[MassCancel] = []
        if firm:
            self.killed_firms.add(firm)
            for name in self.accounts():
                if self.ledger.firm[name] == firm:
                    cancels.append(MassCancel(account=name))
        if account:
            self.killed_accounts.add(account)
            cancels.append(MassCancel(account=account))
        if session:
            self.killed_sessions.add(session)
            cancels.append(MassCancel(session=session))
        return cancels

    def lift(self, *, firm: str = "", account: str = "", session: str = "") -> None:
        self.killed_firms.discard(firm)
        self.killed_accounts.discard(account)
        self.killed_sessions.discard(session)

    # ---------------------------------------------------------------- events

    def on_event(self, event: Event) -> Settlement | None:
        """Feed every engine event, in order; a Trade returns its Settlement."""
        # Dispatched here to the ledger's handlers (one call, not two, per event;
        # kinds the ledger ignores, e.g. BookChanged, cost no call at all).
        kind = type(event)
        if kind is Trade:
            return self.ledger._trade(event)
        if kind is Accepted:
            cmd = event.order
            fallback = 0
            if cmd.side == BUY and (cmd.ord_type == MARKET or cmd.ord_type == STOP):
                # A market or stop buy reserves at the price its check noted; only a
                # buy accepted without that note needs a valuation now.
                pending = self.ledger.pending
                if pending is None or pending[0] is not cmd:
                    fallback = self._valuation(cmd.symbol, BUY, cmd.ord_type, cmd.price,
                                               cmd.stop_px)
            self.ledger._accepted(event, fallback)
        elif kind is Replaced and not event.price and event.stop_px:
            # a stop replaced (no limit price): a buy reserves at its new stop's valuation
            rec = self.ledger.orders.get(event.order_id)
            fallback = 0
            if rec is not None and rec[O_SIDE] == BUY:
                fallback = self._valuation(rec[O_SYMBOL], BUY, STOP, 0, event.stop_px)
            self.ledger._replaced(event, fallback)
        elif kind in _LEDGER_EVENTS:
            self.ledger.on_event(event)
        return None

    def process(self, engine: Any, command: Any, ts: int = 0
                ) -> tuple[list[Event], list[Settlement]]:
        """``engine.process(command, ts)`` then every event into ``on_event``: the
        order the ledger needs (events of a command before the next check)."""
        events = engine.process(command, ts)
        settlements = []
        for event in events:
            s = self.on_event(event)
            if s is not None:
                settlements.append(s)
        return events, settlements

    # ---------------------------------------------------------------- the check

    def __call__(self, command: NewOrder | Replace, order: Any) -> Verdict:
        return self.check(command, order)

    def check(self, command: NewOrder | Replace, order: Any) -> Verdict:
        """The engine's risk hook: NewOrder (order None) or Replace (order: the open
        order). None lets it through; else (code, text)."""
        # One body, with the parts inlined: this runs for every order, and calls
        # and attribute reads are most of its cost. A limit that is off costs one
        # comparison (see _rules). (Every code appears here, in the order the checks
        # are tried: tests/docs reads that order from this source.)
        new_order = type(command) is NewOrder
        ledger = self.ledger
        if new_order:
            symbol, side, qty, price = command.symbol, command.side, command.order_qty, \
                command.price
            ord_type, session, account = command.ord_type, command.session, command.account
            stop_price = command.stop_px
            old_qty = old_reserved = 0
            old_price = None
            rec = None
        elif order is not None:
            symbol, side, ord_type = order.symbol, order.side, order.ord_type
            session, account = order.session, order.account
            qty, price = command.order_qty, command.price
            stop_price = command.stop_px or order.stop_price
            old_qty, old_price = order.qty, order.price
            rec = ledger.orders.get(order.oid)
            if rec is not None:
                old_reserved = rec[O_RESERVED]
            else:
                old_reserved = 0
                old_qty = order.qty - order.leaves   # unknown to us: count leaves as new
        else:
            return None
        rules = self._rules.get(account)
        if rules is None:
            return UNKNOWN_ACCOUNT, f"account {account!r} is not configured for risk"
        (firm, max_qty, max_value, max_per_day, max_open, max_long, max_short, allow_short,
         margin, fee, short_margin, exposure, buy_positions, sell_positions) = rules
        if firm in self.killed_firms:
            return KILL_SWITCH, f"kill switch of firm {firm} is on"
        if account in self.killed_accounts:
            return KILL_SWITCH, f"kill switch of account {account} is on"
        if session in self.killed_sessions:
            return KILL_SWITCH, f"kill switch of session {session} is on"
        inst = self.instruments.get(symbol)
        if inst is None:
            return UNKNOWN_INSTRUMENT, (f"instrument {symbol} has no risk parameters "
                                        "(RiskEngine.add_instrument)")
        # --- order limits
        if max_qty != NO_LIMIT and qty > max_qty:
            return MAX_ORDER_QTY, (f"order quantity {qty} exceeds the max order quantity "
                                   f"{max_qty} of account {account}")
        lim_qty = inst.max_order_qty
        if lim_qty != NO_LIMIT and qty > lim_qty:
            return MAX_ORDER_QTY, (f"order quantity {qty} exceeds the max order quantity "
                                   f"{lim_qty} of instrument {symbol}")
        if ord_type == LIMIT or ord_type == STOP_LIMIT:
            if price != old_price:
                # collar: around mark(symbol)
                last = ledger.last_price.get(symbol)
                anchor = last if last is not None else inst.reference_price
                if anchor > 0 and inst.collar_bps:      # 0: no collar
                    width = anchor * inst.collar_bps // BPS
                    if not anchor - width <= price <= anchor + width:
                        return PRICE_COLLAR, _collar_text(inst, symbol, price, anchor)
                if ord_type == LIMIT and inst.fat_finger_bps:   # 0: no fat-finger check
                    # fat finger: through the opposite touch
                    bid, ask = self.touch(symbol)
                    if side == BUY:
                        if ask and price > ask + ask * inst.fat_finger_bps // BPS:
                            return FAT_FINGER, _fat_finger_text(inst, symbol, side, price, ask)
                    elif bid and price < bid - bid * inst.fat_finger_bps // BPS:
                        return FAT_FINGER, _fat_finger_text(inst, symbol, side, price, bid)
            vp = price      # the valuation of a priced order: its limit price
        elif rec is not None and rec[O_RP] and stop_price == order.stop_price:
            vp = rec[O_RP]    # a stop replaced at the same stop price keeps its valuation
        else:
            vp = self._valuation(symbol, side, ord_type, price, stop_price)
        if max_value != NO_LIMIT and vp * qty > max_value:
            return MAX_ORDER_VALUE, (f"order value {px(vp * qty)} exceeds the max order "
                                     f"value {px(max_value)} of account {account}")
        if new_order:
            if max_per_day != NO_LIMIT:
                today = ledger.orders_today[account]
                if today >= max_per_day:
                    return MAX_ORDERS_PER_DAY, (
                        f"account {account} reached its max orders per day "
                        f"{max_per_day} (this would be order {today + 1})")
            if max_open != NO_LIMIT:
                count = ledger.open_count[account]
                if count >= max_open:
                    return MAX_OPEN_ORDERS, (
                        f"account {account} reached its max open orders "
                        f"{max_open} (this would be open order {count + 1})")
        # --- positions (worst case: every open order of the account fills)
        added = qty - old_qty    # the increase of the order's quantity (may be < 0)
        if added > 0:
            if side == BUY:
                if buy_positions:
                    held = ledger.positions[account].get(symbol, 0)
                    longest = held + ledger.open_buys[account].get(symbol, 0) + added
                    if max_long != NO_LIMIT and longest > max_long:
                        return MAX_LONG_POSITION, (
                            f"long position could reach {longest}, above the max long "
                            f"position {max_long} of account {account} in {symbol}")
                    if exposure is not None:
                        shortest = ledger.open_sells[account].get(symbol, 0) - held
            elif sell_positions or allow_short:
                held = ledger.positions[account].get(symbol, 0)
                selling = ledger.open_sells[account].get(symbol, 0) + added
                shortest = selling - held
                if not allow_short and shortest > 0:
                    return SHORT_SELLING, (
                        f"sell of {added} exceeds the available position "
                        f"{max(held - selling + added, 0)} of account {account} "
                        f"in {symbol} (short selling not allowed)")
                if max_short != NO_LIMIT and shortest > max_short:
                    return MAX_SHORT_POSITION, (
                        f"short position could reach {shortest}, above the max short "
                        f"position {max_short} of account {account} in {symbol}")
                if exposure is not None:
                    longest = held + ledger.open_buys[account].get(symbol, 0)
            if exposure is not None:
                # Concentration and sector: every symbol valued at its mark (exposure
                # units x mark). The account's totals hold that sum over its symbols
                # (plus the drift of a symbol whose holders are not revalued yet);
                # the order's symbol swaps its value for the one after the order.
                # units after the order: max(longest, shortest, 0), without the call
                units = longest if longest > shortest else shortest
                if units < 0:
                    units = 0
                last = ledger.last_price.get(symbol)
                mark = last if last is not None else ledger.reference.get(symbol, 0)
                mine = units * mark
                cell = exposure.held.get(symbol)
                change = mine - cell[H_UNITS] * mark if cell is not None else mine
                drift = 0       # ledger.drift(exposure), inlined
                moved = ledger.moved
                if moved is not None:
                    moved_cell = exposure.held.get(moved)
                    if moved_cell is not None:
                        last = ledger.last_price.get(moved)
                        drift = moved_cell[H_UNITS] * (
                            (last if last is not None else ledger.reference.get(moved, 0))
                            - ledger.valued_at[moved])
                pct = exposure.max_pct
                if pct < 100:
                    gross = exposure.gross + drift + change
                    if gross > exposure.floor and mine * 100 > pct * gross:
                        share = -(-mine * BPS // gross)   # in 0.01%, rounded up: above pct
                        return CONCENTRATION, (
                            f"{symbol} would be {share // 100}.{share % 100:02d}% of account "
                            f"{account}'s "
                            f"gross exposure {px(gross)}, above the max concentration {pct}%")
                cap = exposure.sector_limit
                if cap != NO_LIMIT:
                    sector = ledger.sector.get(symbol, "")
                    total = exposure.sectors.get(sector, 0) + change
                    if drift and moved_cell[H_SECTOR] == sector:
                        total += drift
                    if total > cap:
                        return SECTOR_EXPOSURE, (
                            f"exposure of account {account} to sector {sector!r} would be "
                            f"{px(total)}, above the sector limit {px(cap)}")
        # --- buying power
        if side == BUY:
            # the reservation of the order's leaves, less what it holds already
            leaves = qty - order.cum if order is not None else qty
            value = vp * leaves if leaves > 0 else 0
            need = -(-value * margin // 100) + value * fee // BPS - old_reserved
            if need > 0:
                cash, reserved = ledger.cash[account], ledger.reserved[account]
                if need > cash - reserved:
                    return BUYING_POWER, (
                        f"buy needs {px(need)} of buying power, account {account} has "
                        f"{px(cash - reserved)} (cash {px(cash)}, reserved {px(reserved)})")
        elif added > 0 and allow_short:
            # margin on the part of the sell beyond the position not already offered
            short = added - max(held - (selling - added), 0)
            if short > 0:
                need = -(-vp * short * short_margin // 100)
                power = ledger.cash[account] - ledger.reserved[account]
                if need > power:
                    return BUYING_POWER, (
                        f"short sale of {short} needs {px(need)} of margin, account "
                        f"{account} has buying power {px(power)}")
        if new_order:
            ledger.pending = (command, vp)    # the reserve price of the order it accepts
        return None

    # ---------------------------------------------------------------- parts

    def _valuation(self, symbol: str, side: int, ord_type: int, price: int,
                   stop_price: int) -> int:
        if ord_type == LIMIT or ord_type == STOP_LIMIT:
            return price
        inst = self.instruments.get(symbol)
        tick = inst.tick_size if inst is not None else 1
        if ord_type == STOP:
            base = stop_price
        else:
            bid, ask = self.touch(symbol)
            base = (ask if side == BUY else bid) or self.mark(symbol)
        return protection_limit(base, side, self.protection_bps, tick)

    # ---------------------------------------------------------------- snapshot

    def state(self) -> RiskState:
        """The ledger and the kill switches (the configuration is not included)."""
        return RiskState(self.ledger.state(), sorted(self.killed_firms),
                         sorted(self.killed_accounts), sorted(self.killed_sessions))

    def load_state(self, state: RiskState) -> None:
        self.ledger.load_state(state.ledger)
        self.killed_firms = set(state.killed_firms)
        self.killed_accounts = set(state.killed_accounts)
        self.killed_sessions = set(state.killed_sessions)

    def balances(self) -> dict[str, tuple[int, int, dict[str, int]]]:
        """account -> (cash, reserved, positions): for comparisons and audits."""
        lg = self.ledger
        return {a: (lg.cash[a], lg.reserved[a], dict(lg.positions[a])) for a in self.accounts()}


# ---------------------------------------------------------------- refusal texts

def _collar_text(inst: InstrumentRisk, symbol: str, price: int, anchor: int) -> str:
    width = anchor * inst.collar_bps // BPS
    return (f"price {px(price)} is outside the collar {px(anchor - width)}.."
            f"{px(anchor + width)} ({inst.collar_bps} bps around {px(anchor)}) of {symbol}")


def _fat_finger_text(inst: InstrumentRisk, symbol: str, side: int, price: int,
                     touch: int) -> str:
    if side == BUY:
        worst = touch + touch * inst.fat_finger_bps // BPS
        return (f"buy price {px(price)} is beyond the fat-finger limit {px(worst)} "
                f"({inst.fat_finger_bps} bps through the ask {px(touch)}) of {symbol}")
    worst = touch - touch * inst.fat_finger_bps // BPS
    return (f"sell price {px(price)} is beyond the fat-finger limit {px(worst)} "
            f"({inst.fat_finger_bps} bps through the bid {px(touch)}) of {symbol}")
