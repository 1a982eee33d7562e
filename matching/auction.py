"""Call-auction price determination (the uncross).

The uncross price is the price that

1. maximises the executable volume, min(demand, supply), where demand at p is
   the buy quantity with limit >= p and supply the sell quantity with limit <= p;
2. then minimises the imbalance |demand - supply|;
3. then is closest to the instrument's reference price;
4. then, as a last deterministic tie-break, is the lower price.

Volume only changes at limit prices, so the candidates are the limit prices in
the crossed range plus the reference price when it lies inside that range (so
that a range of equally good prices resolves to the reference price itself).
Quantities include icebergs' hidden reserve: all of it is executable.
"""

from __future__ import annotations


def uncross_price(bids: list[tuple[int, int]], asks: list[tuple[int, int]],
                  reference_price: int) -> tuple[int, int] | None:
    """The uncross (price, volume), or None when nothing can execute.

    ``bids`` and ``asks`` are (price, total quantity) per level, best first.
    """
    if not bids or not asks:
        return None
    high, low = bids[0][0], asks[0][0]   # best bid, best ask
    if high < low:
        return None
    candidates = {p for p, _ in bids if p >= low} | {p for p, _ in asks if p <= high}
    if low <= reference_price <= high:
        candidates.add(reference_price)

    best: tuple[int, int, int, int] | None = None   # sort key: (-volume, imbalance, distance, p)
    best_price = best_volume = 0
    for p in sorted(candidates):
        demand = sum(q for price, q in bids if price >= p)
        supply = sum(q for price, q in asks if price <= p)
        volume = min(demand, supply)
        key = (-volume, abs(demand - supply), abs(p - reference_price), p)
        if best is None or key < best:
            best, best_price, best_volume = key, p, volume
    if best_volume <= 0:
        return None
    return best_price, best_volume
