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
UNKNOWN_INSTRUMENT     a symbol without InstrumentRisk (one added to the engine later
                       needs ``add_instrument`` here too)
KILL_SWITCH            new orders and replaces of a killed firm, account or session
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
UNKNOWN_ACCOUNT, UNKNOWN_INSTRUMENT and KILL_SWITCH -> 99 (Other) with the text; CxlRejReason
(102) for a refused replace: 99 (Other).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .accounts import BUY, O_RESERVED, O_RP, AccountView, Ledger, Settlement, reservation
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
    UNKNOWN_ACCOUNT: 99, UNKNOWN_INSTRUMENT: 99, KILL_SWITCH: 99, MAX_ORDER_QTY: 3,
    PRICE_COLLAR: 3, FAT_FINGER: 3,
    MAX_ORDER_VALUE: 3, MAX_ORDERS_PER_DAY: 3, MAX_OPEN_ORDERS: 3, SHORT_SELLING: 3,
    MAX_LONG_POSITION: 3, MAX_SHORT_POSITION: 3, CONCENTRATION: 3, SECTOR_EXPOSURE: 3,
    BUYING_POWER: 3,
}

NEW_ORDER, REPLACE = 1, 3
MARKET, LIMIT, STOP, STOP_LIMIT = 1, 2, 3, 4

Touch = Callable[[str], tuple[int | None, int | None]]
Verdict = tuple[str, str] | None


def touch_of(engine: Any) -> Touch:
    """A touch reader over a matching Engine: symbol -> (best bid, best ask) prices."""
    def touch(symbol: str) -> tuple[int | None, int | None]:
        bid, ask = engine.best_bid(symbol), engine.best_ask(symbol)
        return (bid[0] if bid else None, ask[0] if ask else None)
    return touch


def _no_touch(symbol: str) -> tuple[int | None, int | None]:
    return None, None


