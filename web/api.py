"""The admin API's operations, over the running server, without HTTP.

Each function takes the ``Operator`` (what the API works on) and the request's
arguments and returns a JSON-ready dict, or raises ``ApiError`` with the HTTP status
and a reason. What changes the core goes through the same functions as the admin
socket (``venue.admin``) and is journaled; what changes a session (its sequence
numbers, a disconnect) is journaled as an ``OperatorAction`` first, so the audit
trail records every change made here. ``web/app.py`` maps the routes onto these.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit.records import timestamp
from matching.constants import BUY, PHASE_NAMES, SELL
from metrics.latency import STAGES, quantile, window
from metrics.readings import Reading
from venue import admin
from venue.commands import OperatorAction
from venue.fixedpoint import format_price

if TYPE_CHECKING:
    from fixserver.session import Session
    from server.observe import Observatory
    from venue.exchange import Exchange

MAX_DEPTH = 50          # levels per side a book request may ask for
MAX_TRADES = 1000       # trades a request may ask for (the tape keeps this many)
# The API's phase actions: each a phase name of venue.admin, or its shortcut.
PHASE_ACTIONS = {"open": ("continuous", ""), "close": ("closed", ""),
                 "halt": ("halted", "halt"), "resume": ("continuous", "resume")}


class ApiError(Exception):
    """A request refused: ``status`` is the HTTP status, the message the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Operator:
    """What the API works on: the exchange, its sessions, the observatory (readings,
    alerts, tape, acceptor) and how to take a snapshot."""

    exchange: Exchange
    sessions: Sequence[Session]
    observatory: Observatory
    snapshot: Callable[[], Awaitable[dict[str, Any]]] | None = None

    def session(self, session_id: str) -> Session:
        for s in self.sessions:
            if s.session_id == session_id:
                return s
        known = ", ".join(s.session_id for s in self.sessions)
        raise ApiError(404, f"unknown session {session_id!r} (sessions: {known})")


def _px(value: int) -> str:
    return format_price(value).decode()


def _refused(e: admin.Refused) -> ApiError:
    """The admin interface's refusal as an HTTP error: 404 for something that does
    not exist, 409 for what the exchange's state forbids, else 400."""
    text = str(e)
    if text.startswith("unknown") and not text.startswith("unknown phase"):
        return ApiError(404, text)
    return ApiError(409 if "schedule" in text else 400, text)


# -- health ---------------------------------------------------------------------------

def health(op: Operator) -> dict[str, Any]:
    """Live: the event loop answers."""
    return {"status": "live", "last_seq": op.exchange.last_seq}


def ready(op: Operator, lag_limit: float) -> tuple[bool, dict[str, Any]]:
    """Ready: recovered, the journal writable and every consumer within ``lag_limit``
    seconds; whether, and each check with its finding."""
    r = op.observatory.reading()
    lagging = {c.name: round(c.lag_seconds, 3) for c in r.consumers
               if c.lag_seconds > lag_limit}
    checks = {"recovered": r.recovered, "journal_writable": r.journal_writable,
              "consumers_within_lag": not lagging}
    body: dict[str, Any] = {"ready": all(checks.values()), "checks": checks}
    if lagging:
        body["lagging"] = lagging
    return body["ready"], body


# -- sessions -------------------------------------------------------------------------

def sessions(op: Operator) -> dict[str, Any]:
    return {"sessions": [_session(s) for s in op.observatory.reading().sessions]}


def _session(s: Any) -> dict[str, Any]:
    return {"session": s.session, "application": s.application, "state": s.state,
            "logged_on": s.logged_on, "peer": s.peer or None,
            "logon_time": (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s.logged_on_at))
                           if s.logged_on_at else None),
            "next_sender_seq": s.next_sender_seq, "next_target_seq": s.next_target_seq,
            "logons": s.logons, "messages_received": s.received,
            "rejects_sent": s.rejects_sent, "queued": s.queued}


