"""Matching engine throughput and per-command latency.

Generates (seeded) a realistic order flow over many symbols: about 60% limit
orders near the touch, 30% cancels of earlier orders and 10% marketable
orders (IOC limits through the touch and market orders), then

* replays it through a fresh engine in a bare loop and prints commands/s;
* replays it again through another fresh engine timing every command with
  ``time.perf_counter_ns`` and prints latency percentiles, overall, per kind
  of command, for limit orders that rest, and for orders that trade at one
  price level or sweep several.

Marketable orders have heavy-tailed sizes (about 4 to 5 fills each on average)
so that, with this mix, books keep a steady depth; they are a tenth of the
commands but about a third of the time. The machine may be shared: the output
gives the load average and a "yardstick" (a fixed pure-Python loop) at the
start and the end, so that figures from different moments can be compared.

Run from the repository root: ``python bench/bench_matching.py [--commands N]``
(``--help`` for the other options: repeats, GC off, cProfile).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching.commands import Cancel, Command, NewOrder  # noqa: E402
from matching.constants import BUY, IOC, LIMIT, MARKET, SELL  # noqa: E402
from matching.engine import Engine  # noqa: E402
from matching.events import Event, Trade  # noqa: E402
from matching.instruments import Instrument  # noqa: E402

TICK = 100            # 0.01 in fixed point (4 decimals)
ADD, CANCEL, MARKETABLE = 0, 1, 2
KIND_NAMES = {ADD: "limit add", CANCEL: "cancel", MARKETABLE: "marketable"}


def make_instruments(symbols: int) -> list[Instrument]:
    rng = random.Random(7)
    return [Instrument(f"SYM{i:03d}", TICK, 1, rng.randrange(1_000, 50_000) * TICK)
            for i in range(symbols)]


def generate(n: int, instruments: list[Instrument], seed: int,
             uniform_cancels: bool = False) -> tuple[list[Command], list[int]]:
    """``n`` commands and their kinds.

    Each command picks a random symbol, whose mid price takes a slow random walk.
    Limit orders are placed 1 to 10 ticks behind the mid, most of them near the
    touch; marketable orders are IOC limits 3 ticks through the mid or market
    orders. Cancels model order lifetimes as seen in real flow: half of them hit
    one of the symbol's 8 most recent orders (a quote being repriced), the other
    half a stale quote (the farthest from the mid of 4 random resting orders), so
    books keep a steady depth instead of piling up orders the mid left behind.
    ``uniform_cancels`` picks every cancel uniformly among the symbol's orders
    instead, which is less friendly to CPU caches and lets books grow.

    Order ids are predicted: the engine numbers accepted orders 1, 2, ... and every
    generated order is valid, so the i-th NewOrder gets oid i. Some cancelled
    orders have traded since, and get a CancelRejected, as in real flow.
    """
    rng = random.Random(seed)
    random_ = rng.random
    randrange = rng.randrange
    mids = [inst.reference_price for inst in instruments]
    symbols = [inst.symbol for inst in instruments]
    accounts = [f"A{i}" for i in range(20)]
    # (oid, price) of the orders we believe are resting, oldest first, per symbol.
    live: list[list[tuple[int, int]]] = [[] for _ in instruments]
    commands: list[Command] = []
    kinds: list[int] = []
    next_oid = 1
    nsym = len(instruments)
    for i in range(n):
        s = randrange(nsym)
        r = random_()
        if r < 0.02:
            mids[s] += TICK
        elif r < 0.04:
            mids[s] -= TICK
        mid = mids[s]
        r = random_()
        side = BUY if random_() < 0.5 else SELL
        pool = live[s]
        if r < 0.30 and pool:
            size = len(pool)
            if uniform_cancels:
                j = randrange(size)
            elif random_() < 0.5:
                j = size - 1 - randrange(min(8, size))
            else:
                # Stale quotes go: the farthest from the mid of a few random orders.
                j = max((randrange(size) for _ in range(4)), key=lambda k: abs(pool[k][1] - mid))
            oid = pool.pop(j)[0]
            commands.append(Cancel(order_id=oid, cl_ord_id=f"X{i}", session="S1"))
            kinds.append(CANCEL)
            continue
        account = accounts[randrange(20)]
        if r < 0.90:
            # Limit order near the touch: 1..10 ticks from the mid, mostly close.
            depth = int(random_() ** 2 * 10)
            price = mid - (1 + depth) * TICK if side == BUY else mid + (1 + depth) * TICK
            qty = (1 + randrange(10)) * 100
            commands.append(NewOrder(
                symbol=symbols[s], side=side, order_qty=qty, price=price, ord_type=LIMIT,
                cl_ord_id=f"C{i}", session="S1", account=account))
            pool.append((next_oid, price))
            kinds.append(ADD)
        else:
            # Marketable sizes have a heavy tail: most take one or two orders at the
            # touch, some sweep. On average they consume about as much as the adds
            # that cancels leave, so books keep a steady depth.
            qty = (1 + int(80 * random_() ** 2)) * 100
            if random_() < 0.5:
                price = mid + 3 * TICK if side == BUY else mid - 3 * TICK
                cmd = NewOrder(symbol=symbols[s], side=side, order_qty=qty, price=price,
                               ord_type=LIMIT, time_in_force=IOC, cl_ord_id=f"C{i}",
                               session="S1", account=account)
            else:
                cmd = NewOrder(symbol=symbols[s], side=side, order_qty=qty, ord_type=MARKET,
                               cl_ord_id=f"C{i}", session="S1", account=account)
            commands.append(cmd)
            kinds.append(MARKETABLE)
        next_oid += 1
    return commands, kinds


def warm_book(engine: Engine, instruments: list[Instrument]) -> None:
    """A few levels on both sides of every book so the flow starts from a normal state."""
    for inst in instruments:
        for k in range(1, 6):
            for side, price in ((BUY, inst.reference_price - k * TICK),
                                (SELL, inst.reference_price + k * TICK)):
                engine.process(NewOrder(symbol=inst.symbol, side=side, order_qty=500,
                                        price=price, session="W", account="W"), 0)


def fresh_engine(instruments: list[Instrument]) -> Engine:
    engine = Engine(instruments)
    warm_book(engine, instruments)
    gc.collect()    # so that no earlier run's garbage is collected inside the timed loop
    return engine


def run_throughput(commands: list[Command], instruments: list[Instrument]
                   ) -> tuple[float, float, int]:
    """Replay every command in a bare loop: (wall seconds, CPU seconds, events)."""
    engine = fresh_engine(instruments)
    events = 0
    process = engine.process
    t0, c0 = time.perf_counter(), time.process_time()
    for ts, command in enumerate(commands):
        events += len(process(command, ts))
    return time.perf_counter() - t0, time.process_time() - c0, events


def run_latency(commands: list[Command], instruments: list[Instrument]
                ) -> tuple[list[int], list[int]]:
    """Time every command on its own: nanoseconds per command, and per command how
    many price levels it traded at (outside the timed region; events are not kept,
    so that the run does not grow the heap the garbage collector walks)."""
    engine = fresh_engine(instruments)
    process = engine.process
    clock = time.perf_counter_ns
    samples = [0] * len(commands)
    levels = [0] * len(commands)
    for ts, command in enumerate(commands):
        t0 = clock()
        events = process(command, ts)
        samples[ts] = clock() - t0
        if len(events) > 2:
            levels[ts] = levels_traded(events)
    return samples, levels


def percentile(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k] / 1000


def describe(name: str, values: list[int]) -> str:
    v = sorted(values)
    return (f"  {name:<32} n={len(v):>9,}  p50 {percentile(v, 50):6.2f}  "
            f"p99 {percentile(v, 99):6.2f}  p99.9 {percentile(v, 99.9):7.2f}  "
            f"max {v[-1] / 1000 if v else 0:8.1f}")


def levels_traded(events: list[Event]) -> int:
    """How many price levels an incoming order traded at."""
    return len({e.last_px for e in events if type(e) is Trade})


class _Probe:
    __slots__ = ("a", "b", "c", "d")


def machine_speed(n: int = 300_000) -> float:
    """Nanoseconds per iteration of a fixed pure-Python loop (an object, a tuple, a
    dict store): a yardstick for how fast this interpreter on this machine is right
    now, since a shared machine can be twice as slow at one moment as at another."""
    store: dict[int, _Probe] = {}
    t0 = time.perf_counter()
    for i in range(n):
        probe = _Probe()
        probe.a, probe.b, probe.c, probe.d = i, i, i, (i, i, i)
        store[i & 1023] = probe
    return 1e9 * (time.perf_counter() - t0) / n


def interpreter() -> str:
    return f"{platform.python_implementation()} {platform.python_version()} at {sys.executable}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2,
                        help="throughput runs (the machine may be shared)")
    parser.add_argument("--uniform-cancels", action="store_true",
                        help="cancel uniformly random resting orders (cache-unfriendly)")
    parser.add_argument("--no-gc", action="store_true",
                        help="disable the cyclic garbage collector during the runs")
    parser.add_argument("--profile", action="store_true", help="cProfile one replay and exit")
    args = parser.parse_args()

    print(f"python: {interpreter()}; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs; yardstick loop {machine_speed():.0f} ns/iteration")
    instruments = make_instruments(args.symbols)
    t0 = time.perf_counter()
    commands, kinds = generate(args.commands, instruments, args.seed, args.uniform_cancels)
    mix = {name: kinds.count(k) / len(kinds) for k, name in KIND_NAMES.items()}
    print(f"generated {len(commands):,} commands over {args.symbols} symbols in "
          f"{time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{name} {share:.0%}" for name, share in mix.items()))
    gc.collect()
    gc.freeze()   # the generated commands are long-lived: keep them out of GC passes
    if args.no_gc:
        gc.disable()

    if args.profile:
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        profiler.enable()
        run_throughput(commands, instruments)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return

    n = len(commands)
    print(f"throughput, one core, gc {'off' if args.no_gc else 'on'} "
          "(commands/s by wall clock; by CPU time in brackets: lower wall means a busy machine):")
    runs = [run_throughput(commands, instruments) for _ in range(args.repeat)]
    best = min(runs)
    print(f"  {'Engine.process':<28} " + "  ".join(
        f"{n / wall:9,.0f} ({n / cpu:,.0f})" for wall, cpu, _ in runs)
        + f"   best {1e9 * best[0] / n:,.0f} ns/command, {best[2] / best[0]:,.0f} events/s")

    samples, levels = run_latency(commands, instruments)
    print("latency per command in microseconds (perf_counter_ns around Engine.process):")
    print(describe("all commands", samples))
    for k, name in KIND_NAMES.items():
        print(describe(name, [s for s, kind in zip(samples, kinds, strict=True) if kind == k]))
    rows = list(zip(samples, kinds, levels, strict=True))
    print(describe("limit add that rests", [s for s, k, lv in rows if k == ADD and not lv]))
    print(describe("order trading at one level", [s for s, k, lv in rows if lv == 1]))
    print(describe("order sweeping 2+ levels", [s for s, k, lv in rows if lv > 1]))
    print(f"load average at the end {os.getloadavg()[0]:.2f}; "
          f"yardstick loop {machine_speed():.0f} ns/iteration")

if __name__ == "__main__":
    main()