def px(value: int) -> str:
    """A fixed-point (4 decimals) value as a decimal string."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), BPS)
    return f"{sign}{whole}.{frac:04d}".rstrip("0").rstrip(".")


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
        self.ledger = Ledger(accounts)
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

    def self_trade_prevention(self) -> dict[str, int]:
        """account -> STP mode for the accounts that have one: pass it as the matching
        Engine's ``self_trade_prevention`` (or send SetSelfTradePrevention commands)."""
        return {n: a.self_trade_prevention for n, a in sorted(self.config.accounts.items())
                if a.self_trade_prevention}

    def new_day(self) -> None:
        """Restart the orders-per-day counters (call with the EndOfDay of all symbols)."""
        self.ledger.new_day()

    # ---------------------------------------------------------------- kill switch

    def kill(self, *, firm: str = "", account: str = "", session: str = "") -> list[tuple]:
        """Block new orders and replaces of a firm, account and/or session until
        ``lift``; returns the MassCancel command tuples (matching.commands layout)
        that cancel their open orders, for the caller to sequence and process."""
        cancels: list[tuple] = []
        if firm:
            self.killed_firms.add(firm)
            for name in self.accounts():
                if self.ledger.firm[name] == firm:
                    cancels.append((4, "", "", name, "", 0))
        if account:
            self.killed_accounts.add(account)
            cancels.append((4, "", "", account, "", 0))
        if session:
            self.killed_sessions.add(session)
            cancels.append((4, "", session, "", "", 0))
        return cancels

    def lift(self, *, firm: str = "", account: str = "", session: str = "") -> None:
        self.killed_firms.discard(firm)
        self.killed_accounts.discard(account)
        self.killed_sessions.discard(session)

    # ---------------------------------------------------------------- events

    def on_event(self, event: tuple) -> Settlement | None:
        """Feed every engine event, in order; a Trade returns its Settlement."""
        fallback = 0
        if event[0] == 1 and event[3][2] == BUY and event[3][5] in (MARKET, STOP):
            cmd = event[3]
            fallback = self._valuation(cmd[1], BUY, cmd[5], cmd[4], cmd[10])
        return self.ledger.on_event(event, fallback)

    def process(self, engine: Any, command: tuple, ts: int = 0
                ) -> tuple[list[tuple], list[Settlement]]:
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

    def __call__(self, command: tuple, order: Any) -> Verdict:
        return self.check(command, order)

    def check(self, command: tuple, order: Any) -> Verdict:
        """The engine's risk hook: NewOrder (order None) or Replace (order: the open
        order). None lets it through; else (code, text)."""
        kind = command[0]
        if kind == NEW_ORDER:
            (_, symbol, side, qty, price, ord_type, _tif, _cl, session, account,
             stop_price, *_rest) = command
            old_qty = old_reserved = 0
            old_price = None
            new = True
        elif kind == REPLACE and order is not None:
            symbol, side, ord_type = order.symbol, order.side, order.ord_type
            session, account = order.session, order.account
            qty, price = command[4], command[5]
            stop_price = command[6] or order.stop_price
            old_qty, old_price = order.qty, order.price
            rec = self.ledger.orders.get(order.oid)
            old_reserved = rec[O_RESERVED] if rec is not None else 0
            if rec is None:
                old_qty = order.qty - order.leaves   # unknown to us: count leaves as new
            new = False
        else:
            return None
        ledger = self.ledger
        limits = ledger.limits.get(account)
        if limits is None:
            return UNKNOWN_ACCOUNT, f"account {account!r} is not configured for risk"
        firm = ledger.firm[account]
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
        lim_qty = limits.max_order_qty
        if lim_qty != NO_LIMIT and qty > lim_qty:  # type: ignore[operator]
            return MAX_ORDER_QTY, (f"order quantity {qty} exceeds the max order quantity "
                                   f"{lim_qty} of account {account}")
        lim_qty = inst.max_order_qty
        if lim_qty != NO_LIMIT and qty > lim_qty:
            return MAX_ORDER_QTY, (f"order quantity {qty} exceeds the max order quantity "
                                   f"{lim_qty} of instrument {symbol}")
        priced = ord_type == LIMIT or ord_type == STOP_LIMIT
        if priced and price != old_price:
            verdict = self._price_checks(inst, symbol, side, price, ord_type)
            if verdict is not None:
                return verdict
        rec = ledger.orders.get(order.oid) if not new else None
        if rec is not None and not priced and rec[O_RP]:
            vp = rec[O_RP]    # a stop being replaced keeps the valuation it was accepted at
        else:
            vp = self._valuation(symbol, side, ord_type, price, stop_price)
        rp = vp
        value = vp * qty
        if limits.max_order_value != NO_LIMIT and value > limits.max_order_value:  # type: ignore[operator]
            return MAX_ORDER_VALUE, (f"order value {px(value)} exceeds the max order value "
                                     f"{px(limits.max_order_value)} of account {account}")  # type: ignore[arg-type]
        if new:
            cap = limits.max_orders_per_day
            today = ledger.orders_today[account]
            if cap != NO_LIMIT and today >= cap:  # type: ignore[operator]
                return MAX_ORDERS_PER_DAY, (f"account {account} reached its max orders per day "
                                            f"{cap} (this would be order {today + 1})")
            cap = limits.max_open_orders
            count = ledger.open_count[account]
            if cap != NO_LIMIT and count >= cap:  # type: ignore[operator]
                return MAX_OPEN_ORDERS, (f"account {account} reached its max open orders "
                                         f"{cap} (this would be open order {count + 1})")
        # --- positions (worst case: every open order of the account fills)
        added = qty - old_qty    # the increase of the order's quantity (may be < 0)
        verdict = self._position_checks(account, limits, symbol, side, added, vp)
        if verdict is not None:
            return verdict
        # --- buying power
        power = ledger.cash[account] - ledger.reserved[account]
        if side == BUY:
            leaves = qty - (order.cum if order is not None else 0)
            need = reservation(rp, max(leaves, 0), limits) - old_reserved
            if need > 0 and need > power:
                return BUYING_POWER, (f"buy needs {px(need)} of buying power, account "
                                      f"{account} has {px(power)} (cash {px(ledger.cash[account])}"
                                      f", reserved {px(ledger.reserved[account])})")
        elif added > 0 and limits.allow_short:
            available = max(ledger.positions[account].get(symbol, 0)
                            - ledger.open_sells[account].get(symbol, 0), 0)
            short = added - available
            if short > 0:
                need = -(-vp * short * limits.short_margin_pct // 100)  # type: ignore[operator]
                if need > power:
                    return BUYING_POWER, (f"short sale of {short} needs {px(need)} of margin, "
                                          f"account {account} has buying power {px(power)}")
        if new:
            ledger.note_reserve_price(command, rp)
        return None

    # ---------------------------------------------------------------- parts

    def _price_checks(self, inst: InstrumentRisk, symbol: str, side: int, price: int,
                      ord_type: int) -> Verdict:
        anchor = self.mark(symbol)
        if anchor > 0:
            width = anchor * inst.collar_bps // BPS
            low, high = anchor - width, anchor + width
            if not low <= price <= high:
                return PRICE_COLLAR, (f"price {px(price)} is outside the collar {px(low)}.."
                                      f"{px(high)} ({inst.collar_bps} bps around {px(anchor)}) "
                                      f"of {symbol}")
        if ord_type == LIMIT:
            bid, ask = self.touch(symbol)
            if side == BUY and ask:
                worst = ask + ask * inst.fat_finger_bps // BPS
                if price > worst:
                    return FAT_FINGER, (f"buy price {px(price)} is beyond the fat-finger limit "
                                        f"{px(worst)} ({inst.fat_finger_bps} bps through the "
                                        f"ask {px(ask)}) of {symbol}")
            elif side != BUY and bid:
                worst = bid - bid * inst.fat_finger_bps // BPS
                if price < worst:
                    return FAT_FINGER, (f"sell price {px(price)} is beyond the fat-finger limit "
                                        f"{px(worst)} ({inst.fat_finger_bps} bps through the "
                                        f"bid {px(bid)}) of {symbol}")
        return None

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
        band = base * self.protection_bps // BPS
        if side == BUY:
            return (base + band) // tick * tick
        low = -(-(base - band) // tick) * tick
        return low if low >= tick else tick

    def _exposure(self, account: str, symbol: str, extra_buy: int = 0,
                  extra_sell: int = 0) -> int:
        ledger = self.ledger
        held = ledger.positions[account].get(symbol, 0)
        longest = held + ledger.open_buys[account].get(symbol, 0) + extra_buy
        shortest = ledger.open_sells[account].get(symbol, 0) + extra_sell - held
        return max(longest, shortest, 0)

    def _position_checks(self, account: str, limits: Limits, symbol: str, side: int,
                         added: int, vp: int) -> Verdict:
        if added <= 0:
            return None
        ledger = self.ledger
        held = ledger.positions[account].get(symbol, 0)
        if side == BUY:
            longest = held + ledger.open_buys[account].get(symbol, 0) + added
            if limits.max_long != NO_LIMIT and longest > limits.max_long:  # type: ignore[operator]
                return MAX_LONG_POSITION, (f"long position could reach {longest}, above the max "
                                           f"long position {limits.max_long} of account "
                                           f"{account} in {symbol}")
            extra_buy, extra_sell = added, 0
        else:
            selling = ledger.open_sells[account].get(symbol, 0) + added
            if not limits.allow_short and selling > held:
                return SHORT_SELLING, (f"sell of {added} exceeds the available position "
                                       f"{max(held - selling + added, 0)} of account {account} "
                                       f"in {symbol} (short selling not allowed)")
            shortest = selling - held
            if limits.max_short != NO_LIMIT and shortest > limits.max_short:  # type: ignore[operator]
                return MAX_SHORT_POSITION, (f"short position could reach {shortest}, above the "
                                            f"max short position {limits.max_short} of account "
                                            f"{account} in {symbol}")
            extra_buy, extra_sell = 0, added
        pct, cap = limits.max_concentration_pct, limits.sector_limit
        if pct >= 100 and cap == NO_LIMIT:  # type: ignore[operator]
            return None
        symbols = set(ledger.positions[account]) | set(ledger.open_buys[account]) | set(
            ledger.open_sells[account]) | {symbol}
        values: dict[str, int] = {}
        for s in symbols:
            if s == symbol:
                values[s] = self._exposure(account, s, extra_buy, extra_sell) * self.mark(s)
            else:
                values[s] = self._exposure(account, s) * self.mark(s)
        if pct < 100:  # type: ignore[operator]
            gross = sum(values.values())
            mine = values[symbol]
            if gross > limits.concentration_floor and mine * 100 > pct * gross:  # type: ignore[operator]
                return CONCENTRATION, (f"{symbol} would be {mine * 100 // gross}% of account "
                                       f"{account}'s gross exposure {px(gross)}, above the max "
                                       f"concentration {pct}%")
        if cap != NO_LIMIT:
            sector = self._sector(symbol)
            total = sum(v for s, v in values.items() if self._sector(s) == sector)
            if total > cap:  # type: ignore[operator]
                return SECTOR_EXPOSURE, (f"exposure of account {account} to sector {sector!r} "
                                         f"would be {px(total)}, above the sector limit "
                                         f"{px(cap)}")  # type: ignore[arg-type]
        return None

    def _sector(self, symbol: str) -> str:
        inst = self.instruments.get(symbol)
        return inst.sector if inst is not None else ""

    # ---------------------------------------------------------------- snapshot

    def state(self) -> dict[str, Any]:
        """Plain data: the ledger and the kill switches (the config is not included)."""
        return {"ledger": self.ledger.state(),
                "killed": [sorted(self.killed_firms), sorted(self.killed_accounts),
                           sorted(self.killed_sessions)]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.ledger.load_state(state["ledger"])
        firms, accounts, sessions = state["killed"]
        self.killed_firms, self.killed_accounts = set(firms), set(accounts)
        self.killed_sessions = set(sessions)

    def balances(self) -> dict[str, tuple[int, int, dict[str, int]]]:
        """account -> (cash, reserved, positions): for comparisons and audits."""
        lg = self.ledger
        return {a: (lg.cash[a], lg.reserved[a], dict(lg.positions[a])) for a in self.accounts()}