def disconnect(op: Operator, session_id: str, reason: str) -> dict[str, Any]:
    """Log the session out with ``reason`` and close its connection."""
    session = op.session(session_id)
    acceptor = op.observatory.acceptor
    if not session.connected or acceptor is None:
        raise ApiError(409, f"{session_id} is not connected")
    text = f"operator: {reason}" if reason else "operator disconnect"
    _journal(op, OperatorAction("DISCONNECT_SESSION", session_id, text))
    acceptor.log_out(session_id, text)
    return {"ok": True, "session": session_id, "reason": text}


def set_sequence(op: Operator, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Set NextSenderSeq and/or NextTargetSeq of a logged-out session, or reset both
    to 1 (``{"reset": true}``: the store is emptied, as at a new session period)."""
    session = op.session(session_id)
    if session.connected:
        raise ApiError(409, f"{session_id} is connected: disconnect it first")
    unknown = set(body) - {"reset", "next_sender_seq", "next_target_seq"}
    if unknown:
        raise ApiError(400, f"unknown field(s) {', '.join(sorted(unknown))}: give "
                            "next_sender_seq and/or next_target_seq, or reset")
    if body.get("reset") is True:
        if len(body) > 1:
            raise ApiError(400, "reset takes no sequence numbers")
        _journal(op, OperatorAction("RESET_SEQUENCE_NUMBERS", session_id,
                                    f"from {session.next_sender_seq}:"
                                    f"{session.next_target_seq} to 1:1"))
        session.store.reset(time.time())
    else:
        values = {}
        for key in ("next_sender_seq", "next_target_seq"):
            if key in body:
                v = body[key]
                if type(v) is not int or v < 1:
                    raise ApiError(400, f"{key} must be a whole number of at least 1, "
                                        f"got {v!r}")
                values[key] = v
        if not values:
            raise ApiError(400, "give next_sender_seq and/or next_target_seq, or reset")
        _journal(op, OperatorAction(
            "SET_SEQUENCE_NUMBERS", session_id,
            " ".join(f"{k}={v}" for k, v in values.items())
            + f" (were {session.next_sender_seq}:{session.next_target_seq})"))
        if "next_sender_seq" in values:
            session.store.set_next_sender(values["next_sender_seq"])
        if "next_target_seq" in values:
            session.store.set_next_target(values["next_target_seq"])
    return {"ok": True, "session": session_id, "next_sender_seq": session.next_sender_seq,
            "next_target_seq": session.next_target_seq}


def _journal(op: Operator, action: OperatorAction) -> None:
    op.exchange.submit(action)
    op.exchange.flush()


# -- phases and kill switches ----------------------------------------------------------

def phases(op: Operator) -> dict[str, Any]:
    return {"phases": admin.phases(op.exchange)}


def set_phase(op: Operator, target: str, phase: str) -> dict[str, Any]:
    """``phase`` is a phase name (pre_open ... closed) or open, close, halt, resume."""
    name, shortcut = PHASE_ACTIONS.get(phase, (phase, ""))
    try:
        return admin.change_phase(op.exchange, target, name, shortcut)
    except admin.Refused as e:
        raise _refused(e) from None


def kill_switches(op: Operator) -> dict[str, Any]:
    return {"killed": admin.killed(op.exchange)}


def set_kill_switch(op: Operator, scope: str, name: str, on: Any) -> dict[str, Any]:
    if type(on) is not bool:
        raise ApiError(400, f'"on" must be true or false, got {on!r}')
    if scope not in admin.SCOPES:
        raise ApiError(404, f"unknown scope {scope!r}: firm, account or session")
    try:
        return admin.switch(op.exchange, "kill" if on else "lift", scope, name)
    except admin.Refused as e:
        raise _refused(e) from None


# -- books, trades, accounts ------------------------------------------------------------

def _count(name: str, value: str | None, default: int, most: int) -> int:
    """A query parameter that counts something, 1 to ``most`` (400 otherwise)."""
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= most:
        raise ApiError(400, f"{name} must be 1 to {most}, got {value!r}")
    return int(value)


def book(op: Operator, symbol: str, depth: int) -> dict[str, Any]:
    b = op.exchange.engine.books.get(symbol)
    if b is None:
        raise ApiError(404, f"unknown symbol {symbol!r} (symbols: "
                            f"{', '.join(sorted(op.exchange.engine.books))})")
    return {"symbol": symbol, "phase": PHASE_NAMES[b.phase].lower(),
            "bids": [_level(lv) for lv in b.side(BUY).depth(depth)],
            "asks": [_level(lv) for lv in b.side(SELL).depth(depth)]}


def _level(level: tuple[int, int, int]) -> dict[str, Any]:
    price, qty, orders = level
    return {"price": _px(price), "qty": qty, "orders": orders}


def books(op: Operator, depth_arg: str | None) -> dict[str, Any]:
    depth = _count("depth", depth_arg, 5, MAX_DEPTH)
    return {"books": [book(op, s, depth) for s in sorted(op.exchange.engine.books)]}


def one_book(op: Operator, symbol: str, depth_arg: str | None) -> dict[str, Any]:
    return book(op, symbol, _count("depth", depth_arg, 10, MAX_DEPTH))


def trades(op: Operator, symbol: str, limit_arg: str | None) -> dict[str, Any]:
    limit = _count("limit", limit_arg, 50, MAX_TRADES)
    if symbol and symbol not in op.exchange.engine.books:
        raise ApiError(404, f"unknown symbol {symbol!r}")
    return {"trades": [{"seq": p.seq, "time": timestamp(p.ts), "trade_id": p.trade_id,
                        "symbol": p.symbol, "price": _px(p.price), "qty": p.qty,
                        "aggressor": p.aggressor, "auction": p.auction}
                       for p in op.observatory.tape.recent(limit, symbol)]}


def accounts(op: Operator) -> dict[str, Any]:
    return {"accounts": [admin.account(op.exchange, n) for n in op.exchange.risk.accounts()]}


def one_account(op: Operator, name: str) -> dict[str, Any]:
    try:
        return admin.account(op.exchange, name)
    except admin.Refused as e:
        raise _refused(e) from None


# -- alerts and the page's summary ------------------------------------------------------

def alerts(op: Operator) -> dict[str, Any]:
    obs = op.observatory
    return {"active": [{"alert": a.name, "since": a.since, "value": a.value,
                        "limit": a.limit, "text": a.text} for a in obs.alerts.active()],
            "recent": [{"alert": t.alert, "firing": t.firing, "at": t.at, "value": t.value,
                        "limit": t.limit, "text": t.text}
                       for t in reversed(obs.transitions)]}


def rates(before: Reading | None, now: Reading) -> dict[str, Any]:
    """Per-second rates and per-stage p50/p99 (µs) between two readings."""
    if before is None or now.at <= before.at:
        return {"orders_per_s": 0.0, "trades_per_s": 0.0, "messages_per_s": 0.0,
                "latency_us": {}}
    dt = now.at - before.at

    def per_s(a: dict[str, int], b: dict[str, int]) -> float:
        return round((sum(a.values()) - sum(b.values())) / dt, 1)

    latency = {}
    for stage in STAGES:
        counts = window(now.stages[stage], before.stages[stage])
        p50, p99 = quantile(counts, 0.5), quantile(counts, 0.99)
        if p50 is not None and p99 is not None:
            latency[stage] = {"p50": round(p50 / 1e3, 1), "p99": round(p99 / 1e3, 1),
                              "count": sum(counts)}
    received = (sum(s.received for s in now.sessions)
                - sum(s.received for s in before.sessions))
    return {"orders_per_s": per_s(now.orders, before.orders),
            "trades_per_s": per_s(now.trades, before.trades),
            "messages_per_s": round(received / dt, 1), "latency_us": latency}


def state(op: Operator, before: Reading | None, now: Reading) -> dict[str, Any]:
    """Everything the operator page shows, for one update."""
    return {"at": now.at, "last_seq": now.last_seq,
            "books": books(op, "10")["books"], "trades": trades(op, "", "30")["trades"],
            "sessions": [_session(s) for s in now.sessions], "alerts": alerts(op),
            "accounts": accounts(op)["accounts"], "killed": now.killed,
            "resting": now.resting, "rates": rates(before, now),
            "consumers": [{"name": c.name, "lag": c.lag,
                           "lag_seconds": round(c.lag_seconds, 3)} for c in now.consumers]}
