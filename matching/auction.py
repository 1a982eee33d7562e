"""Call-auction price determination (the uncross).

Among the prices on the tick grid, the uncross price is the one that

1. maximises the executable volume, min(demand, supply), where demand at p is
   the buy quantity with limit >= p and supply the sell quantity with limit <= p;
2. then minimises the imbalance |demand - supply|;
3. then is closest to the instrument's reference price;
4. then, as a last deterministic tie-break, is the lower price.

Demand and supply only change at limit prices, so between two neighbouring
limit prices a and b they are constant; the best price strictly inside (a, b)
is the one nearest the reference price. The candidates are therefore the limit
prices plus, for each gap, the reference price clamped into it: a handful of
prices instead of every tick, with exactly the same answer. (An interior price
can beat both ends: buy 100 @ 12 and 50 @ 10 against sell 100 @ 10 and 50 @ 12
execute 100 at 10, 11 or 12, but only 11 leaves no imbalance.)
Quantities include icebergs' hidden reserve: all of it is executable.
"""

from __future__ import annotations


def uncross_price(bids: list[tuple[int, int]], asks: list[tuple[int, int]],
                  reference_price: int, tick: int) -> tuple[int, int] | None:
    """The uncross (price, volume), or None when nothing can execute.

    ``bids`` and ``asks`` are (price, total quantity) per level, best first; all
    prices and the reference price are on the ``tick`` grid.
    """
    if not bids or not asks:
        return None
    high, low = bids[0][0], asks[0][0]   # best bid, best ask
    if high < low:
        return None
    # Only prices in [best ask, best bid] can execute anything.
    limits = sorted({p for p, _ in bids if p >= low} | {p for p, _ in asks if p <= high})
    candidates = set(limits)
    for a, b in zip(limits, limits[1:], strict=False):
        if b - a > tick:
            candidates.add(min(max(reference_price, a + tick), b - tick))

    best: tuple[int, int, int, int] | None = None   # (-volume, imbalance, distance, price)
    for p in candidates:
        demand = sum(q for price, q in bids if price >= p)
        supply = sum(q for price, q in asks if price <= p)
        key = (-min(demand, supply), abs(demand - supply), abs(p - reference_price), p)
        if best is None or key < best:
            best = key
    assert best is not None
    if best[0] == 0:
        return None
    return best[3], -best[0]
