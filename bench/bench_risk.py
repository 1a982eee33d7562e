"""Pre-trade risk cost per order: ``RiskEngine.check`` and ``RiskEngine.on_event``.

Budget (the risk issue): 100 µs per order in the design, 5 µs per order ours.

Builds a risk configuration of 50 symbols (tick 0.01, reference prices 50.00 to
500.00, 5 sectors) and 20 accounts of 5 firms, each with ample cash and a large
position in every symbol (so sells are covered and the exposure checks see 50
symbols per account), in two variants:

* ``default limits``: ``DEFAULT_LIMITS`` (most limits off: the cheap path);
* ``every limit on``: max long/short, concentration < 100% and a sector limit,
  max order quantity and value, max orders per day and open orders, short
  selling with margin, fees; loose enough that almost every order passes (the
  rejects, if any, are counted and printed).

A seeded flow (about 55% limit orders near the touch, 30% cancels of earlier
orders, 5% replaces, 10% marketable orders: IOC limits through the touch and
market orders) goes through a ``matching.engine.Engine`` whose risk hook is
``RiskEngine.check``, every event fed to ``RiskEngine.on_event``, as
``tests/risk/kit.py`` wires them. Per variant, two replays:

* an instrumented one: ``check`` timed alone (``time.perf_counter_ns`` around
  it, inside the engine's hook call) and the ``on_event`` loop of each command
  timed as a block (the events of one command: what the caller pays per order);
* a clean one, hook = ``RiskEngine.check`` itself, timing only the whole order
  path (``Engine.process`` + the ``on_event`` loop); plus, once, the same flow
  through an engine without risk, for the share of risk in the path.

Figures are net of the timer overhead (an empty ``perf_counter_ns`` pair,
measured and printed). Nothing here asserts on a timing: it prints, and exits 0.
The machine may be shared: the load average and a yardstick loop (see
``bench_matching.py``) are printed at the start and the end.

Run from the repository root: ``python bench/bench_risk.py [--commands N]``
(``--help`` for the other options: seed, one variant only, GC off, cProfile).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_matching import interpreter, machine_speed, percentile  # noqa: E402
from matching.commands import Cancel, Command, NewOrder, Replace  # noqa: E402
from matching.constants import BUY, IOC, LIMIT, MARKET, SELL  # noqa: E402
from matching.engine import Engine  # noqa: E402
from matching.events import Accepted, CancelRejected, Event, Rejected  # noqa: E402
from matching.instruments import Instrument  # noqa: E402
from risk.checks import ORD_REJ_REASON, RiskEngine, touch_of  # noqa: E402
from risk.config import (  # noqa: E402
    AccountConfig,
    FirmRisk,
    InstrumentRisk,
    Limits,
    RiskConfig,
)

TICK = 100                 # 0.01 in fixed point (4 decimals)
SECTORS = ("Tech", "Energy", "Health", "Finance", "Retail")
FIRMS, ACCOUNTS_PER_FIRM = 5, 4
CASH = 10 ** 16            # 1e12 in cash units: never the binding constraint
POSITION = 10 ** 7         # units of every symbol held by every account at the start
ADD, CANCEL, REPLACE, MARKETABLE = 0, 1, 2, 3
KIND_NAMES = {ADD: "limit add", CANCEL: "cancel", REPLACE: "replace", MARKETABLE: "marketable"}
ORDER_KINDS = (ADD, REPLACE, MARKETABLE)     # the commands that run the pre-trade check
BUDGET_NS, DESIGN_NS = 5_000, 100_000

# Every limit on, at values the flow stays within (see the module docstring).
EVERY_LIMIT = Limits(
    allow_short=True, margin_pct=100, short_margin_pct=150,
    max_long=10 * POSITION, max_short=POSITION,
    max_concentration_pct=25, concentration_floor=0, sector_limit=10 ** 15,
    max_order_qty=100_000, max_order_value=10 ** 12,
    max_orders_per_day=10 ** 8, max_open_orders=50_000, fee_bps=1,
)
VARIANTS: dict[str, Limits] = {"default limits": Limits(), "every limit on": EVERY_LIMIT}

# One item of the flow: (kind, NewOrder or None, handle, session, qty, price).
# ``handle`` numbers the generated orders; cancels and replaces name the handle of
# their target, mapped to the engine's oid at run time (from its Accepted event).
Item = tuple[int, NewOrder | None, int, str, int, int]


def make_instruments(symbols: int) -> list[InstrumentRisk]:
    rng = random.Random(7)
    return [InstrumentRisk(f"SYM{i:03d}", rng.randrange(5_000, 50_001) * TICK,
                           SECTORS[i % len(SECTORS)], TICK) for i in range(symbols)]


def make_config(instruments: list[InstrumentRisk], limits: Limits) -> RiskConfig:
    """Firms carry ``limits`` (their accounts inherit them); every account is rich."""
    positions = {inst.symbol: POSITION for inst in instruments}
    firms = {f"F{f}": FirmRisk(f"F{f}", limits) for f in range(FIRMS)}
    accounts = {}
    for f in range(FIRMS):
        for a in range(ACCOUNTS_PER_FIRM):
            name = f"F{f}-A{a}"
            accounts[name] = AccountConfig(name, f"F{f}", CASH, dict(positions))
    return RiskConfig(instruments={i.symbol: i for i in instruments}, firms=firms,
                      accounts=accounts)


def generate(n: int, instruments: list[InstrumentRisk], accounts: list[str],
             seed: int) -> list[Item]:
    """``n`` commands over random symbols whose mids take a slow random walk.

    Limit adds sit 1 to 10 ticks behind the mid, mostly close; marketable orders
    are IOC limits 3 ticks through the mid or market orders, with heavy-tailed
    sizes; cancels hit one of the symbol's 8 most recent orders or the stalest of
    4 random ones (as in ``bench_matching.py``, so books keep a steady depth);
    replaces move one of the 8 most recent orders by a tick and/or change its
    quantity. Some targets have traded since: the engine rejects those, as in
    real flow.
    """
    rng = random.Random(seed)
    random_, randrange = rng.random, rng.randrange
    mids = [inst.reference_price for inst in instruments]
    symbols = [inst.symbol for inst in instruments]
    # Per symbol: [handle, price, qty, side, session] of orders believed resting.
    live: list[list[list[Any]]] = [[] for _ in instruments]
    items: list[Item] = []
    handle = 0
    nsym, nacc = len(instruments), len(accounts)
    for i in range(n):
        s = randrange(nsym)
        r = random_()
        if r < 0.02:
            mids[s] += TICK
        elif r < 0.04:
            mids[s] -= TICK
        mid = mids[s]
        pool = live[s]
        r = random_()
        if r < 0.35 and pool:
            size = len(pool)
            if r < 0.30:
                if random_() < 0.5:
                    j = size - 1 - randrange(min(8, size))
                else:
                    j = max((randrange(size) for _ in range(4)),
                            key=lambda k: abs(pool[k][1] - mid))
                target = pool.pop(j)
                items.append((CANCEL, None, target[0], target[4], 0, 0))
            else:
                target = pool[size - 1 - randrange(min(8, size))]
                step = randrange(-1, 2) * TICK
                price = target[1] + (step if target[3] == BUY else -step)
                qty = max(100, target[2] + randrange(-2, 3) * 100)
                target[1], target[2] = price, qty
                items.append((REPLACE, None, target[0], target[4], qty, price))
            continue
        side = BUY if random_() < 0.5 else SELL
        account = accounts[randrange(nacc)]
        session = "S-" + account
        if r < 0.90:
            depth = int(random_() ** 2 * 10)
            price = mid - (1 + depth) * TICK if side == BUY else mid + (1 + depth) * TICK
            qty = (1 + randrange(10)) * 100
            command = NewOrder(symbol=symbols[s], side=side, order_qty=qty, price=price,
                               ord_type=LIMIT, cl_ord_id=f"C{i}", session=session,
                               account=account)
            pool.append([handle, price, qty, side, session])
            items.append((ADD, command, handle, session, qty, price))
        else:
            qty = (1 + int(80 * random_() ** 2)) * 100
            if random_() < 0.5:
                price = mid + 3 * TICK if side == BUY else mid - 3 * TICK
                command = NewOrder(symbol=symbols[s], side=side, order_qty=qty, price=price,
                                   ord_type=LIMIT, time_in_force=IOC, cl_ord_id=f"C{i}",
                                   session=session, account=account)
            else:
                command = NewOrder(symbol=symbols[s], side=side, order_qty=qty,
                                   ord_type=MARKET, cl_ord_id=f"C{i}", session=session,
                                   account=account)
            items.append((MARKETABLE, command, handle, session, qty, 0))
        handle += 1
    return items


class Desk:
    """Engine + RiskEngine (as tests/risk/kit.py), books warmed with a few levels.
    ``hook`` wraps ``risk.check`` (for timing) or is None for the plain bound method;
    ``with_risk`` False builds an engine without a risk hook (and no on_event)."""

    def __init__(self, config: RiskConfig, with_risk: bool = True,
                 hook: Callable[[RiskEngine], Callable[[Any, Any], Any]] | None = None
                 ) -> None:
        self.risk = RiskEngine(config)
        check = (hook(self.risk) if hook is not None else self.risk.check) if with_risk else None
        instruments = [Instrument(i.symbol, i.tick_size, 1, i.reference_price)
                       for i in config.instruments.values()]
        self.engine = Engine(instruments, market_protection_bps=config.market_protection_bps,
                             risk=check)
        self.risk.touch = touch_of(self.engine)
        self.with_risk = with_risk
        accounts = sorted(config.accounts)
        n = 0
        for inst in instruments:
            for k in range(1, 6):
                for side, price in ((BUY, inst.reference_price - k * TICK),
                                    (SELL, inst.reference_price + k * TICK)):
                    account = accounts[n % len(accounts)]
                    n += 1
                    self.run(NewOrder(symbol=inst.symbol, side=side, order_qty=500,
                                      price=price, session="W", account=account), 0)

    def run(self, command: Command, ts: int) -> list[Event]:
        events = self.engine.process(command, ts)
        if self.with_risk:
            for event in events:
                self.risk.on_event(event)
        return events


def command_of(item: Item, oids: list[int], i: int) -> Command:
    kind, command, handle, session, qty, price = item
    if command is not None:
        return command
    if kind == CANCEL:
        return Cancel(order_id=oids[handle], cl_ord_id=f"X{i}", session=session)
    return Replace(order_id=oids[handle], cl_ord_id=f"R{i}", session=session, order_qty=qty,
                   price=price)


def accepted_oid(events: list[Event]) -> int:
    for event in events:
        if type(event) is Accepted:
            return event.order_id
    return 0


class Instrumented:
    """Per-command samples of one instrumented replay (nanoseconds, timer included)."""

    def __init__(self, n: int) -> None:
        self.check = [-1] * n        # -1: the command ran no check
        self.on_event = [0] * n
        self.path = [0] * n
        self.events = 0
        self.verdicts: Counter[str] = Counter()
        self.engine_rejects = 0          # orders the engine itself refused
        self.cancel_rejects = 0          # cancels/replaces refused by the engine (too late)
        self.open_orders = 0


def run_instrumented(config: RiskConfig, items: list[Item]) -> Instrumented:
    """Replay timing ``check`` alone, the ``on_event`` loop of each command, and both
    together with ``Engine.process`` (the path, which includes the check's timer)."""
    clock = time.perf_counter_ns
    cell = [0]
    result = Instrumented(len(items))
    verdicts = result.verdicts

    def hook(risk: RiskEngine) -> Callable[[Any, Any], Any]:
        check = risk.check

        def timed_check(command: NewOrder | Replace, order: Any) -> Any:
            t0 = clock()
            verdict = check(command, order)
            t1 = clock()
            cell[0] = t1 - t0
            if verdict is not None:
                verdicts[verdict[0]] += 1
            return verdict
        return timed_check

    desk = Desk(config, hook=hook)
    process, on_event = desk.engine.process, desk.risk.on_event
    oids = [0] * len(items)
    check_ns, event_ns, path_ns = result.check, result.on_event, result.path
    events_total = rejects = cancel_rejects = 0
    gc.collect()
    for i, item in enumerate(items):
        command = command_of(item, oids, i)
        cell[0] = -1
        t0 = clock()
        events = process(command, i)
        t1 = clock()
        for event in events:
            on_event(event)
        t2 = clock()
        check_ns[i] = cell[0]
        event_ns[i] = t2 - t1
        path_ns[i] = t2 - t0
        events_total += len(events)
        for event in events:
            if type(event) is Rejected and event.reason not in ORD_REJ_REASON:
                rejects += 1
            elif type(event) is CancelRejected and event.reason not in ORD_REJ_REASON:
                cancel_rejects += 1
        if item[1] is not None:
            oids[item[2]] = accepted_oid(events)
    result.events = events_total
    result.engine_rejects = rejects
    result.cancel_rejects = cancel_rejects
    result.open_orders = len(desk.risk.ledger.orders)
    return result


def run_path(config: RiskConfig, items: list[Item], with_risk: bool = True) -> list[int]:
    """Replay timing only the whole order path: ``Engine.process`` (hook: the plain
    ``RiskEngine.check``) and the ``on_event`` loop; ``with_risk`` False: neither."""
    clock = time.perf_counter_ns
    desk = Desk(config, with_risk=with_risk)
    process, on_event = desk.engine.process, desk.risk.on_event
    oids = [0] * len(items)
    samples = [0] * len(items)
    gc.collect()
    for i, item in enumerate(items):
        command = command_of(item, oids, i)
        if with_risk:
            t0 = clock()
            events = process(command, i)
            for event in events:
                on_event(event)
            t1 = clock()
        else:
            t0 = clock()
            events = process(command, i)
            t1 = clock()
        samples[i] = t1 - t0
        if item[1] is not None:
            oids[item[2]] = accepted_oid(events)
    return samples


def timer_overhead(n: int = 200_000) -> int:
    """Median nanoseconds of an empty ``perf_counter_ns`` pair."""
    clock = time.perf_counter_ns
    samples = [0] * n
    for i in range(n):
        t0 = clock()
        samples[i] = clock() - t0
    samples.sort()
    return samples[n // 2]


def describe(name: str, values: list[int], overhead: int) -> str:
    """Percentiles in µs, net of ``overhead`` ns (the timer pairs inside each sample)."""
    v = sorted(values)
    if not v:
        return f"  {name:<26} n=        0"
    o = overhead / 1000

    def p(q: float) -> float:
        return max(percentile(v, q) - o, 0.0)
    mean = max(sum(v) / len(v) / 1000 - o, 0.0)
    return (f"  {name:<26} n={len(v):>9,}  p50 {p(50):6.2f}  p90 {p(90):6.2f}  "
            f"p99 {p(99):6.2f}  p99.9 {p(99.9):7.2f}  max {max(v[-1] / 1000 - o, 0):8.1f}  "
            f"mean {mean:6.2f}")


def budget_line(name: str, values: list[int], overhead: int) -> str:
    v = sorted(values)
    p50 = max(percentile(v, 50) * 1000 - overhead, 0)
    p99 = max(percentile(v, 99) * 1000 - overhead, 0)
    return (f"  {name:<26} p50 {p50 / 1000:6.2f} µs = {p50 / BUDGET_NS:5.0%} of ours, "
            f"{p50 / DESIGN_NS:5.1%} of design; p99 {p99 / 1000:6.2f} µs = "
            f"{p99 / BUDGET_NS:5.0%} of ours, {p99 / DESIGN_NS:5.1%} of design")


def report(name: str, items: list[Item], inst: Instrumented, path: list[int],
           bare: list[int], overhead: int) -> None:
    kinds = [item[0] for item in items]
    checks = [c for c in inst.check if c >= 0]
    print(f"-- {name}: {len(checks):,} checks, risk rejects {sum(inst.verdicts.values()):,}"
          + (" (" + ", ".join(f"{c} {k:,}" for c, k in inst.verdicts.most_common()) + ")"
             if inst.verdicts else "")
          + f"; engine rejects {inst.engine_rejects:,} orders and {inst.cancel_rejects:,} "
          f"cancels/replaces (target already done); {inst.events:,} events, "
          f"{inst.open_orders:,} orders open at the end")
    print("  RiskEngine.check, µs per call:")
    print(describe("all checks", checks, overhead))
    for k in ORDER_KINDS:
        print(describe(KIND_NAMES[k], [c for c, kind in zip(inst.check, kinds, strict=True)
                                       if kind == k and c >= 0], overhead))
    print("  RiskEngine.on_event, µs per command (the loop over its events):")
    print(describe("orders (add/replace/mkt)", [e for e, kind in zip(
        inst.on_event, kinds, strict=True) if kind != CANCEL], overhead))
    for k, label in KIND_NAMES.items():
        print(describe(label, [e for e, kind in zip(inst.on_event, kinds, strict=True)
                               if kind == k], overhead))
    # Risk per order: the check and the on_event loop of the same order command.
    per_order = [c + e for c, e, kind in zip(inst.check, inst.on_event, kinds, strict=True)
                 if kind != CANCEL and c >= 0]
    print("  check + on_event per order, µs:")
    print(describe("orders", per_order, 2 * overhead))
    print("  whole order path (Engine.process with check, then on_event), µs per command:")
    print(describe("all commands, with risk", path, overhead))
    print(describe("all commands, no risk", bare, overhead))
    order_path = [p for p, kind in zip(path, kinds, strict=True) if kind != CANCEL]
    print(describe("orders, with risk", order_path, overhead))
    risk_total = (sum(checks) - overhead * len(checks)
                  + sum(inst.on_event) - overhead * len(items))
    path_total = sum(path) - overhead * len(path)
    bare_total = sum(bare) - overhead * len(bare)
    print(f"  share of risk in the path: timed check + on_event {risk_total / path_total:.0%} "
          f"of the clean path's total; clean path minus no-risk path "
          f"{(path_total - bare_total) / path_total:.0%} "
          f"({(path_total - bare_total) / len(items) / 1000:.2f} µs per command)")
    print(f"  budget: {BUDGET_NS // 1000} µs per order (ours), {DESIGN_NS // 1000} µs (design)")
    print(budget_line("check", checks, overhead))
    print(budget_line("check + on_event", per_order, 2 * overhead))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200_000,
                        help="commands per variant (default 200,000)")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variant", choices=["default", "every", "both"], default="both",
                        help="default limits, every limit on, or both (default)")
    parser.add_argument("--no-gc", action="store_true",
                        help="disable the cyclic garbage collector during the runs")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one clean replay of the chosen variant "
                             "('every' unless --variant default) and exit")
    args = parser.parse_args()

    print(f"python: {interpreter()}; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs; yardstick loop {machine_speed():.0f} ns/iteration")
    instruments = make_instruments(args.symbols)
    accounts = sorted(make_config(instruments, Limits()).accounts)
    t0 = time.perf_counter()
    items = generate(args.commands, instruments, accounts, args.seed)
    kinds = Counter(item[0] for item in items)
    print(f"generated {len(items):,} commands over {args.symbols} symbols, "
          f"{len(accounts)} accounts of {FIRMS} firms in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{name} {kinds[k] / len(items):.0%}" for k, name in KIND_NAMES.items()))
    gc.collect()
    gc.freeze()   # the generated flow is long-lived: keep it out of GC passes
    if args.no_gc:
        gc.disable()

    chosen = {"default": ["default limits"], "every": ["every limit on"],
              "both": list(VARIANTS)}[args.variant]
    if args.profile:
        import cProfile
        import pstats
        name = "default limits" if args.variant == "default" else "every limit on"
        config = make_config(instruments, VARIANTS[name])
        profiler = cProfile.Profile()
        profiler.enable()
        run_path(config, items)
        profiler.disable()
        print(f"cProfile of one clean replay, {name}:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return

    overhead = timer_overhead()
    print(f"timer overhead (empty perf_counter_ns pair, median): {overhead} ns; "
          f"figures below are net of it; gc {'off' if args.no_gc else 'on'}")
    bare = run_path(make_config(instruments, Limits()), items, with_risk=False)
    for name in chosen:
        config = make_config(instruments, VARIANTS[name])
        t0 = time.perf_counter()
        inst = run_instrumented(config, items)
        path = run_path(config, items)
        report(name, items, inst, path, bare, overhead)
        print(f"  ({time.perf_counter() - t0:.1f} s for the two replays)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}; "
          f"yardstick loop {machine_speed():.0f} ns/iteration")


if __name__ == "__main__":
    main()
