"""RequestForPositions (AN) -> RequestForPositionsAck (AO) and PositionReports (AP).

FIX 4.4 position management, answered from the risk ledger as a snapshot (no
subscription): the ack says how many reports follow and carries the account's
cash, reserved cash and buying power in its Text; each report gives one symbol's
net position (PosType TOT: LongQty or ShortQty), its mark (SettlPrice: the last
trade price, SettlPriceType 2 theoretical; PriorSettlPrice: the reference price)
and its value at that mark (PosAmtType FMTM).

Pure: the caller passes the account's balances, the marks and the date.
"""

from __future__ import annotations

from collections.abc import Callable

from fixserver.codec import Field, Message
from risk.accounts import AccountView

from .fixedpoint import format_price

# PosReqResult (728) and PosReqStatus (729) values.
VALID, INVALID, NO_POSITIONS, NOT_AUTHORIZED, NOT_SUPPORTED = 0, 1, 2, 3, 4
COMPLETED, REJECTED = 0, 2
ACCOUNT_CARRIED_ON_CUSTOMER_BOOKS = b"1"   # AccountType (581)


def balances_text(view: AccountView) -> str:
    return (f"cash {format_price(view.cash).decode()}, "
            f"reserved {format_price(view.reserved).decode()}, "
            f"buying power {format_price(view.buying_power).decode()}")


def answer(request: Message, report_id: str, accounts: tuple[str, ...],
           view_of: Callable[[str], AccountView | None], mark: Callable[[str], int],
           reference: Callable[[str], int], business_date: bytes
           ) -> list[tuple[bytes, list[Field]]]:
    """The AO and APs for ``request``; ``accounts`` are the ones the session may see."""
    pos_req_id = request.get(710) or b""
    account = (request.get(1) or b"").decode("latin-1")
    symbol = (request.get(55) or b"").decode("latin-1")

    def ack(result: int, status: int, total: int, text: str) -> tuple[bytes, list[Field]]:
        body: list[Field] = [(1, account.encode("latin-1") or b"NONE")]
        if text:
            body.append((58, text.encode("latin-1")))
        body += [(581, ACCOUNT_CARRIED_ON_CUSTOMER_BOOKS), (710, pos_req_id),
                 (721, report_id.encode()), (727, b"%d" % total), (728, b"%d" % result),
                 (729, b"%d" % status)]
        return b"AO", body

    if request.get(724) != b"0":
        return [ack(NOT_SUPPORTED, REJECTED, 0, "only PosReqType 0 (Positions) is supported")]
    if request.get(263) not in (None, b"0"):
        return [ack(NOT_SUPPORTED, REJECTED, 0, "only snapshots (SubscriptionRequestType 0) "
                    "are supported")]
    view = view_of(account) if account in accounts else None
    if view is None:
        return [ack(NOT_AUTHORIZED, REJECTED, 0,
                    f"account {account} is not an account of this session's firm")]
    held = sorted((s, q) for s, q in view.positions.items() if not symbol or s == symbol)
    text = balances_text(view)
    if not held:
        return [ack(NO_POSITIONS, COMPLETED, 0, f"no positions; {text}")]
    out = [ack(VALID, COMPLETED, len(held), text)]
    for s, qty in held:
        price = mark(s)
        out.append((b"AP", [
            (1, account.encode("latin-1")), (55, s.encode()), (58, text.encode()),
            (581, ACCOUNT_CARRIED_ON_CUSTOMER_BOOKS),
            (702, b"1"), (703, b"TOT"), (704, b"%d" % max(qty, 0)), (705, b"%d" % max(-qty, 0)),
            (710, pos_req_id), (715, business_date), (721, report_id.encode()),
            (724, b"0"), (727, b"%d" % len(held)), (728, b"%d" % VALID),
            (730, format_price(price)), (731, b"2"), (734, format_price(reference(s))),
            (753, b"1"), (707, b"FMTM"), (708, format_price(qty * price)),
        ]))
    return out
