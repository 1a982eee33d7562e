"""The open order: the one mutable object per order the engine keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .book import Level


class Order:
    """An open order (resting in a book, or an untriggered stop).

    Quantities: ``qty`` is the order quantity, ``cum`` the filled quantity and
    ``leaves`` the open quantity; ``qty == cum + leaves`` while the order is open.
    ``visible`` is the quantity shown in the book: all of ``leaves``, or for an
    iceberg (``display`` > 0) at most ``display``, the rest being the reserve.

    ``level`` is the price level the order rests in, or None. Queues delete
    lazily: a cancelled order is only marked (``level = None``) and skipped when
    it reaches the front, which makes a cancel O(1) without a linked list. So an
    Order object is never put back into a queue once removed; an order that
    loses priority is re-queued as a ``clone()`` with the same oid.
    """

    # Slots are laid out in memory in this order: the fields that matching and
    # cancels touch come first so that they share the object's first cache lines
    # (a cold cache line costs more than a hundred bytecodes here).
    __slots__ = ("level", "leaves", "visible", "cum", "oid", "side", "price", "qty", "display",
                 "session", "symbol", "account", "ord_type", "tif", "stop_key", "stop_price",
                 "min_qty", "expire_time", "cl_ord_id")

    def __init__(self, oid: int, symbol: str, side: int, ord_type: int, price: int,
                 stop_price: int, qty: int, display: int, min_qty: int, tif: int,
                 expire_time: int, cl_ord_id: str, session: str, account: str) -> None:
        # NB: Engine._new_order inlines this body (a call costs as much as the
        # stores); keep the two in step.
        self.oid = oid
        self.symbol = symbol
        self.side = side
        self.ord_type = ord_type
        self.price = price
        self.stop_price = stop_price
        self.qty = qty
        self.cum = 0
        self.leaves = qty
        self.visible = display if display else qty
        self.display = display      # iceberg slice size, 0 if not an iceberg
        self.min_qty = min_qty
        self.tif = tif
        self.expire_time = expire_time
        self.cl_ord_id = cl_ord_id  # the current ClOrdID (changes with each replace)
        self.session = session
        self.account = account
        self.level: Level | None = None
        # Sort key in the book's stop list while this is an untriggered stop, else None.
        self.stop_key: tuple[int, int, int] | None = None

    def clone(self) -> Order:
        """A copy that is not in any queue (to re-queue an order that loses priority)."""
        new = Order.__new__(Order)
        for name in Order.__slots__:
            setattr(new, name, getattr(self, name))
        new.level = None
        return new

    def state(self) -> tuple[Any, ...]:
        """Every field but the queue link, in the snapshot's column order: for
        comparing orders (the snapshot itself is ``snapshot.OrderColumns``)."""
        from .snapshot import ORDER_FIELDS

        return tuple(getattr(self, name) for name in ORDER_FIELDS)

    def __repr__(self) -> str:
        return (f"Order(oid={self.oid}, {self.symbol} side={self.side} type={self.ord_type} "
                f"price={self.price} qty={self.qty} cum={self.cum} leaves={self.leaves} "
                f"visible={self.visible})")
